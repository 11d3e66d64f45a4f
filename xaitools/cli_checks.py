"""The command line's checks of paths and models: everything that needs no TensorFlow; and how the
commands (``explain``, ``predict``, ``study``) import TensorFlow once the checks have passed.

Each failure is a :class:`UsageError`: one line naming the flag, exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # read from a folder
OVERLAY_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # what --out can write
MODEL_SUFFIXES = (".keras", ".h5")


class UsageError(ValueError):
    """Bad command-line input, found before any computation."""


def _is_url(s: str) -> bool:
    return s.split("://", 1)[0] in ("http", "https", "ftp") and "://" in s


def expand_images(sources) -> list[str]:
    """Files, folders (their images, sorted), asset names and URLs -> a list of image sources."""
    from xaitools.data import ASSETS

    out = []
    for s in sources:
        p = Path(s).expanduser()
        if p.is_dir():
            found = sorted(str(f) for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UsageError(f"folder {s} has no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.is_file() or s in ASSETS or _is_url(s):
            out.append(s)
        else:
            raise UsageError(f"{s!r} is neither a file, a folder, a URL nor a known asset "
                             f"(known assets: {', '.join(sorted(a for a in ASSETS if not a.endswith('.json')))})")
    return out


def _writable_folder(path: Path, flag: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} is not writable")


def check_overlay_path(path: str) -> Path:
    """--out: an image file name with a writable folder and a format PIL writes."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name such as {p / 'overlay.png'}")
    if p.suffix.lower() not in OVERLAY_SUFFIXES:
        raise UsageError(f"--out {path}: cannot write {p.suffix or 'a file without extension'}; use one of {', '.join(OVERLAY_SUFFIXES)}")
    _writable_folder(p, "--out")
    return p


def check_map_path(path: str) -> Path:
    """--map-out (old name --heatmap-out): a .npy file name (``.npy`` appended if missing, as ``np.save`` does) in a writable folder."""
    p = Path(path).expanduser()
    if p.is_dir() or path.endswith(os.sep):
        raise UsageError(f"--map-out {path} is a folder; give a file name such as {p / 'map.npy'}")
    if p.suffix.lower() != ".npy":
        p = p.with_name(p.name + ".npy")
    if p.is_dir():
        raise UsageError(f"--map-out {p} is a folder; give another file name")
    _writable_folder(p, "--map-out")
    return p


def check_outdir(path: str) -> Path:
    """--outdir: an existing writable folder, or one that can be created (created when writing)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"--outdir {path} is a file, not a folder")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise UsageError(f"--outdir {path}: {existing} is not writable")
    return p


def stem(source: str) -> str:
    return Path(source.split("?")[0]).stem or "image"


def check_model(model, preprocess, classes_file, input_size=None) -> None:
    """--model, --preprocess, --classes and --input-size, checked without loading anything."""
    from xaitools import custom, zoo

    names = custom.PREPROCESSING
    if input_size is not None:
        if min(input_size) < 1:
            raise UsageError(f"--input-size must be two positive ints (height width), got {' '.join(map(str, input_size))}")
        if model is None or model in zoo.MODEL_NAMES:
            raise UsageError("--input-size is for a model file (--model PATH); a built-in model has its own size")
    if preprocess is not None and names is not None and preprocess not in names:
        raise UsageError(f"unknown --preprocess {preprocess!r}; use one of: {', '.join(names)}")
    if classes_file is not None and not Path(classes_file).expanduser().is_file():
        raise UsageError(f"--classes {classes_file}: no such file (a text file with one class name per line)")
    if model is None or model in zoo.MODEL_NAMES:
        return
    p = Path(model).expanduser()
    if p.suffix.lower() in MODEL_SUFFIXES or p.exists():
        if not p.is_file():
            raise UsageError(f"--model {model}: no such file")
        if p.suffix.lower() not in MODEL_SUFFIXES:
            raise UsageError(f"--model {model}: not a .keras or .h5 file")
        if preprocess is None:
            shown = ", ".join(names) if names else "mobilenet_v2, inception_v3, vgg16, unit, none"
            raise UsageError(f"--model {model} needs --preprocess, the input scaling it was trained with ({shown})")
        return
    raise UsageError(f"unknown model {model!r}; use a .keras/.h5 file or one of: {', '.join(zoo.MODEL_NAMES)}")


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and Keras now, with TensorFlow's C++ start-up notices (oneDNN, absl) kept off
    the terminal unless ``verbose``. They are written by C++ to file descriptor 2 while TensorFlow is
    imported, and TF_CPP_MIN_LOG_LEVEL does not hold them all back, so fd 2 points to /dev/null meanwhile."""
    if "tensorflow" in sys.modules or verbose:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
