"""Command line: ``python -m xaitools predict|explain IMAGE ...``.

IMAGE: a file, a folder (its images, sorted), an asset name (``cat-and-dog.jpg``) or a URL.
``--model``: a built-in model's name or a ``.keras``/``.h5`` file (with ``--preprocess``).
Every input and output is checked before TensorFlow is imported; errors are one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from xaitools import methods

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # read from a folder
OVERLAY_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # what --out can write
MODEL_SUFFIXES = (".keras", ".h5")
PROGRESS_MIN = 4  # a progress bar from this many images on
# the chapter whose default model a method uses (XAI_MODEL=imagenet switches to the text's networks)
CHAPTER = {"lime": "lime", "cam": "cam", "saliency": "saliency", "smoothgrad": "saliency", "ig": "saliency"}


class UsageError(ValueError):
    """Bad command-line input, found before any computation."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage too)
        print(f"error: {message} (see: python -m xaitools {self.prog.split()[-1]} --help)", file=sys.stderr)
        raise SystemExit(2)


def _option_flags(parser) -> None:
    """One flag per method option in the registry (``--samples``, ``--steps``, ...), default None
    (= the method's own default); the help lists which methods take it and their defaults."""
    seen: dict[str, list] = {}
    for m in methods.METHODS.values():
        for opt in m.options.values():
            seen.setdefault(opt.name, []).append((m.name, opt))
    for name, uses in seen.items():
        opt = uses[0][1]
        if len({o.help for _, o in uses}) == 1:
            text = f"{opt.help}; for " + ", ".join(f"{m} (default {o.default})" for m, o in uses)
        else:
            text = "; ".join(f"{m}: {o.help} (default {o.default})" for m, o in uses)
        kwargs = {"type": opt.type, "default": None, "help": text}
        if opt.choices:
            kwargs["choices"] = list(opt.choices)
        else:
            kwargs["metavar"] = name.upper()
        parser.add_argument(opt.flag, dest=f"opt_{name}", **kwargs)


def _model_args(parser) -> None:
    parser.add_argument("--model", default=None,
                        help="a built-in model (dog_breeds (default), inception_v3, vgg16) or a .keras/.h5 file")
    parser.add_argument("--preprocess", default=None,
                        help="input scaling of a model file: mobilenet_v2 or inception_v3 ([-1, 1]), vgg16 (caffe), "
                             "unit ([0, 1]), none ([0, 255])")
    parser.add_argument("--classes", dest="classes_file", default=None, metavar="FILE",
                        help="class names of a model file, one per line")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m xaitools", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    pr = sub.add_parser("predict", help="print the top classes for an image")
    pr.add_argument("image", help="asset name (e.g. cat-and-dog.jpg), file path or URL")
    _model_args(pr)
    pr.add_argument("--top", type=int, default=5)

    methods_help = "; ".join(f"{n}: {m.doc}" for n, m in methods.METHODS.items())
    ex = sub.add_parser("explain", help="explain the model's predictions for images",
                        description=f"Methods -- {methods_help}")
    ex.add_argument("images", nargs="+", metavar="IMAGE", help="image file, folder of images, asset name or URL")
    ex.add_argument("--method", default="gradcam", choices=list(methods.METHODS), help="default: gradcam")
    _model_args(ex)
    ex.add_argument("--class", dest="cls", default=None,
                    help="class name, WordNet id or index for every image (default: each image's top class)")
    ex.add_argument("--layer", default=None,
                    help="CAM methods: the conv layer, also inside a nested sub-model (default: chosen automatically)")
    ex.add_argument("--outdir", default=None, help="write <stem>.<method>.png (overlay) and <stem>.<method>.npy (map)")
    ex.add_argument("--out", default=None, help="one image: write the overlay here (.png, .jpg)")
    ex.add_argument("--heatmap-out", default=None, help="one image: write the map here (.npy, float32 in [0, 1], image's H x W)")
    ex.add_argument("--json", action="store_true", help="print one JSON object per image")
    ex.add_argument("--batch-size", type=int, default=16, help="images per batch through the network (default 16)")
    _option_flags(ex)
    from xaitools import study_cli  # study FOLDER ..., study-summary FILE

    study_cli.add_commands(sub)
    return p


# -- validation: everything that needs no TensorFlow -----------------------------------------------
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
    """--heatmap-out: a .npy file name (``.npy`` appended if missing, as ``np.save`` does) in a writable folder."""
    p = Path(path).expanduser()
    if p.is_dir() or path.endswith(os.sep):
        raise UsageError(f"--heatmap-out {path} is a folder; give a file name such as {p / 'map.npy'}")
    if p.suffix.lower() != ".npy":
        p = p.with_name(p.name + ".npy")
    if p.is_dir():
        raise UsageError(f"--heatmap-out {p} is a folder; give another file name")
    _writable_folder(p, "--heatmap-out")
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


def _stem(source: str) -> str:
    return Path(source.split("?")[0]).stem or "image"


def check_model(model, preprocess, classes_file) -> None:
    """--model, --preprocess and --classes, checked without loading anything."""
    from xaitools import models

    names = getattr(models, "PREPROCESSING", None)
    if preprocess is not None and names is not None and preprocess not in names:
        raise UsageError(f"unknown --preprocess {preprocess!r}; use one of: {', '.join(names)}")
    if classes_file is not None and not Path(classes_file).expanduser().is_file():
        raise UsageError(f"--classes {classes_file}: no such file (a text file with one class name per line)")
    if model is None or model in models.MODEL_NAMES:
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
    raise UsageError(f"unknown model {model!r}; use a .keras/.h5 file or one of: {', '.join(models.MODEL_NAMES)}")


def method_options(args) -> dict:
    """The method options given on the command line; a flag the method does not take is an error."""
    spec = methods.get(args.method)
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    for name, value in given.items():
        if name not in spec.options:
            takes = ", ".join(o.flag for o in spec.options.values()) or "no options"
            raise UsageError(f"--{name.replace('_', '-')} is not an option of {args.method} (it takes: {takes})")
        spec.options[name].check(value, args.method)
    if args.layer is not None and not spec.layer:
        raise UsageError(f"--layer is for {', '.join(n for n, m in methods.METHODS.items() if m.layer)}; "
                         f"{args.method} attributes the input pixels")
    return given


# -- running -----------------------------------------------------------------------------------------
def _load(args, chapter: str):
    from xaitools import api, models

    if args.model is None:
        if args.preprocess or args.classes_file:
            raise UsageError("--preprocess and --classes are for a model file (--model PATH)")
        return models.load(None, chapter=chapter)
    return api.as_classifier(args.model, args.preprocess, args.classes_file)


def _replace_into(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then move it into place (nothing half-written)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_outputs(result, image, overlay_path, map_path) -> list[str]:
    """The overlay and the map of one result -> the paths written."""
    import numpy as np

    from xaitools import viz

    written = []
    if map_path is not None:
        _replace_into(map_path, lambda tmp: np.save(tmp, result.map.astype(np.float32)))
        written.append(str(map_path.resolve()))
    if overlay_path is not None:
        picture = viz.overlay(image, result.map)
        _replace_into(overlay_path, lambda tmp: viz.save_image(tmp, picture))
        written.append(str(overlay_path.resolve()))
    return written


def cmd_predict(args) -> int:
    check_model(args.model, args.preprocess, args.classes_file)
    expand_images([args.image])
    from xaitools import data

    model = _load(args, "lime")
    for wnid, name, prob in model.decode(model.predict(data.load_image(args.image)), top=args.top)[0]:
        print(f"{name:32s} {wnid}  {prob:.4f}")
    return 0


def cmd_explain(args) -> int:
    # 1. everything that needs no TensorFlow
    options = method_options(args)
    images = expand_images(args.images)
    check_model(args.model, args.preprocess, args.classes_file)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if (args.out or args.heatmap_out) and len(images) > 1:
        raise UsageError(f"--out and --heatmap-out are for one image; {len(images)} images: use --outdir DIR")
    out = check_overlay_path(args.out) if args.out else None
    heatmap_out = check_map_path(args.heatmap_out) if args.heatmap_out else None
    outdir = check_outdir(args.outdir) if args.outdir else None
    if outdir is not None:
        stems: dict[str, str] = {}
        for s in images:
            if _stem(s) in stems:
                raise UsageError(f"--outdir: {stems[_stem(s)]} and {s} would both write {_stem(s)}.{args.method}.*")
            stems[_stem(s)] = s

    # 2. the model, once; the images in batches. A command-line run starts TensorFlow here: keep its
    # C++ info lines (oneDNN notice) off the terminal unless the user set a level.
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from xaitools import api

    model = _load(args, CHAPTER.get(args.method, "gradcam"))
    bar = None
    if len(images) >= PROGRESS_MIN:
        from tqdm import tqdm

        bar = tqdm(total=len(images), file=sys.stderr, unit="image", desc=args.method)
    loaded: dict[str, list] = {}

    def read(source):  # each image is read once: for the network and for its overlay
        from xaitools import data

        image = data.load_image(source)
        loaded.setdefault(source, []).append(image)
        return image

    try:
        results = api.iter_explain(model, images, args.method, args.cls, args.layer, batch_size=args.batch_size,
                                   progress=bar.update if bar else None, reader=read, **options)
        for result in results:
            source = result.image
            image = loaded[source].pop(0)
            if outdir is not None:
                stem = f"{_stem(source)}.{args.method}"
                paths = (outdir / f"{stem}.png", outdir / f"{stem}.npy")
            else:
                paths = (out, heatmap_out)
            written = write_outputs(result, image, *paths)
            if args.json:
                record = result.to_dict() | {"files": written}
                print(json.dumps(record), flush=True)
            else:
                where = f", layer {result.layer}" if result.layer else ""
                print(f"{source}: {result.method}: {result.class_name} (class {result.class_index}, "
                      f"p={result.probability:.4f}) with {result.model}{where}")
                for path in written:
                    kind = "heatmap" if path.endswith(".npy") else "overlay"
                    print(f"  {kind} -> {path}")
    finally:
        if bar is not None:
            bar.close()
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from xaitools import study_cli

        return ({"predict": cmd_predict, "explain": cmd_explain} | study_cli.COMMANDS)[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback (XAITOOLS_DEBUG=1 shows it)
        if os.environ.get("XAITOOLS_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        known = (ValueError, KeyError, IndexError, TypeError, OSError, RuntimeError)
        lines = str(msg).strip().splitlines() or [type(exc).__name__]
        prefix = "" if isinstance(exc, known) else f"{type(exc).__name__}: "
        print(f"error: {prefix}{lines[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
