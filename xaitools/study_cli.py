"""``python -m xaitools study FOLDER ...`` and ``python -m xaitools study-summary FILE``
(:mod:`xaitools.study`); :func:`add_commands` adds them to the CLI's subcommands."""

from __future__ import annotations

import json
import time
from pathlib import Path

from xaitools import DEFAULT_SEED, methods
from xaitools.study import prepare, run, summary
from xaitools.study_base import StudyError, finite

# -- command line: `python -m xaitools study ...` and `study-summary FILE` (wired in xaitools.cli) --------
def add_commands(sub) -> None:
    st = sub.add_parser("study", help="evaluate methods over a folder of images (per-image metrics in SQLite)",
                        description="per image and method: deletion and insertion AUC, ROAD MoRF and LeRF, seconds, "
                        "and |rho| after full model randomization (first --sanity-images); see xaitools.study")
    st.add_argument("folder", help="a folder of images (the first --images in sorted order)")
    st.add_argument("--model", default="dog_breeds", help="a built-in model (default dog_breeds) or a .keras/.h5 file")
    st.add_argument("--preprocess", default=None, help="input scaling of a model file (mobilenet_v2, unit, ...)")
    st.add_argument("--classes", dest="classes_file", default=None, metavar="FILE", help="class names of a model file")
    st.add_argument("--methods", required=True, help="comma-separated: " + ",".join(methods.METHODS))
    st.add_argument("--images", type=int, default=100, help="number of images (default 100)")
    st.add_argument("--out", required=True, help="the SQLite file (continued if it exists with the same settings)")
    st.add_argument("--seed", type=int, default=DEFAULT_SEED)
    st.add_argument("--steps", type=int, default=20, help="deletion/insertion steps (default 20)")
    st.add_argument("--sanity-images", type=int, default=20, help="randomization check on the first N images (0: none)")
    st.add_argument("--sanity-seeds", type=int, default=3, help="seeds averaged for seeded methods (default 3)")
    st.add_argument("--road-percentiles", default=None, help="comma-separated (default 10,20,...,90)")
    st.add_argument("--road-noise", type=float, default=None, help="imputation noise in the network's input space (0.01)")
    st.add_argument("--batch-size", type=int, default=8, help="images explained together (default 8)")
    st.add_argument("--workers", type=int, default=2,
                    help="processes for ROAD's imputations (default 2; 0: none); does not change the numbers")
    st.add_argument("--set", dest="sets", action="append", default=[], metavar="METHOD.OPTION=VALUE",
                    help="a method option, e.g. lime.samples=50 (repeatable)")
    st.add_argument("--quiet", action="store_true", help="no progress bar")
    sm = sub.add_parser("study-summary", help="means, 95 %% bootstrap CIs and paired tests of a study file")
    sm.add_argument("file")
    sm.add_argument("--json", action="store_true", help="print the summary as JSON")


def _parse_sets(sets) -> dict:
    out: dict = {}
    for item in sets:
        key, eq, value = item.partition("=")
        meth, dot, opt = key.partition(".")
        if not (eq and dot and meth and opt):
            raise StudyError(f"--set {item!r}: use METHOD.OPTION=VALUE, e.g. lime.samples=50")
        if meth not in methods.METHODS or opt not in methods.METHODS[meth].options:
            raise StudyError(f"--set {item!r}: {meth!r} has no option {opt!r}")
        kind = methods.METHODS[meth].options[opt].type
        try:
            out.setdefault(meth, {})[opt] = kind(value) if kind is not bool else value.lower() in ("1", "true", "yes")
        except ValueError:
            raise StudyError(f"--set {item!r}: {opt} must be {kind.__name__}") from None
    return out


def cmd_study(args) -> int:
    import sys

    pct = None
    if args.road_percentiles:
        pct = [finite("ROAD percentile", p) for p in args.road_percentiles.split(",")]
    kw = dict(options=_parse_sets(args.sets), seed=args.seed, steps=args.steps, percentiles=pct,
              road_noise=args.road_noise, sanity_images=args.sanity_images, sanity_seeds=args.sanity_seeds,
              batch_size=args.batch_size)
    if args.workers < 0:
        raise StudyError(f"--workers must be >= 0, got {args.workers}")
    if args.sanity_images < 0:
        raise StudyError(f"--sanity-images must be >= 0, got {args.sanity_images}")
    from xaitools import cli_checks

    try:
        cli_checks.check_model(args.model, args.preprocess, args.classes_file)
    except cli_checks.UsageError as exc:
        raise StudyError(str(exc)) from None
    spec = Path(args.model).name if Path(args.model).suffix else args.model
    prepare(args.folder, args.methods, args.images, args.out, kw["options"], spec,
            **{k: v for k, v in kw.items() if k != "options"})  # every check before TensorFlow
    cli_checks.import_tensorflow()  # TensorFlow's C++ start-up notices kept off the terminal
    import tensorflow as tf

    # this command's own process: every method is built anew per batch and for the randomized
    # network, so TensorFlow warns that it retraces its functions; expected here, not about the input
    tf.get_logger().setLevel("ERROR")
    t0 = time.time()
    run(args.folder, args.model, args.methods, args.images, args.out, preprocess=args.preprocess,
        class_names=args.classes_file, progress=not args.quiet, workers=args.workers,
        command=" ".join(["python -m xaitools" if sys.argv[0].endswith("__main__.py") else sys.argv[0]] + sys.argv[1:]),
        **kw)
    print(f"{args.out}: done in {time.time() - t0:.0f} s; python -m xaitools study-summary {args.out}")
    return 0


def cmd_summary(args) -> int:
    s = summary(args.file)
    if args.json:
        print(json.dumps(s.to_json(), indent=1))
    else:
        for run in s.meta.get("runs", []):
            print(f"made by: {run.get('command')}")
        print(s)
    return 0


COMMANDS = {"study": cmd_study, "study-summary": cmd_summary}

__all__ = ["add_commands", "cmd_study", "cmd_summary", "COMMANDS"]
