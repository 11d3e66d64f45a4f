"""What the study's modules share: its error, its metric names, the reference row, seeded streams.

The bottom of the study's modules (``study_stats``, ``study_run``, ``study``, ``study_cli`` build on it).
"""

from __future__ import annotations

import math
import zlib

import numpy as np

METRICS = ("deletion", "insertion", "road_morf", "road_lerf", "seconds", "rand_rho")
RANDOM = "random"  # the reference row: a uniformly random map

class StudyError(ValueError):
    """Bad study input (found before any computation)."""


def finite(name, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StudyError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise StudyError(f"{name} must be a finite number, got {value!r}")
    return v


def stream(seed, *keys) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(str(k).encode()) for k in keys])



__all__ = ["METRICS", "RANDOM", "StudyError", "finite", "stream"]
