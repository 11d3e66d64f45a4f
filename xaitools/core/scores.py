"""The class score, the batched compiled forward and backward passes, and their cache.

A :class:`ScoreFunction` maps a network input batch to class scores: the pre-softmax logit (the last
Dense layer's kernel and bias applied to its input, :func:`~xaitools.core.graph.split_head`) or the
probability. Its gradient and its forward pass are compiled TF functions, traced once per model and
kept in :func:`cached` -- a ``WeakKeyDictionary`` keyed by the keras.Model: nothing is stored on the
user's model, and an entry goes when its model goes (the cached objects hold the model weakly).
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from xaitools.core import checks, graph

OUTPUTS = ("logit", "probability")

_CACHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # keras.Model -> {key: object}


def cached(keras_model, key, make: Callable):
    """An object built once per keras.Model and ``key`` (a compiled function, an explainer), reused by
    later calls. Kept here, not on the model; ``make()``'s result must not hold the model strongly."""
    cache = _CACHES.setdefault(keras_model, {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def check_output(output) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    return output


class ScoreFunction:
    """Callable: network input batch -> class scores (N, C) as a tf tensor (logits or probabilities)."""

    def __init__(self, model, output: str = "logit"):
        import keras

        check_output(output)
        km = graph.keras_model(model)
        self._model, self.output = weakref.ref(km), output
        self.num_classes = int(km.output_shape[-1])
        self.kernel = self.bias = self._compiled = self._forward = None
        self._body = None  # None: the model itself
        if output == "probability":
            return
        if graph.output_is_nested(km):
            km = graph.flatten_model(km)
        pre, self.kernel, self.bias = graph.split_head(km.outputs[0])
        if pre is not km.outputs[0]:
            self._body = keras.Model(km.inputs[0], pre)
        elif km is not self.model:
            self._body = km  # the flattened copy

    @property
    def model(self):
        """The keras.Model (held weakly, so that the cache does not keep it alive)."""
        km = self._model()
        if km is None:
            raise ReferenceError("the keras.Model of this score function no longer exists")
        return km

    @property
    def body(self):
        return self.model if self._body is None else self._body

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

    def forward(self, x) -> np.ndarray:
        """The scores (n, C) of a batch as NumPy, by a compiled forward pass (made once)."""
        import tensorflow as tf

        if self._forward is None:
            self._forward = tf.function(self.__call__, reduce_retracing=True)
        return np.asarray(self._forward(tf.convert_to_tensor(x, tf.float32)))


def score_function(model, output: str = "logit") -> ScoreFunction:
    """The class score to differentiate: ``output="logit"`` (pre-softmax, default) or ``"probability"``.

    One :class:`ScoreFunction` per model and output is cached (:func:`cached`), so its compiled
    gradient (traced once, ~1-2 s for MobileNetV2) is reused by later calls.
    """
    if isinstance(model, ScoreFunction):
        return model
    km = graph.keras_model(model)
    check_output(output)
    return cached(km, ("score", output), lambda: ScoreFunction(km, output))


def prepare(model, x, classes, output):
    """-> (score function, checked inputs, one class per row); classes None: each row's top class;
    one image with several classes is repeated once per class."""
    score = score_function(model, output)
    arr = checks.check_inputs(x, score.model)
    if classes is None:  # the top class of each image
        classes = np.argmax(np.asarray(score.model(arr, training=False)), axis=-1)
    classes = checks.check_classes(classes, len(arr), score.num_classes)
    if len(arr) == 1 and len(classes) > 1:
        arr = np.repeat(arr, len(classes), axis=0)  # one image, several classes
    return score, arr, classes


def input_gradients(model, x, classes, output: str = "logit", batch_size: int = 64) -> np.ndarray:
    """d y^c / d x for a batch of inputs with one class per row (no checks)."""
    score = score_function(model, output)
    x = np.asarray(x)
    c = np.asarray(classes).reshape(-1)
    return np.concatenate([score.gradients(x[i : i + batch_size], c[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def class_scores(score: ScoreFunction, rows, cls, batch_size) -> np.ndarray:
    """Each row's class score ``f_{cls[i]}(rows[i])``, (n,), in forward passes of ``batch_size`` rows."""
    out = []
    for i in range(0, len(rows), batch_size):
        chunk = score.forward(rows[i : i + batch_size])
        out.append(chunk[np.arange(len(chunk)), cls[i : i + batch_size]])
    return np.concatenate(out)


def add_rows(total, rows, values) -> None:
    """``total[rows[i]] += values[i]`` for every i, with repeated rows, as one matrix product.

    (``np.add.at`` does the same, but float32 values into a float64 total take NumPy's slow
    element-by-element path: seconds per batch of images.)
    """
    onehot = np.zeros((len(total), len(rows)))
    onehot[rows, np.arange(len(rows))] = 1.0
    flat = np.asarray(values, dtype=np.float64).reshape(len(rows), -1)
    total += (onehot @ flat).reshape(total.shape)


__all__ = ["OUTPUTS", "ScoreFunction", "score_function", "cached", "check_output", "prepare", "input_gradients",
           "class_scores", "add_rows"]
