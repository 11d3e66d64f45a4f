"""ROAD: RemOve And Debias (Rong et al. 2022), as pytorch-grad-cam defines it.

Deletion-style metrics replace removed pixels by a blur or a constant. The network may then react to
the *shape* of the hole rather than to the missing evidence, and the hole's shape leaks the map's
ranking. ROAD fills the removed pixels by **noisy linear imputation**: each removed pixel becomes the
weighted mean of its 8 neighbours (weight 1/6 for the four direct, 1/12 for the four diagonal
neighbours; neighbours outside the image are left out), solved jointly for all removed pixels as one
sparse linear system per image, plus a little Gaussian noise. pytorch-grad-cam solves it with SciPy's
sparse LU (SuperLU); here it is solved by banded Cholesky (LAPACK ``pbsv`` through
``scipy.linalg.solveh_banded``): numbered row by row, each removed pixel's neighbours lie within one
image row of it, so the symmetric positive definite matrix is a band at most ``W + 1`` wide. The
solution is SuperLU's to about 1e-14, and about 1.8 times faster at 160 x 160 pixels
(``benchmarks/road_solvers.py``), which is what a study of many maps spends its time on.

pytorch-grad-cam's definitions (``pytorch_grad_cam.metrics.road``), followed here:

- **MoRF at percentile p** (``ROADMostRelevantFirst``): ``threshold = np.percentile(map, p)``; the
  pixels with ``map >= threshold`` are removed (about the top ``100 - p`` %; ties at the threshold
  are removed together). **LeRF at p** (``ROADLeastRelevantFirst``): the same on ``1 - map``, so
  about the least relevant ``100 - p`` % are removed.
- The score is the target's output after imputation **minus** before (``return_diff=True``), and the
  ``...Average`` classes average it over ``p = 10, 20, ..., 90``. MoRF: lower (a larger drop) is
  better; LeRF: higher (closer to 0) is better. Their combined score is ``(LeRF - MoRF) / 2``.
- Their noise is 0.01 (absolute) in the network's input space; :func:`road` takes it per channel in
  the [0, 1] image space (``noise_for`` converts: 0.01 / the network's scale per channel).

Here the score is the class **probability** (pytorch-grad-cam's ``ClassifierOutputSoftmaxTarget``);
the imputation is done on the [0, 1] image at the network's input size. Linear imputation commutes
with the network's per-channel affine scaling (the weights of each equation sum to one), so only the
noise needs converting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
NOISE = 0.01  # pytorch-grad-cam's NoisyLinearImputer(noise=0.01), in the network's input space
# (dy, dx) -> weight: direct neighbours 1/6, diagonal ones 1/12 (they sum to 1)
NEIGHBOURS = tuple(((dy, dx), 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def impute(image, keep, noise=0.0, seed=None) -> np.ndarray:
    """Noisy linear imputation of the pixels where ``keep`` is False.

    Args:
        image: (H, W, C) floats.
        keep: (H, W) bool, True = a known pixel (kept as is).
        noise: standard deviation of the Gaussian noise added to the imputed values: a number or one
            per channel (C,).
        seed: an int or ``np.random.Generator`` for the noise.
    Returns:
        (H, W, C) float32: known pixels unchanged, removed ones the solution of
        ``x_i = sum_j w_j x_j / sum_j w_j`` over the in-image neighbours j, plus noise.
        With no known pixel at all, the removed pixels get the image's mean per channel (plus noise).
    """
    from scipy.sparse import csr_matrix

    img = np.asarray(image, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    h, w, c = img.shape
    if keep.shape != (h, w):
        raise ValueError(f"keep must be (H, W) = {(h, w)}, got {keep.shape}")
    out = img.copy()
    missing = np.flatnonzero(~keep.ravel())
    if missing.size == 0:
        return out.astype(np.float32)
    flat = img.reshape(-1, c)
    if missing.size == h * w:
        values = np.broadcast_to(flat.mean(axis=0), (missing.size, c)).copy()
    else:
        index = np.full(h * w, -1, np.int64)  # pixel -> unknown's number
        index[missing] = np.arange(missing.size)
        ys, xs = np.divmod(missing, w)
        diag = np.zeros(missing.size)
        rhs = np.zeros((missing.size, c))
        rows, cols, vals = [], [], []
        for (dy, dx), weight in NEIGHBOURS:
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            eq = np.flatnonzero(inside)  # equations that have this neighbour
            nb = ny[inside] * w + nx[inside]
            diag[eq] += weight
            unknown = index[nb] >= 0
            rows.append(eq[unknown])
            cols.append(index[nb[unknown]])
            vals.append(np.full(int(unknown.sum()), -weight))
            np.add.at(rhs, eq[~unknown], weight * flat[nb[~unknown]])
        n = missing.size
        rows = np.concatenate(rows + [np.arange(n)])
        cols = np.concatenate(cols + [np.arange(n)])
        vals = np.concatenate(vals + [diag])
        A = csr_matrix((vals, (rows, cols)), shape=(n, n))  # sum_j w_j x_i - sum_unknown w_j x_j = sum_known w_j x_j
        values = _solve(A, rhs)
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), (c,))
    if np.any(noise > 0):
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        values = values + rng.standard_normal(values.shape) * noise
    out.reshape(-1, c)[missing] = values
    return out.astype(np.float32)


def _solve(A, rhs) -> np.ndarray:
    """x with A x = rhs, (n, c): A is symmetric positive definite (a weighted graph Laplacian of the
    removed pixels, plus the weights of their known neighbours on the diagonal) and banded (unknowns
    numbered row by row). One Cholesky factorisation for all c channels."""
    from scipy.linalg import solveh_banded
    from threadpoolctl import threadpool_limits

    upper = A.tocoo()
    on = upper.col >= upper.row
    rows, cols = upper.row[on], upper.col[on]
    u = int((cols - rows).max())
    ab = np.zeros((u + 1, A.shape[0]))  # LAPACK's upper band storage: ab[u + i - j, j] = A[i, j]
    ab[u + rows - cols, cols] = upper.data[on]
    # one core: ROAD's imputations often run in worker processes beside the network (limited for
    # this call only)
    with threadpool_limits(limits=1, user_api="blas"):
        return solveh_banded(ab, rhs, check_finite=False).reshape(rhs.shape)


def _clipped(image, keep, noise, seed) -> np.ndarray:
    # xaitools' classifiers take [0, 1] images: the noise is clipped at the range's ends (a deviation
    # from pytorch-grad-cam, which does not clip; it only touches imputed pixels near 0 or 1)
    return np.clip(impute(image, keep, noise, seed), 0.0, 1.0)


def keep_mask(heatmap, percentile: float, order: str = "morf") -> np.ndarray:
    """pytorch-grad-cam's binary mask: True = kept. ``morf``: keep ``map < percentile(map, p)``;
    ``lerf``: the same on ``1 - map`` (the map is expected in [0, 1])."""
    m = np.asarray(heatmap, dtype=np.float64)
    if order == "lerf":
        m = 1.0 - m
    elif order != "morf":
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    return m < np.percentile(m, percentile)


@dataclass
class RoadResult:
    """ROAD for one image and map: the mean score change over ``percentiles`` for each order."""

    morf: float  # mean of (p after - p before) removing the most relevant first: lower is better
    lerf: float  # the same removing the least relevant first: higher is better
    morf_curve: np.ndarray  # one value per percentile
    lerf_curve: np.ndarray
    percentiles: tuple

    @property
    def combined(self) -> float:
        """pytorch-grad-cam's ROADCombined: (LeRF - MoRF) / 2, higher is better."""
        return (self.lerf - self.morf) / 2


def perturbed(image, heatmap, percentiles: Sequence[float] = PERCENTILES, noise=0.0, seed=None) -> np.ndarray:
    """The images ROAD scores: ``(1 + 2 * len(percentiles), H, W, C)`` float32: the image itself, then
    MoRF at each percentile, then LeRF at each (noisy linear imputation, clipped to [0, 1]).

    ``image``, ``heatmap``, ``noise`` and ``seed`` as in :func:`road` (the noise is drawn in this
    order from one stream). Pure NumPy/SciPy: it can run in another process.
    """
    img = np.asarray(image, dtype=np.float32)
    m = np.asarray(heatmap, dtype=np.float32)
    if m.shape != img.shape[:2]:
        from xaitools.viz import resize_map

        m = resize_map(m, img.shape[:2])
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    batch = [img]
    for order in ("morf", "lerf"):
        for p in percentiles:
            batch.append(_clipped(img, keep_mask(m, p, order), noise, rng))
    return np.stack(batch)


def score(batch, predict_fn: Callable[[np.ndarray], np.ndarray], target: int,
          percentiles: Sequence[float] = PERCENTILES, before: float | None = None) -> RoadResult:
    """ROAD from the images of :func:`perturbed`: the target's probability change per percentile.
    ``before``: the target's probability on the image itself, if already known (the first image of
    ``batch`` then skips the network)."""
    batch = np.asarray(batch)
    if before is None:
        scores = np.asarray(predict_fn(batch))[:, int(target)].astype(np.float64)
    else:
        scores = np.concatenate([[float(before)], np.asarray(predict_fn(batch[1:]))[:, int(target)].astype(np.float64)])
    diff = scores[1:] - scores[0]
    k = len(percentiles)
    return RoadResult(float(diff[:k].mean()), float(diff[k:].mean()), diff[:k], diff[k:], tuple(percentiles))


def road(image, predict_fn: Callable[[np.ndarray], np.ndarray], target: int, heatmap,
         percentiles: Sequence[float] = PERCENTILES, noise=0.0, seed=None) -> RoadResult:
    """ROAD MoRF and LeRF averaged over ``percentiles`` (pytorch-grad-cam's ``...Average`` classes).

    Args:
        image: (H, W, 3) in [0, 1] at the network's input size.
        predict_fn: a batch of such images -> class probabilities (``ImageClassifier.predict_resized``).
        target: the class scored.
        heatmap: (H, W) map in [0, 1] (resized to the image's size if it differs).
        noise: imputation noise in [0, 1] units, a number or one per channel (see :func:`noise_for`).
        seed: an int or Generator for the noise (one stream for all imputations of this call).
    Returns:
        :class:`RoadResult`: :func:`score` of :func:`perturbed`.
    """
    return score(perturbed(image, heatmap, percentiles, noise, seed), predict_fn, target, percentiles)


def noise_for(model, noise: float = NOISE) -> np.ndarray:
    """pytorch-grad-cam's noise (absolute, in the network's input space) in [0, 1] units per channel:
    ``noise / |preprocess(1) - preprocess(0)|`` for an :class:`~xaitools.models.ImageClassifier`."""
    size = tuple(model.input_size)
    zeros, ones = np.zeros((1, *size, 3), np.float32), np.ones((1, *size, 3), np.float32)
    scale = np.abs(np.asarray(model.preprocess(ones))[0, 0, 0] - np.asarray(model.preprocess(zeros))[0, 0, 0])
    scale = np.where(scale > 0, scale, 1.0)
    return (float(noise) / scale).astype(np.float64)


__all__ = ["PERCENTILES", "NOISE", "NEIGHBOURS", "impute", "keep_mask", "RoadResult", "perturbed", "score", "road", "noise_for"]
