"""Execute the book's notebooks top to bottom and fail on the first error cell (outputs not compared).

Used by ``make test-text-exact``: every chapter on the text's own networks (``XAI_MODEL=imagenet``:
InceptionV3 for LIME, VGG16 for the rest) with random weights (``XAI_WEIGHTS=random``, testing only:
no download, the real architectures, layer names and preprocessing). ``XAI_QUICK=1`` makes the
slowest cells use the smaller settings each notebook documents. The executed copies go to a
temporary folder; the committed notebooks (default model, compared by nbval) are not touched,
unless ``--inplace`` writes the executed notebooks back (how their committed outputs are made).

    python tools/run_notebooks.py [--quick] [--imagenet-random] [--inplace] [NOTEBOOK ...]

Prints one line per notebook with its wall time, and a summary; exit 1 if any notebook failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# TensorFlow's C++ start-up lines (absl's pre-init warning, "I0000 ..." notices with a time and a
# process id). A kernel started here writes them into the first cell that imports TensorFlow; the
# kernels nbval starts do not, so they are dropped from what --inplace writes. Nothing else is.
TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\).*|[IWE]\d{4} .*|\s*)$")


def drop_tf_startup_lines(nb) -> int:
    """Remove stderr outputs made only of TensorFlow's C++ start-up lines; return how many."""
    dropped = 0
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if (out.get("output_type") == "stream" and out.get("name") == "stderr"
                    and all(TF_STARTUP.match(line) for line in out["text"].splitlines())):
                dropped += 1
                continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept
    return dropped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", help="default: every notebooks/*.ipynb, sorted")
    p.add_argument("--imagenet-random", action="store_true",
                   help="XAI_MODEL=imagenet XAI_WEIGHTS=random (the text's networks, random weights)")
    p.add_argument("--quick", action="store_true", help="XAI_QUICK=1: the notebooks' documented smaller settings")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    p.add_argument("--inplace", action="store_true",
                   help="write the executed notebooks back (to commit their outputs); default: a temporary folder")
    args = p.parse_args(argv)

    paths = [Path(n) for n in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(n) for n in paths if not n.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.inplace and (args.imagenet_random or args.quick or os.environ.get("XAI_MODEL")):
        print("error: --inplace writes the committed outputs, which come from the default model "
              "at full settings; drop --imagenet-random/--quick and unset XAI_MODEL", file=sys.stderr)
        return 2
    if args.imagenet_random:
        os.environ.update(XAI_MODEL="imagenet", XAI_WEIGHTS="random")
    if args.quick:
        os.environ["XAI_QUICK"] = "1"
    # The kernels inherit this process's environment: the same settings as the test harness.
    sys.path.insert(0, str(ROOT))
    from conftest import NOTEBOOK_ENV

    for key, value in NOTEBOOK_ENV.items():
        os.environ.setdefault(key, value)

    import nbclient
    import nbformat

    mode = ", ".join(f"{k}={os.environ[k]}" for k in ("XAI_MODEL", "XAI_WEIGHTS", "XAI_QUICK") if k in os.environ)
    print(f"executing {len(paths)} notebooks ({mode or 'default model'})", flush=True)
    failed, total = [], 0.0
    with tempfile.TemporaryDirectory(prefix="xai-notebooks-") as out:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            try:
                nbclient.NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                        resources={"metadata": {"path": str(path.parent)}}).execute()
                status = "ok"
            except Exception as exc:  # CellExecutionError, a timeout, a dead kernel: one line each
                first = str(exc).strip().splitlines()
                status = "FAILED: " + (first[-1] if first else type(exc).__name__)
                failed.append(path.name)
            seconds = time.perf_counter() - start
            drop_tf_startup_lines(nb)
            total += seconds
            nbformat.write(nb, path if args.inplace and status == "ok" else Path(out) / path.name)
            print(f"{path.name:28s} {seconds:7.1f} s  {status}", flush=True)
    print(f"{len(paths) - len(failed)} passed, {len(failed)} failed in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
