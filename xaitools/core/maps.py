"""Maps: attributions and weighted feature maps to [0, 1] maps, and the one ``make_baseline``.

Vocabulary: a *map* is a 2-D float array in [0, 1] (one per image); an *overlay* is a picture of a
map over its image (:func:`xaitools.viz.overlay`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

BASELINES = ("black", "blurred")
_OLD_BASELINE_NAMES = {"zeros": "black", "blur": "blurred"}  # xaitools.metrics' former spellings


def saliency_map(attributions) -> np.ndarray:
    """Attributions (N, H, W, C) or (H, W, C) -> maps (N, H, W) or (H, W) in [0, 1].

    Absolute value, maximum over the channels, divided by each map's maximum (an all-zero map stays 0).
    """
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim not in (3, 4):
        raise ValueError(f"attributions must have shape (N, H, W, C) or (H, W, C), got {a.shape}")
    m = np.abs(a).max(axis=-1)
    peak = m.max(axis=(-2, -1), keepdims=True)
    return np.divide(m, peak, out=np.zeros_like(m), where=peak > 0).astype(np.float32)


def normalize(maps) -> np.ndarray:
    """Maps (M, h, w) -> each divided by its largest absolute value (an all-zero map stays 0)."""
    a = np.asarray(maps, dtype=np.float64)
    peak = np.abs(a).max(axis=(-2, -1), keepdims=True)
    return np.divide(a, peak, out=np.zeros_like(a), where=peak > 0).astype(np.float32)


def clip_to_unit(m) -> np.ndarray:
    """One map clipped at 0 and divided by its maximum (an all-zero map stays 0), float32."""
    full = np.clip(m, 0, None).astype(np.float32)
    peak = full.max() if full.size else 0.0
    return full / peak if peak > 0 else full


def weighted_sum(feature_maps, weights) -> np.ndarray:
    """``sum_k w_k A^k``: feature maps (N, h, w, K) and weights (N, K) or (N, h, w, K) -> (N, h, w)."""
    A, w = np.asarray(feature_maps), np.asarray(weights)
    if w.ndim == 2 and w.shape == (A.shape[0], A.shape[-1]):
        return np.einsum("nhwk,nk->nhw", A, w)  # one weight per channel
    if w.shape == A.shape:
        return np.einsum("nhwk,nhwk->nhw", A, w)  # one weight per position and channel
    raise ValueError(f"CAM weights must have shape (N, K) = {(A.shape[0], A.shape[-1])} or the feature maps' "
                     f"shape {A.shape}, got {w.shape}")


def make_baseline(x, baseline="black", model=None, preprocess: Callable | None = None, blur_sigma: float = 10.0,
                  dtype=None) -> np.ndarray:
    """The image "without" its evidence, same shape as ``x``: one image (H, W, C) or a batch (N, H, W, C).

    - ``"black"``: a black image in ``x``'s space, ``preprocess(zeros)``. ``preprocess`` defaults to the
      ImageClassifier's own (``model.preprocess``); without either, zeros (``x`` is a [0, 1] image).
    - ``"blurred"``: ``x`` blurred with a Gaussian of ``blur_sigma`` pixels over height and width
      (blurring commutes with the per-channel affine pre-processing, so it can be done on the network
      input directly).
    - a number (a flat value) or an array broadcast to ``x``'s shape.

    ``"zeros"`` and ``"blur"`` are accepted as older names of ``"black"`` and ``"blurred"``.
    """
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if isinstance(baseline, str):
        name = _OLD_BASELINE_NAMES.get(baseline, baseline)
        if name == "black":
            prep = preprocess or getattr(model, "preprocess", None)
            if prep is None:
                return np.zeros_like(arr)
            single = arr.ndim == 3
            black = np.zeros(arr.shape if single else arr.shape[1:], np.float32)
            b = np.asarray(prep(black))[0]
            return np.broadcast_to(b, arr.shape).astype(arr.dtype)
        if name == "blurred":
            from scipy.ndimage import gaussian_filter

            if blur_sigma <= 0:
                raise ValueError(f"blur_sigma must be positive, got {blur_sigma}")
            sig = (blur_sigma, blur_sigma, 0) if arr.ndim == 3 else (0,) + (blur_sigma,) * (arr.ndim - 2) + (0,)
            return gaussian_filter(arr, sigma=sig, mode="nearest").astype(arr.dtype)
        raise ValueError(f"baseline must be 'black', 'blurred' or an array (or a number), got {baseline!r}")
    b = np.asarray(baseline, dtype=arr.dtype)
    try:
        return np.broadcast_to(b, arr.shape).copy()
    except ValueError:
        raise ValueError(f"baseline of shape {b.shape} does not broadcast to the inputs' shape {arr.shape}") from None


__all__ = ["BASELINES", "saliency_map", "normalize", "clip_to_unit", "weighted_sum", "make_baseline"]
