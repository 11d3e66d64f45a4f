"""SmoothGrad speed and agreement: xaitools vs tf-keras-vis 0.8.7, at 25 and 50 samples on 8 images.

8 images (random crops and flips of the text's two pictures), the default dog-breed model
(MobileNetV2, 160x160), each image's top class, noise 0.15 * (max - min) per image, the class logit
(pre-softmax) as the score:

- xaitools:     ``saliency.smoothgrad(model, x, classes, samples=S, noise=0.15, seed=0)``
                (compiled gradient, samples x images rows in batches of 64)
- tf-keras-vis: ``Saliency(flat_model, ReplaceToLinear())(CategoricalScore(classes), x,
                smooth_samples=S, smooth_noise=0.15, gradient_modifier=None, keepdims=True,
                normalize_map=False)`` (eager, one batch of 8 images per sample): the mean raw
                gradient, as xaitools returns it. Its default ``gradient_modifier=abs`` averages
                |gradient| instead, a different map (its correlation is printed too).

Same maps: both run once more with the *same* noise (tf-keras-vis' ``np.random.normal`` is fed
the standard normals xaitools draws from ``np.random.default_rng(seed)``); the lowest per-image
Pearson correlation of the two (8, 160, 160, 3) gradients is printed (goal >= 0.99).
Speed: best of --repeats rounds after a warm-up round, each library with its own noise
(goal: tf-keras-vis / xaitools >= 2).

Run: ``XAITOOLS_MIRROR=... python benchmarks/saliency_bench.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of_rounds, images, load_average  # noqa: E402

N_IMAGES = 8
NOISE = 0.15
SEED = 0


def min_correlation(a, b) -> float:
    """The lowest Pearson correlation between a[i] and b[i] over the images."""
    return min(float(np.corrcoef(np.ravel(u), np.ravel(v))[0, 1]) for u, v in zip(a, b))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each line as soon as it is measured

    import warnings

    import tensorflow as tf
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from xaitools import models, saliency

    model = models.load(chapter="saliency")
    pictures = images(N_IMAGES, model.input_size)
    x = model.preprocess(pictures)
    classes = np.argmax(model.predict(pictures), axis=-1)
    # tf-keras-vis passes the single input as a list; Keras warns about the structure on every call
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
    vis = Saliency(models.flatten_model(model.model), model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore(classes.tolist())
    print(f"{N_IMAGES} images {x.shape[1]}x{x.shape[2]}, model {model.name}, noise {NOISE}, TF {tf.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (on)')}, best of {args.repeats}, "
          f"{load_average()}")

    for s in args.samples:
        def ours():
            return saliency.smoothgrad(model, x, classes, samples=s, noise=NOISE, seed=SEED)

        def theirs(**kw):
            return np.asarray(vis(score, x, smooth_samples=s, smooth_noise=NOISE, gradient_modifier=None,
                                  keepdims=True, normalize_map=False, **kw))

        # the same noise: the standard normals xaitools draws (rows in order: sample-major, image-minor)
        z = np.random.default_rng(SEED).standard_normal((s * len(x), *x.shape[1:])).reshape(s, len(x), *x.shape[1:])

        def same_noise(loc, scale, size):
            return loc + np.asarray(scale, np.float64) * z.reshape(size)

        with mock.patch("numpy.random.normal", same_noise):
            theirs_same = theirs()
        corr = min_correlation(ours(), theirs_same)
        default_maps = np.asarray(vis(score, x, smooth_samples=s, smooth_noise=NOISE))  # |grad| averaged
        corr_default = min_correlation(saliency.saliency_map(ours()), default_maps)

        times = best_of_rounds({"xaitools": ours, "tf-keras-vis": theirs}, args.repeats)
        print(f"\nSmoothGrad, {s} samples x {len(x)} images   ({load_average()})")
        print(f"  xaitools        {times['xaitools']:8.2f} s")
        print(f"  tf-keras-vis    {times['tf-keras-vis']:8.2f} s")
        print(f"  tf-keras-vis / xaitools   {times['tf-keras-vis'] / times['xaitools']:6.2f}x   (goal >= 2)")
        print(f"  same noise: min per-image correlation of the mean gradients {corr:.6f}   (goal >= 0.99)")
        print(f"  tf-keras-vis defaults (mean |gradient|, max over channels) vs xaitools' saliency_map: "
              f"min correlation {corr_default:.3f}   (a different map: not comparable)")


if __name__ == "__main__":
    main()
