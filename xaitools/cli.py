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
from xaitools.cli_checks import (  # noqa: F401  (public here too)
    IMAGE_SUFFIXES, MODEL_SUFFIXES, OVERLAY_SUFFIXES, UsageError, check_map_path, check_model, check_outdir,
    check_overlay_path, expand_images, import_tensorflow, stem,
)

PROGRESS_MIN = 4  # a progress bar from this many images on


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage too)
        print(f"error: {message} (see: python -m xaitools {self.prog.split()[-1]} --help)", file=sys.stderr)
        raise SystemExit(2)


def _option_flags(parser) -> None:
    """One flag per distinct option flag in the registry (``--samples``, ``--steps``, ...), default None
    (= the method's own default); the help lists which methods take it and their defaults. Bools are
    ``--flag/--no-flag``; an option whose name means two things has two flags (``Option.cli``)."""
    seen: dict[str, list] = {}
    for m in methods.METHODS.values():
        for opt in m.options.values():
            seen.setdefault(opt.flag, []).append((m.name, opt))
    for flag, uses in seen.items():
        opt = uses[0][1]
        if len({o.help for _, o in uses}) == 1:
            text = f"{opt.help}; for " + ", ".join(f"{m} (default {o.default})" for m, o in uses)
        else:
            text = "; ".join(f"{m}: {o.help} (default {o.default})" for m, o in uses)
        kwargs = {"default": None, "help": text}
        if opt.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = opt.type
            if opt.choices:
                kwargs["choices"] = list(opt.choices)
            else:
                kwargs["metavar"] = flag[2:].replace("-", "_").upper()
        parser.add_argument(flag, dest=_dest(flag), **kwargs)


def _dest(flag: str) -> str:
    return "opt_" + flag[2:].replace("-", "_")


def _common_args(parser) -> None:
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up notices")


def _model_args(parser) -> None:
    parser.add_argument("--model", default=None,
                        help="a built-in model (dog_breeds (default), inception_v3, vgg16) or a .keras/.h5 file")
    parser.add_argument("--preprocess", default=None,
                        help="input scaling of a model file: mobilenet_v2 or inception_v3 ([-1, 1]), vgg16 (caffe), "
                             "unit ([0, 1]), none ([0, 255])")
    parser.add_argument("--classes", dest="classes_file", default=None, metavar="FILE",
                        help="class names of a model file, one per line (a one-unit sigmoid model: two lines, "
                             "for 1 - p and p)")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="the size images are resized to, for a model file whose input size is not fixed")
    _common_args(parser)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m xaitools", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    pr = sub.add_parser("predict", help="print the top classes for an image")
    pr.add_argument("image", help="asset name (e.g. cat-and-dog.jpg), file path or URL")
    _model_args(pr)
    pr.add_argument("--top", type=int, default=5, help="how many classes to print (default 5)")

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
    ex.add_argument("--map-out", "--heatmap-out", dest="map_out", default=None,
                    help="one image: write the map here (.npy, float32 in [0, 1], image's H x W)")
    ex.add_argument("--json", action="store_true", help="print one JSON object per image")
    ex.add_argument("--batch-size", type=int, default=16, help="images per batch through the network (default 16)")
    _option_flags(ex)
    from xaitools import study_cli  # study FOLDER ..., study-summary FILE

    study_cli.add_commands(sub)
    return p


# -- validation: everything that needs no TensorFlow (paths and models: xaitools.cli_checks) --------
def method_options(args) -> dict:
    """The method options given on the command line, checked (:meth:`Option.check`, naming the flag);
    a flag the method does not take is an error."""
    spec = methods.get(args.method)
    by_flag = {o.flag: name for name, o in spec.options.items()}
    given, labels = {}, {}
    for key, value in vars(args).items():
        if not key.startswith("opt_") or value is None:
            continue
        flag = "--" + key[4:].replace("_", "-")
        if flag not in by_flag:
            takes = ", ".join(o.flag for o in spec.options.values()) or "no options"
            raise UsageError(f"{flag} is not an option of {args.method} (it takes: {takes})")
        given[by_flag[flag]], labels[by_flag[flag]] = value, flag
    try:
        checked = spec.check_options(given, labels)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.layer is not None and not spec.layer:
        raise UsageError(f"--layer is for {', '.join(n for n, m in methods.METHODS.items() if m.layer)}; "
                         f"{args.method} attributes the input pixels")
    return {name: checked[name] for name in given}


# -- running -----------------------------------------------------------------------------------------
def _load(args, chapter: str):
    from xaitools import api, models

    if args.model is None:
        if args.preprocess or args.classes_file:
            raise UsageError("--preprocess and --classes are for a model file (--model PATH)")
        return models.load(None, chapter=chapter)
    return api.as_classifier(args.model, args.preprocess, args.classes_file,
                             tuple(args.input_size) if args.input_size else None)


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
    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    check_model(args.model, args.preprocess, args.classes_file, args.input_size)
    expand_images([args.image])
    import_tensorflow(args.verbose)
    from xaitools import data

    model = _load(args, "lime")
    for wnid, name, prob in model.decode(model.predict(data.load_image(args.image)), top=args.top)[0]:
        print(f"{name:32s} {wnid}  {prob:.4f}")
    return 0


def cmd_explain(args) -> int:
    # 1. everything that needs no TensorFlow
    options = method_options(args)
    images = expand_images(args.images)
    check_model(args.model, args.preprocess, args.classes_file, args.input_size)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if (args.out or args.map_out) and len(images) > 1:
        raise UsageError(f"--out and --map-out are for one image; {len(images)} images: use --outdir DIR")
    out = check_overlay_path(args.out) if args.out else None
    map_out = check_map_path(args.map_out) if args.map_out else None
    outdir = check_outdir(args.outdir) if args.outdir else None
    if outdir is not None:
        stems: dict[str, str] = {}
        for s in images:
            if stem(s) in stems:
                raise UsageError(f"--outdir: {stems[stem(s)]} and {s} would both write {stem(s)}.{args.method}.*")
            stems[stem(s)] = s

    # 2. the model, once; the images in batches. A command-line run starts TensorFlow here, without its
    # C++ start-up notices (--verbose shows them).
    import_tensorflow(args.verbose)
    from xaitools import api

    model = _load(args, methods.get(args.method).chapter)
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
                base = f"{stem(source)}.{args.method}"
                paths = (outdir / f"{base}.png", outdir / f"{base}.npy")
            else:
                paths = (out, map_out)
            written = write_outputs(result, image, *paths)
            if args.json:
                record = result.to_dict() | {"files": written}
                print(json.dumps(record), flush=True)
            else:
                where = f", layer {result.layer}" if result.layer else ""
                print(f"{source}: {result.method}: {result.class_name} (class {result.class_index}, "
                      f"p={result.probability:.4f}) with {result.model}{where}")
                for path in written:
                    kind = "map" if path.endswith(".npy") else "overlay"
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
