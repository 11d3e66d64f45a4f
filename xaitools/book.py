"""Claims that execute: how the book's chapters check the sentences that state results.

A chapter states a result in a sentence and checks it in the next cell, with the margin the
sentence implies, so the book's tests fail the moment the claim stops being true::

    from xaitools.book import check

    check(share["dog"] > 2 * area["dog"],
          "Grad-CAM puts more than twice the box's area share on the dog",
          model="dog_breeds")

A claim about the results of one network is checked only when the book runs on that network
(``model=``). In the text's mode (``XAI_MODEL=imagenet``), or with the random test weights
(``XAI_WEIGHTS=random``), such a check prints one line saying that it was not checked and why.
A claim without ``model`` (the text's code agrees with the library, a shape, a sum) holds for
every network and is always checked.

:func:`sized` gives a chapter's slowest settings (sample counts, training images): the full ones
the prose describes, or smaller ones for the book's quick test run on the text's large networks
(``XAI_QUICK=1``; see the "Running the book" page).
"""

from __future__ import annotations

import os

__all__ = ["ClaimError", "check", "setting", "sized"]

SETTINGS = ("dog_breeds", "imagenet", "random weights")


class ClaimError(AssertionError):
    """A sentence of the book states something that its outputs no longer show."""


def setting() -> str:
    """The network the book runs on: ``"dog_breeds"`` (default), ``"imagenet"`` or ``"random weights"``.

    Read as :mod:`xaitools.zoo` reads it (``XAI_MODEL=imagenet``: the text's networks;
    ``XAI_WEIGHTS=random``: seeded random weights, for tests only), with its errors for other values.
    """
    from xaitools import zoo

    if zoo.chapter_model("lime") == "dog_breeds":
        return "dog_breeds"
    return "random weights" if zoo.resolve_weights() == "random" else "imagenet"


def check(condition, claim: str, *, model: str | None = None) -> None:
    """Assert that a sentence of the book still holds.

    Args:
        condition: the claim as a boolean expression (a NumPy bool is fine).
        claim: the sentence it checks, in a few words (shown when the check fails or is skipped).
        model: ``None`` if the claim holds for any network; ``"dog_breeds"`` or ``"imagenet"`` if it
            is about that network's results, and is checked only when the book runs on it.
    Returns:
        None, so that a check on a cell's last line shows nothing under the cell.
    Raises:
        ClaimError: the claim does not hold.
        ValueError: ``model`` is not one of the book's networks.
    """
    if model is not None and model not in SETTINGS[:2]:
        raise ValueError(f"model must be None, 'dog_breeds' or 'imagenet', got {model!r}")
    if model is not None and setting() != model:
        print(f"not checked here (a claim about {model}; this run: {setting()}): {claim}")
        return
    if not bool(condition):
        raise ClaimError(f"the book says: {claim!r}, but this run's outputs do not show it")


def sized(full, *, quick):
    """The full setting the prose describes, or ``quick`` in the book's quick test run (``XAI_QUICK=1``).

    Args:
        full: the value the chapter's prose and committed outputs use (e.g. ``[50, 150, 500, 1000]``).
        quick: the smaller value that the quick run (text-exact mode on a CPU) uses instead.
    Returns:
        ``quick`` if the environment variable ``XAI_QUICK`` is ``1``, else ``full``.
    """
    return quick if os.environ.get("XAI_QUICK", "").strip() == "1" else full
