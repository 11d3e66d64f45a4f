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
are applied to the layer's input (:func:`xaitools.core.graph.split_head`). ``output="probability"``
differentiates the probability instead.
"""

from __future__ import annotations

import numpy as np

from xaitools.core.cam import BaseCAM, GradientCAM  # noqa: F401  (re-exported)
from xaitools.core.checks import check_batch  # noqa: F401  (re-exported)
from xaitools.core.graph import cam_model, conv_layer_names  # noqa: F401  (re-exported)


class GradCAM(GradientCAM):
    """Grad-CAM: channel weights alpha_k = the spatial mean of d y^c / d A^k.

    Args:
        model: a keras.Model (or an ImageClassifier: its ``.model``).
        layer: the conv layer, also one inside a nested base (``out_relu`` in the dog model).
        output: ``"logit"`` (the pre-softmax score, default) or ``"probability"``.
        batch_size: images per compiled forward + backward pass.

    Images go in as a batch already preprocessed for the network, (N, H, W, C). The gradients
    (:meth:`~xaitools.core.cam.GradientCAM.gradients`) come from the CAM core.
    """

    def get_cam_weights(self, images, classes):
        """-> (alpha (N, K), feature maps (N, h, w, K), predictions (N, C)); alpha_k = mean over (h, w)
        of d y^c / d A^k (the text's ``pooled_grads``, one row per image)."""
        grads, feature_maps, predictions = self.gradients(images, classes)
        pooled_grads = grads.mean(axis=(1, 2))  # global average pooling over the map's height and width
        # compute_maps then forms sum_k alpha_k A^k, as the paper does. The text takes np.mean over the
        # channels instead (that sum divided by K); after ReLU and the division by the maximum the two
        # maps are equal.
        return pooled_grads, feature_maps, predictions


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
        layer: the conv layer; default ``model.layer``.
        output: ``"logit"`` or ``"probability"``.
    """
    x = model.preprocess(images)
    if classes is None:
        classes = np.argmax(model.predict(images), axis=-1)
    return GradCAM(model.model, layer or model.layer, output=output).compute_maps(x, classes)


__all__ = ["GradCAM", "gradcam", "upsample", "conv_layer_names", "cam_model", "BaseCAM", "GradientCAM", "check_batch"]
