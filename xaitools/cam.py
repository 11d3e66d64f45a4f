"""Class activation maps (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization").

The text's four steps:

1. :func:`CAMmodel` -- a frozen pretrained base, flattened, then ``GlobalAveragePooling2D`` and
   ``Dense(1, activation="sigmoid")`` (cats vs dogs).
2. :func:`fit` retrains the new head with the base frozen; :class:`CAMLogger` computes CAMs of a
   few images at the end of every epoch (and logs them to Weights & Biases when a run is active).
   (:mod:`xaitools.cam_training` is an older home of steps 1 and 2.)
3. :class:`CAM` -- ``compute_heatmap`` / ``overlay_heatmap`` as in the text.
4. (the notebook) look at the maps, above all the misclassified images.

CAM and Grad-CAM share one core, as in pytorch-grad-cam: a map is a weighted sum of the last conv
layer's feature maps, ``sum_k w_k A^k``. :class:`~xaitools.core.cam.BaseCAM` computes it; subclasses only say where the
channel weights ``w_k`` come from (:meth:`BaseCAM.get_cam_weights`): for CAM the final ``Dense``
kernel's column of the class, for Grad-CAM (:mod:`xaitools.gradcam`) the spatially pooled gradients.
"""

from __future__ import annotations

import keras
import numpy as np

from xaitools import models
from xaitools.core.cam import BaseCAM  # noqa: F401  (the CAM core; public here too)
from xaitools.core.checks import check_batch  # noqa: F401  (public here too)
from xaitools.core.graph import cam_model, conv_layer_names, flatten_model, head_after
from xaitools.core.maps import weighted_sum  # noqa: F401  (public here too)

HEATMAP_THRESHOLD = 0.2  # the text: heatmap[np.where(caml < 0.2)] = 0


def _run(model, images, batch_size=32):
    """``model(images)`` as NumPy: eagerly for a few images, else ``predict`` (compiled, in batches)."""
    if len(images) <= batch_size:
        return [np.asarray(t) for t in model(images, training=False)]
    return model.predict(images, batch_size=batch_size, verbose=0)


# -- CAM: the channel weights are the final Dense layer's kernel ----------------------------------
def cam_head(model, layer: str) -> list:
    """The layers after ``layer``: GlobalAveragePooling2D -> (Dropout)* -> Dense, or a clear error."""
    chain = head_after(model, layer)
    reached = not (chain and chain[0] is None)  # None first: the walk reached the input, not the layer
    chain = [op for op in chain if op is not None]
    kinds = [type(op).__name__ for op in chain]
    ok = (
        reached and len(chain) >= 2
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
        self.dense = cam_head(model, layer)[-1]

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


# -- Step 1: modify the model ----------------------------------------------------------------------
def pretrained_base(name: str | None = None, weights="imagenet"):
    """The pretrained conv base of step 1 -> ``(base, image_size, preprocess)``.

    ``dog_breeds`` (default): the MobileNetV2 inside the dog-breed model (160x160). ``vgg16`` (the
    text's, chosen by ``XAI_MODEL=imagenet``): ``VGG16(include_top=False)``, used at 224x224.
    ``preprocess`` maps [0, 1] RGB images (already at ``image_size``) to the base's input.
    """
    name = name or models.chapter_model("cam")
    if name == "vgg16":
        from xaitools import zoo  # the mirror / Keras' cache / XAI_WEIGHTS=random, as for every network

        base = zoo.keras_network("vgg16", include_top=False, weights=weights)
        return base, (224, 224), lambda x: keras.applications.vgg16.preprocess_input(np.asarray(x) * 255.0)
    if name == "dog_breeds":
        dog = models.load("dog_breeds").model
        base = next(layer for layer in dog.layers if isinstance(layer, keras.Model))  # mobilenetv2_1.00_160
        return base, tuple(base.input.shape[1:3]), lambda x: np.asarray(x, dtype=np.float32) * 2 - 1
    raise KeyError(f"no CAM base {name!r}; use 'dog_breeds' or 'vgg16'")


def CAMmodel(base=None):
    """The text's CAMmodel: frozen ``base`` (flattened) -> GlobalAveragePooling2D -> Dense(1, sigmoid).

    The text appends the two layers to ``flatten_model``'s list of layers and builds a Sequential;
    our ``flatten_model`` returns a flat functional model (MobileNetV2 has skip connections, so it
    cannot be a Sequential), and the head is added on top of its output.
    """
    base = pretrained_base()[0] if base is None else base
    base.trainable = False  # freeze the conv blocks: only the new head is trained
    flat = flatten_model(base)
    x = keras.layers.GlobalAveragePooling2D()(flat.output)  # insert GAP
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(flat.input, outputs, name="cam_model")


# -- Step 2: retrain, with a callback that draws CAMs after every epoch ----------------------------
class CAMLogger(keras.callbacks.Callback):
    """The text's callback: the CAMs of a few fixed images at the end of every epoch.

    It keeps every epoch's maps and predictions, and when ``wandb`` is installed and a run is active
    (``wandb.run`` is not None, e.g. after ``wandb.init(mode="offline")``) it logs them, as the text's
    ``wandb.log`` does, once per epoch under fixed keys: ``"cam"`` (N ``wandb.Image`` overlays,
    :meth:`CAM.overlay_heatmap` of :meth:`CAM.compute_heatmap`), ``"images"`` (the N pictures) and
    ``"epoch"`` (0-based). Without wandb, or without a run, nothing is logged; wandb is never required
    (``pip install xaitools[wandb]`` installs it).

    Args:
        validation_data: (N, H, W, C) float images already preprocessed for the network.
        layer: the conv layer that feeds the GAP (see :class:`CAM`).
        model: the CAM model to explain; default (None) the model being trained. ``fit(fast=True)``
            trains a head on cached features and sets it to the full model.
        display: the same N images as RGB in [0, 1], (N, H, W, 3), for the overlays; default each
            image of ``validation_data`` rescaled to [0, 1].
        classes: the class to map: an int (every image; 0 for the text's one sigmoid output), a
            sequence of N ints, or None (each image's top class in that epoch).

    Attributes:
        maps: one (N, h, w) array per epoch, the maps at the layer's resolution in [0, 1].
        probs: one (N, outputs) array per epoch, the model's predictions for the same images.
    """

    def __init__(self, validation_data, layer: str, model=None, display=None, classes=0):
        super().__init__()
        self.validation_data = np.asarray(validation_data, dtype=np.float32)
        self.layer, self.classes, self.cam_target = layer, classes, model
        lo = self.validation_data.min(axis=(1, 2, 3), keepdims=True)
        hi = self.validation_data.max(axis=(1, 2, 3), keepdims=True)
        self.display = display if display is not None else (self.validation_data - lo) / np.maximum(hi - lo, 1e-12)
        self.maps, self.probs, self._cam = [], [], None

    def on_epoch_end(self, epoch, logs=None):
        if self._cam is None:
            self._cam = CAM(self.cam_target or self.model, self.layer)
        cam = self._cam
        classes = self.classes
        if classes is None:  # each image's top class, from the model as it is now
            classes = np.argmax(np.asarray(cam.cammodel(self.validation_data, training=False)[1]), axis=-1)
        maps, probs = cam.maps_and_predictions(self.validation_data, classes)
        self.maps.append(maps)
        self.probs.append(probs)
        try:
            import wandb
        except ImportError:
            return
        if getattr(wandb, "run", None) is None:
            return
        idx = cam.class_indices(classes, len(self.validation_data))
        overlays = [cam.overlay_heatmap(cam.compute_heatmap(x, int(c)), img)[1]
                    for x, img, c in zip(self.validation_data, self.display, idx)]
        wandb.log({"cam": [wandb.Image(o) for o in overlays],
                   "images": [wandb.Image(np.uint8(np.round(np.clip(img, 0, 1) * 255))) for img in self.display],
                   "epoch": epoch})


def fit(model, x, y, layer: str, epochs: int = 5, batch_size: int = 32, validation_data=None,
        callbacks=(), fast: bool = True, optimizer="adam", loss="binary_crossentropy"):
    """Train the head after ``layer`` (GAP -> Dense) with the layers before it frozen.

    ``fast=False`` is plain ``model.fit`` on the images. ``fast=True`` gives the same model (the
    tests check it): the frozen part's output does not change during training, so it is computed
    once and only the head is fitted, on those features.

    Args:
        model: a CAM model (e.g. :func:`CAMmodel`): ``layer`` -> GlobalAveragePooling2D -> Dense.
        x: (N, H, W, C) training images, preprocessed for the network; y: (N,) labels.
        layer: the conv layer that feeds the GAP; everything before it must be frozen (fast=True).
        epochs, batch_size, optimizer, loss: as in ``keras.Model.fit`` / ``compile``.
        validation_data: ``(images, labels)`` or None.
        callbacks: Keras callbacks; a :class:`CAMLogger` without a model gets ``model``.
        fast: train the head on cached feature maps (True) or the whole model on images (False).

    Returns:
        The ``keras.callbacks.History``; with ``fast=True`` its ``features`` are the cached
        (training, validation) feature maps.
    """
    if not fast:
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        return model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                         callbacks=list(callbacks), verbose=0)

    head_layers = cam_head(model, layer)
    frozen = [w.path for w in model.trainable_weights if not any(w is v for l in head_layers for v in l.weights)]
    if frozen:
        raise ValueError(f"fit(fast=True) needs everything before {layer!r} frozen; trainable: {frozen[:3]}")
    extractor = cam_model(model, layer)  # -> [feature maps, predictions]; we use the maps

    def features(images):
        return extractor.predict(np.asarray(images), batch_size=batch_size, verbose=0)[0]

    inputs = keras.Input(extractor.outputs[0].shape[1:])
    h = inputs
    for head_layer in head_layers:  # the same layer objects: training the head trains the model
        h = head_layer(h)
    head = keras.Model(inputs, h, name="cam_head")
    for cb in callbacks:
        if isinstance(cb, CAMLogger) and cb.cam_target is None:
            cb.cam_target = model
    if validation_data is not None:
        validation_data = (features(validation_data[0]), validation_data[1])
    head.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    train_features = features(x)
    history = head.fit(train_features, y, epochs=epochs, batch_size=batch_size,
                       validation_data=validation_data, callbacks=list(callbacks), verbose=0)
    history.features = (train_features, None if validation_data is None else validation_data[0])
    return history


__all__ = ["CAM", "BaseCAM", "cam_head", "cam_model", "conv_layer_names", "check_batch", "weighted_sum",
           "pretrained_base", "CAMmodel", "CAMLogger", "fit", "HEATMAP_THRESHOLD"]
