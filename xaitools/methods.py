"""The registry of explanation methods, shared by :func:`xaitools.explain` and the command line.

:data:`METHODS` maps a method's name to a :class:`~xaitools.registry.Method` (the machinery is in
:mod:`xaitools.registry`; this module registers the twelve built-in methods). The CLI builds
``--method`` and the option flags (``--samples``, ``--steps``, ...) from it, and
:func:`xaitools.explain` checks options against it.

A new method is a few lines with :func:`register` and one of the adapters, which resolve their
target (``"module:attribute"``) only when the method runs, so that building the registry imports
no TensorFlow (``python -m xaitools --help`` stays fast)::

    register("gradcam++", cam_method("xaitools.cams:GradCAMPlusPlus"), layer=True,
             doc="Grad-CAM++: channel weights from positive second-order gradients")
    register("occlusion", map_method(on_network_input("xaitools.perturbation:occlusion")),
             options={"size": 16, "stride": 8}, doc="Occlusion: the drop of the class score when a patch is hidden")

- :func:`cam_method`: a :class:`~xaitools.core.cam.BaseCAM` subclass ``C(keras_model, layer, **options)``;
  its ``compute_maps`` runs on the preprocessed batch.
- :func:`attribution_method`: a pixel attribution ``f(model, x, classes, **options) -> (N, h, w, C)``
  on the preprocessed batch ``x``, turned into maps by :func:`xaitools.core.maps.saliency_map`.
- :func:`map_method`: ``f(model, resized, classes, **options) -> (N, h, w)`` on the [0, 1] images
  at the model's input size (for perturbation methods that call ``model.predict_resized``).
"""

from __future__ import annotations

import numpy as np

from xaitools.registry import (  # noqa: F401  (the registry's public names, also here)
    METHODS, Method, Option, as_image_list, attribution_method, cached, cam_method, get, map_method, model_layer,
    on_network_input, register, resize_all, resolve, to_image_sizes,
)

LIME_SIZE = (299, 299)  # the text's working size for LIME's superpixels
default_layer = model_layer  # old name


# -- LIME: one image at a time (its superpixels), the network work batched within each image -------
_SEGMENTS: dict = {}  # image bytes' digest -> superpixel labels, the last SEGMENTS_KEPT images
SEGMENTS_KEPT = 32


def lime_segments(images) -> list[np.ndarray]:
    """``lime.segment`` of each image: new images in threads (quickshift runs without Python's lock:
    two images at once on two cores). The labels of the last ``SEGMENTS_KEPT`` images are kept, keyed
    by their bytes, so an image explained again (a study's randomization check) is not segmented
    again; each call gets its own copy."""
    import hashlib
    import os
    from concurrent.futures import ThreadPoolExecutor

    from xaitools import lime

    keys = [hashlib.blake2b(im.tobytes() + str((im.shape, im.dtype)).encode(), digest_size=16).digest() for im in images]
    have = {k: _SEGMENTS[k] for k in keys if k in _SEGMENTS}
    new = {k: im for k, im in zip(keys, images) if k not in have}
    if len(new) > 1:
        with ThreadPoolExecutor(min(len(new), os.cpu_count() or 1)) as pool:
            found = dict(zip(new, pool.map(lime.segment, new.values())))
    else:
        found = {k: lime.segment(im) for k, im in new.items()}
    for k, labels in found.items():
        _SEGMENTS[k] = labels
        while len(_SEGMENTS) > SEGMENTS_KEPT:
            del _SEGMENTS[next(iter(_SEGMENTS))]  # the oldest
    have |= found
    return [have[k].copy() for k in keys]


def lime_maps(model, images, classes, layer, samples=150, hide_color=0.5, kernel_width=0.25, seed=222):
    """LIME per image at the text's working size (299x299), mapped back to each image (nearest).

    ``lime.explain`` gets the ImageClassifier itself, so it perturbs in the network's input space;
    the superpixels come from :func:`lime_segments`.
    """
    from skimage.transform import resize

    from xaitools import lime

    images = as_image_list(images)
    smalls = [resize(im, LIME_SIZE).astype(np.float32) if im.shape[:2] != LIME_SIZE else im for im in images]
    out = []
    for image, small, seg, c in zip(images, smalls, lime_segments(smalls), classes):
        exp = lime.explain(small, model, classes=int(c), samples=samples, hide_color=hide_color,
                           kernel_width=kernel_width, superpixels=seg, seed=seed)
        out.append(to_image_sizes(exp.map()[np.newaxis], [image], nearest=True)[0])
    return out


OUTPUT = Option("output", "logit", "the score explained: the pre-softmax logit or the probability", ("logit", "probability"))
PROBABILITY = Option("output", "probability", OUTPUT.help, OUTPUT.choices)
SEED = Option("seed", 222, "random seed", low=0)
# occlusion and RISE hide pixels with a number in the network's input space (0 by default)
FILL = Option("baseline", 0.0, "value of hidden pixels in the network's input space", cli="--baseline-value")

register("lime", lime_maps, chapter="lime", options={
    "samples": Option("samples", 150, "number of perturbed images"),
    "hide_color": Option("hide_color", 0.5, "value of switched-off superpixels, in [0, 1]", low=0.0, high=1.0),
    "kernel_width": Option("kernel_width", 0.25, "width of the kernel on the cosine distance", above=0.0),
    "seed": SEED,
}, doc="LIME: a weighted linear surrogate on superpixels switched on and off")
register("cam", cam_method("xaitools.cam:CAM"), layer=True, chapter="cam",
         doc="CAM: feature maps weighted by the final Dense layer (needs conv -> GAP -> Dense)")
register("gradcam", cam_method("xaitools.gradcam:GradCAM"), layer=True, options={"output": OUTPUT},
         doc="Grad-CAM: feature maps weighted by their spatially pooled gradients; any CNN")
register("saliency", attribution_method("xaitools.saliency:vanilla_gradient"), chapter="saliency",
         options={"output": OUTPUT}, doc="vanilla gradient of the class score with respect to the input pixels")
register("smoothgrad", attribution_method("xaitools.saliency:smoothgrad", per_image_seed=True), chapter="saliency", options={
    "samples": Option("samples", 25, "number of noisy copies"),
    "noise": Option("noise", 0.15, "noise standard deviation, as a fraction of the input range", low=0.0),
    "seed": SEED, "output": OUTPUT,
}, doc="SmoothGrad: the gradient averaged over noisy copies of the image (each image's noise from the seed)")
register("ig", attribution_method("xaitools.saliency:integrated_gradients"), chapter="saliency", options={
    "steps": Option("steps", 64, "integration steps (trapezoid rule)"),
    "baseline": Option("baseline", "black", "the image without evidence", ("black", "blurred")),
    "output": OUTPUT,
}, doc="Integrated Gradients: gradients along the path from a baseline image, times (image - baseline)")
register("gradcam++", cam_method("xaitools.cams:GradCAMPlusPlus"), layer=True, options={
    "normalize_alphas": Option("normalize_alphas", False, "divide alpha by its spatial sum, as the authors' code"),
    "output": OUTPUT,
}, doc="Grad-CAM++: channel weights from the positive gradients, weighted by second-order alphas")
register("layercam", cam_method("xaitools.cams:LayerCAM"), layer=True, options={"output": OUTPUT},
         doc="Layer-CAM: each position's positive gradient times the activation; works on earlier layers")
register("scorecam", cam_method("xaitools.cams:ScoreCAM"), layer=True, options={
    "max_channels": Option("max_channels", 0, "Faster-Score-CAM: score only this many most varying channels (0: all)",
                           low=0),
    "output": PROBABILITY,
}, doc="Score-CAM: channel weights = the class probability of the image masked by each channel")
register("eigencam", cam_method("xaitools.cams:EigenCAM"), layer=True,
         doc="Eigen-CAM: the feature maps' first principal component; class-agnostic (same map for every class)")
register("occlusion", map_method(on_network_input("xaitools.perturbation:occlusion")), options={
    "size": Option("size", 16, "occlusion: patch size in input pixels"),
    "stride": Option("stride", 8, "occlusion: step between patches"),
    "baseline": FILL,
    "output": PROBABILITY,
}, doc="Occlusion: the drop of the class score when a sliding patch is hidden")
register("rise", map_method(on_network_input("xaitools.perturbation:rise", floor=True)), options={
    "samples": Option("samples", 4000, "number of random masks", old=("masks",)),
    "grid": Option("grid", 7, "RISE: cells per side of the low-resolution masks"),
    "p": Option("p", 0.5, "RISE: probability of keeping a cell", above=0.0, high=1.0),
    "seed": SEED, "baseline": FILL, "output": PROBABILITY,
}, doc="RISE: the average of random smooth masks weighted by the class score of the masked image (minus its minimum)")

__all__ = ["METHODS", "Method", "Option", "register", "get", "model_layer", "resolve", "cam_method", "attribution_method",
           "map_method", "on_network_input", "as_image_list", "resize_all", "to_image_sizes", "cached", "LIME_SIZE",
           "lime_maps", "default_layer"]
