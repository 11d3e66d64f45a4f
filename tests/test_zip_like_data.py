"""The CAM and own-model chapters on the data a reader downloads: the public zip's layout, counts and
file names with other pictures (``tools/zip_like_data.py``), not the offline subset their committed
outputs come from. nbval re-executes both; the cells whose outputs depend on the data are tagged
``nbval-ignore-output`` and their claims are checked by the chapters' own check cells, so the run
passes only if every claim holds on this data too.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["notebooks/cam.ipynb", "notebooks/own_model.ipynb"]


def test_zip_like_builder_writes_the_zips_layout(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    import zip_like_data

    src = tmp_path / "src"
    for split in ("train", "validation"):
        for cls in ("cats", "dogs"):
            (src / split / cls).mkdir(parents=True)
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(src / "train" / cls / f"{i}.jpg")
    counts = zip_like_data.build(tmp_path / "out", src)
    assert counts == {"train/cats": 1000, "validation/cats": 500, "train/dogs": 1000, "validation/dogs": 500}
    root = tmp_path / "out" / "cats_and_dogs_filtered"
    assert (root / "train" / "cats" / "cat.999.jpg").is_file() and (root / "validation" / "dogs" / "dog.2499.jpg").is_file()
    assert not (root / "train" / "cats" / "cat.1000.jpg").exists()
    sources = {p.read_bytes() for p in src.rglob("*.jpg")}
    assert not any(p.read_bytes() in sources for p in root.rglob("*.jpg")), "a file equals a source picture"


def test_cam_and_own_model_chapters_pass_on_zip_like_data(tmp_path):
    mirror = tmp_path / "mirror"
    made = subprocess.run([sys.executable, str(ROOT / "tools" / "zip_like_data.py"), str(mirror)],
                          capture_output=True, text=True, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    env = dict(os.environ, XAITOOLS_MIRROR=str(mirror), XAITOOLS_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-m", "pytest", *CHAPTERS, "--nbval", "-q", "-p", "no:cacheprovider",
                          "--nbval-sanitize-with", "nbval-sanitize.cfg"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
