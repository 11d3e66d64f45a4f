"""load_model, PREPROCESSING and find_target_layer on small models whose right answers are known."""

import numpy as np
import pytest

from xaitools import models

keras = pytest.importorskip("keras")
layers = keras.layers


def _sequential():
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(4, 3, activation="relu", name="c1"),
            layers.Conv2D(6, 3, activation="relu", name="c2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, activation="softmax", name="probs"),
        ]
    )


def _nested(size=(24, 24)):
    """A functional model around a nested Sequential base, GAP -> Dense after it."""
    base = keras.Sequential(
        [keras.Input((*size, 3)), layers.Conv2D(4, 3, name="base_conv1"), layers.ReLU(name="base_relu1"),
         layers.Conv2D(5, 3, name="base_conv2"), layers.ReLU(name="base_relu2")],
        name="base",
    )
    x = keras.Input((*size, 3))
    h = layers.GlobalAveragePooling2D(name="gap")(base(x))
    return keras.Model(x, layers.Dense(2, activation="softmax", name="probs")(h))


def _images(n=2, size=(40, 30)):
    return np.random.RandomState(3).rand(n, *size, 3).astype(np.float32)


def test_sequential_model():
    m = _sequential()
    clf = models.load_model(m, preprocess="unit")
    assert clf.input_size == (32, 32) and clf.last_conv_layer == "c2" and clf.num_classes == 3
    assert clf.name == "model"  # not Keras' made-up "sequential"
    imgs = _images()
    np.testing.assert_allclose(clf.predict(imgs), m(clf.resize(imgs)).numpy(), atol=1e-6)  # unit: x / 255 * 255


def test_nested_sequential_base():
    clf = models.load_model(_nested(), preprocess="none", name="tiny")
    assert clf.name == "tiny" and clf.last_conv_layer == "base_relu2"  # a layer inside the nested model
    imgs = _images()
    np.testing.assert_allclose(clf.predict(imgs), clf.model(clf.resize(imgs) * 255).numpy(), atol=1e-5)


def test_dog_breeds_target_is_its_last_conv_block(dog_model):
    assert models.find_target_layer(dog_model.model) == dog_model.last_conv_layer == "out_relu"


@pytest.mark.parametrize("after", [[], [layers.ReLU(name="relu_logits")]])
def test_a_1x1_logits_conv_is_not_the_target(after):
    x = keras.Input((16, 16, 3))
    h = layers.Conv2D(8, 3, activation="relu", name="features")(x)
    h = layers.Conv2D(5, 1, name="logits")(h)  # the class scores as a 14x14 map
    for layer in after:
        h = layer(h)
    out = layers.Softmax()(layers.GlobalAveragePooling2D()(h))
    assert models.find_target_layer(keras.Model(x, out)) == "features"


def test_a_1x1_bottleneck_conv_is_a_target():
    x = keras.Input((16, 16, 3))
    h = layers.Conv2D(8, 3, name="c3x3")(x)
    h = layers.Conv2D(6, 1, name="bottleneck")(h)  # 6 filters, 5 classes: features, not class scores
    out = layers.Dense(5)(layers.GlobalAveragePooling2D()(h))
    assert models.find_target_layer(keras.Model(x, out)) == "bottleneck"


def test_no_spatial_layer_is_a_clear_error():
    x = keras.Input((8, 8, 3))
    out = layers.Dense(2)(layers.GlobalAveragePooling2D()(layers.Conv2D(4, 8, name="to_1x1")(x)))
    model = keras.Model(x, out)
    with pytest.raises(ValueError, match="no layer with a 4-D output.*layer="):
        models.find_target_layer(model)
    assert models.load_model(model, preprocess="unit").last_conv_layer is None  # LIME still works


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_file_round_trip(tmp_path, suffix):
    m = _nested()
    path = tmp_path / f"pets_v2{suffix}"
    m.save(path)
    (tmp_path / "classes.txt").write_text("cat\n dog \n\n")
    clf = models.load_model(str(path), preprocess="mobilenet_v2", class_names=tmp_path / "classes.txt")
    assert clf.name == "pets_v2" and clf.last_conv_layer == "base_relu2"
    assert clf.class_names == ["cat", "dog"] and clf.class_index("dog") == 1
    imgs = _images(3)
    expected = models.load_model(m, preprocess="mobilenet_v2").predict(imgs)
    np.testing.assert_allclose(clf.predict(imgs), expected, atol=1e-6)
    assert clf.decode(expected[:1], top=1)[0][0][1] == ["cat", "dog"][int(expected[0].argmax())]


def test_keras_files_load_in_safe_mode(tmp_path):
    x = keras.Input((8, 8, 3))
    h = layers.Lambda(lambda t: t * 2.0)(layers.Conv2D(2, 3)(x))  # code inside the file
    path = tmp_path / "lambda.keras"
    keras.Model(x, layers.Dense(2)(layers.Flatten()(h))).save(path)
    with pytest.raises(ValueError, match="could not load the model .*lambda.keras.*safe"):
        models.load_model(path, preprocess="unit")


def test_class_names_must_match_the_outputs(tmp_path):
    with pytest.raises(ValueError, match="3 class names for a model with 2 outputs"):
        models.load_model(_nested(), preprocess="unit", class_names=["a", "b", "c"])
    with pytest.raises(FileNotFoundError, match="one class name per line"):
        models.load_model(_nested(), preprocess="unit", class_names=tmp_path / "missing.txt")
    assert models.load_model(_nested(), preprocess="unit").class_names == ["0", "1"]


def test_preprocess_errors_list_the_names():
    with pytest.raises(ValueError, match="mobilenet_v2, inception_v3, vgg16, unit, none"):
        models.load_model(_nested(), preprocess="caffe")
    with pytest.raises(ValueError, match="pass preprocess=.*mobilenet_v2, inception_v3, vgg16, unit, none"):
        models.load_model(_nested())


def test_unknown_file_and_wrong_file_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file .*nothing.keras.*dog_breeds"):
        models.load_model(tmp_path / "nothing.keras", preprocess="unit")
    (tmp_path / "weights.pt").write_bytes(b"\x00")
    with pytest.raises(ValueError, match=r"\.keras .*or \.h5"):
        models.load_model(tmp_path / "weights.pt", preprocess="unit")
    with pytest.raises(TypeError, match="keras.Model"):
        models.load_model(42, preprocess="unit")


def test_input_without_fixed_size_needs_input_size():
    x = keras.Input((None, None, 3))
    out = layers.Dense(2)(layers.GlobalAveragePooling2D()(layers.Conv2D(3, 3, name="conv")(x)))
    model = keras.Model(x, out)
    with pytest.raises(ValueError, match=r"no fixed height and width.*input_size=\(height, width\)"):
        models.load_model(model, preprocess="unit")
    clf = models.load_model(model, preprocess="unit", input_size=(20, 28))
    assert clf.input_size == (20, 28) and clf.resize(_images()).shape == (2, 20, 28, 3)
    assert clf.last_conv_layer == "conv" and clf.predict(_images()).shape == (2, 2)
    with pytest.raises(ValueError, match="does not match the model's input"):
        models.load_model(_nested(), preprocess="unit", input_size=(30, 30))


@pytest.mark.parametrize("bad", ["big", (20,), (20, 28, 3), 20])
def test_an_input_size_that_is_not_a_height_and_a_width_is_a_clear_error(bad):
    x = keras.Input((None, None, 3))
    model = keras.Model(x, layers.Dense(2)(layers.GlobalAveragePooling2D()(layers.Conv2D(3, 3, name="conv")(x))))
    with pytest.raises(ValueError, match=r"input_size must be \(height, width\)"):
        models.load_model(model, preprocess="unit", input_size=bad)


def test_built_in_names(dog_model):
    clf = models.load_model("dog_breeds")
    assert clf.name == "dog_breeds" and clf.last_conv_layer == "out_relu" and clf.input_size == (160, 160)
    with pytest.raises(ValueError, match="built-in"):
        models.load_model("dog_breeds", preprocess="unit")


def test_preprocessing_known_values():
    import tensorflow as tf

    x = tf.constant([[[[0.0, 127.5, 255.0]]]])
    p = {k: np.asarray(f(x))[0, 0, 0] for k, f in models.PREPROCESSING.items()}
    np.testing.assert_allclose(p["mobilenet_v2"], [-1, 0, 1])
    np.testing.assert_allclose(p["inception_v3"], [-1, 0, 1])
    np.testing.assert_allclose(p["unit"], [0, 0.5, 1])
    np.testing.assert_allclose(p["none"], [0, 127.5, 255])
    # caffe: channels reversed to BGR, then the ImageNet means (B, G, R) = (103.939, 116.779, 123.68) subtracted
    np.testing.assert_allclose(p["vgg16"], [255 - 103.939, 127.5 - 116.779, 0 - 123.68], atol=1e-4)


def test_a_separate_sigmoid_layer_is_two_classes_one_minus_p_and_p():
    """Dense(1) then a separate Activation("sigmoid"): the same two classes [1 - p, p] as Dense(1, sigmoid)."""
    inp = keras.Input((8, 8, 3))
    dense = layers.Dense(1, name="logit")
    z = dense(layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3, activation="relu", name="c")(inp)))
    model = keras.Model(inp, layers.Activation("sigmoid", name="p")(z))
    dense.set_weights([np.array([[1.0], [-0.5]], "float32"), np.array([1.5], "float32")])  # p well away from 0.5
    clf = models.load_model(model, preprocess="unit", class_names=["cat", "dog"])
    image = np.random.default_rng(0).random((8, 8, 3)).astype("float32")
    p = float(model(image[None])[0, 0])
    assert abs(p - 0.5) > 0.1
    np.testing.assert_allclose(clf.predict(image)[0], [1 - p, p], atol=1e-6)
