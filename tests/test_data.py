import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xaitools import data


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _register(monkeypatch, name, url, payload):
    asset = data.Asset(name, url, hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(data.ASSETS, name, asset)
    return asset


def test_registry_has_the_texts_images():
    assert data.ASSETS["cat-and-dog.jpg"].url.endswith("/lime_image/img/cat-and-dog.jpg")
    assert data.ASSETS["cat_dog.jpg"].sha256.startswith("ec62e965")


@pytest.mark.parametrize("name", ["cat-and-dog.jpg", "cat_dog.jpg"])
def test_mirror_files_verify(name):
    path = data.fetch(name)
    assert data.sha256sum(path) == data.ASSETS[name].sha256


def test_mirror_is_tried_first_and_a_bad_hash_is_an_error(tmp_path, tmp_cache, monkeypatch):
    _register(monkeypatch, "x.bin", "https://example.invalid/x.bin", b"right")
    (tmp_path / "x.bin").write_bytes(b"wrong")
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path))
    with pytest.raises(data.AssetError, match="does not match the pinned sha256"):
        data.fetch("x.bin")
    (tmp_path / "x.bin").write_bytes(b"right")
    assert data.fetch("x.bin") == tmp_path / "x.bin"


def test_download_goes_to_cache_atomically(tmp_path, tmp_cache, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    _register(monkeypatch, "y.bin", src.as_uri(), b"payload")
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    path = data.fetch("y.bin")
    assert path == tmp_cache / "y.bin" and path.read_bytes() == b"payload"
    assert sorted(p.name for p in tmp_cache.iterdir()) == ["y.bin"]  # no temporary left behind
    src.unlink()
    assert data.fetch("y.bin") == path  # served from the cache now


def test_download_with_wrong_hash_leaves_nothing(tmp_path, tmp_cache, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    _register(monkeypatch, "z.bin", src.as_uri(), b"original")
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    with pytest.raises(data.AssetError):
        data.fetch("z.bin")
    assert not (tmp_cache / "z.bin").exists()


def test_offline_without_mirror_names_url_file_and_variable(tmp_path, tmp_cache, monkeypatch):
    asset = _register(monkeypatch, "w.jpg", (tmp_path / "missing" / "w.jpg").as_uri(), b"x")
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    with pytest.raises(data.AssetError) as err:
        data.fetch("w.jpg")
    msg = str(err.value)
    assert asset.url in msg and "'w.jpg'" in msg and "XAITOOLS_MIRROR" in msg


def test_unknown_asset_lists_known():
    with pytest.raises(KeyError, match="cat-and-dog.jpg"):
        data.fetch("nope.jpg")


def test_registered_url_is_served_from_the_mirror():
    img = data.load_image(data.ASSETS["cat-and-dog.jpg"].url)
    assert img.shape == (523, 500, 3)


@pytest.mark.parametrize("mode,ext", [("L", "png"), ("RGBA", "png"), ("RGB", "jpeg"), ("P", "png"), ("RGB", "jfif")])
def test_load_image_converts_to_rgb_float(tmp_path, mode, ext):
    arr = (np.arange(12 * 10 * 4) % 256).astype(np.uint8).reshape(12, 10, 4)
    im = Image.fromarray(arr, "RGBA")
    if mode != "RGBA":
        im = im.convert(mode)
    path = tmp_path / f"img.{ext}"
    im.save(path, format="JPEG" if ext in ("jpeg", "jfif") else "PNG")
    out = data.load_image(path)
    assert out.shape == (12, 10, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    if mode == "L":
        assert np.array_equal(out[..., 0], out[..., 2])


def test_load_image_alpha_is_composited_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.allclose(data.load_image(tmp_path / "clear.png"), 1.0)


def test_not_an_image_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        data.load_image(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="neither a file"):
        data.load_image(tmp_path / "missing.png")


def test_imagenet_class_index_is_a_pinned_asset():
    asset = data.ASSETS[data.IMAGENET_CLASS_INDEX]
    assert asset.url == "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
    assert asset.sha256 == "a1e7a966a1f601d39e4b43e119b3e7dd4a2ad3ea08cf69847cbaf021013767bc"
    classes = data.imagenet_classes()
    assert len(classes) == 1000 and classes[0] == ("n01440764", "tench")
    assert classes[242] == ("n02108089", "boxer") and classes[243][1] == "bull_mastiff"


def test_imagenet_class_index_offline_without_mirror_is_a_clear_error(tmp_path, tmp_cache, monkeypatch):
    import keras

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure (no network in this test)")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path))  # an empty mirror
    with pytest.raises(data.AssetError, match="imagenet_class_index.json.*XAITOOLS_MIRROR"):
        data.imagenet_classes()
