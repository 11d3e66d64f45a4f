"""Pictures: heatmaps resized to an image and blended over it with an OpenCV colormap."""

from __future__ import annotations

import numpy as np


def resize_map(heatmap, size, nearest: bool = False) -> np.ndarray:
    """Resize a 2-D map to ``size`` = (height, width) with OpenCV (bilinear, or nearest for label maps)."""
    import cv2

    h, w = size
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(np.asarray(heatmap, dtype=np.float32), (int(w), int(h)), interpolation=interp)


def colorize(heatmap, threshold: float = 0.0) -> np.ndarray:
    """A [0, 1] map -> RGB float image in [0, 1] with ``cv2.COLORMAP_JET``; values below ``threshold`` are black."""
    import cv2

    m = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)
    bgr = cv2.applyColorMap(np.uint8(255 * m), cv2.COLORMAP_JET)
    rgb = bgr[..., ::-1].astype(np.float32) / 255.0
    rgb[m < threshold] = 0
    return rgb


def overlay(image, heatmap, alpha: float = 0.5, threshold: float = 0.0) -> np.ndarray:
    """Blend a [0, 1] heatmap (any size; resized to the image) over a [0, 1] RGB image -> [0, 1] RGB."""
    img = np.asarray(image, dtype=np.float32)
    hm = resize_map(heatmap, img.shape[:2])
    return np.clip((1 - alpha) * img + alpha * colorize(hm, threshold), 0, 1)


def save_image(path, image) -> None:
    """Save a [0, 1] RGB float image (PNG/JPEG by extension)."""
    from PIL import Image

    Image.fromarray(np.uint8(np.round(np.clip(image, 0, 1) * 255))).save(path)
