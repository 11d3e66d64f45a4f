"""The text's networks offline: weights from the mirror or Keras' cache, clear errors, random weights."""

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from xaitools import data, models, zoo


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty mirror, an empty Keras cache folder and a downloader that fails (no network)."""
    calls = []

    def no_network(fname, url, md5, folder):
        calls.append(fname)
        (Path(folder) / fname).write_bytes(b"partial")  # what a broken download may leave behind
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -3] Temporary failure in name resolution")

    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(zoo.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(zoo, "_download", no_network)
    return tmp_path / "mirror", tmp_path / "keras" / "models", calls


def _pin(monkeypatch, key, payload):
    """Pretend Keras pins the md5 of ``payload`` for ``key``'s file."""
    wf = zoo.KERAS_WEIGHTS[key]
    monkeypatch.setitem(zoo.KERAS_WEIGHTS, key, zoo.WeightsFile(wf.name, wf.url, hashlib.md5(payload).hexdigest()))
    return wf.name


@pytest.mark.parametrize("key", sorted(zoo.KERAS_WEIGHTS))
def test_pinned_files_are_the_ones_keras_pins(key):
    import keras.src.applications as apps

    source = (Path(apps.__file__).parent / f"{key[0]}.py").read_text()
    wf = zoo.KERAS_WEIGHTS[key]
    assert f'"{wf.name}"' in source and f'file_hash="{wf.md5}"' in source
    assert wf.url.endswith(f"/{key[0]}/{wf.name}") and wf.name.endswith("_notop.h5") != key[1]
    flat = source.replace('"\n    "', "").replace('"\n        "', "")  # Keras splits the URL over lines
    assert wf.url in flat


def test_failed_download_is_one_clear_error(offline):
    mirror, cache, calls = offline
    with pytest.raises(data.AssetError) as info:  # a WeightsError is an AssetError is a RuntimeError
        models.load("vgg16")
    err = info.value
    assert isinstance(err, models.WeightsError) and isinstance(err, RuntimeError)
    msg = str(err)
    assert "\n" not in msg
    wf = zoo.KERAS_WEIGHTS["vgg16", True]
    for part in (wf.name, wf.url, "XAITOOLS_MIRROR", str(mirror), str(cache), "Temporary failure"):
        assert part in msg
    assert calls == [wf.name]
    assert sorted(p.name for p in cache.iterdir()) == []  # the partial download is gone


def test_a_mirror_file_with_the_wrong_hash_is_refused(offline):
    mirror, cache, calls = offline
    wf = zoo.KERAS_WEIGHTS["inception_v3", True]
    (mirror / wf.name).write_bytes(b"not the weights")
    with pytest.raises(zoo.WeightsError, match=f"{wf.name}: md5 .*Keras pins {wf.md5}"):
        models.load("inception_v3")
    assert calls == []  # refused, not silently replaced by a download


def test_a_download_with_the_wrong_hash_is_refused_and_not_cached(offline, monkeypatch):
    mirror, cache, calls = offline

    def wrong_file(fname, url, md5, folder):  # a download that "succeeds" with other bytes
        calls.append(fname)
        (Path(folder) / fname).write_bytes(b"not the weights")
        return str(Path(folder) / fname)

    monkeypatch.setattr(zoo, "_download", wrong_file)
    name = zoo.KERAS_WEIGHTS["vgg16", False].name
    with pytest.raises(zoo.WeightsError, match="md5 is not"):
        zoo.weights_file("vgg16", include_top=False)
    assert calls == [name] and not (cache / name).exists()


def test_mirror_then_keras_cache(offline, monkeypatch):
    mirror, cache, calls = offline
    name = _pin(monkeypatch, ("vgg16", False), b"weights")
    cache.mkdir(parents=True)
    (cache / name).write_bytes(b"weights")
    assert zoo.weights_file("vgg16", include_top=False) == cache / name
    (mirror / name).write_bytes(b"weights")
    assert zoo.weights_file("vgg16", include_top=False) == mirror / name
    (cache / name).write_bytes(b"stale")  # a bad cached file is fetched again, as Keras does
    monkeypatch.delenv(data.MIRROR_ENV)
    with pytest.raises(zoo.WeightsError, match="could not download"):
        zoo.weights_file("vgg16", include_top=False)
    assert calls == [name]


def test_weights_are_loaded_from_the_mirror(offline, monkeypatch, tmp_path):
    import keras

    mirror, cache, calls = offline
    trained = keras.applications.InceptionV3(include_top=False, weights=None)  # stands in for Keras' file
    name = zoo.KERAS_WEIGHTS["inception_v3", False].name
    trained.save(tmp_path / name)  # legacy .h5, the format of Keras' weight files
    (mirror / name).write_bytes((tmp_path / name).read_bytes())
    _pin(monkeypatch, ("inception_v3", False), (mirror / name).read_bytes())
    net = zoo.keras_network("inception_v3", include_top=False)
    assert calls == []
    assert len(net.weights) == len(trained.weights) > 300
    for got, want in zip(net.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_random_weights_switch(offline, monkeypatch):
    mirror, cache, calls = offline
    monkeypatch.setenv(zoo.WEIGHTS_ENV, "random")
    monkeypatch.setenv(models.MODEL_ENV, "imagenet")
    state = random.getstate()
    m = models.load(chapter="lime")  # what the LIME notebook does in text-exact mode
    assert calls == [] and random.getstate() == state  # no download; Python's random untouched
    assert m.name == "inception_v3" and m.input_size == (299, 299) and m.last_conv_layer == "mixed10"
    assert m.model.name == "inception_v3" and m.model.get_layer("mixed10").output.shape == (None, 8, 8, 2048)
    x = np.linspace(0, 1, 2 * 40 * 50 * 3, dtype=np.float32).reshape(2, 40, 50, 3)
    np.testing.assert_allclose(m.preprocess(x).min(), -1, atol=1e-2)  # InceptionV3's [-1, 1] scaling
    again = zoo.keras_network("inception_v3", weights=None)  # seeded: the same network twice
    for a, b in zip(m.model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.std(again.layers[1].get_weights()[0]) > 0.01  # random, not all zero


def test_weights_switch_values(monkeypatch):
    monkeypatch.delenv(zoo.WEIGHTS_ENV, raising=False)
    assert zoo.resolve_weights() == "imagenet" and zoo.resolve_weights(None) == "random"
    monkeypatch.setenv(zoo.WEIGHTS_ENV, "random")
    assert zoo.resolve_weights("imagenet") == "random"
    monkeypatch.setenv(zoo.WEIGHTS_ENV, "zeros")
    with pytest.raises(ValueError, match="XAI_WEIGHTS='zeros'.*random"):
        zoo.resolve_weights()
    with pytest.raises(ValueError, match="imagenet"):
        zoo.resolve_weights("trained")
