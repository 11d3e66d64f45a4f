"""The CAM core, as in pytorch-grad-cam: a map is a weighted sum of a conv layer's feature maps.

:class:`BaseCAM` computes ``ReLU(sum_k w_k A^k)`` divided by its maximum; a subclass says only where the
weights come from (:meth:`BaseCAM.get_cam_weights`). :class:`GradientCAM` adds the compiled gradients
``d y^c / d A^k`` that Grad-CAM, Grad-CAM++ and Layer-CAM weight in their own ways.
"""

from __future__ import annotations

import weakref

import numpy as np

from xaitools.core import checks, graph, maps, scores


class BaseCAM:
    """A class activation map = ReLU(sum_k w_k A^k), normalised by its maximum.

    ``A`` (N, h, w, K) are the feature maps of ``layer`` and ``w`` the weights a subclass computes in
    :meth:`get_cam_weights`: one per channel, (N, K) (CAM, Grad-CAM), or one per position and channel,
    (N, h, w, K) (Layer-CAM). A new CAM variant is a subclass with one ``get_cam_weights``.

    Args:
        model: a keras.Model (functional or Sequential, nested sub-models allowed).
        layer: the name of a layer with 4-D output (N, h, w, K), also one inside a nested sub-model.
    """

    def __init__(self, model, layer: str):
        self._model = weakref.ref(model)  # weakly: explainers are cached per model (core.scores.cached)
        self.layer = layer
        self.cammodel = graph.cam_model(model, layer)  # two outputs: the conv feature maps and the prediction
        self.num_classes = int(self.cammodel.outputs[1].shape[-1])
        self._features = None

    @property
    def model(self):
        """The keras.Model explained (held weakly)."""
        return self._model()

    def get_cam_weights(self, images, classes):
        """The map's weights for a checked batch.

        Args:
            images: (N, H, W, C) float32, preprocessed for the network.
            classes: (N,) ints, one class per image.

        Returns:
            ``(weights, feature_maps, predictions)``: weights (N, K) or (N, h, w, K), feature maps
            (N, h, w, K) and the model's output (N, C), as NumPy arrays.
        """
        raise NotImplementedError

    def features(self, x, batch_size: int = 64):
        """``(feature maps (N, h, w, K), predictions (N, C))`` by a compiled forward pass, in batches."""
        if self._features is None:
            import tensorflow as tf

            compiled = tf.function(lambda t: self.cammodel(t, training=False), reduce_retracing=True)
            self._features = lambda t: tuple(np.asarray(a) for a in compiled(tf.convert_to_tensor(t, tf.float32)))
        parts = [self._features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(2))

    def class_indices(self, classes, n: int) -> np.ndarray:
        """An int or a sequence of ``n`` ints -> an (n,) int array, checked against the number of classes."""
        idx = checks.check_classes(classes, n, self.num_classes)
        if len(idx) != n:  # check_classes also allows one image with several classes; a map needs one each
            raise ValueError(f"classes must be an int or a sequence of {n} ints (one per image), got {classes!r}")
        return idx

    def compute_maps(self, images, classes, relu: bool = True) -> np.ndarray:
        """Maps (N, h, w) at the conv layer's resolution, each divided by its maximum (in [0, 1] with relu).

        Args:
            images: a batch (N, H, W, C) already preprocessed for the network.
            classes: an int (every image) or a sequence of N ints (one per image).
            relu: clip negative evidence to 0 (the papers' ReLU); without it a map is divided by its
                maximum only.
        """
        return self.maps_and_predictions(images, classes, relu)[0]

    def maps_and_predictions(self, images, classes, relu: bool = True):
        """:meth:`compute_maps` and the model's predictions (N, C) from the same forward pass."""
        images = checks.check_batch(images)
        idx = self.class_indices(classes, len(images))
        weights, feature_maps, predictions = self.get_cam_weights(images, idx)
        m = maps.weighted_sum(feature_maps, weights)
        if relu:
            m = np.maximum(m, 0)
        peak = m.max(axis=(1, 2), keepdims=True)
        return m / np.where(peak > 0, peak, 1), np.asarray(predictions)  # an all-zero map stays zero


class GradientCAM(BaseCAM):
    """The CAM core plus the gradient of the class score with respect to the feature maps.

    Args:
        model: a keras.Model (or an ImageClassifier: its ``.model``).
        layer: the conv layer, also one inside a nested base.
        output: ``"logit"`` (the pre-softmax score, default) or ``"probability"``.
        batch_size: images per compiled forward + backward pass.
    """

    def __init__(self, model, layer: str, output: str = "logit", batch_size: int = 64):
        import keras

        scores.check_output(output)
        super().__init__(getattr(model, "model", model), layer)
        self.output, self.batch_size, self._compiled = output, int(batch_size), None
        features, predictions = self.cammodel.outputs
        pre, self.kernel, self.bias = graph.split_head(predictions) if output == "logit" else (predictions, None, None)
        outputs = [features, predictions] + ([] if pre is predictions else [pre])
        # input -> [A (N, h, w, K), predictions (N, C), (the last Dense layer's input)]
        self.gradmodel = keras.Model(self.cammodel.inputs[0], outputs, name=f"{self.cammodel.name}_grad")

    def _gradients_graph(self, x, classes):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = self.gradmodel(x, training=False)
            feature_maps, predictions = out[0], out[1]
            z = out[2] if len(out) > 2 else predictions
            if self.kernel is not None:
                z = z @ self.kernel + (self.bias if self.bias is not None else 0)
            # every image's own class score; the images do not interact (inference mode), so the
            # gradient of the sum is each image's gradient
            y = tf.gather(z, classes, axis=1, batch_dims=1)
        grads = tape.gradient(y, feature_maps)  # the text's `grads`: d y^c / d A^k, (n, h, w, K)
        return grads, feature_maps, predictions

    def _batch(self, x, classes):
        # compiled once per object (a TF graph runs several times faster than eager Keras)
        import tensorflow as tf

        if self._compiled is None:
            self._compiled = tf.function(self._gradients_graph, reduce_retracing=True)
        return self._compiled(tf.convert_to_tensor(x), tf.convert_to_tensor(classes, tf.int64))

    def _check(self, images, classes):
        x = checks.check_batch(images)
        classes = checks.check_classes(classes, len(x), self.num_classes)
        if len(x) == 1 and len(classes) > 1:
            x = np.repeat(x, len(classes), axis=0)  # one image, several classes
        return x, classes

    def gradients(self, images, classes):
        """``(grads, feature_maps, predictions)`` as NumPy arrays: d y^c / d A^k (N, h, w, K), A^k, and
        the model's output (N, C). ``classes``: an int, one per image, or several for one image."""
        x, classes = self._check(images, classes)
        parts = [self._batch(x[i : i + self.batch_size], classes[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return tuple(np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(3))

    def compute_maps(self, images, classes, relu: bool = True) -> np.ndarray:
        """Maps (M, h, w) in [0, 1] at the conv layer's resolution (see :meth:`BaseCAM.compute_maps`).

        Also takes one image with several classes (M = number of classes).
        """
        x, classes = self._check(images, classes)
        return super().compute_maps(x, classes, relu=relu)


__all__ = ["BaseCAM", "GradientCAM"]
