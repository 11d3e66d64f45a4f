import os
from pathlib import Path

import numpy as np
import pytest

MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "offline-mirror"


@pytest.fixture(scope="session", autouse=True)
def _mirror():
    """Use the offline mirror beside the checkout unless XAITOOLS_MIRROR is already set."""
    if not os.environ.get("XAITOOLS_MIRROR") and MIRROR.is_dir():
        os.environ["XAITOOLS_MIRROR"] = str(MIRROR)
    yield


@pytest.fixture(scope="session")
def dog_model():
    from xaitools import models

    return models.load("dog_breeds")


@pytest.fixture
def rng():
    return np.random.RandomState(0)
