"""Timing shared by the benchmarks: every method once per round, best of the rounds."""

from __future__ import annotations

import time
from typing import Callable


def best_of_rounds(fns: dict[str, Callable[[], object]], repeats: int = 3, warmup: bool = True) -> dict[str, float]:
    """Seconds per function: the best of ``repeats`` rounds.

    Args:
        fns: name -> function of no arguments.
        repeats: timed rounds.
        warmup: run one untimed round first (tracing, first-call allocations).
    Returns:
        name -> best time in seconds. The functions take turns within a round, so a busy machine
        slows them alike.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(int(repeats) + bool(warmup)):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            if r or not warmup:
                times[name].append(time.perf_counter() - t)
    return {name: min(ts) for name, ts in times.items()}


def load_average() -> str:
    """The 1-minute load average and the CPU count, e.g. ``load 3.2 on 2 CPUs`` (to judge the noise)."""
    import os

    try:
        return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"


def images(n: int, size=(160, 160), seed: int = 0):
    """``n`` random crops (60-100 % of each side) of the text's two pictures with random horizontal
    flips, resized to ``size``: float32 (n, h, w, 3) in [0, 1]."""
    import numpy as np
    import tensorflow as tf

    from xaitools import data

    pictures = [data.load_image("cat_dog.jpg"), data.load_image("cat-and-dog.jpg")]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = pictures[i % 2]
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[top : top + ch, left : left + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(tf.image.resize(crop[None], size, antialias=True).numpy()[0])
    return np.clip(np.stack(out), 0, 1).astype(np.float32)
