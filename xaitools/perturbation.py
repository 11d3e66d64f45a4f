"""Perturbation methods: hide parts of the input and watch the class score (no gradients).

- :func:`occlusion` (Zeiler & Fergus 2014): a patch of ``size`` slides over the image with ``stride``;
  each pixel's attribution is the mean drop of the class score over the patches that cover it.
- :func:`rise` (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for Explanation of Black-box
  Models"): random low-resolution binary masks, upsampled bilinearly with a random shift; the
  saliency is the mask average weighted by the class score of the masked input.

Convention (the same as :mod:`xaitools.saliency`): ``model`` is a keras.Model or an
:class:`~xaitools.models.ImageClassifier` (its ``.model``), and ``x`` is a batch already
preprocessed for the network, (N, h, w, C) (``x = model.preprocess(images)``). Hidden pixels take
the value ``baseline`` *in the network's input space*: the default 0 is mid-gray for MobileNet's
[-1, 1] inputs, the mean pixel for VGG16's mean-subtracted (caffe) inputs and black for [0, 1]
inputs (RISE's reference code multiplies the preprocessed input by the mask, i.e. baseline 0).
The score is the model's output (``output="probability"``, as in both papers) or the logit.

Both run the perturbed copies through one compiled forward pass in batches of ``batch_size``
rows (rows of several images share a batch); the maps are returned at the input's resolution,
in score units (not normalised; :func:`normalize` divides each map by its largest absolute value).
"""

from __future__ import annotations

import numpy as np

from xaitools.core.checks import check_finite, generator, positive_pair
from xaitools.core.maps import make_baseline, normalize  # noqa: F401  (public here too)
from xaitools.core.scores import class_scores, prepare


def _starts(n: int, size: int, stride: int) -> np.ndarray:
    """Patch starts along one side: every ``stride``, plus one flush with the far edge if needed."""
    s = list(range(0, n - size + 1, stride))
    if s[-1] + size < n:
        s.append(n - size)  # cover the last pixels too
    return np.asarray(s)


def occlusion(model, x, classes=None, size=16, stride=8, baseline=0.0, output: str = "probability",
              batch_size: int = 64) -> np.ndarray:
    """Occlusion sensitivity: the drop of the class score when a patch of the input is hidden.

    For every patch position P (a ``size`` window every ``stride`` pixels; one more flush with the
    right/bottom edge when the stride does not reach it), the patch is set to ``baseline`` and
    ``d_P = f_c(x) - f_c(x with P hidden)``. A pixel's attribution is the mean of ``d_P`` over the
    patches that contain it. For an additive model ``f(x) = sum_p g_p(x_p)`` this is exact: with
    ``size=1`` the attribution of pixel p is ``g_p(x_p) - g_p(baseline)``.

    Args:
        model (keras.Model or ImageClassifier): the classifier (one input, one output).
        x (np.ndarray): network inputs, shape (N, h, w, C), float.
        classes (int, sequence of int, or None): the class to explain: one for all images, one per
            image, several for a single image, or None for each image's top class.
        size (int or (int, int)): the patch's height and width in input pixels. Default 16.
        stride (int or (int, int)): the step between patches. Default 8.
        baseline (float, "black", "blurred" or np.ndarray): the value of hidden pixels in the
            network's input space; an array broadcasts to (N, h, w, C) (see
            :func:`xaitools.saliency.make_baseline`). Default 0.
        output (str): ``"probability"`` (the model's output, default) or ``"logit"``.
        batch_size (int): occluded copies per forward pass. Default 64.

    Returns:
        np.ndarray: attributions, shape (M, h, w), float32, in score units (M = N, or the number of
        classes for one image with several). Positive: hiding the pixel lowers the class score.
    """
    score, arr, cls = prepare(model, x, classes, output)
    m, h, w = arr.shape[:3]
    sh, sw = positive_pair(size, "size")
    th, tw = positive_pair(stride, "stride")
    if sh > h or sw > w:
        raise ValueError(f"size {(sh, sw)} is larger than the input ({h}, {w})")
    batch_size = positive_pair(batch_size, "batch_size")[0]
    base = make_baseline(arr, baseline, model=model)
    ys, xs = _starts(h, sh, th), _starts(w, sw, tw)
    y0, x0 = np.repeat(ys, len(xs)), np.tile(xs, len(ys))  # (P,) patch corners, row-major
    p = len(y0)
    f0 = class_scores(score, arr, cls, batch_size)  # the unoccluded scores
    total = np.zeros((m, h, w), np.float64)
    rows, cols = np.arange(h), np.arange(w)
    for start in range(0, m * p, batch_size):  # row k: image k // P, patch k % P
        k = np.arange(start, min(start + batch_size, m * p))
        img, patch = k // p, k % p
        inside_r = (rows >= y0[patch, None]) & (rows < y0[patch, None] + sh)  # (B, h)
        inside_c = (cols >= x0[patch, None]) & (cols < x0[patch, None] + sw)  # (B, w)
        mask = (inside_r[:, :, None] & inside_c[:, None, :]).astype(arr.dtype)  # (B, h, w)
        hidden = arr[img] + mask[..., None] * (base[img] - arr[img])
        drop = f0[img] - class_scores(score, hidden, cls[img], batch_size)
        for i in np.unique(img):  # a batch holds rows of one or a few images (np.add.at is slow here)
            rows_i = img == i
            total[i] += np.tensordot(drop[rows_i], mask[rows_i], axes=1)
    # how many patches cover each pixel: the same for every image (>= 1 by construction of the starts)
    count = np.zeros((h, w))
    for a, b in zip(y0, x0):
        count[a : a + sh, b : b + sw] += 1
    return (total / count).astype(np.float32)


def rise_masks(n: int, input_size, grid: int = 7, p: float = 0.5, seed=0) -> np.ndarray:
    """RISE's random masks, shape (n, h, w), float32 in [0, 1].

    Each mask: a ``grid`` x ``grid`` array of cells kept with probability ``p``, upsampled bilinearly
    to ``(grid + 1) * cell`` with ``cell = ceil(h / grid)`` (per side), then cropped to (h, w) at a
    random offset in ``[0, cell)`` (the paper's smooth, shifted masks).

    Args:
        n (int): the number of masks.
        input_size ((int, int)): (h, w).
        grid (int): cells per side of the low-resolution mask (the paper's ``s``). Default 7.
        p (float): the probability that a cell is kept, in (0, 1]. Default 0.5.
        seed (int, np.random.Generator or None): the random source; the same seed gives the same masks.

    Returns:
        np.ndarray: (n, h, w) float32.
    """
    rng = generator(seed)
    return _upsample_masks(*_draw_masks(rng, n, grid, p, input_size), input_size)


def _draw_masks(rng, n, grid, p, input_size):
    h, w = input_size
    cells = rng.random((n, grid, grid)) < p
    ch, cw = -(-h // grid), -(-w // grid)
    shifts = np.stack([rng.integers(0, ch, n), rng.integers(0, cw, n)], axis=1)
    return cells, shifts


def _upsample_masks(cells, shifts, input_size):
    import tensorflow as tf

    h, w = input_size
    grid = cells.shape[1]
    up = ((grid + 1) * -(-h // grid), (grid + 1) * -(-w // grid))
    big = tf.image.resize(cells[..., None].astype(np.float32), up, method="bilinear").numpy()[..., 0]
    r = shifts[:, 0, None] + np.arange(h)  # (n, h)
    c = shifts[:, 1, None] + np.arange(w)  # (n, w)
    return big[np.arange(len(cells))[:, None, None], r[:, :, None], c[:, None, :]]


def rise(model, x, classes=None, samples: int = 4000, grid: int = 7, p: float = 0.5, seed=0, baseline=0.0,
         output: str = "probability", batch_size: int = 64, *, masks: int | None = None) -> np.ndarray:
    """RISE saliency: ``S(q) = 1 / (samples * p) * sum_i f_c(x * M_i + baseline * (1 - M_i)) M_i(q)``.

    The masks come from :func:`rise_masks` (drawn once from ``seed`` and shared by all images, as
    in the paper). ``S`` is a Monte Carlo estimate of ``E[f_c(masked x) | pixel q kept]``; its
    noise shrinks like ``1 / sqrt(masks)``.

    Args:
        model (keras.Model or ImageClassifier): the classifier (one input, one output).
        x (np.ndarray): network inputs, shape (N, h, w, C), float.
        classes (int, sequence of int, or None): as in :func:`occlusion`.
        samples (int): the number of random masks. Default 4000 (the paper's, for ImageNet models).
            (``masks``: its old name.)
        grid (int): low-resolution cells per side (the paper's ``s``). Default 7.
        p (float): the probability of keeping a cell, in (0, 1]. Default 0.5.
        seed (int, np.random.Generator or None): the masks' random source. Default 0.
        baseline (float, "black", "blurred" or np.ndarray): hidden pixels' value in the network's
            input space, as in :func:`occlusion`. Default 0.
        output (str): ``"probability"`` (default) or ``"logit"``.
        batch_size (int): masked copies per forward pass (the masks are made batch by batch, so
            memory does not grow with ``samples``). Default 64.

    Returns:
        np.ndarray: saliency maps, shape (M, h, w), float32, in score units.
    """
    samples = samples if masks is None else masks
    n_masks, grid = positive_pair(samples, "samples")[0], positive_pair(grid, "grid")[0]
    if not 0 < p <= 1:
        raise ValueError(f"p (the probability of keeping a cell) must be in (0, 1], got {p}")
    score, arr, cls = prepare(model, x, classes, output)
    m, h, w = arr.shape[:3]
    batch_size = positive_pair(batch_size, "batch_size")[0]
    base = make_baseline(arr, baseline, model=model)
    rng = generator(seed)
    cells, shifts = _draw_masks(rng, n_masks, grid, p, (h, w))  # all drawn first: batch_size-independent
    total = np.zeros((m, h, w), np.float64)
    per_batch = max(1, batch_size // m)  # masks per forward pass; each is applied to every image
    for start in range(0, n_masks, per_batch):
        stop = min(start + per_batch, n_masks)
        mk = _upsample_masks(cells[start:stop], shifts[start:stop], (h, w))  # (b, h, w)
        b = len(mk)
        img = np.repeat(np.arange(m), b)  # rows: image-major, then mask
        mm = np.tile(mk, (m, 1, 1))[..., None]
        kept = base[img] + mm * (arr[img] - base[img])
        s = class_scores(score, kept, cls[img], batch_size).reshape(m, b)
        total += np.einsum("mb,bhw->mhw", s, mk)
    return (total / (n_masks * p)).astype(np.float32)


__all__ = ["occlusion", "rise", "rise_masks", "normalize"]
