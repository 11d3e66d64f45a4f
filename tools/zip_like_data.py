"""Make a mirror folder whose cats-vs-dogs data has the public zip's layout, counts and file names,
but other pictures: what a reader who downloads ``cats_and_dogs_filtered.zip`` has instead of the
project's offline subset.

The public zip holds ``train/{cats,dogs}`` with 1000 + 1000 images (``cat.0.jpg`` ... ``cat.999.jpg``)
and ``validation/{cats,dogs}`` with 500 + 500 (``cat.2000.jpg`` ... ``cat.2499.jpg``). Without a
network we cannot fetch it, so this builds a stand-in from the cats-vs-dogs images this machine has
(the offline mirror's subset, or the zip itself): each file is a different picture made from one of
them (mirrored left-right or not, cropped to a random 70-95 % window, brightness scaled by 0.8-1.2,
saved as a JPEG), so no file equals a source file. The book's other assets are linked beside it.

    python tools/zip_like_data.py OUT_DIR [--seed 0]

``XAITOOLS_MIRROR=OUT_DIR`` then runs the chapters on it (``tests/test_zip_like_data.py`` does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# The public zip's layout: split -> (first file number, images per class).
ZIP_LAYOUT = {"train": (0, 1000), "validation": (2000, 500)}
OTHER_ASSETS = ("cat-and-dog.jpg", "cat_dog.jpg", "imagenet_class_index.json")


def other_picture(src: Path, rng: np.random.Generator) -> Image.Image:
    """A different picture made from ``src``: maybe mirrored, cropped, brightness-scaled."""
    img = Image.open(src).convert("RGB")
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = img.size
    f = rng.uniform(0.70, 0.95)
    cw, ch = max(1, int(w * f)), max(1, int(h * f))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch))
    arr = np.asarray(img, dtype=np.float32) * rng.uniform(0.8, 1.2)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def build(out: Path, source: Path, seed: int = 0) -> dict[str, int]:
    """Write ``out/cats_and_dogs_filtered`` in the zip's layout from the images under ``source``.

    Returns the number of files written per ``split/class``.
    """
    rng = np.random.default_rng(seed)
    counts = {}
    for cls in ("cats", "dogs"):
        pool = sorted((source / "train" / cls).glob("*.jpg")) + sorted((source / "validation" / cls).glob("*.jpg"))
        if not pool:
            raise SystemExit(f"error: no {cls} images under {source}")
        order = rng.permutation(len(pool))
        k = 0
        for split, (first, n) in ZIP_LAYOUT.items():
            folder = out / "cats_and_dogs_filtered" / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(first, first + n):
                src = pool[order[k % len(pool)]]
                k += 1
                other_picture(src, rng).save(folder / f"{cls[:-1]}.{i}.jpg", quality=90)
            counts[f"{split}/{cls}"] = n
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the folder to create (use it as XAITOOLS_MIRROR)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; name a new folder", file=sys.stderr)
        return 2

    from xaitools import data

    source = data.cats_and_dogs_dir()  # the mirror's subset or the downloaded zip
    args.out.mkdir(parents=True, exist_ok=True)
    for name in OTHER_ASSETS:
        (args.out / name).symlink_to(data.fetch(name))
    counts = build(args.out, source, seed=args.seed)
    print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" (from {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
