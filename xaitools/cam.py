"""Class activation maps (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

The text's four steps:

1. :func:`CAMmodel` -- a frozen pretrained base, flattened, then ``GlobalAveragePooling2D`` and
   ``Dense(1, activation="sigmoid")`` (cats vs dogs).
2. :func:`fit` retrains the new head with the base frozen; :class:`CAMLogger` computes CAMs of a
   few images at the end of every epoch (and logs them to Weights & Biases when a run is active).
   Steps 1 and 2 are in :mod:`xaitools.cam_training` and re-exported here.
3. :class:`CAM` -- ``compute_heatmap`` / ``overlay_heatmap`` as in the text.
4. (the notebook) look at the maps, above all the misclassified images.

CAM and Grad-CAM share one core, as in pytorch-grad-cam: a map is a weighted sum of the last conv
layer's feature maps, ``sum_k w_k A^k``. :class:`BaseCAM` computes it; subclasses only say where the
channel weights ``w_k`` come from (:meth:`BaseCAM.get_cam_weights`): for CAM the final ``Dense``
kernel's column of the class, for Grad-CAM (:mod:`xaitools.gradcam`) the spatially pooled gradients.
"""

from __future__ import annotations

import keras
import numpy as np

from xaitools.models import flatten_model

HEATMAP_THRESHOLD = 0.2  # the text: heatmap[np.where(caml < 0.2)] = 0


# -- The graph: which layers are conv feature maps, and a model that returns them ------------------
def _graph_tensors(flat) -> dict:
    """Layer name -> its output tensor in ``flat``'s own graph (walking back from the outputs).

    (``layer.output`` is not enough: a layer of a nested base also has a node in the original,
    nested graph, and ``layer.output`` returns that one.)
    """
    tensors, stack = {}, list(flat.outputs)
    while stack:
        t = stack.pop()
        op, node_index, _ = t._keras_history
        if op is None or op.name in tensors:
            continue
        tensors[op.name] = t
        stack.extend(op._inbound_nodes[node_index].input_tensors)
    return tensors


def _conv_names(flat, tensors) -> list[str]:
    return [
        layer.name for layer in flat.layers
        if not isinstance(layer, keras.layers.InputLayer) and layer.name in tensors
        and len(tensors[layer.name].shape) == 4
    ]


def conv_layer_names(model) -> list[str]:
    """Names of the layers with 4-D outputs (N, h, w, channels) -- conv feature maps -- in graph order."""
    flat = flatten_model(model)
    return _conv_names(flat, _graph_tensors(flat))


def cam_model(model, layer: str):
    """A model: the model's input -> ``[feature maps of layer (N, h, w, K), predictions]``.

    Built on ``flatten_model(model)``, so a layer inside a nested base (MobileNetV2's ``out_relu``
    in the dog model) can be named directly.
    """
    flat = flatten_model(model)
    tensors = _graph_tensors(flat)
    candidates = _conv_names(flat, tensors)
    if layer not in candidates:
        raise ValueError(
            f"{layer!r} is not a conv layer of {model.name}; layers with 4-D feature maps: "
            f"{', '.join(candidates[-12:])}"
            + (f" (the last 12 of {len(candidates)}; all: xaitools.cam.conv_layer_names(model))" if len(candidates) > 12 else "")
        )
    inputs = flat.inputs[0] if len(flat.inputs) == 1 else flat.inputs
    return keras.Model(inputs, [tensors[layer], flat.outputs[0]], name=f"{model.name}_cam")


def check_batch(images) -> np.ndarray:
    """A float batch (N, H, W, C) already preprocessed for the network -> float32, or a clear error."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be a batch of shape (N, H, W, C), preprocessed for the network; got shape "
            f"{images.shape} (one image? use image[np.newaxis])"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be floats preprocessed for the network, got dtype {images.dtype}")
    return images.astype(np.float32, copy=False)


# -- The shared core ------------------------------------------------------------------------------
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
        self.model = model
        self.layer = layer
        self.cammodel = cam_model(model, layer)  # two outputs: the conv feature maps and the prediction
        self.num_classes = int(self.cammodel.outputs[1].shape[-1])

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

    def class_indices(self, classes, n: int) -> np.ndarray:
        """An int or a sequence of ``n`` ints -> an (n,) int array, checked against the number of classes."""
        from xaitools.saliency import check_classes  # the one class check of CAM, Grad-CAM and saliency

        idx = check_classes(classes, n, self.num_classes)
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
        images = check_batch(images)
        idx = self.class_indices(classes, len(images))
        weights, feature_maps, predictions = self.get_cam_weights(images, idx)
        maps = weighted_sum(feature_maps, weights)
        if relu:
            maps = np.maximum(maps, 0)
        peak = maps.max(axis=(1, 2), keepdims=True)
        return maps / np.where(peak > 0, peak, 1), np.asarray(predictions)  # an all-zero map stays zero


def weighted_sum(feature_maps, weights) -> np.ndarray:
    """``sum_k w_k A^k``: feature maps (N, h, w, K) and weights (N, K) or (N, h, w, K) -> (N, h, w)."""
    A, w = np.asarray(feature_maps), np.asarray(weights)
    if w.ndim == 2 and w.shape == (A.shape[0], A.shape[-1]):
        return np.einsum("nhwk,nk->nhw", A, w)  # one weight per channel
    if w.shape == A.shape:
        return np.einsum("nhwk,nhwk->nhw", A, w)  # one weight per position and channel
    raise ValueError(f"CAM weights must have shape (N, K) = {(A.shape[0], A.shape[-1])} or the feature maps' "
                     f"shape {A.shape}, got {w.shape}")


def _run(model, images, batch_size=32):
    """``model(images)`` as NumPy: eagerly for a few images, else ``predict`` (compiled, in batches)."""
    if len(images) <= batch_size:
        return [np.asarray(t) for t in model(images, training=False)]
    return model.predict(images, batch_size=batch_size, verbose=0)


# -- CAM: the channel weights are the final Dense layer's kernel ----------------------------------
def _cam_head(model, layer: str):
    """The layers after ``layer``: GlobalAveragePooling2D -> (Dropout)* -> Dense, or a clear error."""
    flat = flatten_model(model)
    chain, t = [], flat.outputs[0]
    while True:  # walk back from the output to the chosen layer (op None: reached the input)
        op, node_index, _ = t._keras_history
        if op is None or op.name == layer:
            break
        chain.append(op)
        inputs = op._inbound_nodes[node_index].input_tensors
        if not inputs:
            op = None
            break
        t = inputs[0]
    chain = chain[::-1]
    kinds = [type(op).__name__ for op in chain]
    ok = (
        op is not None and len(chain) >= 2
        and isinstance(chain[0], keras.layers.GlobalAveragePooling2D)
        and isinstance(chain[-1], keras.layers.Dense)
        and all(isinstance(op, keras.layers.Dropout) for op in chain[1:-1])
    )
    if not ok:
        raise ValueError(
            f"CAM needs GlobalAveragePooling2D -> (Dropout) -> Dense right after {layer!r}, but "
            f"{model.name} has {' -> '.join(kinds) or 'no such path'} there. Use Grad-CAM "
            f"(xaitools.gradcam), which works for any head, or retrain a GAP head (CAMmodel)."
        )
    return chain


class CAM(BaseCAM):
    """The text's CAM: channel weights = the final Dense layer's weights for the class.

    Args:
        model: a keras.Model whose ``layer`` is followed by GlobalAveragePooling2D -> (Dropout) -> Dense.
        layer: the conv layer feeding the GAP.
    """

    def __init__(self, model, layer: str):
        super().__init__(model, layer)
        self.dense = _cam_head(model, layer)[-1]

    def get_cam_weights(self, images, classes):
        """-> (the Dense kernel's columns of ``classes`` (N, K), feature maps (N, h, w, K), predictions (N, C))."""
        feature_maps, predictions = _run(self.cammodel, images)
        kernel = np.asarray(self.dense.kernel)  # (K, C), read now: it changes while training
        weights = kernel[:, self.class_indices(classes, len(images))].T  # (N, K)
        return weights, np.asarray(feature_maps), np.asarray(predictions)

    # -- The text's display conventions (used by CAMLogger) ------------------------------------
    def compute_heatmap(self, image, classes) -> np.ndarray:
        """The text's heatmap: the map resized to the image, JET colours (RGB uint8), black below 0.2.

        Args:
            image: one preprocessed image, (1, H, W, C) as in the text, or (H, W, C).
            classes: the class (an int).

        Returns:
            (H, W, 3) uint8 RGB.
        """
        import cv2

        image = np.asarray(image)
        if image.ndim == 3:
            image = image[np.newaxis]
        if image.ndim != 4 or len(image) != 1:
            raise ValueError(f"compute_heatmap takes one image, (1, H, W, C) or (H, W, C); got shape {image.shape}")
        caml = self.compute_maps(image, classes)[0]
        caml = cv2.resize(caml, (image.shape[2], image.shape[1]))  # cv2 wants (width, height)
        heatmap = cv2.applyColorMap(np.uint8(255 * np.clip(caml, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]  # BGR -> RGB
        heatmap = np.ascontiguousarray(heatmap)
        heatmap[caml < HEATMAP_THRESHOLD] = 0
        return heatmap

    def overlay_heatmap(self, heatmap, image):
        """The text's overlay: ``heatmap * 0.5 + image`` -> ``(heatmap, overlay)``, both RGB uint8.

        Args:
            heatmap: (H, W, 3) uint8 from :meth:`compute_heatmap`.
            image: the picture to show, RGB in [0, 1], (H, W, 3) or (1, H, W, 3).
        """
        image = np.asarray(image, dtype=np.float32).reshape(np.shape(heatmap))
        img = np.clip(heatmap / 255.0 * 0.5 + image, 0, 1)
        return heatmap, np.uint8(np.round(img * 255))


# The text's steps 1 and 2 (the model and its training) live in their own module; the chapter
# imports them from here.
from xaitools.cam_training import CAMLogger, CAMmodel, fit, pretrained_base  # noqa: E402,F401
