"""LIME's step 2 (core: a batched compiled forward pass) at the cost of the network alone: every perturbed image by superposition.

A classifier resizes every image to its input size (bilinear, antialiased), and resizing is
linear. A perturbed image is affine in its on/off vector ``m`` (``h`` = hide colour, ``img_k`` =
the image with only superpixel ``k`` on, all others hidden)::

    resize(img * m + h * (1 - m)) = resize(h) + sum_k m_k * (resize(img_k) - resize(h))

so the K resized components (:class:`Superposition`) and one matrix product per batch,
``(n, K) @ (K, P)``, give every network input: exact (to float32 rounding), not an approximation.

- :meth:`Superposition.of` builds the components with any linear ``resize`` (K + 1 resized images).
- :meth:`Superposition.separable` builds them from the resize's two matrices
  (:meth:`~xaitools.models.ImageClassifier.resize_matrices`), each superpixel through its bounding
  box only (for the text's 299x299 picture and 69 superpixels: about 15 ms, against about 190 ms for
  K + 1 full-size resizes; ``benchmarks/lime_bench.py --profile``).
- :func:`predict_superposed` runs the matrix product, the clip, the network's scaling and the
  network in one compiled graph per batch (no per-batch NumPy image, check or copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from xaitools.core.checks import check_hide_color, check_image, check_images, check_superpixels


def _checked(image, superpixels):
    """LIME's checks: a float (H, W, 3) image as float32, and its labels."""
    img = check_image(image).astype(np.float32, copy=False)
    return img, check_superpixels(superpixels, img.shape[:2])


@dataclass
class Superposition:
    """Every perturbed image, resized, as ``base + perturbations @ components``.

    Attributes:
        base: (P,) float32, the resized all-hidden image ``resize(h)``, flattened (P = h * w * 3).
        components: (K, P) float32, row k = ``resize(img_k) - resize(h)``.
        shape: (h, w, 3), the resized image's shape.
    """

    base: np.ndarray
    components: np.ndarray
    shape: tuple

    @classmethod
    def of(cls, resize: Callable, image, superpixels, hide_color: float = 0.0, chunk: int = 32) -> "Superposition":
        """Build it from ``K + 1`` images through ``resize`` (in chunks), whatever the number of perturbations.

        Args:
            resize: a *linear* map from images (n, H, W, 3) to (n, h, w, 3), e.g.
                ``ImageClassifier.resize``.
            image: (H, W, 3) float.
            superpixels: (H, W) integer labels 0..K-1.
            hide_color: the value of a switched-off superpixel.
            chunk: images per ``resize`` call (memory: ``chunk * H * W * 3`` floats).
        Returns:
            a :class:`Superposition` with K components.
        """
        img, seg = _checked(image, superpixels)
        k, (height, width) = int(seg.max()) + 1, seg.shape
        row_of_pixel = seg.ravel() + 1  # row 0: all hidden; row k + 1: only superpixel k shown
        pixels = img.reshape(-1, 3)
        parts = []
        for a in range(0, k + 1, chunk):
            b = min(a + chunk, k + 1)
            rows = np.full((b - a, height * width, 3), hide_color, np.float32)
            shown = np.flatnonzero((row_of_pixel >= a) & (row_of_pixel < b))
            rows[row_of_pixel[shown] - a, shown] = pixels[shown]
            parts.append(np.asarray(resize(rows.reshape(b - a, height, width, 3)), np.float32))
        flat = np.concatenate(parts).reshape(k + 1, -1)
        base = flat[0].copy()
        components = flat[1:]
        components -= base
        return cls(base=base, components=components, shape=parts[0].shape[1:])

    @classmethod
    def separable(cls, rows, cols, image, superpixels, hide_color: float = 0.0) -> "Superposition":
        """Build it from a separable resize, ``resize(x)[..., c] = rows @ x[..., c] @ cols.T``.

        Component k is ``rows @ ((img - h) * 1[seg == k]) @ cols.T`` per channel, computed on the
        superpixel's bounding box only (``scipy.ndimage.find_objects``); ``resize(h)`` is
        ``h * outer(rows.sum(1), cols.sum(1))``.

        Args:
            rows: (h, H) float, e.g. the first of ``ImageClassifier.resize_matrices(H, W)``.
            cols: (w, W) float, the second.
            image: (H, W, 3) float.
            superpixels: (H, W) integer labels 0..K-1 (a missing label gets a zero component).
            hide_color: the value of a switched-off superpixel.
        Returns:
            a :class:`Superposition` with K components.
        """
        from scipy.ndimage import find_objects

        img, seg = _checked(image, superpixels)
        rows, cols = np.asarray(rows, np.float32), np.asarray(cols, np.float32)
        if rows.ndim != 2 or cols.ndim != 2 or rows.shape[1] != seg.shape[0] or cols.shape[1] != seg.shape[1]:
            raise ValueError(f"rows and cols must have shapes (h, {seg.shape[0]}) and (w, {seg.shape[1]}), "
                             f"got {rows.shape} and {cols.shape}")
        k, h, w = int(seg.max()) + 1, len(rows), len(cols)
        diff = img - np.float32(hide_color)
        components = np.zeros((k, h, w, 3), np.float32)
        reach_rows, reach_cols = _reach(rows), _reach(cols)
        for label, box in enumerate(find_objects(seg + 1)):  # box: the label's (row slice, column slice)
            if box is None:
                continue
            part = np.where((seg[box] == label)[..., None], diff[box], np.float32(0))  # (hr, wc, 3)
            ys, xs = reach_rows(box[0]), reach_cols(box[1])  # the output pixels the box reaches
            per_channel = rows[ys, box[0]] @ part.transpose(2, 0, 1) @ cols[xs, box[1]].T  # (3, hy, wx)
            components[label, ys, xs] = per_channel.transpose(1, 2, 0)
        base = np.float32(hide_color) * np.outer(rows.sum(1), cols.sum(1))
        base = np.repeat(base.astype(np.float32)[..., None], 3, axis=-1)
        return cls(base=base.ravel(), components=components.reshape(k, -1), shape=(h, w, 3))

    def inputs(self, perturbations) -> np.ndarray:
        """The resized perturbed images, (n, h, w, 3) float32, for perturbations (n, K) of 0/1."""
        pert = self.check(perturbations)
        out = pert.astype(np.float32) @ self.components
        out += self.base
        return out.reshape(len(pert), *self.shape)

    def check(self, perturbations) -> np.ndarray:
        """``perturbations`` as a 2-D array (n, K); a clear error for any other shape."""
        pert = np.atleast_2d(np.asarray(perturbations))
        if pert.ndim != 2 or pert.shape[1] != len(self.components):
            raise ValueError(f"perturbations must have shape (n, {len(self.components)}), got {pert.shape}")
        return pert


def _reach(matrix):
    """A function from a slice of input pixels to the slice of output pixels with a non-zero weight
    on any of them (the resize matrices are banded: a box reaches a window of the output)."""
    nonzero = np.asarray(matrix) != 0
    first = np.argmax(nonzero, axis=0)  # per input pixel: the first output pixel it reaches
    last = len(nonzero) - 1 - np.argmax(nonzero[::-1], axis=0)  # (an unused pixel: 0 and len - 1)

    def reach(pixels: slice) -> slice:
        return slice(int(first[pixels].min()), int(last[pixels].max()) + 1)

    return reach


def _superposed_network(classifier):
    """The compiled ``pert, base, components -> probabilities`` of a classifier (one trace, any K and n)."""
    import tensorflow as tf

    h, w = classifier.input_size

    def forward(pert, base, components):
        x = tf.clip_by_value(tf.matmul(pert, components) + base, 0.0, 1.0)  # the clip: rounding only
        return classifier.network_t(tf.reshape(x, (-1, h, w, 3)))

    spec = [tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((None,), tf.float32),
            tf.TensorSpec((None, None), tf.float32)]
    return classifier.compiled("superposed", forward, input_signature=spec)


def predict_superposed(
    classifier, image, perturbations, superpixels, hide_color: float = 0.0, batch_size: int = 64
) -> np.ndarray:
    """Step 2 for an :class:`~xaitools.models.ImageClassifier`, by superposition: the probabilities of
    ``predict_perturbations(classifier.predict, ...)`` (to float32 rounding) without resizing N images.

    The classifier's resize clips to [0, 1] after resizing. For an image and hide colour in [0, 1] that
    clip changes nothing (up to rounding): the antialiased bilinear kernel's weights are non-negative
    and sum to 1, so every resized pixel is a convex combination of pixels in [0, 1]. So the resize is
    linear on such images, and the superposed inputs are clipped the same way.

    Args:
        classifier: an ImageClassifier (uses its ``resize_matrices``, input size, scaling and network).
        image: (H, W, 3) float in [0, 1], any size.
        perturbations: (N, K) 0/1, K = number of superpixels.
        superpixels: (H, W) integer labels 0..K-1.
        hide_color: value in [0, 1] of switched-off superpixels.
        batch_size: perturbed images per forward pass.
    Returns:
        (N, num_classes) float32 probabilities.
    """
    import tensorflow as tf

    img, seg = _checked(image, superpixels)
    check_images(img, "image")  # in [0, 1]
    sup = Superposition.separable(*classifier.resize_matrices(*img.shape[:2]), img, seg, check_hide_color(hide_color))
    pert = sup.check(perturbations).astype(np.float32)
    forward = _superposed_network(classifier)
    base, components = tf.constant(sup.base), tf.constant(sup.components)
    bs = max(1, int(batch_size))
    out = [np.asarray(forward(tf.constant(pert[i : i + bs]), base, components)) for i in range(0, len(pert), bs)]
    return np.concatenate(out) if out else np.zeros((0, classifier.num_classes), np.float32)
