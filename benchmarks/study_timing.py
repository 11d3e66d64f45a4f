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
    ap.add_argument("--sanity-images", type=int, default=16)
    ap.add_argument("--sanity-seeds", type=int, default=2)
    ap.add_argument("--once", type=float, default=20.0)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="METHOD.OPTION=VALUE",
                    help="a method option, as in `python -m xaitools study --set` (repeatable)")
    ap.add_argument("--road-percentiles", default=None, help="comma-separated (default 10,20,...,90)")
    args = ap.parse_args(argv)
    from xaitools.study_cli import _parse_sets

    options = _parse_sets(args.sets)
    pct = road.PERCENTILES if args.road_percentiles is None else [float(p) for p in args.road_percentiles.split(",")]
    folder = Path(os.environ.get("XAITOOLS_MIRROR", ".")) / "cats_and_dogs_filtered/validation/dogs"
    clf = xaitools.load_model("dog_breeds")
    paths = study.list_images(folder)[: args.images]
    ims = [clf.resize(data.load_image(p))[0] for p in paths]
    cls = list(np.argmax(clf.predict_resized(np.stack(ims)), axis=1))
    per, cpu = {}, {}
    print(f"{len(ims)} images; wall seconds, and CPU seconds of this process (all threads): on a busy machine the"
          " CPU seconds are the better guess of an idle machine's wall time (at most 2x it on 2 cores)")
    for m in args.methods.split(","):
        t, c = time.perf_counter(), time.process_time()
        res = xaitools.explain(clf, ims, m, classes=cls, batch_size=len(ims), **options.get(m, {}))
        first = (time.perf_counter() - t) / len(ims)
        if first * len(ims) < args.once:
            t, c = time.perf_counter(), time.process_time()
            res = xaitools.explain(clf, ims, m, classes=cls, batch_size=len(ims), **options.get(m, {}))
        per[m] = (time.perf_counter() - t) / len(ims)
        cpu[m] = (time.process_time() - c) / len(ims)
        print(f"{m:12s} {per[m]:8.2f} s/image wall, {cpu[m]:7.2f} CPU (first call {first:.2f} wall)", flush=True)
    heat = res[0].map
    predict = clf.predict_resized
    metrics.deletion(ims[0], predict, cls[0], heat)  # compile
    t, c = time.perf_counter(), time.process_time()
    metrics.deletion(ims[0], predict, cls[0], heat)
    metrics.insertion(ims[0], predict, cls[0], heat)
    di, dic = time.perf_counter() - t, time.process_time() - c
    rmap = np.random.default_rng(0).random(heat.shape)  # the random reference: the slowest imputations
    rd, rdc = [], []
    for h in (heat, rmap):
        t, c = time.perf_counter(), time.process_time()
        road.road(ims[0], predict, cls[0], h, pct, noise=road.noise_for(clf), seed=0)
        rd.append(time.perf_counter() - t)
        rdc.append(time.process_time() - c)
    print(f"{'metrics':12s} deletion+insertion {di:.2f} s wall {dic:.2f} CPU; ROAD ({2 * len(pct)} imputations) {rd[0]:.2f} s wall"
          f" {rdc[0]:.2f} CPU ({res[0].method} map), {rd[1]:.2f} wall {rdc[1]:.2f} CPU (random map) per map")
    rd = float(np.mean(rd))
    n, s = args.study_images, args.sanity_images
    rows = len(per) + 1  # + the random reference
    explain = n * sum(per.values())
    scoring = n * rows * (di + rd)
    seeded = {m for m in per if "seed" in methods.METHODS[m].options}
    sanity = s * sum(per[m] * (2 * args.sanity_seeds - 1 if m in seeded else 1) for m in per)
    total = explain + scoring + sanity
    print(f"estimate for {n} images x {len(per)} methods (+ random), randomization on {s} images:")
    print(f"  explanations {explain / 60:.1f} min, metrics {scoring / 60:.1f} min, randomization {sanity / 60:.1f} min,"
          f" total {total / 60:.1f} min per model (wall, this machine, this load)")
    f = sum(cpu.values()) / sum(per.values())
    ci = n * sum(cpu.values()) + n * rows * (dic + float(np.mean(rdc))) + sanity * f
    print(f"  in CPU seconds: {ci / 60:.1f} min per model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
