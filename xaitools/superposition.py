"""LIME's step 2 by superposition: now :mod:`xaitools.core.superposition`, kept here under its old name."""

from xaitools.core.checks import check_hide_color  # noqa: F401
from xaitools.core.superposition import Superposition, predict_superposed  # noqa: F401

__all__ = ["Superposition", "predict_superposed", "check_hide_color"]
