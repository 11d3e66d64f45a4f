"""One entry point: :func:`explain` any Keras image classifier on many images with any registered method.

>>> import xaitools
>>> results = xaitools.explain("my_model.keras", ["a.jpg", "b.png"], method="gradcam", preprocess="unit")
>>> results[0].map.shape, results[0].class_name, results[0].layer

The model may be an :class:`~xaitools.models.ImageClassifier`, a ``keras.Model``, a path to a
``.keras``/``.h5`` file or a built-in model's name (wrapped by :func:`xaitools.models.load_model`).
Methods come from :data:`xaitools.methods.METHODS`. Images are read, resized and explained in batches
of ``batch_size``; :func:`iter_explain` yields the results batch by batch (the CLI writes each
image's files as soon as its batch is done).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

from xaitools import methods
from xaitools.core.checks import as_image_list, check_images


@dataclass
class Result:
    """The explanation of one image.

    Attributes:
        image: where the image came from: its path or asset name, or its index in the input.
        map: (H, W) float32 in [0, 1] at the image's own height and width.
        class_index: the class explained.
        class_name: its name (``str(class_index)`` when the model has no class names).
        probability: the model's probability of that class for the image.
        layer: the conv layer used (CAM-family methods), else None.
        method: the method's name in :data:`~xaitools.methods.METHODS`.
        model: the model's name (file stem or built-in name).
        seconds: wall time of this image: its share of its batch's prediction and explanation.
        options: the method's options, defaults filled in.
    """

    image: str | int
    map: np.ndarray = field(repr=False)
    class_index: int
    class_name: str
    probability: float
    layer: str | None
    method: str
    model: str
    seconds: float
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Everything but the map, JSON-ready."""
        return {"image": self.image, "model": self.model, "method": self.method, "class": self.class_name,
                "class_index": self.class_index, "probability": self.probability, "layer": self.layer,
                "seconds": self.seconds, "options": self.options}


# -- inputs --------------------------------------------------------------------------------------
def as_classifier(model, preprocess=None, class_names=None, input_size=None):
    """An ImageClassifier as is; anything else through :func:`xaitools.models.load_model`."""
    from xaitools import models

    if isinstance(model, models.ImageClassifier):
        if preprocess is not None or class_names is not None or input_size is not None:
            raise ValueError("preprocess, class_names and input_size are for a keras.Model or a path; "
                             "this ImageClassifier has its own")
        return model
    return models.load_model(model, preprocess=preprocess, class_names=class_names, input_size=input_size)


def image_sources(images) -> list:
    """Images -> a list with one entry per image: a (H, W, 3) array, or a path / asset name / URL string.

    ``images``: an array (H, W, 3) or (N, H, W, 3), a path or name, or a list mixing arrays and paths.
    """
    if isinstance(images, (str, os.PathLike)):
        return [os.fspath(images)]
    if isinstance(images, np.ndarray):
        return as_image_list(images)
    items = [os.fspath(im) if isinstance(im, (str, os.PathLike)) else np.asarray(im) for im in images]
    if not items:
        raise ValueError("no images to explain")
    return items


def load_images(items, reader: Callable[[str], np.ndarray] | None = None) -> list[np.ndarray]:
    """Paths/names are read with ``reader`` (default :func:`xaitools.data.load_image`); arrays are
    checked: RGB floats in [0, 1]."""
    from xaitools import data

    reader = reader or data.load_image
    return [check_images(reader(it) if isinstance(it, str) else it, "image")[0] for it in items]


def resolve_classes(model, classes, n: int) -> np.ndarray | None:
    """None (each image's top class), an int or name for every image, or one int/name per image -> (n,) ints."""
    if classes is None:
        return None
    if isinstance(classes, (str, int, np.integer)) and not isinstance(classes, (bool, np.bool_)):
        return np.full(n, model.class_index(classes), np.int64)
    items = list(classes)
    if len(items) != n:
        raise ValueError(f"classes has {len(items)} entries for {n} images; give one per image or a single class")
    return np.array([model.class_index(c) for c in items], np.int64)


def check_layer(model, layer: str) -> str:
    """``layer`` if it is a layer with 4-D feature maps of the model (nested sub-models searched), else
    a ValueError that names the model by its name (file stem or built-in name) and lists candidates."""
    from xaitools.core.graph import conv_layer_names

    names = methods.cached(model, "conv_layer_names", lambda: conv_layer_names(model.model))
    if layer not in names:
        shown = ", ".join(names[-8:]) + (f" (the last 8 of {len(names)})" if len(names) > 8 else "")
        raise ValueError(f"{layer!r} is not a conv layer of {model.name}; layers with 4-D feature maps: {shown or 'none'}")
    return layer


# -- explain ----------------------------------------------------------------------------------------
def iter_explain(
    model,
    images,
    method: str = "gradcam",
    classes=None,
    layer: str | None = None,
    *,
    preprocess=None,
    class_names=None,
    batch_size: int = 32,
    progress: Callable[[int], object] | None = None,
    reader: Callable[[str], np.ndarray] | None = None,
    **options,
) -> Iterator[Result]:
    """:func:`explain`, yielding each image's :class:`Result` as soon as its batch is done."""
    spec = methods.get(method)
    opts = spec.check_options(options)  # the one check of the options
    if layer is not None and not spec.layer:
        raise ValueError(f"{method} attributes the input pixels and takes no layer")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    items = image_sources(images)
    clf = as_classifier(model, preprocess, class_names)
    wanted = resolve_classes(clf, classes, len(items))
    used_layer = check_layer(clf, layer if layer is not None else methods.model_layer(clf)) if spec.layer else None
    for start in range(0, len(items), int(batch_size)):
        chunk = items[start : start + int(batch_size)]
        batch = load_images(chunk, reader)
        t0 = time.perf_counter()
        probs = clf.predict_resized(methods.resize_all(clf, batch))
        cls = np.argmax(probs, axis=1) if wanted is None else wanted[start : start + len(chunk)]
        maps = spec.maps(clf, batch, cls, used_layer, opts)
        seconds = (time.perf_counter() - t0) / len(chunk)
        names = _class_names(clf)
        for i, (item, m, c) in enumerate(zip(chunk, maps, cls)):
            yield Result(
                image=item if isinstance(item, str) else start + i,
                map=m, class_index=int(c), class_name=names[int(c)] if names else str(int(c)),
                probability=float(probs[i, int(c)]), layer=used_layer, method=method, model=clf.name,
                seconds=seconds, options=dict(opts),
            )
        if progress is not None:
            progress(len(chunk))


def _class_names(model) -> list[str] | None:
    try:
        names = model.class_names
    except (TypeError, AttributeError):  # a model without class names
        return None
    return list(names) if names else None


def explain(
    model,
    images,
    method: str = "gradcam",
    classes=None,
    layer: str | None = None,
    *,
    preprocess=None,
    class_names: Sequence[str] | str | None = None,
    batch_size: int = 32,
    progress: Callable[[int], object] | None = None,
    reader: Callable[[str], np.ndarray] | None = None,
    **options,
) -> list[Result]:
    """Explain a classifier's predictions for many images with one method.

    Args:
        model: an :class:`~xaitools.models.ImageClassifier`, a ``keras.Model`` (functional or
            Sequential, nested sub-models allowed), a path to a ``.keras`` or ``.h5`` file, or a
            built-in model's name (``dog_breeds``, ``inception_v3``, ``vgg16``).
        images: one image (H, W, 3) or a batch (N, H, W, 3) of RGB floats in [0, 1], a path or asset
            name, or a list of such arrays (any sizes) and paths.
        method: a name in :data:`xaitools.methods.METHODS` (``lime``, ``cam``, ``gradcam``,
            ``saliency``, ``smoothgrad``, ``ig``, ...).
        classes: None (each image's top class), an int or class name (every image), or one per image.
        layer: the conv layer for CAM-family methods, also one inside a nested sub-model; default
            the classifier's ``layer`` or :func:`xaitools.models.find_layer`.
        preprocess: the input scaling, a name in ``xaitools.models.PREPROCESSING`` or a callable on
            [0, 255] RGB tensors; required for a keras.Model or a path.
        class_names: the class names (a list or a text file, one per line) for a keras.Model or a path.
        batch_size: images read, resized and sent through the network together.
        progress: called with the number of images finished after each batch (e.g. ``tqdm.update``).
        reader: reads an image path or name into a (H, W, 3) [0, 1] array (default
            :func:`xaitools.data.load_image`).
        **options: the method's options (see ``METHODS[method].options``), e.g. ``samples=50``.

    Returns:
        a list with one :class:`Result` per image, in input order: ``map`` (H, W) float32 in [0, 1]
        at the image's own size, ``class_index``, ``class_name``, ``probability``, ``layer``,
        ``method``, ``model``, ``seconds``.
    """
    return list(iter_explain(model, images, method, classes, layer, preprocess=preprocess, class_names=class_names,
                             batch_size=batch_size, progress=progress, reader=reader, **options))


__all__ = ["Result", "explain", "iter_explain", "as_classifier", "image_sources", "load_images",
           "resolve_classes", "check_layer"]
