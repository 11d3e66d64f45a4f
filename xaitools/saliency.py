"""Pixel attribution (saliency maps): gradients of a class score with respect to the input pixels.

The text's section on pixel attribution sorts the methods in two families: *occlusion or
perturbation based* (LIME, SHAP: change parts of the image and watch the prediction) and
*gradient based* (this module and :mod:`xaitools.gradcam`). Among the gradient methods it singles
out the *pure gradient* methods, which say how the class score would move if a pixel changed, and
raises the *baseline* question: what is an image "without" the evidence?

- :func:`vanilla_gradient`: the pure gradient d y^c / d x (Simonyan et al. 2014).
- :func:`smoothgrad`: the gradient averaged over noisy copies of the input (Smilkov et al. 2017).
- :func:`integrated_gradients`: the gradient averaged along the straight path from a baseline to
  the input, times (input - baseline) (Sundararajan et al. 2017); :func:`make_baseline` gives the
  black and the blurred baselines.
- :func:`saliency_map`: an attribution (N, H, W, 3) -> a 2-D map in [0, 1] per image
  (absolute value, maximum over the colour channels, divided by the maximum).

All functions work on the network's *input* (``x = model.preprocess(images)`` for an
:class:`~xaitools.models.ImageClassifier`) and differentiate with ``tf.GradientTape``. The class
score is the pre-softmax logit (:func:`score_function`): where the last layer is a Dense layer with a
softmax or sigmoid activation, its kernel and bias are applied to the layer's input; pass
``output="probability"`` to differentiate the probability instead.

Everything is batched: many images, or one image and many classes, go through the network in a few
large batches (no Python loop over images). Because the network runs in inference mode, the images
of a batch do not interact, so the gradient of the *sum* of their scores is every image's own
gradient.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from xaitools.core.checks import check_classes, check_count, check_finite, check_inputs, generator  # noqa: F401
from xaitools.core.graph import split_head  # noqa: F401  (public here too)
from xaitools.core.maps import make_baseline, saliency_map  # noqa: F401  (public here too)
from xaitools.core.scores import OUTPUTS, ScoreFunction, add_rows, input_gradients, prepare, score_function  # noqa: F401


# -- gradients ------------------------------------------------------------------------------------
def vanilla_gradient(model, x, classes=None, output: str = "logit", batch_size: int = 64) -> np.ndarray:
    """The pure gradient of the class score w.r.t. the network input: (M, H, W, C).

    ``x``: network inputs (N, H, W, C). ``classes``: None (each image's top class), an int, one
    class per image, or several classes for one image (then M = number of classes).
    """
    score, arr, classes = prepare(model, x, classes, output)
    return input_gradients(score, arr, classes, batch_size=batch_size)


def smoothgrad(
    model,
    x,
    classes=None,
    samples: int = 25,
    noise: float = 0.15,
    output: str = "logit",
    seed=None,
    batch_size: int = 64,
) -> np.ndarray:
    """SmoothGrad: the mean gradient over ``samples`` copies of each input with Gaussian noise.

    The noise's standard deviation is ``noise * (max(x) - min(x))`` per image (the paper suggests
    10-20 %). ``seed``: an int, None or a ``np.random.Generator`` for the noise of the whole batch; or
    a list with one seed per row (``M`` entries): each row's noise is then drawn from its own generator,
    so its map does not depend on the other rows of the batch. Returns (M, H, W, C).
    """
    samples = check_count(samples, "samples")
    if not check_finite(noise, "noise") >= 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    score, arr, classes = prepare(model, x, classes, output)
    if isinstance(seed, (list, tuple)):
        if len(seed) != len(arr):
            raise ValueError(f"seed has {len(seed)} entries for {len(arr)} rows; give one per row or a single seed")
        rngs = [generator(s) for s in seed]
        rng = None
    else:
        rng = generator(seed)
    axes = tuple(range(1, arr.ndim))
    sigma = noise * (arr.max(axis=axes, keepdims=True) - arr.min(axis=axes, keepdims=True))  # (M, 1, 1, 1)
    total = np.zeros(arr.shape, dtype=np.float64)
    # samples x images rows in all, sent in batches of `batch_size` rows; row k is image k % M.
    rows, m = int(samples) * len(arr), len(arr)
    for start in range(0, rows, batch_size):
        idx = np.arange(start, min(start + batch_size, rows)) % m
        if rng is not None:
            draws = rng.standard_normal(arr[idx].shape)
        else:  # each row from its own generator, in sample order
            draws = np.stack([rngs[i].standard_normal(arr.shape[1:]) for i in idx])
        noisy = arr[idx] + (sigma[idx] * draws).astype(arr.dtype)
        add_rows(total, idx, score.gradients(noisy, classes[idx]))
    return (total / int(samples)).astype(arr.dtype)


def integrated_gradients(
    model,
    x,
    classes=None,
    baseline="black",
    steps: int = 64,
    output: str = "logit",
    batch_size: int = 64,
    preprocess: Callable | None = None,
    blur_sigma: float = 10.0,
) -> np.ndarray:
    """Integrated Gradients: ``(x - x0) * mean_alpha grad(x0 + alpha (x - x0))``, shape (M, H, W, C).

    The path integral is the trapezoidal rule on ``steps`` intervals (``steps + 1`` gradients per
    image). Completeness: the attributions of an image sum to ``f(x) - f(x0)`` up to the
    discretisation error. ``baseline``: ``"black"``, ``"blurred"`` or an array (see
    :func:`make_baseline`).
    """
    check_count(steps, "steps")
    score, arr, classes = prepare(model, x, classes, output)
    base = make_baseline(arr, baseline, model=model, preprocess=preprocess, blur_sigma=blur_sigma)
    n = int(steps)
    alphas = np.linspace(0.0, 1.0, n + 1)
    w = np.full(n + 1, 1.0 / n)
    w[[0, -1]] = 0.5 / n  # trapezoid weights, summing to 1
    m, rows = len(arr), len(arr) * (n + 1)
    total = np.zeros(arr.shape, dtype=np.float64)
    for start in range(0, rows, batch_size):
        k = np.arange(start, min(start + batch_size, rows))
        img, step = k // (n + 1), k % (n + 1)
        a = alphas[step].reshape(-1, *([1] * (arr.ndim - 1))).astype(arr.dtype)
        path = base[img] + a * (arr[img] - base[img])
        g = score.gradients(path, classes[img])
        add_rows(total, img, w[step].reshape(a.shape) * g)
    return ((arr - base) * total).astype(arr.dtype)


__all__ = [
    "OUTPUTS", "ScoreFunction", "score_function", "split_head", "check_inputs", "check_classes",
    "input_gradients", "vanilla_gradient", "smoothgrad", "make_baseline", "integrated_gradients",
    "saliency_map",
]
