"""Named assets: the text's images and data, sha256-pinned.

Lookup order for :func:`fetch`:

1. the directory named by ``$XAITOOLS_MIRROR`` (an offline mirror with the same file names),
2. the local cache (``$XAITOOLS_CACHE``, default ``~/.cache/xaitools``),
3. a download with ``keras.utils.get_file`` (sha256-verified) into a temporary
   directory of the cache, then an atomic ``os.replace`` into place.

A file whose sha256 does not match is an error, never used silently.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIRROR_ENV = "XAITOOLS_MIRROR"
CACHE_ENV = "XAITOOLS_CACHE"
IMAGENET_CLASS_INDEX = "imagenet_class_index.json"


@dataclass(frozen=True)
class Asset:
    name: str  # file name, in the mirror and in the cache
    url: str
    sha256: str
    description: str = ""


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "cat-and-dog.jpg",
            "https://arteagac.github.io/blog/lime_image/img/cat-and-dog.jpg",
            "5dc8edf8ca0214def5cd28697b2fc4541264d154c37a62c41448120b30b2c8d2",
            "The text's LIME image (Figure 12-2): a Labrador retriever and a cat.",
        ),
        Asset(
            "cat_dog.jpg",
            "https://raw.githubusercontent.com/ramprs/grad-cam/master/images/cat_dog.jpg",
            "ec62e965a2699adb4d043c0468817062bc7aa5019358fdf8ececd104d3de36e8",
            "The Grad-CAM paper's image (Figure 12-11): a bull mastiff / boxer and a tiger cat.",
        ),
        Asset(
            IMAGENET_CLASS_INDEX,
            "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
            "a1e7a966a1f601d39e4b43e119b3e7dd4a2ad3ea08cf69847cbaf021013767bc",
            "The 1000 ImageNet classes of the text's networks: {\"0\": [\"n01440764\", \"tench\"], ...}"
            " (the file keras' decode_predictions reads; keras pins its md5 c2c37ea517e94d9795004a39431a14cb).",
        ),
    ]
}


class AssetError(RuntimeError):
    """An asset could not be found, downloaded or verified."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "xaitools")


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, asset: Asset) -> Path:
    digest = sha256sum(path)
    if digest != asset.sha256:
        raise AssetError(
            f"{path} does not match the pinned sha256 of {asset.name!r}:\n"
            f"  expected {asset.sha256}\n  found    {digest}\n"
            f"Delete it (or fix the mirror) so that it can be fetched again from {asset.url}"
        )
    return path


def fetch(name: str) -> Path:
    """Return a local, verified path to the named asset (see module docstring)."""
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known assets: {', '.join(sorted(ASSETS))}")
    asset = ASSETS[name]

    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        candidate = Path(mirror).expanduser() / asset.name
        if candidate.is_file():
            return _verify(candidate, asset)

    cached = cache_dir() / asset.name
    if cached.is_file():
        return _verify(cached, asset)

    cached.parent.mkdir(parents=True, exist_ok=True)
    import keras

    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".download-") as tmp:
        try:
            downloaded = keras.utils.get_file(
                fname=asset.name,
                origin=asset.url,
                file_hash=asset.sha256,
                hash_algorithm="sha256",
                cache_dir=tmp,
                cache_subdir=".",
            )
        except Exception as exc:  # no network, HTTP error, hash mismatch, ...
            where = f"${MIRROR_ENV}={mirror!r}" if mirror else f"${MIRROR_ENV} is not set"
            raise AssetError(
                f"could not download {asset.name!r} from {asset.url} ({exc}).\n"
                f"Offline? Put {asset.name!r} in a directory and point {MIRROR_ENV} at it "
                f"({where}), or copy it into the cache at {cached}."
            ) from exc
        _verify(Path(downloaded), asset)
        os.replace(downloaded, cached)  # atomic: readers never see a partial file
    return cached


def imagenet_classes() -> list[tuple[str, str]]:
    """The 1000 ImageNet classes in output order, from the pinned ``imagenet_class_index.json``.

    Fetched like every asset (mirror -> cache -> download, sha256-checked).

    Returns:
        list of 1000 ``(WordNet id, class name)`` tuples; entry ``i`` is output unit ``i``
        (e.g. 242 ``("n02108089", "boxer")``).
    """
    import json

    with open(fetch(IMAGENET_CLASS_INDEX), encoding="utf-8") as f:
        index = json.load(f)
    if sorted(index, key=int) != [str(i) for i in range(1000)]:  # cannot happen with the pinned file
        raise AssetError(f"{IMAGENET_CLASS_INDEX} does not list the classes 0..999")
    return [(index[str(i)][0], index[str(i)][1]) for i in range(1000)]


def _is_url(s: str) -> bool:
    return urllib.parse.urlparse(s).scheme in ("http", "https", "ftp")


def resolve(source: str | os.PathLike) -> Path:
    """An asset name, a local path or a URL -> a local path.

    URLs of registered assets are served from the mirror/cache; other URLs are
    downloaded (unpinned) into the cache with ``keras.utils.get_file``.
    """
    s = os.fspath(source)
    if s in ASSETS:
        return fetch(s)
    if _is_url(s):
        for asset in ASSETS.values():
            if asset.url == s:
                return fetch(asset.name)
        import keras

        fname = Path(urllib.parse.urlparse(s).path).name or "download"
        try:
            return Path(keras.utils.get_file(fname=fname, origin=s, cache_dir=str(cache_dir()), cache_subdir="urls"))
        except Exception as exc:
            raise AssetError(f"could not download {s} ({exc})") from exc
    p = Path(s).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"{s!r} is neither a file, a URL nor a known asset (known assets: {', '.join(sorted(ASSETS))})"
        )
    return p


def load_image(source: str | os.PathLike) -> np.ndarray:
    """Read an image (asset name, path or URL) as an RGB float32 array in [0, 1], shape (H, W, 3).

    Grayscale is repeated to three channels and an alpha channel is composited on white.
    """
    path = resolve(source)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            rgb = im.convert("RGB")
            arr = np.asarray(rgb, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path} is not an image that can be read (PNG, JPEG, ...): {exc}") from exc
    return arr


# -- The cats-vs-dogs data set (the CAM chapter) ---------------------------------------------------
CATS_DOGS = "cats_and_dogs_filtered"
CATS_DOGS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
CATS_DOGS_SPLITS = ("train", "validation")
CATS_DOGS_CLASSES = ("cats", "dogs")  # label 0 = cat, 1 = dog (the sigmoid output: P(dog))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


class DatasetError(AssetError):
    """A data set folder does not have the expected layout or holds unreadable images."""


def check_cats_and_dogs(root: str | os.PathLike, decode: bool = True) -> Path:
    """Check ``root/{train,validation}/{cats,dogs}/*.jpg`` (nothing else is pinned: the zip's hash is unknown).

    Every split has both class folders, every class folder has images, and (``decode=True``) every
    image decodes. Raises :class:`DatasetError` saying what is wrong; returns ``root``.
    """
    from PIL import Image

    root = Path(root)
    expected = f"expected {root}/{{{','.join(CATS_DOGS_SPLITS)}}}/{{{','.join(CATS_DOGS_CLASSES)}}}/*.jpg"
    for split in CATS_DOGS_SPLITS:
        if not (root / split).is_dir():
            raise DatasetError(f"the {split!r} split is missing: no folder {root / split} ({expected})")
        for cls in CATS_DOGS_CLASSES:
            folder = root / split / cls
            if not folder.is_dir():
                raise DatasetError(f"the class folder {cls!r} of the {split!r} split is missing: {folder} ({expected})")
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DatasetError(f"{folder} holds no images ({expected})")
            for path in files if decode else ():
                try:
                    with Image.open(path) as im:
                        im.draft("RGB", (32, 32))  # JPEG: decode at reduced scale, enough to find a broken file
                        im.load()
                except Exception as exc:  # PIL raises several types for broken files
                    raise DatasetError(f"{path} is not a readable image ({exc}); delete or replace it") from exc
    return root


def cats_and_dogs_dir() -> Path:
    """The checked ``cats_and_dogs_filtered`` folder: from ``$XAITOOLS_MIRROR``, the cache, or downloaded.

    The download (``keras.utils.get_file(..., extract=True)``) goes to a temporary folder of the
    cache and is moved into place only after its layout has been checked.
    """
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and (Path(mirror).expanduser() / CATS_DOGS).is_dir():
        return check_cats_and_dogs(Path(mirror).expanduser() / CATS_DOGS)
    cached = cache_dir() / CATS_DOGS
    if cached.is_dir():
        return check_cats_and_dogs(cached)

    cached.parent.mkdir(parents=True, exist_ok=True)
    import keras

    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".download-") as tmp:
        try:
            extracted = keras.utils.get_file(
                fname=f"{CATS_DOGS}.zip", origin=CATS_DOGS_URL, extract=True, cache_dir=tmp, cache_subdir="."
            )
        except Exception as exc:
            where = f"${MIRROR_ENV}={mirror!r}" if mirror else f"${MIRROR_ENV} is not set"
            raise DatasetError(
                f"could not download {CATS_DOGS_URL} ({exc}).\nOffline? Put the extracted folder "
                f"{CATS_DOGS}/ in a directory and point {MIRROR_ENV} at it ({where}), or put it at {cached}."
            ) from exc
        root = Path(extracted) / CATS_DOGS  # the zip holds one top folder
        check_cats_and_dogs(root if root.is_dir() else Path(extracted))
        os.replace(root if root.is_dir() else extracted, cached)
    return cached


def cats_and_dogs(split: str = "train", image_size=(160, 160), per_class: int | None = None, with_paths: bool = False):
    """Images and labels of a split: ``(images (N, H, W, 3) float32 in [0, 1], labels (N,) 0 = cat, 1 = dog)``.

    Read with ``keras.utils.image_dataset_from_directory`` (resized to ``image_size``, file order,
    cats first). ``per_class``: keep only the first ``per_class`` images of each class.
    ``with_paths``: also return each image's path relative to the data set folder (``validation/cats/cat.1.jpg``).
    No count is assumed: the mirror's subset (500 + 500 train, 200 + 200 validation) and the public
    zip (1000 + 1000, 500 + 500) both work; choose images by label with :func:`pick_per_class`.
    """
    if split not in CATS_DOGS_SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {CATS_DOGS_SPLITS}")
    import keras

    root = cats_and_dogs_dir()
    ds = keras.utils.image_dataset_from_directory(
        root / split, labels="inferred", label_mode="int", class_names=list(CATS_DOGS_CLASSES),
        image_size=tuple(image_size), batch_size=64, shuffle=False, verbose=False,
    )
    batches = [(np.asarray(x), np.asarray(y)) for x, y in ds]
    images = np.concatenate([x for x, _ in batches]) / np.float32(255)
    labels = np.concatenate([y for _, y in batches]).astype(int)
    paths = [Path(p).relative_to(root).as_posix() for p in ds.file_paths]
    if per_class is not None:
        keep = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CATS_DOGS_CLASSES))])
        images, labels, paths = images[keep], labels[keep], [paths[i] for i in keep]
    return (images.astype(np.float32), labels) + ((paths,) if with_paths else ())


def pick_per_class(labels, per_class: int = 3, step: int = 1, classes=range(len(CATS_DOGS_CLASSES))) -> list[int]:
    """Indices of a few images of each class, chosen by label, not by position: no count assumed.

    For each class in ``classes`` (cats first), its 1st, (1 + step)-th, (1 + 2 step)-th, ... image
    in the order of ``labels``, ``per_class`` of them. Deterministic. With the mirror's validation
    split (200 cats, then 200 dogs) ``pick_per_class(y, 3, step=60)`` is ``[0, 60, 120, 200, 260, 320]``;
    with the public zip's (500 + 500) it is ``[0, 60, 120, 500, 560, 620]``: three cats, three dogs in both.

    Args:
        labels: (N,) int class labels (0 = cat, 1 = dog for :func:`cats_and_dogs`).
        per_class: images per class, >= 1.
        step: distance between the chosen images within a class (in that class's order), >= 1.
        classes: the labels to pick, in this order.
    Returns:
        list of ``len(classes) * per_class`` indices into ``labels``.
    Raises:
        ValueError: a class has too few images for ``per_class`` and ``step``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {labels.shape}")
    if int(per_class) < 1 or int(step) < 1:
        raise ValueError(f"per_class and step must be >= 1, got per_class={per_class}, step={step}")
    picked = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        chosen = members[: (per_class - 1) * step + 1 : step]
        if len(chosen) < per_class:
            raise ValueError(
                f"class {c} has {len(members)} images, too few for per_class={per_class} with step={step}; "
                f"ask for fewer or a smaller step"
            )
        picked += [int(i) for i in chosen]
    return picked
