"""Command-line timings, each a fresh ``python -m xaitools`` process, best of 3.

- cold start: ``explain missing.png`` (an error found before TensorFlow is imported; goal < 1.5 s)
  and ``--help`` (goal < 1 s);
- batching: ``explain`` of 20 images in one call vs 1 image in one call (Grad-CAM, the dog model, the
  mirror's cats-vs-dogs validation images; goal: 20 images < 3x one image). Skip with ``--quick``.

Run: ``.venv/bin/python benchmarks/cli_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average  # noqa: E402


def run(args, expect: int, cwd) -> float:
    """Seconds for one ``python -m xaitools ARGS`` process (which must exit with ``expect``)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xaitools", *args], capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t
    if proc.returncode != expect:
        raise SystemExit(f"python -m xaitools {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return seconds


def best_of(cases: dict, repeats: int, cwd) -> dict[str, float]:
    """name -> (args, exit code): the best of ``repeats`` rounds, the cases taking turns in each round."""
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (args, expect) in cases.items():
            times[name].append(run(args, expect, cwd))
    return {name: min(ts) for name, ts in times.items()}


def validation_images(n: int, into: Path) -> list[str]:
    mirror = os.environ.get("XAITOOLS_MIRROR") or str(ROOT.parent / "shared" / "offline-mirror")
    folder = Path(mirror) / "cats_and_dogs_filtered" / "validation"
    files = sorted((folder / "cats").glob("*.jpg"))[: n // 2] + sorted((folder / "dogs").glob("*.jpg"))[: n - n // 2]
    if len(files) < n:
        raise SystemExit(f"need {n} images in {folder} (set XAITOOLS_MIRROR)")
    into.mkdir()
    for f in files:
        shutil.copy(f, into / f.name)
    return [str(into / f.name) for f in files]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="cold start only")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"CLI benchmark, best of {args.repeats}, {load_average()}, fresh process each run")
    with tempfile.TemporaryDirectory() as tmp:
        cold = best_of({"missing": (["explain", "missing.png"], 2), "help": (["--help"], 0)}, args.repeats, tmp)
        print(f"explain missing.png: {cold['missing']:.2f} s (goal < 1.5 s)")
        print(f"--help:              {cold['help']:.2f} s (goal < 1 s)")
        if args.quick:
            return
        files = validation_images(20, Path(tmp) / "images")
        common = ["--method", "gradcam", "--outdir", str(Path(tmp) / "out")]
        warm = best_of({"one": (["explain", files[0], *common], 0), "twenty": (["explain", str(Path(tmp) / "images"), *common], 0)},
                       args.repeats, tmp)
        ratio = warm["twenty"] / warm["one"]
        print(f"explain 1 image:     {warm['one']:.2f} s")
        print(f"explain 20 images:   {warm['twenty']:.2f} s = {ratio:.2f}x one image (goal < 3x)")


if __name__ == "__main__":
    main()
