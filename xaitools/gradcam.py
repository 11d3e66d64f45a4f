"""Grad-CAM (Selvaraju et al. 2017): CAM with channel weights from gradients, for any CNN head.

The text's steps (section on gradient-weighted class activation maps), on a batch at once:

1. the gradient of the class score y^c w.r.t. the last conv layer's feature maps A^k
   (:meth:`GradCAM.gradients`; the text's ``grads``, computed with ``K.gradients`` in TF1 graph mode,
   here with ``tf.GradientTape``);
2. global average pooling of the gradients over the map's height and width -> the channel weights
   alpha_k (the text's ``pooled_grads``; :meth:`GradCAM.get_cam_weights`);
3. the weighted channels summed, ReLU, divided by the maximum (:meth:`BaseCAM.compute_maps`, shared
   with CAM in :mod:`xaitools.cam`);
4. upsampled to the image and overlaid (:func:`upsample`, :func:`xaitools.viz.overlay`, or the text's
   ``compute_heatmap`` / ``overlay_heatmap``).

y^c is the pre-softmax logit, as in the paper and the keras.io example (which removes the last
layer's softmax): when the model ends in a Dense layer with a softmax or sigmoid, its kernel and bias
are applied to the layer's input (:func:`xaitools.saliency.split_head`). ``output="probability"``
differentiates the probability instead.
"""

from __future__ import annotations

import numpy as np

from xaitools.cam import BaseCAM, cam_model, check_batch, conv_layer_names  # noqa: F401  (re-exported)
from xaitools.saliency import OUTPUTS, check_classes, split_head


class GradCAM(BaseCAM):
    """Grad-CAM: channel weights alpha_k = the spatial mean of d y^c / d A^k.

    Args:
        model: a keras.Model (or an ImageClassifier: its ``.model``).
        layer: the conv layer, also one inside a nested base (``out_relu`` in the dog model).
        output: ``"logit"`` (the pre-softmax score, default) or ``"probability"``.
        batch_size: images per compiled forward + backward pass.

    Images go in as a batch already preprocessed for the network, (N, H, W, C).
    """

    def __init__(self, model, layer: str, output: str = "logit", batch_size: int = 64):
        import keras

        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        super().__init__(getattr(model, "model", model), layer)
        self.output, self.batch_size, self._compiled = output, int(batch_size), None
        features, predictions = self.cammodel.outputs
        pre, self.kernel, self.bias = split_head(predictions) if output == "logit" else (predictions, None, None)
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
        # compiled once per GradCAM object (a TF graph runs several times faster than eager Keras)
        import tensorflow as tf

        if self._compiled is None:
            self._compiled = tf.function(self._gradients_graph, reduce_retracing=True)
        return self._compiled(tf.convert_to_tensor(x), tf.convert_to_tensor(classes, tf.int64))

    def _check(self, images, classes):
        x = check_batch(images)
        classes = check_classes(classes, len(x), self.num_classes)
        if len(x) == 1 and len(classes) > 1:
            x = np.repeat(x, len(classes), axis=0)  # one image, several classes
        return x, classes

    def gradients(self, images, classes):
        """``(grads, feature_maps, predictions)`` as NumPy arrays: d y^c / d A^k (N, h, w, K), A^k, and
        the model's output (N, C). ``classes``: an int, one per image, or several for one image."""
        x, classes = self._check(images, classes)
        parts = [self._batch(x[i : i + self.batch_size], classes[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return tuple(np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(3))

    def get_cam_weights(self, images, classes):
        """-> (alpha (N, K), feature maps (N, h, w, K), predictions (N, C)); alpha_k = mean over (h, w)
        of d y^c / d A^k (the text's ``pooled_grads``, one row per image)."""
        grads, feature_maps, predictions = self.gradients(images, classes)
        pooled_grads = grads.mean(axis=(1, 2))  # global average pooling over the map's height and width
        # compute_maps then forms sum_k alpha_k A^k, as the paper does. The text takes np.mean over the
        # channels instead (that sum divided by K); after ReLU and the division by the maximum the two
        # maps are equal.
        return pooled_grads, feature_maps, predictions

    def compute_maps(self, images, classes, relu: bool = True) -> np.ndarray:
        """Grad-CAM maps (M, h, w) in [0, 1] at the conv layer's resolution (see :meth:`BaseCAM.compute_maps`).

        Also takes one image with several classes (M = number of classes).
        """
        x, classes = self._check(images, classes)
        return super().compute_maps(x, classes, relu=relu)


def upsample(maps, size) -> np.ndarray:
    """Maps (N, h, w) or (h, w) -> resized to ``size`` = (height, width), bilinear (the text's ``upsample``)."""
    from xaitools.viz import resize_map

    m = np.asarray(maps, dtype=np.float32)
    if m.ndim == 2:
        return resize_map(m, size)
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (N, h, w) or (h, w), got {m.shape}")
    return np.stack([resize_map(one, size) for one in m]) if len(m) else np.zeros((0, *size), np.float32)


def gradcam(model, images, classes=None, layer: str | None = None, output: str = "logit") -> np.ndarray:
    """Grad-CAM maps (M, h, w) in [0, 1] for an :class:`~xaitools.models.ImageClassifier`.

    Args:
        model: an ImageClassifier.
        images: [0, 1] RGB images (any size; ``model.preprocess`` is applied).
        classes: None (each image's top class), an int, or one int per image.
        layer: the conv layer; default ``model.last_conv_layer``.
        output: ``"logit"`` or ``"probability"``.
    """
    x = model.preprocess(images)
    if classes is None:
        classes = np.argmax(model.predict(images), axis=-1)
    return GradCAM(model.model, layer or model.last_conv_layer, output=output).compute_maps(x, classes)


__all__ = ["GradCAM", "gradcam", "upsample", "conv_layer_names", "cam_model"]
