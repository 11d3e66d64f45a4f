"""Pixel attribution (saliency maps): gradients of a class score with respect to the input pixels.

The text's section on pixel attribution sorts the methods in two families: *occlusion or
perturbation based* (LIME, SHAP: change parts of the image and watch the prediction) and
*gradient based* (this module and :mod:`xaitools.gradcam`). Among the gradient methods it singles
out the *pure gradient* methods, which say how the class score would move if a pixel changed, and
raises the *baseline* question: what is an image "without" the evidence?

- :func:`vanilla_gradient`: the pure gradient d y^c / d x (Simonyan et al. 2014).
- :func:`smoothgrad`: the gradient averaged over noisy copies of the input (Smilkov et al. 2017).
- :func:`integrated_gradients`: the gradient averaged along the straight path from a baseline to
  the input, times (input - baseline) (Sundararajan et al. 2017); :func:`make_baseline` gives the
  black and the blurred baselines.
- :func:`saliency_map`: an attribution (N, H, W, 3) -> a 2-D map in [0, 1] per image
  (absolute value, maximum over the colour channels, divided by the maximum).

All functions work on the network's *input* (``x = model.preprocess(images)`` for an
:class:`~xaitools.models.ImageClassifier`) and differentiate with ``tf.GradientTape``. The class
score is the pre-softmax logit (:func:`score_function`): where the last layer is a Dense layer with a
softmax or sigmoid activation, its kernel and bias are applied to the layer's input; pass
``output="probability"`` to differentiate the probability instead.

Everything is batched: many images, or one image and many classes, go through the network in a few
large batches (no Python loop over images). Because the network runs in inference mode, the images
of a batch do not interact, so the gradient of the *sum* of their scores is every image's own
gradient.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

OUTPUTS = ("logit", "probability")


# -- the class score ------------------------------------------------------------------------------
def _keras_model(model):
    """An ImageClassifier or a keras.Model -> the keras.Model."""
    import keras

    inner = getattr(model, "model", model)
    if not isinstance(inner, keras.Model):
        raise TypeError(f"model must be a keras.Model or an xaitools ImageClassifier, got {type(model).__name__}")
    if len(inner.inputs) != 1 or len(inner.outputs) != 1:
        raise ValueError(f"need a model with one input and one output, got {len(inner.inputs)} and {len(inner.outputs)}")
    return inner


def _activation_name(layer) -> str:
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "linear") if act is not None else "linear"


def split_head(output_tensor):
    """Where the logits of a classifier's output come from.

    ``output_tensor``: a symbolic output (``model.outputs[0]``). Returns ``(pre, kernel, bias)`` with
    ``logits = pre @ kernel + bias`` when the tensor is made by a Dense layer with a softmax or
    sigmoid activation, ``(pre, None, None)`` with ``logits = pre`` when it is made by a
    separate softmax/sigmoid layer (``Activation``, ``Softmax``), and ``(output_tensor, None, None)``
    when the output has no squashing activation (it is already the logits).
    """
    import keras

    layer, node_index, _ = output_tensor._keras_history
    if isinstance(layer, keras.Model):
        raise ValueError(
            f"the model's last layer is the nested model {layer.name!r}; flatten it first "
            "(xaitools.models.flatten_model) so that its last Dense layer is reachable"
        )
    act = _activation_name(layer)
    if act not in ("softmax", "sigmoid"):
        if act != "linear":
            raise ValueError(
                f"the last layer {layer.name!r} has a {act!r} activation; its pre-activation score is not "
                "defined here. Use output='probability'"
            )
        return output_tensor, None, None
    pre = layer._inbound_nodes[node_index].input_tensors[0]
    if isinstance(layer, keras.layers.Dense):
        return pre, layer.kernel, layer.bias
    return pre, None, None


class ScoreFunction:
    """Callable: network input batch -> class scores (N, C) as a tf tensor (logits or probabilities)."""

    def __init__(self, model, output: str = "logit"):
        import keras

        from xaitools.models import flatten_model

        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        km = _keras_model(model)
        self.model, self.output = km, output
        self.num_classes = int(km.output_shape[-1])
        self.kernel = self.bias = self._compiled = None
        if output == "probability":
            self.body = km
            return
        if isinstance(km.outputs[0]._keras_history[0], keras.Model):
            km = flatten_model(km)
        pre, self.kernel, self.bias = split_head(km.outputs[0])
        self.body = km if pre is km.outputs[0] else keras.Model(km.inputs[0], pre)

    def __call__(self, x):
        z = self.body(x, training=False)
        if self.kernel is not None:
            z = z @ self.kernel
            if self.bias is not None:
                z = z + self.bias
        return z

    def _gradients(self, x, classes):
        import tensorflow as tf

        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            y = tf.gather(self(x), classes, axis=1, batch_dims=1)  # (n,): each row's class score
        return tape.gradient(y, x)

    def gradients(self, x, classes) -> np.ndarray:
        """d y^c / d x for a batch, one class per row, as a compiled TF function (a graph, not eager:
        several times faster). The rows do not interact, so the gradient of the sum of the scores is
        every row's own gradient."""
        import tensorflow as tf

        if self._compiled is None:
            self._compiled = tf.function(self._gradients, reduce_retracing=True)
        return self._compiled(tf.convert_to_tensor(x), tf.convert_to_tensor(classes, tf.int64)).numpy()


_CACHE = "_xaitools_score_functions"


def score_function(model, output: str = "logit") -> ScoreFunction:
    """The class score to differentiate: ``output="logit"`` (pre-softmax, default) or ``"probability"``.

    One :class:`ScoreFunction` per model and output is kept on the keras.Model itself, so its compiled
    gradient (traced once, ~1-2 s for MobileNetV2) is reused by later calls.
    """
    if isinstance(model, ScoreFunction):
        return model
    km = _keras_model(model)
    cache = km.__dict__.get(_CACHE)
    if cache is None:
        cache = {}
        object.__setattr__(km, _CACHE, cache)  # plain attribute: not tracked by Keras, not saved
    if output not in cache:
        cache[output] = ScoreFunction(km, output)
    return cache[output]


# -- inputs and classes -------------------------------------------------------------------------
def check_inputs(x, model) -> np.ndarray:
    """A network input batch (N, H, W, C), float, matching the model's input shape."""
    arr = np.asarray(x)
    km = _keras_model(model)
    expected = tuple(km.inputs[0].shape[1:])
    if arr.ndim != 1 + len(expected):
        raise ValueError(
            f"x must be a batch of network inputs with shape (N, {', '.join(str(d) for d in expected)}), "
            f"got shape {arr.shape}; for one image use x[np.newaxis] (or model.preprocess(image))"
        )
    if any(e is not None and e != a for e, a in zip(expected, arr.shape[1:])):
        raise ValueError(f"x has shape {arr.shape}, but the model takes inputs of shape (N, {', '.join(map(str, expected))})")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"x must be a float array (the network's input), got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError("x is an empty batch")
    return arr


def check_classes(classes, n_images: int, num_classes: int) -> np.ndarray:
    """``classes`` -> one class index per row, shape (M,).

    ``classes``: an int (the same class for every image), a sequence with one class per image, or,
    with a single image, a sequence of several classes (the image is explained once per class).
    """
    if isinstance(classes, (bool, np.bool_)):
        raise TypeError("classes must be an integer class index or a sequence of them, got a bool")
    c = np.asarray(classes)
    if c.ndim > 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise TypeError(f"classes must be an integer class index or a 1-D sequence of them, got {classes!r}")
    c = c.astype(np.int64).reshape(-1) if c.ndim else np.full(n_images, int(c), np.int64)
    if len(c) == 0:
        raise ValueError("classes is empty")
    if len(c) != n_images and n_images != 1:
        raise ValueError(
            f"classes has {len(c)} entries for {n_images} images; give one per image, a single int, "
            "or one image with several classes"
        )
    bad = c[(c < 0) | (c >= num_classes)]
    if bad.size:
        raise IndexError(f"class index {int(bad[0])} is out of range: the model has {num_classes} classes (0..{num_classes - 1})")
    return c


def _prepare(model, x, classes, output):
    score = score_function(model, output)
    arr = check_inputs(x, score.model)
    if classes is None:  # the top class of each image
        classes = np.argmax(np.asarray(score.model(arr, training=False)), axis=-1)
    classes = check_classes(classes, len(arr), score.num_classes)
    if len(arr) == 1 and len(classes) > 1:
        arr = np.repeat(arr, len(classes), axis=0)  # one image, several classes
    return score, arr, classes


# -- gradients ------------------------------------------------------------------------------------
def input_gradients(model, x, classes, output: str = "logit", batch_size: int = 64) -> np.ndarray:
    """d y^c / d x for a batch of inputs with one class per row (no checks; see :func:`vanilla_gradient`)."""
    score = score_function(model, output)
    x = np.asarray(x)
    c = np.asarray(classes).reshape(-1)
    return np.concatenate([score.gradients(x[i : i + batch_size], c[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def vanilla_gradient(model, x, classes=None, output: str = "logit", batch_size: int = 64) -> np.ndarray:
    """The pure gradient of the class score w.r.t. the network input: (M, H, W, C).

    ``x``: network inputs (N, H, W, C). ``classes``: None (each image's top class), an int, one
    class per image, or several classes for one image (then M = number of classes).
    """
    score, arr, classes = _prepare(model, x, classes, output)
    return input_gradients(score, arr, classes, batch_size=batch_size)


def _add_rows(total, rows, values) -> None:
    """``total[rows[i]] += values[i]`` for every i, with repeated rows, as one matrix product.

    (``np.add.at`` does the same, but float32 values into a float64 total take NumPy's slow
    element-by-element path: seconds per batch of images.)
    """
    onehot = np.zeros((len(total), len(rows)))
    onehot[rows, np.arange(len(rows))] = 1.0
    flat = np.asarray(values, dtype=np.float64).reshape(len(rows), -1)
    total += (onehot @ flat).reshape(total.shape)


def smoothgrad(
    model,
    x,
    classes=None,
    samples: int = 25,
    noise: float = 0.15,
    output: str = "logit",
    seed=None,
    batch_size: int = 64,
) -> np.ndarray:
    """SmoothGrad: the mean gradient over ``samples`` copies of each input with Gaussian noise.

    The noise's standard deviation is ``noise * (max(x) - min(x))`` per image (the paper suggests
    10-20 %). ``seed``: an int or a ``np.random.Generator`` for the noise. Returns (M, H, W, C).
    """
    if int(samples) < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    score, arr, classes = _prepare(model, x, classes, output)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    axes = tuple(range(1, arr.ndim))
    sigma = noise * (arr.max(axis=axes, keepdims=True) - arr.min(axis=axes, keepdims=True))  # (M, 1, 1, 1)
    total = np.zeros(arr.shape, dtype=np.float64)
    # samples x images rows in all, sent in batches of `batch_size` rows; row k is image k % M.
    rows, m = int(samples) * len(arr), len(arr)
    for start in range(0, rows, batch_size):
        idx = np.arange(start, min(start + batch_size, rows)) % m
        noisy = arr[idx] + (sigma[idx] * rng.standard_normal(arr[idx].shape)).astype(arr.dtype)
        _add_rows(total, idx, score.gradients(noisy, classes[idx]))
    return (total / int(samples)).astype(arr.dtype)


def make_baseline(x, baseline="black", model=None, preprocess: Callable | None = None, blur_sigma: float = 10.0) -> np.ndarray:
    """The Integrated Gradients baseline for network inputs ``x`` (N, H, W, C), same shape as ``x``.

    - ``"black"``: a black image in the network's input space, ``preprocess(zeros)``. ``preprocess``
      defaults to the ImageClassifier's own (``model.preprocess``); for a bare keras.Model it is the
      identity, i.e. the network input is taken to be the [0, 1] image.
    - ``"blurred"``: each input blurred with a Gaussian of ``blur_sigma`` pixels (blurring commutes
      with the per-channel affine pre-processing, so it is done on the network input directly).
    - an array: broadcast to ``x``'s shape (in the network's input space).
    """
    arr = np.asarray(x)
    if isinstance(baseline, str):
        if baseline == "black":
            prep = preprocess or getattr(model, "preprocess", None)
            black = np.zeros(arr.shape[1:], np.float32)
            b = np.asarray(prep(black))[0] if prep is not None else black
            return np.broadcast_to(b, arr.shape).astype(arr.dtype)
        if baseline == "blurred":
            from scipy.ndimage import gaussian_filter

            if blur_sigma <= 0:
                raise ValueError(f"blur_sigma must be positive, got {blur_sigma}")
            sig = (0,) + (blur_sigma,) * (arr.ndim - 2) + (0,)
            return gaussian_filter(arr, sigma=sig, mode="nearest").astype(arr.dtype)
        raise ValueError(f"baseline must be 'black', 'blurred' or an array, got {baseline!r}")
    b = np.asarray(baseline, dtype=arr.dtype)
    try:
        return np.broadcast_to(b, arr.shape).copy()
    except ValueError:
        raise ValueError(f"baseline of shape {b.shape} does not broadcast to the inputs' shape {arr.shape}") from None


def integrated_gradients(
    model,
    x,
    classes=None,
    baseline="black",
    steps: int = 64,
    output: str = "logit",
    batch_size: int = 64,
    preprocess: Callable | None = None,
    blur_sigma: float = 10.0,
) -> np.ndarray:
    """Integrated Gradients: ``(x - x0) * mean_alpha grad(x0 + alpha (x - x0))``, shape (M, H, W, C).

    The path integral is the trapezoidal rule on ``steps`` intervals (``steps + 1`` gradients per
    image). Completeness: the attributions of an image sum to ``f(x) - f(x0)`` up to the
    discretisation error. ``baseline``: ``"black"``, ``"blurred"`` or an array (see
    :func:`make_baseline`).
    """
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    score, arr, classes = _prepare(model, x, classes, output)
    base = make_baseline(arr, baseline, model=model, preprocess=preprocess, blur_sigma=blur_sigma)
    n = int(steps)
    alphas = np.linspace(0.0, 1.0, n + 1)
    w = np.full(n + 1, 1.0 / n)
    w[[0, -1]] = 0.5 / n  # trapezoid weights, summing to 1
    m, rows = len(arr), len(arr) * (n + 1)
    total = np.zeros(arr.shape, dtype=np.float64)
    for start in range(0, rows, batch_size):
        k = np.arange(start, min(start + batch_size, rows))
        img, step = k // (n + 1), k % (n + 1)
        a = alphas[step].reshape(-1, *([1] * (arr.ndim - 1))).astype(arr.dtype)
        path = base[img] + a * (arr[img] - base[img])
        g = score.gradients(path, classes[img])
        _add_rows(total, img, w[step].reshape(a.shape) * g)
    return ((arr - base) * total).astype(arr.dtype)


# -- pictures -------------------------------------------------------------------------------------
def saliency_map(attributions) -> np.ndarray:
    """Attributions (N, H, W, C) or (H, W, C) -> maps (N, H, W) or (H, W) in [0, 1].

    Absolute value, maximum over the channels, divided by each map's maximum (an all-zero map stays 0).
    """
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim not in (3, 4):
        raise ValueError(f"attributions must have shape (N, H, W, C) or (H, W, C), got {a.shape}")
    m = np.abs(a).max(axis=-1)
    peak = m.max(axis=(-2, -1), keepdims=True)
    return np.divide(m, peak, out=np.zeros_like(m), where=peak > 0).astype(np.float32)


__all__ = [
    "OUTPUTS", "ScoreFunction", "score_function", "split_head", "check_inputs", "check_classes",
    "input_gradients", "vanilla_gradient", "smoothgrad", "make_baseline", "integrated_gradients",
    "saliency_map",
]
