"""Seconds per image of every CAM-family and perturbation method on the default model.

The default dog-breed model (MobileNetV2, 160x160, layer ``out_relu``: 5x5x1280 feature maps), the
text's two images (``cat_dog.jpg``, ``cat-and-dog.jpg``), each image's top class, one call with
both images; the time is divided by 2. Best of ``--repeats`` rounds (default 3); the methods take
turns within a round, so a busy machine slows them alike. Before timing, each method runs once on a
small setting that traces its compiled graphs (first-call cost is not counted).

Rows (library defaults unless stated):

- gradcam, gradcam++, layercam: one forward + backward pass per image.
- eigencam: one forward pass and an SVD of the (25, 1280) activations per image.
- scorecam: every channel (1280; all-zero channels add nothing to the map and are not run, the
  count run is printed), in batches of 64 masked images.
- scorecam max_channels=128 / 256: Faster-Score-CAM, the documented faster setting.
- occlusion: 16x16 patches every 8 pixels (361 masked copies per image).
- rise: 4000 masks (the paper's), 7x7 cells; rise masks=1000 as the cheaper setting.

Run: ``XAITOOLS_MIRROR=... python benchmarks/methods_bench.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of_rounds, load_average  # noqa: E402

IMAGES = ("cat_dog.jpg", "cat-and-dog.jpg")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from xaitools import cams, data, gradcam, models, perturbation

    model = models.load("dog_breeds")
    layer = model.last_conv_layer
    x = np.concatenate([model.preprocess(data.load_image(name)) for name in IMAGES])
    classes = np.argmax(np.asarray(model.model(x)), axis=-1)
    n = len(x)

    explainers = {
        "gradcam": gradcam.GradCAM(model, layer),
        "gradcam++": cams.GradCAMPlusPlus(model, layer),
        "layercam": cams.LayerCAM(model, layer),
        "eigencam": cams.EigenCAM(model, layer),
        "scorecam (all 1280 channels)": cams.ScoreCAM(model, layer),
        "scorecam max_channels=256": cams.ScoreCAM(model, layer, max_channels=256),
        "scorecam max_channels=128": cams.ScoreCAM(model, layer, max_channels=128),
    }
    fns = {name: (lambda e=e: e.compute_maps(x, classes)) for name, e in explainers.items()}
    fns["occlusion size=16 stride=8"] = lambda: perturbation.occlusion(model, x, classes, size=16, stride=8)
    fns["rise masks=4000"] = lambda: perturbation.rise(model, x, classes, masks=4000)
    fns["rise masks=1000"] = lambda: perturbation.rise(model, x, classes, masks=1000)

    # warm-up: trace every compiled graph on a small setting (a full batch of 64 and a remainder)
    for name, e in explainers.items():
        if isinstance(e, cams.ScoreCAM):
            keep, e.max_channels = e.max_channels, 65
            e.compute_maps(x, classes)
            e.max_channels = keep
        else:
            e.compute_maps(x, classes)
    perturbation.occlusion(model, x, classes, size=80, stride=80)
    perturbation.rise(model, x, classes, masks=65)

    feature_maps = explainers["eigencam"].features(x, 64)[0]
    run = [int((a.reshape(-1, a.shape[-1]).max(axis=0) > 0).sum()) for a in feature_maps]
    print(f"default model {model.name}, layer {layer} {feature_maps.shape[1:]}, images {', '.join(IMAGES)}; "
          f"Score-CAM runs {' and '.join(map(str, run))} of {feature_maps.shape[-1]} channels (the rest are all zero)")
    cpu: dict[str, list[float]] = {}

    def cpu_timed(name, fn):  # also the process's CPU time (all threads): less sensitive to other load
        def run():
            t = time.process_time()
            fn()
            cpu.setdefault(name, []).append(time.process_time() - t)
        return run

    print(f"before: {load_average()}", flush=True)
    times = best_of_rounds({k: cpu_timed(k, f) for k, f in fns.items()}, repeats=args.repeats, warmup=False)
    print(f"after:  {load_average()}")
    print(f"{'method':32s} {'s/image':>8s} {'CPU s/image':>12s}   (best of {args.repeats}, {n} images per call)")
    for name, t in times.items():
        print(f"{name:32s} {t / n:8.2f} {min(cpu[name]) / n:12.2f}")


if __name__ == "__main__":
    main()
