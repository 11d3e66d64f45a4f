"""How good is an explanation? Three checks that need no human labels (or only a box).

- **Deletion and insertion** (Petsiuk et al. 2018, the RISE paper): remove the pixels an attribution
  map ranks highest first and watch the class probability fall (deletion: a good map makes it fall
  fast, a low area under the curve), or start from a baseline image and put the pixels back in the
  same order (insertion: a good map makes it rise fast, a high area). :func:`deletion`,
  :func:`insertion`, :func:`perturbation_curve`; a random pixel order (:func:`random_curve`) is the
  reference every map should beat.
- **Model-parameter randomization** (Adebayo et al. 2018, "Sanity checks for saliency maps"):
  re-initialise the network's weights from the top layer down (:func:`cascade`,
  :func:`randomize_top_layers`) and recompute the explanation. If the map hardly changes, it does
  not explain what the model learned. :func:`compare_maps` (Spearman rank correlation and SSIM),
  :func:`sanity_check` (a table).
- **Pointing game** (Zhang et al. 2016): does the map's maximum fall inside the object's box?
  :func:`pointing_game`, :func:`pointing_game_hits`.

Everything works on images in [0, 1] and a ``predict_fn`` that maps a batch of such images to class
probabilities (``ImageClassifier.predict``). The perturbed images of a curve are built at once by
ranking the pixels once and masking ``rank < k``, and go to the model in batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from xaitools.core import maps
from xaitools.core.checks import generator

MODES = ("deletion", "insertion")


# -- deletion and insertion ------------------------------------------------------------------------
@dataclass
class Curve:
    """One deletion or insertion curve: the class probability after removing/inserting ``fractions``."""

    mode: str
    fractions: np.ndarray  # (steps + 1,) from 0 to 1
    scores: np.ndarray  # (steps + 1,) the class probability
    auc: float  # trapezoid area under scores over fractions, in [0, 1] for probabilities


def auc(fractions, scores) -> float:
    """Area under a curve by the trapezoid rule."""
    return float(np.trapezoid(np.asarray(scores, dtype=np.float64), np.asarray(fractions, dtype=np.float64)))


def make_baseline(image, baseline="blurred", blur_sigma: float = 10.0) -> np.ndarray:
    """The image "without" its pixels: :func:`xaitools.core.maps.make_baseline` on one [0, 1] image (float32):
    ``"blurred"`` (Gaussian, ``blur_sigma`` pixels; the default), ``"black"``, a number (a flat grey) or
    an array of the image's shape (``"blur"`` and ``"zeros"``: the old names)."""
    return maps.make_baseline(image, baseline, blur_sigma=blur_sigma, dtype=np.float32)


def pixel_ranks(attribution, shape=None, segments=None, seed=None, *, rng=None) -> np.ndarray:
    """Rank of each pixel, 0 = most relevant: (H, W) ints.

    ``attribution``: a map (h, w), resized to ``shape`` = (H, W) if it differs; or one score per
    superpixel with ``segments`` (H, W) labels; or None for a random order from ``seed`` (a seed or a
    ``np.random.Generator``). Ties keep raster order (stable sort), so whole superpixels go together.
    """
    if attribution is None:
        if shape is None:
            raise ValueError("a random order needs the image's shape")
        return generator(seed if rng is None else rng).permutation(int(np.prod(shape))).reshape(shape)
    a = np.asarray(attribution, dtype=np.float32)
    if segments is not None:  # one score per superpixel -> a pixel map
        a = a[np.asarray(segments)]
    if shape is not None and a.shape != tuple(shape):
        from xaitools.viz import resize_map

        a = resize_map(a, shape)
    if a.ndim != 2:
        raise ValueError(f"attribution must be a 2-D map (H, W), got shape {a.shape}")
    order = np.argsort(-a.ravel(), kind="stable")  # most relevant first
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(a.shape)


def perturbation_curve(
    image,
    predict_fn: Callable[[np.ndarray], np.ndarray],
    classes: int,
    attribution=None,
    mode: str = "deletion",
    steps: int = 20,
    baseline="blurred",
    segments=None,
    seed=None,
    batch_size: int = 32,
    *,
    ends=None,
    rng=None,
) -> Curve:
    """The deletion or insertion curve of one image for one class.

    ``steps`` equal chunks of pixels, most relevant first: deletion replaces them by the baseline
    image, insertion starts from the baseline and puts them back. ``attribution=None`` uses a random
    order (``seed``; ``rng`` is its old name). Returns the ``steps + 1`` probabilities and the area under them.

    ``ends``: ``(score of the image, score of the baseline)`` for ``classes`` (one int), if already
    known. The two ends of a curve do not depend on the map, so when many maps of one image are scored
    they are computed once and only the ``steps - 1`` images in between go to the model.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if ends is not None and np.ndim(classes) != 0:
        raise ValueError(f"ends are the scores of one class: give classes as one int, got {classes!r}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3:
        raise ValueError(f"image must be one (H, W, C) image, got shape {img.shape}")
    base = make_baseline(img, baseline)
    ranks = pixel_ranks(attribution, img.shape[:2], segments, seed if rng is None else rng)
    fractions = np.linspace(0.0, 1.0, int(steps) + 1)
    counts = np.round(fractions * ranks.size).astype(np.int64)  # pixels changed at each step
    # deletion: changed pixels show the baseline; insertion: changed pixels show the image
    first, second = (img, base) if mode == "deletion" else (base, img)
    inner = counts if ends is None else counts[1:-1]
    scores = []
    for i in range(0, len(inner), batch_size):
        mask = (ranks[np.newaxis] < inner[i : i + batch_size, None, None])[..., np.newaxis]  # (B, H, W, 1)
        batch = np.where(mask, second, first)
        scores.append(np.asarray(predict_fn(batch))[:, classes])
    if ends is not None:
        at_image, at_base = (float(e) for e in ends)
        start, stop = (at_image, at_base) if mode == "deletion" else (at_base, at_image)
        scores = [np.array([start]), *scores, np.array([stop])]
    scores = np.concatenate(scores).astype(np.float64)
    return Curve(mode, fractions, scores, auc(fractions, scores))


def deletion(image, predict_fn, classes, attribution=None, **kwargs) -> Curve:
    """The deletion curve (lower AUC = better map); see :func:`perturbation_curve`."""
    return perturbation_curve(image, predict_fn, classes, attribution, mode="deletion", **kwargs)


def insertion(image, predict_fn, classes, attribution=None, **kwargs) -> Curve:
    """The insertion curve (higher AUC = better map); see :func:`perturbation_curve`."""
    return perturbation_curve(image, predict_fn, classes, attribution, mode="insertion", **kwargs)


def random_curve(image, predict_fn, classes, mode: str = "deletion", repeats: int = 3, seed=0, *, rng=None,
                 **kwargs) -> Curve:
    """The reference: the mean curve of ``repeats`` random pixel orders (seeded by ``seed``; ``rng`` is its old name)."""
    gen = generator(seed if rng is None else rng)
    curves = [perturbation_curve(image, predict_fn, classes, None, mode=mode, seed=gen, **kwargs) for _ in range(repeats)]
    scores = np.mean([c.scores for c in curves], axis=0)
    return Curve(mode, curves[0].fractions, scores, auc(curves[0].fractions, scores))


# -- model-parameter randomization ------------------------------------------------------------------
def _seeded_config(layer, seed: int) -> dict:
    """The layer's config with every random initializer given a fixed seed (reproducible re-init)."""
    config = layer.get_config()
    for key, value in config.items():
        if key.endswith("initializer") and isinstance(value, dict) and "seed" in value.get("config", {}):
            value["config"]["seed"] = int(seed)
    return config


def weighted_layers(model) -> list[str]:
    """Names of the layers with weights, top (output) first, with nested models flattened."""
    from xaitools.models import flatten_model

    return [layer.name for layer in flatten_model(model).layers[::-1] if layer.weights]


def cascade(model, depths: Sequence[int] | None = None, seed: int = 0) -> Iterator[tuple[int, str, "keras.Model"]]:  # noqa: F821
    """Cascading randomization: yields ``(k, name of the k-th layer, model)`` with the top ``k`` weighted
    layers re-initialised, for each ``k`` in ``depths`` (increasing; default: every layer).

    ``model`` is not changed: a flattened clone is made once and its layers are re-initialised in
    place from the top down, so the yielded model is the *same* object each time (explain it before
    asking for the next). Layer ``i`` (from the top) gets its initializers seeded with ``seed + i``;
    batch-normalisation layers go back to their initial identity transform.
    """
    import keras

    from xaitools.models import flatten_model

    flat = flatten_model(getattr(model, "model", model))
    order = {layer.name: i for i, layer in enumerate(flat.layers[::-1])}  # 0 = top
    clone = keras.models.clone_model(
        flat, clone_function=lambda layer: layer.__class__.from_config(_seeded_config(layer, seed + order.get(layer.name, 0)))
    )
    top_down = [layer for layer in clone.layers[::-1] if layer.weights]
    fresh = [layer.get_weights() for layer in top_down]  # the re-initialised weights
    clone.set_weights(flat.get_weights())  # start from the trained network
    depths = list(range(1, len(top_down) + 1)) if depths is None else [int(d) for d in depths]
    if not depths or any(b < a for a, b in zip(depths, depths[1:])) or depths[0] < 0 or depths[-1] > len(top_down):
        raise ValueError(f"depths must increase within 0..{len(top_down)}, got {depths}")
    done = 0
    for k in depths:
        for layer, weights in zip(top_down[done:k], fresh[done:k]):
            layer.set_weights(weights)
        done = k
        yield k, (top_down[k - 1].name if k else "none"), clone


def randomize_top_layers(model, k: int, seed: int = 0):
    """A copy of ``model`` (flattened) with its top ``k`` weighted layers re-initialised."""
    return next(iter(cascade(model, [k], seed)))[2]


def compare_maps(a, b) -> tuple[float, float]:
    """Spearman rank correlation and SSIM of two maps of the same shape.

    SSIM is computed on the maps scaled to [0, 1] (min to max). A constant map has no ranking: its
    Spearman correlation with anything is reported as 0.
    """
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two 2-D maps of the same shape, got {a.shape} and {b.shape}")
    rho = 0.0 if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a.ravel(), b.ravel())[0])

    def unit(m):
        return (m - m.min()) / np.ptp(m) if np.ptp(m) > 0 else np.zeros_like(m)

    win = min(7, *a.shape)
    win -= 1 - win % 2  # odd
    ssim = float(structural_similarity(unit(a), unit(b), data_range=1.0, win_size=win))  # 7x7 windows (fewer on tiny maps)
    return rho, ssim


@dataclass
class SanityRow:
    method: str
    layers_randomized: int  # k: the top k weighted layers are re-initialised
    top_layer: str  # the deepest layer re-initialised so far
    spearman: float
    ssim: float
    explanation: np.ndarray | None = field(default=None, repr=False, compare=False)  # the randomized model's map


def sanity_check(model, explainers: dict[str, Callable], depths: Sequence[int], seed: int = 0) -> list[SanityRow]:
    """Cascading randomization for several methods at once.

    ``explainers``: name -> function(keras model) -> 2-D map. Each is called once on the trained
    ``model`` (the reference) and once per depth on the randomized copy. Returns one row per method
    and depth, with the randomized model's map in ``row.explanation``. See :func:`passes` for the verdict.
    """
    import keras

    km = getattr(model, "model", model)
    if not isinstance(km, keras.Model):
        raise TypeError(f"model must be a keras.Model or an ImageClassifier, got {type(model).__name__}")
    reference = {name: np.asarray(fn(km)) for name, fn in explainers.items()}
    rows = []
    for k, top, randomized in cascade(km, depths, seed):
        for name, fn in explainers.items():
            m = np.asarray(fn(randomized))
            rows.append(SanityRow(name, k, top, *compare_maps(reference[name], m), explanation=m))
    return rows


def passes(rows: Sequence[SanityRow], threshold: float = 0.5) -> dict[str, bool]:
    """Per method: does it pass, i.e. is |Spearman| below ``threshold`` at the deepest randomization?"""
    deepest = {}
    for row in rows:
        if row.method not in deepest or row.layers_randomized >= deepest[row.method].layers_randomized:
            deepest[row.method] = row
    return {name: abs(row.spearman) < threshold for name, row in deepest.items()}


# -- pointing game ------------------------------------------------------------------------------------
def pointing_game(heatmap, box, tolerance: float = 0.0, shape=None) -> bool:
    """Is the map's maximum inside ``box`` = (y0, x0, y1, x1) (pixels, y1 and x1 excluded, as slices)?

    ``tolerance``: a hit may miss the box by this many pixels (Zhang et al. use 15). ``shape``: the
    (H, W) of the image the box refers to, when the map has another size (the point is scaled). With
    several equal maxima the first in raster order counts.
    """
    m = np.asarray(heatmap)
    if m.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {m.shape}")
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    y, x = float(r), float(c)
    if shape is not None and tuple(shape) != m.shape:  # pixel centre scaled to the image
        y, x = (r + 0.5) * shape[0] / m.shape[0] - 0.5, (c + 0.5) * shape[1] / m.shape[1] - 0.5
    y0, x0, y1, x1 = box
    dy = max(y0 - y, 0.0, y - (y1 - 1))  # distance outside the box, 0 inside
    dx = max(x0 - x, 0.0, x - (x1 - 1))
    return bool(np.hypot(dy, dx) <= tolerance)


def pointing_game_hits(maps, boxes, tolerance: float = 0.0, shape=None) -> tuple[np.ndarray, float]:
    """Hits (bool per map) and the hit rate over pairs of maps and boxes."""
    if len(maps) != len(boxes):
        raise ValueError(f"need one box per map, got {len(maps)} maps and {len(boxes)} boxes")
    hits = np.array([pointing_game(m, b, tolerance, shape) for m, b in zip(maps, boxes)], dtype=bool)
    return hits, float(hits.mean()) if len(hits) else float("nan")


__all__ = [
    "Curve", "auc", "make_baseline", "pixel_ranks", "perturbation_curve", "deletion", "insertion", "random_curve",
    "weighted_layers", "cascade", "randomize_top_layers", "compare_maps", "SanityRow", "sanity_check", "passes",
    "pointing_game", "pointing_game_hits",
]
