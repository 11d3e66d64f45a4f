"""CAMLogger with a real Weights & Biases run in offline mode: no account, no network.

The run writes into pytest's tmp_path (WANDB_DIR); what was logged is read back from the run: its
summary (the last value of every key) and the image files under the run's media/ folder, whose names
carry the step (``cam_<step>_<hash>.png``).
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from xaitools import cam

wandb = pytest.importorskip("wandb")

N_LOGGED, EPOCHS = 3, 2


def tiny_gap_model():
    """A frozen 3x3 conv (4 channels) -> GAP -> Dense(1, sigmoid): the text's CAM architecture, tiny."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(4, 3, padding="same", name="conv", trainable=False)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))


def data():
    x = np.random.RandomState(1).rand(6, 8, 8, 3).astype(np.float32)
    return x, np.array([0, 1] * 3)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    yield tmp_path
    if wandb.run is not None:
        wandb.run.finish()


def logged_images(run_dir: Path, key: str) -> dict[int, int]:
    """step -> number of image files logged under ``key`` at that step."""
    steps = {}
    for f in (run_dir / "media" / "images").glob(f"{key}_*.png"):
        step = int(re.fullmatch(rf"{key}_(\d+)_\w+\.png", f.name).group(1))
        steps[step] = steps.get(step, 0) + 1
    return steps


def test_camlogger_logs_every_epochs_maps_to_an_active_offline_run(offline):
    model, (x, y) = tiny_gap_model(), data()
    run = wandb.init(project="xaitools-test", mode="offline")
    run_dir = Path(run.dir)
    assert run_dir.is_relative_to(offline)
    logger = cam.CAMLogger(x[:N_LOGGED], "conv", classes=0)
    cam.fit(model, x, y, "conv", epochs=EPOCHS, batch_size=3, callbacks=[logger], fast=False)
    summary = dict(run.summary)
    run.finish()

    assert {"cam", "images", "epoch"} <= set(summary)
    assert summary["epoch"] == EPOCHS - 1
    assert summary["cam"]["_type"] == "images/separated" and summary["cam"]["count"] == N_LOGGED
    assert summary["images"]["count"] == N_LOGGED
    assert logged_images(run_dir, "cam") == {epoch: N_LOGGED for epoch in range(EPOCHS)}
    assert len(logger.maps) == EPOCHS and logger.maps[0].shape == (N_LOGGED, 8, 8)


def test_camlogger_logs_nothing_without_an_active_run(offline, monkeypatch):
    model, (x, y) = tiny_gap_model(), data()
    assert wandb.run is None
    calls = []
    monkeypatch.setattr(wandb, "log", lambda *a, **k: calls.append(a))
    logger = cam.CAMLogger(x[:N_LOGGED], "conv")
    cam.fit(model, x, y, "conv", epochs=EPOCHS, batch_size=3, callbacks=[logger], fast=False)
    assert calls == [] and len(logger.maps) == EPOCHS
    assert not list(offline.rglob("*.png"))


def test_camlogger_works_without_wandb_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    model, (x, y) = tiny_gap_model(), data()
    logger = cam.CAMLogger(x[:N_LOGGED], "conv", classes=None)  # None: each image's top class
    cam.fit(model, x, y, "conv", epochs=EPOCHS, batch_size=3, callbacks=[logger], fast=False)
    assert len(logger.maps) == len(logger.probs) == EPOCHS
    np.testing.assert_allclose(logger.maps[-1], cam.CAM(model, "conv").compute_maps(x[:N_LOGGED], 0), atol=1e-6)
