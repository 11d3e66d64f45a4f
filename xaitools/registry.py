"""The machinery of the method registry: :class:`Option`, :class:`Method`, :func:`register` and the adapters.

:data:`METHODS` maps a method's name to a :class:`Method`: the function that computes its maps, whether
it takes a conv ``layer``, its options (default, help, allowed values or range, CLI flag), its chapter
(whose default model the command line loads) and a one-line doc. Everything the API and the CLI know
about a method is here; :mod:`xaitools.methods` registers the twelve built-in ones.

Every method function has one signature::

    run(model: ImageClassifier, images, classes: np.ndarray, layer: str | None, **options)
        -> list of 2-D float32 maps in [0, 1], one per image, at each image's own (H, W)

Options are checked in one place, :meth:`Option.check` (the API and the CLI both call it).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from xaitools.core.checks import as_image_list


# -- options ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option of a method.

    Attributes:
        name: a Python identifier: the keyword of the API and of the method function.
        default: its type is the option's type (bool, int, float or str).
        help: one line for ``--help``.
        choices: for strings, the allowed values.
        low, high: inclusive bounds for numbers (ints default to ``low=1``: a count); ``above``: an
            exclusive lower bound. Every float must be finite.
        cli: the command-line flag when it differs from ``--name-with-dashes`` (options whose name
            means two things in two methods get two flags). Bools are ``--flag/--no-flag``.
    """

    name: str
    default: Any
    help: str = ""
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    above: float | None = None
    cli: str | None = None
    old: tuple = ()  # old names of the option, still accepted by the API

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def flag(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")

    def check(self, value, method: str, label: str | None = None):
        """``value`` converted to the option's type, or a ValueError naming the method and the option
        (``label``: how to name it, e.g. the CLI flag; default the option's name)."""
        label = label or f"option {self.name}"
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
                if isinstance(value, (bool, np.bool_)):
                    raise TypeError
                v = float(value)
            else:
                v = value
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{method}: {label} must be {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and isinstance(v, str) and v not in self.choices:
            raise ValueError(f"{method}: {label} must be one of {', '.join(map(str, self.choices))}, got {v!r}")
        if self.type is float and not math.isfinite(v):
            raise ValueError(f"{method}: {label} must be a finite number, got {value!r}")
        if self.type in (int, float):
            low = 1 if self.type is int and self.low is None and self.above is None else self.low
            if low is not None and v < low:
                raise ValueError(f"{method}: {label} must be at least {low}, got {value!r}")
            if self.above is not None and not v > self.above:
                raise ValueError(f"{method}: {label} must be greater than {self.above}, got {value!r}")
            if self.high is not None and v > self.high:
                raise ValueError(f"{method}: {label} must be at most {self.high}, got {value!r}")
        return v


# -- methods ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """A registered method. Call it as ``method(model, images, classes, layer, **options)``."""

    name: str
    run: Callable | str  # the method function, or "module:attribute" resolved on first use
    layer: bool = False  # takes a conv layer (CAM family)
    options: dict[str, Option] = field(default_factory=dict)
    doc: str = ""
    chapter: str = "gradcam"  # the book chapter whose default model the CLI loads for it

    def function(self) -> Callable:
        return resolve(self.run) if isinstance(self.run, str) else self.run

    def check_options(self, options: dict, labels: dict | None = None) -> dict:
        """The method's options with defaults filled in; unknown names or bad values -> ValueError.
        ``labels``: option name -> how to name it in errors (the CLI passes its flags)."""
        renamed = {old: name for name, opt in self.options.items() for old in opt.old}
        for old in set(options) & set(renamed):
            if renamed[old] in options:
                raise ValueError(f"{self.name}: give {renamed[old]} or its old name {old}, not both")
            options = {renamed.get(k, k): v for k, v in options.items()}
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise ValueError(f"{self.name} does not take {', '.join(unknown)} (it takes: {takes})")
        labels = labels or {}
        return {name: opt.check(options[name], self.name, labels.get(name)) if name in options else opt.default
                for name, opt in self.options.items()}

    def maps(self, model, images, classes, layer, options: dict) -> list[np.ndarray]:
        """The maps, with ``options`` already checked (:meth:`check_options`) and ``layer`` chosen."""
        return self.function()(model, images, np.asarray(classes, dtype=np.int64), layer, **options)

    def __call__(self, model, images, classes, layer=None, **options) -> list[np.ndarray]:
        if layer is not None and not self.layer:
            raise ValueError(f"{self.name} attributes the input pixels and takes no layer (layers are for: "
                             f"{', '.join(n for n, m in METHODS.items() if m.layer)})")
        if self.layer and layer is None:
            layer = model_layer(model)
        return self.maps(model, images, classes, layer, self.check_options(options))


METHODS: dict[str, Method] = {}


def register(name: str, run: Callable | str, *, layer: bool = False, options: dict | None = None, doc: str = "",
             chapter: str = "gradcam", replace: bool = False) -> Method:
    """Add a method to :data:`METHODS` and return it.

    Args:
        name: the method's name (``--method`` on the command line).
        run: the method function (see the module docstring), or ``"module:attribute"`` naming it,
            or an adapter's result (:func:`cam_method`, :func:`attribution_method`, :func:`map_method`).
        layer: True if the method needs a conv layer (chosen automatically when not given).
        options: option name -> default value, or -> :class:`Option` (with help, choices, range, flag).
        doc: one line for ``--help`` and the docs.
        chapter: the chapter whose default model the CLI uses for it (``XAI_MODEL=imagenet``: the text's).
        replace: replace a method of the same name (otherwise a second registration is an error).
    """
    if name in METHODS and not replace:
        raise ValueError(f"a method {name!r} is already registered; pass replace=True to replace it")
    opts = {}
    for key, value in (options or {}).items():
        opts[key] = value if isinstance(value, Option) else Option(key, value)
        if opts[key].name != key:
            raise ValueError(f"option {key!r} is registered under the name {opts[key].name!r}")
        if opts[key].type is not bool:
            opts[key].check(opts[key].default, name)  # a default outside its own range is a bug
    for key, opt in opts.items():  # one flag, one meaning: a flag shared with another method must agree
        for other in METHODS.values():
            for o in other.options.values():
                if other.name != name and o.flag == opt.flag and (o.type, o.choices) != (opt.type, opt.choices):
                    raise ValueError(f"{name}: flag {opt.flag} means {opt.type.__name__} {opt.choices or ''} here but "
                                     f"{o.type.__name__} {o.choices or ''} for {other.name}; give one of them cli=")
    METHODS[name] = Method(name, run, bool(layer), opts, doc, chapter)
    return METHODS[name]


def get(name: str) -> Method:
    """The registered method ``name``, or a KeyError listing the methods."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name]


def model_layer(model) -> str:
    """The conv layer a CAM-family method uses when none is given: the classifier's own ``layer`` (the
    built-in models name theirs), else :func:`xaitools.core.graph.find_layer`."""
    named = getattr(model, "layer", None)
    if named:
        return named
    from xaitools.core.graph import find_layer

    return find_layer(model.model)


def resolve(target: str):
    """``"package.module:attribute"`` -> the attribute (imported now)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- shared steps ----------------------------------------------------------------------------------
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
    from xaitools.core.maps import clip_to_unit
    from xaitools.viz import resize_map

    return [clip_to_unit(resize_map(m, im.shape[:2], nearest=nearest)) for m, im in zip(maps, as_image_list(images))]


def cached(model, key, make: Callable):
    """An object built once per ImageClassifier's keras.Model and ``key`` (e.g. a compiled Grad-CAM),
    reused by later batches (:func:`xaitools.core.scores.cached`: nothing is stored on the model)."""
    from xaitools.core.scores import cached as core_cached

    return core_cached(model.model, key, make)


# -- adapters: a method from a CAM class, a pixel attribution or a map function --------------------
def cam_method(target: str | type) -> Callable:
    """A method function from a :class:`~xaitools.core.cam.BaseCAM` subclass (or ``"module:Class"``).

    The class is built once per model, layer and options as ``C(model.model, layer, **options)``.
    """

    def run(model, images, classes, layer, **options):
        cls = resolve(target) if isinstance(target, str) else target
        explainer = cached(model, (cls, layer, tuple(sorted(options.items()))), lambda: cls(model.model, layer, **options))
        x = model.preprocess(resize_all(model, images))
        return to_image_sizes(explainer.compute_maps(x, classes), images)

    run.__doc__ = f"CAM-family method from {target}"
    return run


def attribution_method(target: str | Callable, per_image_seed: bool = False) -> Callable:
    """A method function from a pixel attribution ``f(model, x, classes, **options) -> (N, h, w, C)``.

    ``per_image_seed``: pass ``seed`` as one seed per image, so that an image's map does not depend on
    the other images of its batch (SmoothGrad's noise)."""

    def run(model, images, classes, layer, **options):
        from xaitools.core.maps import saliency_map

        fn = resolve(target) if isinstance(target, str) else target
        x = model.preprocess(resize_all(model, images))
        if per_image_seed and "seed" in options:
            options = dict(options, seed=[options["seed"]] * len(x))
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


def on_network_input(target: str, floor: bool = False) -> Callable:
    """``f(model, x, classes, **options) -> (N, h, w)`` on the preprocessed batch, as a map_method function;
    ``floor=True`` subtracts each map's minimum (RISE's maps sit on the mean score of the masked images)."""
    def run(model, resized, classes, **options):
        maps = resolve(target)(model, model.preprocess(resized), classes, **options)
        return maps - maps.min(axis=(1, 2), keepdims=True) if floor else maps
    return run


__all__ = ["METHODS", "Method", "Option", "register", "get", "model_layer", "resolve", "cam_method",
           "attribution_method", "map_method", "on_network_input", "as_image_list", "resize_all", "to_image_sizes",
           "cached"]
