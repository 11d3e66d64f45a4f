"""LIME speed: xaitools vs the `lime` package vs the bare compiled network, and oneDNN off vs on.

Same image (the text's cat-and-dog.jpg at 299x299, [0, 1]), same model (default: dog_breeds,
MobileNetV2 at 160x160), same superpixels (quickshift, the text's parameters), hide colour 0.5 (the
text's 0 in its [-1, 1] space), batches of 64, N = 150 and N = 1000 perturbations:

- xaitools:     ``lime.explain(image, model, classes=c, ...)``: perturbations by superposition in
                the network's input space (each superpixel resized once, through the resize's two
                matrices; per batch one compiled graph: matrix product, clip, scaling, network),
                kernel weights, weighted linear fit
- lime 0.2.0.1: ``LimeImageExplainer.explain_instance`` with ``model.predict`` as classifier_fn
                (builds and resizes N full-size images), LinearRegression as the surrogate
- bare network: the compiled ``keras.Model`` alone on N already resized and scaled inputs, in the
                same batches (the floor: no perturbing, resizing, scaling or fitting)

Goals (issue 11): xaitools <= 1.05x the bare network; lime / xaitools >= 1.5.
Then the bare network on --onednn-n inputs in two fresh processes, TF_ENABLE_ONEDNN_OPTS=0 and =1
(TensorFlow reads it at import), and their ratio. Times are the best of --repeats rounds after a
warm-up round; the methods take turns within a round.

Run: ``XAITOOLS_MIRROR=... python benchmarks/lime_bench.py [--repeats 3] [--profile]``
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of_rounds, load_average  # noqa: E402

BATCH = 64
HIDE = 0.5


def setup(model_name):
    """The classifier, the 299x299 [0, 1] image, its superpixels and the explained class."""
    import skimage.transform

    from xaitools import data, lime, models

    model = models.load(model_name, chapter="lime")
    image = skimage.transform.resize(data.load_image("cat-and-dog.jpg"), (299, 299)).astype(np.float32)
    superpixels = lime.segment(image)
    cls = int(np.argmax(model.predict(image)[0]))
    return model, image, superpixels, cls


def bare_network(model, image, superpixels, n, seed=0):
    """A function running the compiled network alone on n prepared inputs (built here, untimed)."""
    import tensorflow as tf

    from xaitools import lime

    pert = lime.sample_perturbations(int(superpixels.max()) + 1, n, random_state=seed)
    inputs = [tf.constant(model.preprocess(lime.perturb_images(image, pert[i : i + BATCH], superpixels, HIDE)))
              for i in range(0, n, BATCH)]
    net = tf.function(lambda t: model.model(t, training=False), reduce_retracing=True)

    def run():
        for x in inputs:
            np.asarray(net(x))

    return run


def network_only(args) -> None:
    """Child process: print the bare network's best time on --network-only inputs."""
    model, image, superpixels, _ = setup(args.model)
    run = bare_network(model, image, superpixels, args.network_only)
    t = best_of_rounds({"net": run}, args.repeats)["net"]
    print(f"network_seconds={t:.6f}")


def onednn_rows(args) -> None:
    times = {}
    for flag in ("0", "1"):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag, TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [sys.executable, __file__, "--network-only", str(args.onednn_n), "--repeats", str(args.repeats)]
        if args.model:
            cmd += ["--model", args.model]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        found = re.search(r"network_seconds=([0-9.]+)", out.stdout)
        if not found:
            print(f"  oneDNN {flag}: the child process failed:\n{out.stderr[-2000:]}")
            return
        times[flag] = float(found.group(1))
    print(f"\nbare network on {args.onednn_n} inputs, fresh processes, best of {args.repeats}")
    print(f"  TF_ENABLE_ONEDNN_OPTS=0 {times['0']:8.2f} s")
    print(f"  TF_ENABLE_ONEDNN_OPTS=1 {times['1']:8.2f} s")
    print(f"  oneDNN off / on         {times['0'] / times['1']:6.2f}x")


def profile(fn, top=8) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    print("\nprofile of one xaitools run: xaitools' own functions (cumulative seconds)")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(r"xaitools/(lime|models|superposition)\.py")
    print("profile of one xaitools run: where the time is spent (own seconds, top entries)")
    pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 1000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--onednn-n", type=int, default=512, help="inputs for the oneDNN off/on comparison (0: skip)")
    ap.add_argument("--profile", action="store_true", help="cProfile one xaitools run at the first size")
    ap.add_argument("--network-only", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each line as soon as it is measured
    if args.network_only:
        return network_only(args)

    import tensorflow as tf
    import lime.lime_image as lime_image
    from sklearn.linear_model import LinearRegression

    from xaitools import lime

    lime_image.tqdm = lambda rows: rows  # no progress bar (on stderr, and its cost) in lime's loop

    model, image, superpixels, cls = setup(args.model)
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (on)")
    print(f"model {model.name}, {int(superpixels.max()) + 1} superpixels, class {model.class_names[cls]}, "
          f"batches of {BATCH}, hide colour {HIDE}, TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS {onednn}, "
          f"best of {args.repeats}, {load_average()}")

    for n in args.sizes:
        def ours():
            return lime.explain(image, model, classes=cls, num_perturb=n, hide_color=HIDE, superpixels=superpixels,
                                random_state=0, batch_size=BATCH)

        explainer = lime_image.LimeImageExplainer(kernel_width=0.25, random_state=0)

        def lime_pkg():
            return explainer.explain_instance(image, model.predict, labels=(cls,), top_labels=None, hide_color=HIDE,
                                              num_samples=n, batch_size=BATCH, segmentation_fn=lambda _: superpixels,
                                              model_regressor=LinearRegression())

        network = bare_network(model, image, superpixels, n)
        t0 = time.perf_counter()
        times = best_of_rounds({"xaitools": ours, "lime": lime_pkg, "network": network}, args.repeats)
        t_ours, t_lime, t_net = times["xaitools"], times["lime"], times["network"]
        print(f"\nN = {n}   ({time.perf_counter() - t0:.0f} s for all rounds, {load_average()})")
        print(f"  xaitools       {t_ours:8.2f} s")
        print(f"  lime 0.2.0.1   {t_lime:8.2f} s")
        print(f"  bare network   {t_net:8.2f} s   (compiled keras.Model on N prepared inputs)")
        print(f"  xaitools / bare network {t_ours / t_net:6.2f}x   (goal <= 1.05)")
        print(f"  lime / xaitools         {t_lime / t_ours:6.2f}x   (goal >= 1.5)")
        if args.profile and n == args.sizes[0]:
            profile(ours)

    if args.onednn_n:
        onednn_rows(args)


if __name__ == "__main__":
    main()
