"""The :class:`ImageClassifier`: a Keras image classifier plus what the chapters need around it.

One path from file to network input: every chapter reads a picture with
:func:`xaitools.data.load_image` (RGB float32 in [0, 1] at the picture's own size, no resize) and
passes it to :meth:`ImageClassifier.predict` or :meth:`~ImageClassifier.preprocess`. The classifier
resizes exactly once, with :meth:`~ImageClassifier.resize` (``tf.image.resize``, bilinear,
``antialias=True``), then applies the network's scaling. Code that needs the resized picture itself
(to show it, or to perturb it at the network's size) calls ``resize`` and then
:meth:`~ImageClassifier.predict_resized`: the same numbers as ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from xaitools.core.checks import check_images

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
    layer: str | None  # the conv layer CAM-family methods use by default
    _scale: Callable  # float32 [0, 255] RGB batch (a tensor) -> network input
    _class_names: Sequence[str] | None = None
    _wnids: Sequence[str] | None = None
    batch_size: int = 64
    _imagenet: bool = field(default=False, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)  # compiled functions, resize matrices: made once

    @property
    def last_conv_layer(self) -> str | None:
        """Old name of :attr:`layer` (kept for the notebooks)."""
        return self.layer

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

    def network_t(self, t):
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
                self.compiled("network", self.network_t))

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


__all__ = ["ImageClassifier", "check_images"]
