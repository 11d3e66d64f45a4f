"""The CAM chapter's training steps (the text's steps 1 and 2): now in :mod:`xaitools.cam`, kept here
under their old module name."""

from xaitools.cam import CAMLogger, CAMmodel, fit, pretrained_base  # noqa: F401

__all__ = ["CAMLogger", "CAMmodel", "fit", "pretrained_base"]
