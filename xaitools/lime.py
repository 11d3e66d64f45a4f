"""LIME for images, as the chapter's four steps (Ribeiro et al. 2016; the text's section on LIME).

1. :func:`segment` the image into superpixels (quickshift) and :func:`sample_perturbations`
   (random on/off vectors, one entry per superpixel); :func:`perturb_image` shows one.
2. :func:`predict_perturbations`: the model's probabilities for every perturbed image, in batches.
   For an :class:`~xaitools.models.ImageClassifier`, :func:`predict_superposed` gives the same
   numbers at the cost of the network alone (see the superposition note below).
3. :func:`perturbation_distances` (cosine distance to the all-on vector) and :func:`kernel_weights`.
4. :func:`fit_surrogate`: a weighted linear regression; its coefficients rank the superpixels
   (:func:`top_superpixels`).

:func:`explain` runs all four. These steps loop over neither superpixels nor images in Python: a
perturbation turns into a pixel mask by indexing (``perturbation[superpixels]``) and images go to
the model in batches.

For an ImageClassifier, step 2 runs by superposition (:mod:`xaitools.core.superposition`): the network
inputs of all perturbations from K resized components and one matrix product per batch, exact to
float32 rounding. :class:`Superposition` and :func:`predict_superposed` are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from xaitools.core.checks import (
    check_classes, check_count, check_hide_color, check_image, check_images, check_superpixels, legacy_random_state,
)
from xaitools.core.superposition import Superposition, predict_superposed  # noqa: F401  (public here too)

_check_image, _check_segments = check_image, check_superpixels  # old private names


def _renamed(new, new_default, old, old_name: str, new_name: str):
    """The value of a renamed keyword: the new one, or the old one when only it is given."""
    if old is None:
        return new
    if new is not new_default and new != new_default:
        raise TypeError(f"give {new_name} or its old name {old_name}, not both")
    return old


# -- Step 1 ---------------------------------------------------------------------------------------
def segment(image, kernel_size: float = 4, max_dist: float = 200, ratio: float = 0.2) -> np.ndarray:
    """Superpixels with ``skimage.segmentation.quickshift`` (the text's parameters). Labels 0..n-1."""
    import skimage.segmentation

    img = check_image(image)
    return skimage.segmentation.quickshift(img, kernel_size=kernel_size, max_dist=max_dist, ratio=ratio)


def sample_perturbations(num_superpixels: int, samples: int = 150, seed=None, *, num_perturb=None,
                         random_state=None) -> np.ndarray:
    """``samples`` random on/off vectors: ``binomial(1, 0.5, (samples, num_superpixels))``.

    ``seed``: None (NumPy's global generator, as the text), an int seed, a ``np.random.RandomState``
    or a ``np.random.Generator``. (``num_perturb`` and ``random_state``: the old names of ``samples``
    and ``seed``.)
    """
    samples = _renamed(samples, 150, num_perturb, "num_perturb", "samples")
    seed = _renamed(seed, None, random_state, "random_state", "seed")
    n = check_count(samples, "samples")
    k = check_count(num_superpixels, "num_superpixels")
    return legacy_random_state(seed).binomial(1, 0.5, size=(n, k))


def perturb_images(image, perturbations, superpixels, hide_color: float = 0.0) -> np.ndarray:
    """Every perturbation applied at once: (N, H, W, 3). Superpixels that are off get ``hide_color``.

    The text multiplies by the mask, i.e. ``hide_color=0`` (mid-gray in its [-1, 1] image space).
    """
    img = check_image(image)
    seg = check_superpixels(superpixels, img.shape[:2])
    pert = np.atleast_2d(np.asarray(perturbations))
    if pert.ndim != 2 or seg.max() >= pert.shape[1]:
        raise ValueError(
            f"perturbations must have shape (N, num_superpixels) with num_superpixels > {seg.max()}, got {pert.shape}"
        )
    mask = pert.astype(img.dtype)[:, seg][..., np.newaxis]  # (N, H, W, 1): pixel on/off by indexing
    return img * mask + hide_color * (1 - mask) if hide_color else img * mask


def perturb_image(img, perturbation, segments, hide_color: float = 0.0) -> np.ndarray:
    """One perturbed image (the text's ``perturb_image``, without its loop over superpixels)."""
    return perturb_images(img, np.asarray(perturbation)[np.newaxis], segments, hide_color)[0]


# -- Step 2 ---------------------------------------------------------------------------------------
def predict_perturbations(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    image,
    perturbations,
    superpixels,
    hide_color: float = 0.0,
    batch_size: int = 64,
) -> np.ndarray:
    """``predict_fn`` on every perturbed image, ``batch_size`` images at a time -> (N, num_classes)."""
    pert = np.atleast_2d(np.asarray(perturbations))
    out = [
        np.asarray(predict_fn(perturb_images(image, pert[i : i + batch_size], superpixels, hide_color)))
        for i in range(0, len(pert), batch_size)
    ]
    return np.concatenate(out)


# -- Step 3 ---------------------------------------------------------------------------------------
def perturbation_distances(perturbations) -> np.ndarray:
    """Cosine distance of each perturbation to the original image (all superpixels on)."""
    import sklearn.metrics

    pert = np.atleast_2d(np.asarray(perturbations))
    original_image = np.ones(pert.shape[1])[np.newaxis, :]
    return sklearn.metrics.pairwise_distances(pert, original_image, metric="cosine").ravel()


def kernel_weights(distances, kernel_width: float = 0.25) -> np.ndarray:
    """The exponential kernel: ``sqrt(exp(-d**2 / kernel_width**2))``, a weight in (0, 1] per sample."""
    if kernel_width <= 0:
        raise ValueError(f"kernel_width must be positive, got {kernel_width}")
    d = np.asarray(distances, dtype=float)
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


# -- Step 4 ---------------------------------------------------------------------------------------
def fit_surrogate(perturbations, y, weights):
    """Weighted ``sklearn.linear_model.LinearRegression`` of ``y`` (one class's probability) on the
    perturbations. Returns the fitted model (``coef_``: one coefficient per superpixel)."""
    from sklearn.linear_model import LinearRegression

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one class's probabilities, shape (N,), got {y.shape}; use predictions[:, class]")
    simpler_model = LinearRegression()
    simpler_model.fit(X=np.asarray(perturbations), y=y, sample_weight=np.asarray(weights))
    return simpler_model


def top_superpixels(coeff, num_top_features: int = 4) -> np.ndarray:
    """Indices of the ``num_top_features`` largest coefficients, largest last (as the text's argsort)."""
    return np.argsort(np.asarray(coeff))[-num_top_features:]


@dataclass
class Explanation:
    class_index: int
    coeff: np.ndarray  # one coefficient per superpixel
    intercept: float
    score: float  # weighted R^2 of the surrogate on its samples
    superpixels: np.ndarray  # (H, W) labels
    perturbations: np.ndarray  # (N, num_superpixels)
    predictions: np.ndarray  # (N, num_classes)
    weights: np.ndarray  # (N,)

    def top_features(self, num_top_features: int = 4) -> np.ndarray:
        return top_superpixels(self.coeff, num_top_features)

    def map(self) -> np.ndarray:
        """Per-pixel map in [0, 1]: each superpixel's positive coefficient, divided by the largest."""
        pos = np.clip(self.coeff, 0, None)
        peak = pos.max()
        return (pos / peak if peak > 0 else pos)[self.superpixels]

    heatmap = map  # old name


def _is_classifier(model) -> bool:
    from xaitools.classifier import ImageClassifier

    return isinstance(model, ImageClassifier)


def explain(
    image,
    model,
    classes=None,
    samples: int = 150,
    kernel_width: float = 0.25,
    hide_color: float = 0.5,
    superpixels=None,
    seed=None,
    batch_size: int = 64,
    *,
    num_perturb: int | None = None,
    random_state=None,
) -> Explanation:
    """Steps 1-4 in one call.

    Args:
        image: (H, W, 3) float, in ``model``'s value space ([0, 1] for an ImageClassifier).
        model: an :class:`~xaitools.models.ImageClassifier` (step 2 by :func:`predict_superposed`)
            or any ``predict_fn``: a batch (n, H, W, 3) -> probabilities (n, num_classes)
            (step 2 by :func:`predict_perturbations`, the text's way).
        classes: the class to explain, an int (or a one-element sequence); None: the image's top class.
        samples: number of perturbations N (old name: ``num_perturb``).
        kernel_width: width of the exponential kernel (:func:`kernel_weights`).
        hide_color: value of switched-off superpixels; default 0.5, mid-gray in an ImageClassifier's
            [0, 1] images (the text's 0 in its [-1, 1] space); the same default as ``xaitools.explain``.
        superpixels: (H, W) integer labels 0..K-1; None: :func:`segment` the image.
        seed: None, an int seed, a RandomState or a Generator (:func:`sample_perturbations`; old
            name: ``random_state``).
        batch_size: perturbed images per forward pass.
    Returns:
        an :class:`Explanation`.
    """
    samples = _renamed(samples, 150, num_perturb, "num_perturb", "samples")
    seed = _renamed(seed, None, random_state, "random_state", "seed")
    img = check_image(image)
    fast = _is_classifier(model)
    if not fast and not callable(model):
        raise TypeError(f"model must be an xaitools ImageClassifier or a predict function, got {type(model).__name__}")
    if fast:
        check_images(img, "image")  # [0, 1], before any work
        check_hide_color(hide_color)
    predict_fn = model.predict if fast else model
    if fast and classes is not None:  # no forward pass needed: the classifier knows its class count
        num_classes, top = model.num_classes, None  # (predict_superposed checks the image)
    else:  # checks the image; the top class and the class count
        probs = np.asarray(predict_fn(img[np.newaxis]))[0]
        num_classes, top = len(probs), int(np.argmax(probs))
    chosen = check_classes(top if classes is None else classes, 1, num_classes)
    if len(chosen) != 1:
        raise ValueError(f"LIME explains one class per call, got classes={classes!r}; call explain once per class")
    class_index = int(chosen[0])
    if superpixels is None:
        superpixels = segment(img)
    num_superpixels = int(np.max(superpixels)) + 1
    perturbations = sample_perturbations(num_superpixels, samples, seed)
    if fast:
        predictions = predict_superposed(model, img, perturbations, superpixels, hide_color, batch_size)
    else:
        predictions = predict_perturbations(predict_fn, img, perturbations, superpixels, hide_color, batch_size)
    weights = kernel_weights(perturbation_distances(perturbations), kernel_width)
    simpler_model = fit_surrogate(perturbations, predictions[:, class_index], weights)
    score = simpler_model.score(perturbations, predictions[:, class_index], sample_weight=weights)
    return Explanation(
        class_index=int(class_index),
        coeff=simpler_model.coef_,
        intercept=float(simpler_model.intercept_),
        score=float(score),
        superpixels=np.asarray(superpixels),
        perturbations=perturbations,
        predictions=predictions,
        weights=weights,
    )
