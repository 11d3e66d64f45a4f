"""Graph walking: the only module of xaitools that touches Keras internals.

Keras 3 keeps a functional graph in private attributes: a symbolic tensor's ``_keras_history``
(``(operation, node_index, tensor_index)``), an operation's ``_inbound_nodes``, a functional model's
``_run_through_graph`` and a built Sequential's ``_functional``. They are read here and nowhere else;
``pyproject.toml`` pins the Keras range the tests run on.
"""

from __future__ import annotations

import numpy as np




# -- the private attributes, each read in one function ---------------------------------------------
def producer(tensor):
    """``(operation, node_index)`` that made a symbolic tensor (operation None: a model input)."""
    op, node_index, _ = tensor._keras_history
    return op, node_index


def inputs_of(op, node_index) -> list:
    """The input tensors of ``op``'s node ``node_index``."""
    return list(op._inbound_nodes[node_index].input_tensors)


def _graph(model):
    # A functional model is its own graph; a built Sequential keeps one in `_functional`.
    return model if hasattr(model, "_run_through_graph") else getattr(model, "_functional", None)


# -- models -------------------------------------------------------------------------------------------
def keras_model(model):
    """An ImageClassifier or a keras.Model -> the keras.Model (one input, one output)."""
    import keras

    inner = getattr(model, "model", model)
    if not isinstance(inner, keras.Model):
        raise TypeError(f"model must be a keras.Model or an xaitools ImageClassifier, got {type(model).__name__}")
    if len(inner.inputs) != 1 or len(inner.outputs) != 1:
        raise ValueError(f"need a model with one input and one output, got {len(inner.inputs)} and {len(inner.outputs)}")
    return inner


def flatten_model(model_nested):
    """Un-nest a model: nested sub-models' layers become the model's own layers (the text's utility).

    The text returns the list of layers and stacks them in a ``Sequential``; that only works for a
    plain chain like VGG16. This version rebuilds the functional graph instead, so it also works for
    networks with branches and skip connections (MobileNetV2's residual blocks). It returns a
    ``keras.Model`` with the same inputs, outputs and weights (the layers are shared, not copied);
    ``flatten_model(m).layers`` is the text's flat list.
    """
    import keras

    def inline(model, inputs):
        # Re-run the model's graph on `inputs`, calling nested models' layers one by one.
        return _graph(model)._run_through_graph(inputs, operation_fn=lambda op: (lambda *a, **k: call(op, *a, **k)))

    def call(op, *args, **kwargs):
        if isinstance(op, keras.Model) and _graph(op) is not None:
            return inline(op, args[0] if len(args) == 1 else list(args))
        return op(*args, **kwargs)

    if _graph(model_nested) is None:
        raise TypeError(
            f"flatten_model needs a built functional or Sequential model (call model.build(...) first), "
            f"got an unbuilt {type(model_nested).__name__}"
        )
    inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype) for t in model_nested.inputs]
    outputs = inline(model_nested, inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=f"{model_nested.name}_flat")


def output_is_nested(model) -> bool:
    """Is the model's (first) output made by a nested model (so its last Dense layer is out of reach)?"""
    import keras

    return isinstance(producer(model.outputs[0])[0], keras.Model)


# -- the head ---------------------------------------------------------------------------------------
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

    layer, node_index = producer(output_tensor)
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
    pre = inputs_of(layer, node_index)[0]
    if isinstance(layer, keras.layers.Dense):
        return pre, layer.kernel, layer.bias
    return pre, None, None


def output_activation(output_tensor) -> str:
    """The activation of the layer that makes ``output_tensor`` (``"softmax"``, ``"sigmoid"``, ``"linear"``, ...)."""
    return _activation_name(producer(output_tensor)[0])


def two_class_sigmoid(model):
    """A one-unit sigmoid classifier as two classes ``[1 - p, p]``: the same layers, a new head.

    ``1 - p = sigmoid(-z)``, so class 0's logit is the negated logit ``-z`` (what the CAM chapter does by
    hand for "cat"). A ``Dense(1, sigmoid)`` head becomes ``Dense(2, sigmoid)`` with kernel ``[-v, v]`` and
    bias ``[-b, b]``; a separate sigmoid layer gets ``[-z, z]``. Returns None for any other model.
    """
    import keras

    km = flatten_model(model) if output_is_nested(model) else model
    out = km.outputs[0]
    if out.shape[-1] != 1 or output_activation(out) != "sigmoid":
        return None
    pre, kernel, bias = split_head(out)
    if kernel is not None:
        head = keras.layers.Dense(2, activation="sigmoid", name=f"{producer(out)[0].name}_two_classes")
        two = head(pre)
        v = np.asarray(kernel)
        b = np.asarray(bias) if bias is not None else np.zeros(1, v.dtype)
        head.set_weights([np.concatenate([-v, v], axis=1), np.concatenate([-b, b])])
    else:
        z = keras.layers.Concatenate(name="two_class_logits")([keras.layers.Rescaling(-1.0)(pre), pre])
        two = keras.layers.Activation("sigmoid", name="two_classes")(z)
    return keras.Model(km.inputs[0], two, name=model.name)


def head_after(model, layer: str) -> list:
    """The layers from ``layer`` (excluded) to the output along the first inputs, in order; the first
    element is None when the walk reached the model's input without meeting ``layer``."""
    flat = flatten_model(model)
    chain, t = [], flat.outputs[0]
    while True:  # walk back from the output to the chosen layer (op None: reached the input)
        op, node_index = producer(t)
        if op is None or op.name == layer:
            break
        chain.append(op)
        inputs = inputs_of(op, node_index)
        if not inputs:
            op = None
            break
        t = inputs[0]
    return ([None] if op is None else []) + chain[::-1]


# -- conv layers ---------------------------------------------------------------------------------------
def graph_tensors(flat) -> dict:
    """Layer name -> its output tensor in ``flat``'s own graph (walking back from the outputs).

    (``layer.output`` is not enough: a layer of a nested base also has a node in the original,
    nested graph, and ``layer.output`` returns that one.)
    """
    tensors, stack = {}, list(flat.outputs)
    while stack:
        t = stack.pop()
        op, node_index = producer(t)
        if op is None or op.name in tensors:
            continue
        tensors[op.name] = t
        stack.extend(inputs_of(op, node_index))
    return tensors


def _conv_names(flat, tensors) -> list[str]:
    import keras

    return [
        layer.name for layer in flat.layers
        if not isinstance(layer, keras.layers.InputLayer) and layer.name in tensors
        and len(tensors[layer.name].shape) == 4
    ]


def conv_layer_names(model) -> list[str]:
    """Names of the layers with 4-D outputs (N, h, w, channels) -- conv feature maps -- in graph order."""
    flat = flatten_model(model)
    return _conv_names(flat, graph_tensors(flat))


def cam_model(model, layer: str):
    """A model: the model's input -> ``[feature maps of layer (N, h, w, K), predictions]``.

    Built on ``flatten_model(model)``, so a layer inside a nested base (MobileNetV2's ``out_relu``
    in the dog model) can be named directly.
    """
    import keras

    flat = flatten_model(model)
    tensors = graph_tensors(flat)
    candidates = _conv_names(flat, tensors)
    if layer not in candidates:
        raise ValueError(
            f"{layer!r} is not a conv layer of {model.name}; layers with 4-D feature maps: "
            f"{', '.join(candidates[-12:])}"
            + (f" (the last 12 of {len(candidates)}; all: xaitools.cam.conv_layer_names(model))" if len(candidates) > 12 else "")
        )
    inputs = flat.inputs[0] if len(flat.inputs) == 1 else flat.inputs
    return keras.Model(inputs, [tensors[layer], flat.outputs[0]], name=f"{model.name}_cam")


def _spatial_layers(model) -> list:
    """Layers in graph order, nested sub-models opened, whose single output is 4-D with H, W > 1 (or unknown)."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _spatial_layers(layer)
            continue
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError, TypeError):  # no single, known output (unbuilt, shared, several)
            continue
        if len(shape) == 4 and all(d is None or d > 1 for d in shape[1:3]):
            found.append(layer)
    return found


def _is_logits_conv(layer, num_outputs) -> bool:
    """A 1x1 convolution with one filter per model output: the class scores as a map."""
    import keras

    return (
        isinstance(layer, keras.layers.Conv2D)
        and tuple(layer.kernel_size) == (1, 1)
        and int(layer.filters) == int(num_outputs)
    )


def find_layer(model) -> str:
    """The layer whose feature maps CAM-family methods weight, for a model that does not name one.

    The last layer (searching inside nested sub-models) whose output is 4-D with height > 1 and
    width > 1. A final 1x1 convolution with one filter per output class (the class scores as a map,
    as in SqueezeNet or a fully convolutional head), and the weightless layers after it, are skipped:
    the layer before it is chosen. Layers after global pooling are 2-D and never chosen.

    Args:
        model: a built ``keras.Model`` (functional or Sequential, possibly nested).
    Returns:
        the layer's name (may be the name of a layer inside a nested sub-model).
    Raises:
        ValueError: no layer has a 4-D output with height and width > 1.
    """
    layers = _spatial_layers(model)
    num_outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    for i in range(len(layers) - 1, -1, -1):
        if _is_logits_conv(layers[i], num_outputs):
            layers = layers[:i]
            break
        if layers[i].weights:  # a layer that learns features: the head is not a logits conv
            break
    if not layers:
        raise ValueError(
            f"{model.name} has no layer with a 4-D output of height and width > 1 (a conv layer); "
            f"CAM-family methods need one; name it with layer=..."
        )
    return layers[-1].name


__all__ = ["keras_model", "flatten_model", "split_head", "head_after", "graph_tensors", "conv_layer_names",
           "cam_model", "find_layer", "output_is_nested", "producer", "inputs_of", "output_activation",
           "two_class_sigmoid"]
