"""Where things are in the book's two pictures, and how much of a map falls there.

The boxes are written once, here, in *relative* coordinates (fractions of the picture's height and
width), so they hold at any resolution: the picture's own size, the network's 160x160 or 224x224
input, or a 5x5 Grad-CAM map. Every sentence of the book about where a map lies stands next to one
of these measurements:

- :func:`mass_inside`: the share of a map's positive mass inside a box (a uniform map scores the
  box's :func:`area`, so compare with that);
- :func:`superpixels_inside`: the superpixels that lie mostly inside a box (for LIME);
- :func:`draw`: the box on a matplotlib axis, so the reader sees what was measured.

The boxes were drawn by eye on the pictures (``cat_dog.jpg`` 640x480, ``cat-and-dog.jpg`` 500x523).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Box(NamedTuple):
    """A rectangle in fractions of the picture: rows ``top..bottom``, columns ``left..right``, in [0, 1]."""

    top: float
    left: float
    bottom: float
    right: float


REGIONS: dict[str, dict[str, Box]] = {
    # The Grad-CAM paper's picture: a bulldog sitting in front of a wooden cabinet, a tabby cat lying
    # in front of it, a glass door on the left.
    "cat_dog.jpg": {
        "dog": Box(0.05, 0.35, 0.66, 0.74),  # the whole bulldog, head to paws
        "dog_head": Box(0.05, 0.35, 0.35, 0.60),
        "cat": Box(0.53, 0.20, 1.00, 0.88),  # the whole cat, tail to paws
        "cat_head": Box(0.53, 0.63, 0.75, 0.78),
        "door": Box(0.00, 0.00, 0.70, 0.30),  # the glass door and window frame on the left
    },
    # The text's LIME picture: a Labrador (left) nose to nose with a grey cat (right).
    "cat-and-dog.jpg": {
        "dog": Box(0.00, 0.00, 1.00, 0.60),
        "dog_head": Box(0.00, 0.00, 0.60, 0.60),
        "cat": Box(0.34, 0.56, 0.96, 1.00),
        "cat_head": Box(0.34, 0.56, 0.66, 0.90),
    },
}


def box(image: str, region: str) -> Box:
    """The box named ``region`` in the picture ``image`` (an asset name such as ``"cat_dog.jpg"``)."""
    if image not in REGIONS:
        raise KeyError(f"no regions for {image!r}; known pictures: {', '.join(REGIONS)}")
    if region not in REGIONS[image]:
        raise KeyError(f"no region {region!r} in {image}; known: {', '.join(REGIONS[image])}")
    return REGIONS[image][region]


def _check_box(b) -> Box:
    b = Box(*(float(v) for v in b))
    if not (0 <= b.top < b.bottom <= 1 and 0 <= b.left < b.right <= 1):
        raise ValueError(f"a box is (top, left, bottom, right) in fractions with top < bottom and left < right, got {tuple(b)}")
    return b


def pixels(b, shape) -> tuple[int, int, int, int]:
    """The box on a grid of ``shape`` = (height, width, ...): ``(y0, x0, y1, x1)`` integer pixel bounds,
    end exclusive (``array[y0:y1, x0:x1]``), each at least one pixel wide."""
    b = _check_box(b)
    h, w = int(shape[0]), int(shape[1])
    y0, x0 = int(np.floor(b.top * h)), int(np.floor(b.left * w))
    y1, x1 = max(int(np.ceil(b.bottom * h)), y0 + 1), max(int(np.ceil(b.right * w)), x0 + 1)
    return y0, x0, min(y1, h), min(x1, w)


def mask(b, shape) -> np.ndarray:
    """A boolean (height, width) mask of the box on a grid of ``shape``."""
    y0, x0, y1, x1 = pixels(b, shape)
    m = np.zeros((int(shape[0]), int(shape[1])), bool)
    m[y0:y1, x0:x1] = True
    return m


def area(b) -> float:
    """The box's share of the picture's area (what :func:`mass_inside` gives for a uniform map)."""
    b = _check_box(b)
    return (b.bottom - b.top) * (b.right - b.left)


def mass_inside(heatmap, b) -> float:
    """The share of a map's positive mass that lies inside the box, in [0, 1].

    ``heatmap``: a 2-D map (h, w) at any resolution; negative values are ignored (set to 0). Each
    cell counts by the share of its area inside the box, so a coarse 5x5 map is measured fairly.
    Returns NaN for a map with no positive value.
    """
    m = np.clip(np.asarray(heatmap, dtype=np.float64), 0, None)
    if m.ndim != 2:
        raise ValueError(f"heatmap must be a 2-D map (h, w), got shape {m.shape}")
    b = _check_box(b)
    total = m.sum()
    if total <= 0:
        return float("nan")
    h, w = m.shape
    # overlap of each row (column) of cells with the box's rows (columns), as a fraction of a cell
    rows = np.clip(np.minimum(np.arange(1, h + 1), b.bottom * h) - np.maximum(np.arange(h), b.top * h), 0, 1)
    cols = np.clip(np.minimum(np.arange(1, w + 1), b.right * w) - np.maximum(np.arange(w), b.left * w), 0, 1)
    return float(rows @ m @ cols / total)


def superpixels_inside(superpixels, b, min_share: float = 0.5) -> np.ndarray:
    """Labels of the superpixels with at least ``min_share`` of their pixels inside the box, sorted.

    ``superpixels``: a (height, width) integer label map (as from :func:`xaitools.lime.segment`).
    """
    seg = np.asarray(superpixels)
    if seg.ndim != 2:
        raise ValueError(f"superpixels must be a 2-D label map, got shape {seg.shape}")
    inside = mask(b, seg.shape)
    total = np.bincount(seg.ravel())
    within = np.bincount(seg[inside].ravel(), minlength=len(total))
    share = np.divide(within, total, out=np.zeros(len(total)), where=total > 0)
    return np.flatnonzero((share >= min_share) & (total > 0))


def draw(ax, b, shape, label: str | None = None, color: str = "white", **kwargs):
    """Draw the box on a matplotlib axis showing an image of ``shape`` = (height, width, ...)."""
    from matplotlib.patches import Rectangle

    y0, x0, y1, x1 = pixels(b, shape)
    rect = Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.5, **kwargs)
    ax.add_patch(rect)
    if label:
        ax.text(x0 + 2, y0 + 2, label, color=color, fontsize=8, va="top")
    return rect
