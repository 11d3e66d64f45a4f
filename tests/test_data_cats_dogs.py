import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from xaitools import data


def make_layout(root, n=2, size=(24, 20)):
    """A tiny cats_and_dogs_filtered folder: n images per class and split, cats dark, dogs bright."""
    for split in data.CATS_DOGS_SPLITS:
        for label, cls in enumerate(data.CATS_DOGS_CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", size, (200 * label + i, 10, 20)).save(folder / f"{cls[:-1]}.{i}.jpg")
    return root


@pytest.fixture
def no_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_good_layout_passes(tmp_path):
    root = make_layout(tmp_path / data.CATS_DOGS)
    assert data.check_cats_and_dogs(root) == root


@pytest.mark.parametrize(
    "damage,needle",
    [
        (lambda r: shutil.rmtree(r / "validation"), "'validation' split is missing"),
        (lambda r: shutil.rmtree(r / "train" / "dogs"), "class folder 'dogs' of the 'train' split is missing"),
        (lambda r: [p.unlink() for p in (r / "validation" / "cats").iterdir()], "holds no images"),
        (lambda r: (r / "train" / "cats" / "cat.1.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg"),
         "cat.1.jpg is not a readable image"),
    ],
)
def test_a_broken_layout_says_what_is_wrong(tmp_path, damage, needle):
    root = make_layout(tmp_path / data.CATS_DOGS)
    damage(root)
    with pytest.raises(data.DatasetError, match=needle) as err:
        data.check_cats_and_dogs(root)
    assert "expected" in str(err.value) or "readable" in str(err.value)


def test_a_missing_split_is_named_as_the_split(tmp_path):
    """A whole split missing is reported as that, not as its first missing class folder."""
    root = make_layout(tmp_path / data.CATS_DOGS)
    shutil.rmtree(root / "validation")
    with pytest.raises(data.DatasetError, match=r"^the 'validation' split is missing: no folder"):
        data.check_cats_and_dogs(root)


def test_the_mirror_folder_is_used_and_loaded_with_keras(tmp_path, monkeypatch):
    make_layout(tmp_path / data.CATS_DOGS, n=3)
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path))
    assert data.cats_and_dogs_dir() == tmp_path / data.CATS_DOGS
    images, labels, paths = data.cats_and_dogs("validation", image_size=(8, 10), with_paths=True)
    assert images.shape == (6, 8, 10, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    assert paths[0] == "validation/cats/cat.0.jpg" and paths[-1] == "validation/dogs/dog.2.jpg"
    assert images[labels == 1, ..., 0].mean() > images[labels == 0, ..., 0].mean() + 0.5  # dogs were made bright
    few, few_labels = data.cats_and_dogs("train", image_size=(8, 8), per_class=1)
    np.testing.assert_array_equal(few_labels, [0, 1])
    with pytest.raises(ValueError, match="unknown split 'test'"):
        data.cats_and_dogs("test")


def test_download_extracts_checks_and_caches(tmp_path, no_mirror, monkeypatch):
    make_layout(tmp_path / "src" / data.CATS_DOGS)
    archive = tmp_path / "cats_and_dogs_filtered.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((tmp_path / "src").rglob("*")):
            z.write(p, p.relative_to(tmp_path / "src").as_posix())
    monkeypatch.setattr(data, "CATS_DOGS_URL", archive.as_uri())
    root = data.cats_and_dogs_dir()
    assert root == no_mirror / data.CATS_DOGS
    assert sorted(p.name for p in no_mirror.iterdir()) == [data.CATS_DOGS]  # no temporary left behind
    data.check_cats_and_dogs(root)
    archive.unlink()
    assert data.cats_and_dogs_dir() == root  # from the cache now


def test_a_broken_download_is_not_cached(tmp_path, no_mirror, monkeypatch):
    make_layout(tmp_path / "src" / data.CATS_DOGS)
    shutil.rmtree(tmp_path / "src" / data.CATS_DOGS / "train" / "cats")
    archive = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((tmp_path / "src").rglob("*")):
            z.write(p, p.relative_to(tmp_path / "src").as_posix())
    monkeypatch.setattr(data, "CATS_DOGS_URL", archive.as_uri())
    with pytest.raises(data.DatasetError, match="'cats' of the 'train' split is missing"):
        data.cats_and_dogs_dir()
    assert not (no_mirror / data.CATS_DOGS).exists()


def test_offline_without_mirror_names_the_url_and_the_variable(tmp_path, no_mirror, monkeypatch):
    monkeypatch.setattr(data, "CATS_DOGS_URL", (tmp_path / "missing.zip").as_uri())
    with pytest.raises(data.DatasetError) as err:
        data.cats_and_dogs_dir()
    assert "missing.zip" in str(err.value) and data.MIRROR_ENV in str(err.value)



def test_pick_per_class_chooses_by_label():
    y = np.array([0] * 200 + [1] * 200)  # the mirror's validation split
    assert data.pick_per_class(y, 3, step=60) == [0, 60, 120, 200, 260, 320]
    y = np.array([0] * 500 + [1] * 500)  # the public zip's
    assert data.pick_per_class(y, 3, step=60) == [0, 60, 120, 500, 560, 620]
    assert data.pick_per_class([1, 0, 1, 0, 0, 1], 2) == [1, 3, 0, 2]  # cats first, in file order
    with pytest.raises(ValueError, match="class 1 has 2 images, too few for per_class=3"):
        data.pick_per_class([0, 0, 0, 1, 1], 3)
    with pytest.raises(ValueError, match="too few"):
        data.pick_per_class(y, 3, step=250)


def test_the_chapter_data_path_on_a_zip_with_other_counts(tmp_path, no_mirror, monkeypatch):
    """The public zip's layout (cats_and_dogs_filtered/{train,validation}/{cats,dogs}/cat.N.jpg and a
    script beside them) with counts that are neither the zip's nor the mirror's."""
    rng = np.random.RandomState(0)
    src = tmp_path / "src" / data.CATS_DOGS
    counts = {("train", "cats"): 7, ("train", "dogs"): 5, ("validation", "cats"): 4, ("validation", "dogs"): 6}
    for (split, cls), n in counts.items():
        (src / split / cls).mkdir(parents=True)
        first = 0 if split == "train" else 2000
        for i in range(first, first + n):
            size = tuple(rng.randint(20, 40, size=2))  # like the real photos: every image its own size
            pixels = rng.randint(0, 256, size=(*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(src / split / cls / f"{cls[:-1]}.{i}.jpg", quality=90)
    (src / "vectorize.py").write_text("# the zip ships a script beside the data\n")
    archive = tmp_path / "cats_and_dogs_filtered.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((tmp_path / "src").rglob("*")):
            z.write(p, p.relative_to(tmp_path / "src").as_posix())
    monkeypatch.setattr(data, "CATS_DOGS_URL", archive.as_uri())

    # the CAM chapter's data cells
    x_train, y_train = data.cats_and_dogs("train", (16, 16))
    x_val, y_val, val_paths = data.cats_and_dogs("validation", (16, 16), with_paths=True)
    assert x_train.shape == (12, 16, 16, 3) and x_val.shape == (10, 16, 16, 3)
    assert np.bincount(y_train).tolist() == [7, 5] and np.bincount(y_val).tolist() == [4, 6]
    logged = data.pick_per_class(y_val, per_class=3)
    assert logged == [0, 1, 2, 4, 5, 6]
    assert y_val[logged].tolist() == [0, 0, 0, 1, 1, 1]  # three cats, three dogs
    assert [val_paths[i].split("/")[1] for i in logged] == ["cats"] * 3 + ["dogs"] * 3
    assert data.pick_per_class(y_train, per_class=3, step=2) == [0, 2, 4, 7, 9, 11]
    with pytest.raises(ValueError, match="class 0 has 4 images"):
        data.pick_per_class(y_val, per_class=3, step=2)
