"""The checks every method shares: images, network inputs, classes, superpixels and random seeds.

Each raises one clear error (TypeError, ValueError or IndexError) naming what was wrong.
"""

from __future__ import annotations

import math

import numpy as np


# -- pictures --------------------------------------------------------------------------------------
def check_images(images, name: str = "images") -> np.ndarray:
    """Validate RGB images in [0, 1]: (H, W, 3) or (N, H, W, 3), float. Returns a float32 batch."""
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        raise TypeError(f"{name} are uint8 (0-255); pass floats in [0, 1], e.g. images / 255.0 or xaitools.data.load_image(...)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be a float array in [0, 1], got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[np.newaxis]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (H, W, 3) or (N, H, W, 3) with RGB channels last, got {np.shape(images)}"
        )
    if arr.size and (not np.isfinite(arr).all()):
        raise ValueError(f"{name} contain NaN or infinity")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = " (they look like [-1, 1]: pass images / 2 + 0.5)" if lo >= -1 - 1e-6 and hi <= 1 + 1e-6 else ""
        hint = hint or (" (they look like 0-255: divide by 255)" if hi > 1.5 else "")
        raise ValueError(f"{name} must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]{hint}")
    return arr.astype(np.float32, copy=False)


def as_image_list(images) -> list[np.ndarray]:
    """A batch (N, H, W, 3), one image (H, W, 3) or a list of images -> a list of (H_i, W_i, 3) arrays."""
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return [images]
        if images.ndim == 4:
            return list(images)
        raise ValueError(f"images must be (H, W, 3), (N, H, W, 3) or a list of (H, W, 3) arrays, got shape {images.shape}")
    return [np.asarray(im) for im in images]


def check_image(image, name="image") -> np.ndarray:
    """One float RGB image (H, W, 3), any value range (LIME's image in its model's value space)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be one RGB image of shape (H, W, 3), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be a float array (e.g. xaitools.data.load_image(...)), got dtype {arr.dtype}")
    return arr


def check_superpixels(superpixels, shape) -> np.ndarray:
    """(H, W) non-negative integer labels matching the image's height and width."""
    seg = np.asarray(superpixels)
    if seg.shape != tuple(shape):
        raise ValueError(f"superpixels must have the image's height and width {tuple(shape)}, got {seg.shape}")
    if not np.issubdtype(seg.dtype, np.integer) or seg.min() < 0:
        raise ValueError("superpixels must be non-negative integer labels 0..n-1 (as from segment())")
    return seg


def check_hide_color(hide_color) -> float:
    """The hide colour of an ImageClassifier's [0, 1] images: a number in [0, 1]."""
    if not 0.0 <= float(hide_color) <= 1.0:
        raise ValueError(f"hide_color must be in [0, 1] for an ImageClassifier (its images are [0, 1]), got {hide_color}")
    return float(hide_color)


# -- network inputs and classes ---------------------------------------------------------------------
def check_inputs(x, model) -> np.ndarray:
    """A network input batch (N, H, W, C), float, matching the keras model's input shape."""
    arr = np.asarray(x)
    expected = tuple(model.inputs[0].shape[1:])
    if arr.ndim != 1 + len(expected):
        raise ValueError(
            f"x must be a batch of network inputs with shape (N, {', '.join(str(d) for d in expected)}), "
            f"got shape {arr.shape}; for one image use x[np.newaxis] (or model.preprocess(image))"
        )
    if any(e is not None and e != a for e, a in zip(expected, arr.shape[1:])):
        raise ValueError(f"x has shape {arr.shape}, but the model takes inputs of shape (N, {', '.join(map(str, expected))})")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"x must be a float array (the network's input), got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError("x is an empty batch")
    return arr


def check_batch(images) -> np.ndarray:
    """A float batch (N, H, W, C) already preprocessed for the network -> float32, or a clear error."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be a batch of shape (N, H, W, C), preprocessed for the network; got shape "
            f"{images.shape} (one image? use image[np.newaxis])"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be floats preprocessed for the network, got dtype {images.dtype}")
    return images.astype(np.float32, copy=False)


def check_classes(classes, n_images: int, num_classes: int) -> np.ndarray:
    """``classes`` -> one class index per row, shape (M,).

    ``classes``: an int (the same class for every image), a sequence with one class per image, or,
    with a single image, a sequence of several classes (the image is explained once per class).
    """
    if isinstance(classes, (bool, np.bool_)):
        raise TypeError("classes must be an integer class index or a sequence of them, got a bool")
    c = np.asarray(classes)
    if c.ndim > 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise TypeError(f"classes must be an integer class index or a 1-D sequence of them, got {classes!r}")
    c = c.astype(np.int64).reshape(-1) if c.ndim else np.full(n_images, int(c), np.int64)
    if len(c) == 0:
        raise ValueError("classes is empty")
    if len(c) != n_images and n_images != 1:
        raise ValueError(
            f"classes has {len(c)} entries for {n_images} images; give one per image, a single int, "
            "or one image with several classes"
        )
    bad = c[(c < 0) | (c >= num_classes)]
    if bad.size:
        raise IndexError(f"class index {int(bad[0])} is out of range: the model has {num_classes} classes (0..{num_classes - 1})")
    return c


# -- numbers and seeds ---------------------------------------------------------------------------------
def positive_pair(value, name: str) -> tuple[int, int]:
    """An int or an (height, width) pair of positive ints."""
    v = np.atleast_1d(np.asarray(value))
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.shape != (2,) or not np.issubdtype(v.dtype, np.integer) or (v < 1).any():
        raise ValueError(f"{name} must be a positive int or a (height, width) pair of them, got {value!r}")
    return int(v[0]), int(v[1])


def check_count(value, name: str) -> int:
    """A count: an int of at least 1."""
    if isinstance(value, (bool, np.bool_)) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_finite(value, name: str) -> float:
    """A finite number (no NaN, no infinity)."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return v


def generator(seed) -> np.random.Generator:
    """``seed``: an int, None or a ``np.random.Generator`` -> a Generator (NumPy's new API)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def legacy_random_state(seed):
    """``seed``: None (NumPy's global generator, as the text's ``np.random``), an int, a RandomState or a
    Generator -> an object with ``binomial`` (LIME's perturbations, the text's draws)."""
    if seed is None:
        return np.random
    if isinstance(seed, (int, np.integer)):
        return np.random.RandomState(int(seed))
    return seed


__all__ = ["check_images", "as_image_list", "check_image", "check_superpixels", "check_hide_color", "check_inputs",
           "check_batch", "check_classes", "positive_pair", "check_count", "check_finite", "generator",
           "legacy_random_state"]
