"""The registry of explanation methods, shared by :func:`xaitools.explain` and the command line.

:data:`METHODS` maps a method's name to a :class:`Method`: the function that computes its maps,
whether it takes a conv ``layer``, its options with their defaults, and a one-line doc. The CLI
builds ``--method`` and the option flags (``--samples``, ``--steps``, ...) from it, and
:func:`xaitools.explain` checks options against it.

Every method function has one signature::

    run(model: ImageClassifier, images, classes: np.ndarray, layer: str | None, **options)
        -> list of 2-D float32 maps in [0, 1], one per image, at each image's own (H, W)

``images`` is a list of [0, 1] RGB arrays (H_i, W_i, 3) of any sizes, or a batch (N, H, W, 3);
``classes`` one int per image. The network work is batched across images: the images are first
resized to the model's input size (:meth:`ImageClassifier.resize`, one call per distinct image size)
and go through the network together; the maps are then resized back to each image.

A new method is a few lines with :func:`register` and one of the adapters, which resolve their
target (``"module:attribute"``) only when the method runs, so that building the registry imports
no TensorFlow (``python -m xaitools --help`` stays fast)::

    register("gradcam++", cam_method("xaitools.cams:GradCAMPlusPlus"), layer=True,
             doc="Grad-CAM++: channel weights from positive second-order gradients")
    register("occlusion", map_method(_on_network_input("xaitools.perturbation:occlusion")),
             options={"size": 16, "stride": 8}, doc="Occlusion: the drop of the class score when a patch is hidden")

- :func:`cam_method`: a :class:`~xaitools.cam.BaseCAM` subclass ``C(keras_model, layer, **options)``;
  its ``compute_maps`` runs on the preprocessed batch.
- :func:`attribution_method`: a pixel attribution ``f(model, x, classes, **options) -> (N, h, w, C)``
  on the preprocessed batch ``x``, turned into maps by :func:`xaitools.saliency.saliency_map`.
- :func:`map_method`: ``f(model, resized, classes, **options) -> (N, h, w)`` on the [0, 1] images
  at the model's input size (for perturbation methods that call ``model.predict_resized``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

LIME_SIZE = (299, 299)  # the text's working size for LIME's superpixels


# -- the registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option of a method: its name (a Python identifier; the CLI flag is ``--name-with-dashes``),
    default value (its type is the option's type), help text and, for strings, the allowed values."""

    name: str
    default: Any
    help: str = ""
    choices: tuple | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value, method: str):
        """``value`` converted to the option's type, or a ValueError that names the method and option."""
        try:
            if self.type is bool:
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError
                v = bool(value)
            elif self.type is int:
                if isinstance(value, (bool, np.bool_)) or int(value) != value:
                    raise TypeError
                v = int(value)
            elif self.type is float:
                v = float(value)
            else:
                v = value
        except (TypeError, ValueError):
            raise ValueError(f"{method}: option {self.name} must be {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and isinstance(v, str) and v not in self.choices:
            raise ValueError(f"{method}: option {self.name} must be one of {', '.join(map(str, self.choices))}, got {v!r}")
        return v


@dataclass(frozen=True)
class Method:
    """A registered method. Call it as ``method(model, images, classes, layer, **options)``."""

    name: str
    run: Callable | str  # the method function, or "module:attribute" resolved on first use
    layer: bool = False  # takes a conv layer (CAM family)
    options: dict[str, Option] = field(default_factory=dict)
    doc: str = ""

    def function(self) -> Callable:
        return resolve(self.run) if isinstance(self.run, str) else self.run

    def check_options(self, options: dict) -> dict:
        """The method's options with defaults filled in; unknown names or bad values -> ValueError."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise ValueError(f"{self.name} does not take {', '.join(unknown)} (it takes: {takes})")
        return {name: opt.check(options.get(name, opt.default), self.name) for name, opt in self.options.items()}

    def __call__(self, model, images, classes, layer=None, **options) -> list[np.ndarray]:
        if layer is not None and not self.layer:
            raise ValueError(f"{self.name} attributes the input pixels and takes no layer (layers are for: "
                             f"{', '.join(n for n, m in METHODS.items() if m.layer)})")
        if self.layer and layer is None:
            layer = default_layer(model)
        return self.function()(model, images, np.asarray(classes, dtype=np.int64), layer, **self.check_options(options))


METHODS: dict[str, Method] = {}


def register(name: str, run: Callable | str, *, layer: bool = False, options: dict | None = None, doc: str = "") -> Method:
    """Add a method to :data:`METHODS` (replacing one of the same name) and return it.

    Args:
        name: the method's name (``--method`` on the command line).
        run: the method function (see the module docstring), or ``"module:attribute"`` naming it,
            or an adapter's result (:func:`cam_method`, :func:`attribution_method`, :func:`map_method`).
        layer: True if the method needs a conv layer (chosen automatically when not given).
        options: option name -> default value, or -> :class:`Option` (with help and choices).
        doc: one line for ``--help`` and the docs.
    """
    opts = {}
    for key, value in (options or {}).items():
        opts[key] = value if isinstance(value, Option) else Option(key, value)
        if opts[key].name != key:
            raise ValueError(f"option {key!r} is registered under the name {opts[key].name!r}")
    METHODS[name] = Method(name, run, bool(layer), opts, doc)
    return METHODS[name]


def get(name: str) -> Method:
    """The registered method ``name``, or a KeyError listing the methods."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name]


def default_layer(model) -> str:
    """The conv layer a CAM-family method uses when none is given: the classifier's own
    ``last_conv_layer`` (the built-in models name theirs), else :func:`xaitools.models.find_target_layer`."""
    named = getattr(model, "last_conv_layer", None)
    if named:
        return named
    from xaitools.models import find_target_layer

    return find_target_layer(model.model)


def resolve(target: str):
    """``"package.module:attribute"`` -> the attribute (imported now)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- shared steps ----------------------------------------------------------------------------------
def as_image_list(images) -> list[np.ndarray]:
    """A batch (N, H, W, 3), one image (H, W, 3) or a list of images -> a list of (H_i, W_i, 3) arrays."""
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return [images]
        if images.ndim == 4:
            return list(images)
        raise ValueError(f"images must be (H, W, 3), (N, H, W, 3) or a list of (H, W, 3) arrays, got shape {images.shape}")
    return [np.asarray(im) for im in images]


def resize_all(model, images) -> np.ndarray:
    """Images of any sizes -> (N, h, w, 3) float32 in [0, 1] at the model's input size.

    One :meth:`ImageClassifier.resize` call per distinct image size (it takes a batch of one size).
    """
    images = as_image_list(images)
    out = np.empty((len(images), *model.input_size, 3), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    for idx in by_shape.values():
        out[idx] = model.resize(np.stack([images[i] for i in idx]))
    return out


def to_image_sizes(maps, images, nearest: bool = False) -> list[np.ndarray]:
    """Maps (N, h, w) -> one map per image at its own (H_i, W_i), clipped at 0 and divided by its maximum.

    Bilinear (``nearest=True`` for label-like maps such as LIME's superpixels). An all-zero map stays 0.
    """
    from xaitools.viz import resize_map

    out = []
    for m, im in zip(maps, as_image_list(images)):
        full = np.clip(resize_map(m, im.shape[:2], nearest=nearest), 0, None).astype(np.float32)
        peak = full.max() if full.size else 0.0
        out.append(full / peak if peak > 0 else full)
    return out


_CACHE = "_xaitools_explainers"


def cached(model, key, make: Callable):
    """An object built once per ImageClassifier and ``key`` (e.g. a compiled Grad-CAM), reused by later
    batches. Kept on the classifier's keras.Model (not tracked by Keras, not saved)."""
    km = model.model
    cache = km.__dict__.get(_CACHE)
    if cache is None:
        cache = {}
        object.__setattr__(km, _CACHE, cache)
    if key not in cache:
        cache[key] = make()
    return cache[key]


# -- adapters: a method from a CAM class, a pixel attribution or a map function --------------------
def cam_method(target: str | type) -> Callable:
    """A method function from a :class:`~xaitools.cam.BaseCAM` subclass (or ``"module:Class"``).

    The class is built once per model, layer and options as ``C(model.model, layer, **options)``.
    """

    def run(model, images, classes, layer, **options):
        cls = resolve(target) if isinstance(target, str) else target
        explainer = cached(model, (cls, layer, tuple(sorted(options.items()))), lambda: cls(model.model, layer, **options))
        x = model.preprocess(resize_all(model, images))
        return to_image_sizes(explainer.compute_maps(x, classes), images)

    run.__doc__ = f"CAM-family method from {target}"
    return run


def attribution_method(target: str | Callable) -> Callable:
    """A method function from a pixel attribution ``f(model, x, classes, **options) -> (N, h, w, C)``."""

    def run(model, images, classes, layer, **options):
        from xaitools.saliency import saliency_map

        fn = resolve(target) if isinstance(target, str) else target
        x = model.preprocess(resize_all(model, images))
        return to_image_sizes(saliency_map(fn(model, x, classes, **options)), images)

    run.__doc__ = f"pixel attribution from {target}"
    return run


def map_method(target: str | Callable, nearest: bool = False) -> Callable:
    """A method function from ``f(model, resized, classes, **options) -> maps (N, h, w)``, where
    ``resized`` are the [0, 1] images at the model's input size (:func:`resize_all`)."""

    def run(model, images, classes, layer, **options):
        fn = resolve(target) if isinstance(target, str) else target
        return to_image_sizes(fn(model, resize_all(model, images), classes, **options), images, nearest=nearest)

    run.__doc__ = f"map method from {target}"
    return run


# -- LIME: one image at a time (its superpixels), the network work batched within each image -------
def lime_maps(model, images, classes, layer, samples=150, hide_color=0.5, kernel_width=0.25, seed=222):
    """LIME per image at the text's working size (299x299), mapped back to each image (nearest).

    ``lime.explain`` gets the ImageClassifier itself, so it perturbs in the network's input space.
    """
    from skimage.transform import resize

    from xaitools import lime

    out = []
    for image, c in zip(as_image_list(images), classes):
        small = resize(image, LIME_SIZE).astype(np.float32) if image.shape[:2] != LIME_SIZE else image
        exp = lime.explain(small, model, classes=int(c), num_perturb=samples, hide_color=hide_color,
                           kernel_width=kernel_width, random_state=seed)
        out.append(to_image_sizes(exp.heatmap()[np.newaxis], [image], nearest=True)[0])
    return out


OUTPUT = Option("output", "logit", "the score explained: the pre-softmax logit or the probability", ("logit", "probability"))
SEED = Option("seed", 222, "random seed")

register("lime", lime_maps, options={
    "samples": Option("samples", 150, "number of perturbed images"),
    "hide_color": Option("hide_color", 0.5, "value of switched-off superpixels, in [0, 1]"),
    "kernel_width": Option("kernel_width", 0.25, "width of the kernel on the cosine distance"),
    "seed": SEED,
}, doc="LIME: a weighted linear surrogate on superpixels switched on and off")
register("cam", cam_method("xaitools.cam:CAM"), layer=True,
         doc="CAM: feature maps weighted by the final Dense layer (needs conv -> GAP -> Dense)")
register("gradcam", cam_method("xaitools.gradcam:GradCAM"), layer=True, options={"output": OUTPUT},
         doc="Grad-CAM: feature maps weighted by their spatially pooled gradients; any CNN")
register("saliency", attribution_method("xaitools.saliency:vanilla_gradient"), options={"output": OUTPUT},
         doc="vanilla gradient of the class score with respect to the input pixels")
register("smoothgrad", attribution_method("xaitools.saliency:smoothgrad"), options={
    "samples": Option("samples", 25, "number of noisy copies"),
    "noise": Option("noise", 0.15, "noise standard deviation, as a fraction of the input range"),
    "seed": SEED, "output": OUTPUT,
}, doc="SmoothGrad: the gradient averaged over noisy copies of the image")
register("ig", attribution_method("xaitools.saliency:integrated_gradients"), options={
    "steps": Option("steps", 64, "integration steps (trapezoid rule)"),
    "baseline": Option("baseline", "black", "the image without evidence", ("black", "blurred")),
    "output": OUTPUT,
}, doc="Integrated Gradients: gradients along the path from a baseline image, times (image - baseline)")

__all__ = ["METHODS", "Method", "Option", "register", "get", "default_layer", "resolve", "cam_method", "attribution_method",
           "map_method", "as_image_list", "resize_all", "to_image_sizes", "cached", "LIME_SIZE"]


# -- the CAM family beyond Grad-CAM and the perturbation methods (xaitools.cams, xaitools.perturbation) --
def _on_network_input(target: str, floor: bool = False) -> Callable:
    """``f(model, x, classes, **options) -> (N, h, w)`` on the preprocessed batch, as a map_method function;
    ``floor=True`` subtracts each map's minimum (RISE's maps sit on the mean score of the masked images)."""
    def run(model, resized, classes, **options):
        maps = resolve(target)(model, model.preprocess(resized), classes, **options)
        return maps - maps.min(axis=(1, 2), keepdims=True) if floor else maps
    return run


PROBABILITY = Option("output", "probability", OUTPUT.help, OUTPUT.choices)
# occlusion and RISE hide pixels with 0 in the network's input space (their `baseline` default)

register("gradcam++", cam_method("xaitools.cams:GradCAMPlusPlus"), layer=True, options={"output": OUTPUT},
         doc="Grad-CAM++: channel weights from the positive gradients, weighted by second-order alphas")
register("layercam", cam_method("xaitools.cams:LayerCAM"), layer=True, options={"output": OUTPUT},
         doc="Layer-CAM: each position's positive gradient times the activation; works on earlier layers")
register("scorecam", cam_method("xaitools.cams:ScoreCAM"), layer=True, options={
    "max_channels": Option("max_channels", 0, "Faster-Score-CAM: score only this many most varying channels (0: all)"),
    "output": PROBABILITY,
}, doc="Score-CAM: channel weights = the class probability of the image masked by each channel")
register("eigencam", cam_method("xaitools.cams:EigenCAM"), layer=True,
         doc="Eigen-CAM: the feature maps' first principal component; class-agnostic (same map for every class)")
register("occlusion", map_method(_on_network_input("xaitools.perturbation:occlusion")), options={
    "size": Option("size", 16, "occlusion: patch size in input pixels"),
    "stride": Option("stride", 8, "occlusion: step between patches"),
    "output": PROBABILITY,
}, doc="Occlusion: the drop of the class score when a sliding patch is hidden")
register("rise", map_method(_on_network_input("xaitools.perturbation:rise", floor=True)), options={
    "masks": Option("masks", 4000, "RISE: number of random masks"),
    "grid": Option("grid", 7, "RISE: cells per side of the low-resolution masks"),
    "p": Option("p", 0.5, "RISE: probability of keeping a cell"),
    "seed": SEED, "output": PROBABILITY,
}, doc="RISE: the average of random smooth masks weighted by the class score of the masked image (minus its minimum)")
