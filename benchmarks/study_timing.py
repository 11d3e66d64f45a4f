"""What a full study costs: seconds per image for each method and for each metric, and the estimate.

    XAITOOLS_MIRROR=... python benchmarks/study_timing.py [--images 2] [--methods a,b] [--study-images 100]

Each method explains ``--images`` dog photos (dog_breeds) once to compile, then once timed
(methods that take longer than ``--once`` seconds on the first call are not repeated: their first
call is the estimate). The metrics' cost per map (deletion + insertion, ROAD) is method-independent
and is timed on one map. The estimate for ``--study-images`` images and a randomization check on
``--sanity-images`` images (``--sanity-seeds`` seeds for seeded methods) assumes this machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    import numpy as np

    import xaitools
    from xaitools import data, methods, metrics, road, study

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--methods", default=",".join(methods.METHODS))
    ap.add_argument("--study-images", type=int, default=100)
    ap.add_argument("--sanity-images", type=int, default=20)
    ap.add_argument("--sanity-seeds", type=int, default=3)
    ap.add_argument("--once", type=float, default=20.0)
    args = ap.parse_args(argv)
    folder = Path(os.environ.get("XAITOOLS_MIRROR", ".")) / "cats_and_dogs_filtered/validation/dogs"
    clf = xaitools.load_model("dog_breeds")
    paths = study.list_images(folder)[: args.images]
    ims = [clf.resize(data.load_image(p))[0] for p in paths]
    cls = list(np.argmax(clf.predict_resized(np.stack(ims)), axis=1))
    per = {}
    for m in args.methods.split(","):
        t = time.perf_counter()
        res = xaitools.explain(clf, ims, m, classes=cls, batch_size=len(ims))
        first = (time.perf_counter() - t) / len(ims)
        if first * len(ims) < args.once:
            t = time.perf_counter()
            res = xaitools.explain(clf, ims, m, classes=cls, batch_size=len(ims))
            per[m] = (time.perf_counter() - t) / len(ims)
        else:
            per[m] = first
        print(f"{m:12s} {per[m]:8.2f} s/image (first call {first:.2f})", flush=True)
    heat = res[0].map
    predict = clf.predict_resized
    metrics.deletion(ims[0], predict, cls[0], heat)  # compile
    t = time.perf_counter()
    metrics.deletion(ims[0], predict, cls[0], heat)
    metrics.insertion(ims[0], predict, cls[0], heat)
    di = time.perf_counter() - t
    t = time.perf_counter()
    road.road(ims[0], predict, cls[0], heat, noise=road.noise_for(clf), rng=0)
    rd = time.perf_counter() - t
    print(f"{'metrics':12s} deletion+insertion {di:.2f} s, ROAD (18 imputations) {rd:.2f} s per map")
    n, s = args.study_images, args.sanity_images
    rows = len(per) + 1  # + the random reference
    explain = n * sum(per.values())
    scoring = n * rows * (di + rd)
    seeded = {m for m in per if "seed" in methods.METHODS[m].options}
    sanity = s * sum(per[m] * (2 * args.sanity_seeds - 1 if m in seeded else 1) for m in per)
    total = explain + scoring + sanity
    print(f"estimate for {n} images x {len(per)} methods (+ random), randomization on {s} images:")
    print(f"  explanations {explain / 60:.1f} min, metrics {scoring / 60:.1f} min, randomization {sanity / 60:.1f} min,"
          f" total {total / 60:.1f} min per model (this machine, this load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
