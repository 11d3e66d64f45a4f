"""Your own Keras model in an :class:`~xaitools.models.ImageClassifier`: ``load_model`` and
``PREPROCESSING`` (both also in :mod:`xaitools.models`); the default conv layer is
:func:`xaitools.core.graph.find_layer`'s.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Callable

from xaitools import zoo
from xaitools.classifier import ImageClassifier
from xaitools.core.graph import find_layer, two_class_sigmoid


def _scale_mobilenet_v2(x):  # keras.applications.mobilenet_v2/inception_v3.preprocess_input
    return x / 127.5 - 1.0


def _scale_vgg16(x):  # Keras' own "caffe" mode: RGB -> BGR, minus the ImageNet channel means
    import keras

    return keras.applications.vgg16.preprocess_input(x)


def _scale_unit(x):
    return x / 255.0


def _scale_none(x):
    return x


# name -> the input scaling, a function of a float32 [0, 255] RGB tensor (N, h, w, 3).
PREPROCESSING: dict[str, Callable] = {
    "mobilenet_v2": _scale_mobilenet_v2,  # [-1, 1]
    "inception_v3": _scale_mobilenet_v2,  # [-1, 1] (the same formula)
    "vgg16": _scale_vgg16,  # caffe: BGR, ImageNet mean subtracted, not scaled
    "unit": _scale_unit,  # [0, 1]
    "none": _scale_none,  # [0, 255]
}

_KERAS_AUTO_NAME = re.compile(r"^(functional|sequential|model)(_\d+)?$")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a UTF-8 text file, one per line (surrounding spaces and blank lines dropped)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"class names file {os.fspath(path)!r} does not exist (one class name per line)")
    return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read_model(path: Path):
    import keras

    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ValueError(f"{path} is not a Keras model file; use a .keras (Keras 3) or .h5 file")
    try:
        if suffix == ".keras":  # safe mode: a file cannot run code it carries (Lambda layers)
            return keras.models.load_model(path, compile=False, safe_mode=True)
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # corrupt file, unknown custom layer, unsafe Lambda, ...
        reason = " ".join(str(exc).split())[:400]
        raise ValueError(f"could not load the model {path}: {reason}") from exc


def load_model(source, preprocess=None, class_names=None, input_size=None, name=None):
    """Any Keras image classifier as an :class:`~xaitools.models.ImageClassifier`.

    Args:
        source: a built-in name (``dog_breeds``, ``inception_v3``, ``vgg16``; see
            :func:`xaitools.models.load`), a path to a ``.keras`` file (loaded in Keras' safe mode)
            or an ``.h5`` file, or a built ``keras.Model`` (functional or Sequential, nested
            sub-models allowed) with one input (N, H, W, 3) and class scores (N, C) as output.
        preprocess: the network's input scaling, required for a file or a Model: a name in
            :data:`PREPROCESSING` (``mobilenet_v2``, ``inception_v3``, ``vgg16``, ``unit``, ``none``)
            or a callable on float32 [0, 255] RGB tensors (N, h, w, 3), written with TensorFlow or
            ``keras.ops`` operations (it runs inside ``tf.function``).
        class_names: C names, a list of str or the path of a text file with one name per line.
            Default: ``"0"``, ``"1"``, ...
        input_size: (height, width) to resize images to; required if the model's input has no fixed
            height and width, else it must match them.
        name: the classifier's name; default: the registry name, the file's stem, or the Model's
            own name unless Keras made it up (``functional``, ``sequential_2``, ...: then ``"model"``).
    A model with one sigmoid output unit is offered as two classes ``[1 - p, p]`` (class names: two, for
    ``1 - p`` and ``p``, or none); class 0 is explained through the negated logit. Given one class
    name it stays what it is, one class: the model's own output ``p``.

    Returns:
        an :class:`~xaitools.models.ImageClassifier`; its ``layer`` is the built-in model's
        own or :func:`xaitools.core.graph.find_layer` (None if the model has no 4-D feature layer).
    Raises:
        ValueError, TypeError, FileNotFoundError: with a one-line message saying what to pass.
    """
    import keras

    if isinstance(source, str) and source in zoo.MODEL_NAMES:
        if preprocess is not None or class_names is not None or input_size is not None:
            raise ValueError(f"{source!r} is a built-in model with its own preprocessing, classes and size; "
                             f"pass only its name")
        clf = zoo.load(source)
        return clf if name is None else dataclasses.replace(clf, name=name)

    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"no model file {os.fspath(source)!r}; pass a .keras or .h5 file, a keras.Model, "
                f"or a built-in name ({', '.join(zoo.MODEL_NAMES)})"
            )
        model, default_name = _read_model(path), path.stem
    elif isinstance(source, keras.Model):
        model = source
        default_name = "model" if _KERAS_AUTO_NAME.match(model.name) else model.name
    else:
        raise TypeError(f"source must be a model name, a .keras/.h5 path or a keras.Model, got {type(source).__name__}")

    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError("the model is not built: call model.build((None, H, W, 3)) or give it a keras.Input first")
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 3:
        raise ValueError(f"the model must take one RGB batch (N, H, W, 3); its inputs are {[tuple(t.shape) for t in inputs]}")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ValueError(f"the model must output class scores (N, C); its outputs are {[tuple(t.shape) for t in model.outputs]}")

    scale = _preprocess(preprocess)
    names_given = _read_names(class_names)
    two = two_class_sigmoid(model)  # a one-unit sigmoid head: two classes [1 - p, p] ...
    if two is not None and not (names_given is not None and len(names_given) == 1):
        model = two  # ... unless one class name says it is the model's own single output
    names = _class_names(names_given, int(model.outputs[0].shape[-1]))
    size = _input_size(tuple(inputs[0].shape[1:3]), input_size)
    try:
        target = find_layer(model)
    except ValueError:
        target = None
    return ImageClassifier(name or default_name, model, size, target, _scale=scale,
                                  _class_names=names, _wnids=list(names))


def _preprocess(preprocess) -> Callable:
    names = ", ".join(PREPROCESSING)
    if preprocess is None:
        raise ValueError(f"pass preprocess=: the model's input scaling, one of {names}, or a callable on [0, 255] RGB")
    if callable(preprocess):
        return preprocess
    if not isinstance(preprocess, str) or preprocess not in PREPROCESSING:
        raise ValueError(f"unknown preprocess {preprocess!r}; use one of {names}, or a callable on [0, 255] RGB")
    return PREPROCESSING[preprocess]


def _input_size(model_hw: tuple, input_size) -> tuple[int, int]:
    if input_size is None:
        if None in model_hw:
            raise ValueError(f"the model's input has no fixed height and width {model_hw}; pass input_size=(height, width)")
        return int(model_hw[0]), int(model_hw[1])
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width), got {input_size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    if any(m is not None and m != v for m, v in zip(model_hw, (h, w))):
        raise ValueError(f"input_size {(h, w)} does not match the model's input {model_hw}")
    return h, w


def _read_names(class_names) -> list[str] | None:
    if class_names is None:
        return None
    return read_class_names(class_names) if isinstance(class_names, (str, os.PathLike)) else [str(c) for c in class_names]


def _class_names(names: list[str] | None, num_classes: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for a model with {num_classes} outputs; give one name per output")
    if len(set(names)) != len(names):
        raise ValueError("class names must be unique")
    return names

