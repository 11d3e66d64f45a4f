import numpy as np
import pytest

from xaitools import data, models


def test_dog_model_predicts_like_the_text(dog_model):
    lime_img, gradcam_img = data.load_image("cat-and-dog.jpg"), data.load_image("cat_dog.jpg")
    probs = dog_model.predict(np.stack([dog_model.preprocess(lime_img)[0] * 0 + 0.5]))  # shape check only
    assert probs.shape == (1, 19)
    top_lime = dog_model.decode(dog_model.predict(lime_img), top=1)[0][0]
    top_gradcam = dog_model.decode(dog_model.predict(gradcam_img), top=1)[0][0]
    assert top_lime[:2] == ("n02099712", "Labrador_retriever")
    assert top_gradcam[:2] == ("n02108422", "bull_mastiff")


def test_predict_is_batched_and_probabilities(dog_model, rng):
    imgs = rng.rand(5, 90, 120, 3).astype(np.float32)
    p = dog_model.predict(imgs, batch_size=2)
    assert p.shape == (5, 19)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(p[3], dog_model.predict(imgs[3])[0], atol=1e-5)


def test_preprocess_matches_keras_mobilenet_v2(dog_model, rng):
    import keras

    img = rng.rand(160, 160, 3).astype(np.float32)
    expected = keras.applications.mobilenet_v2.preprocess_input(img[None] * 255.0)
    np.testing.assert_allclose(dog_model.preprocess(img), expected, atol=1e-5)
    assert dog_model.preprocess(rng.rand(300, 200, 3).astype(np.float32)).shape == (1, 160, 160, 3)


def test_dog_classes_are_written_out(dog_model):
    assert dog_model.num_classes == len(models.DOG_BREEDS) == 19
    assert dog_model.class_names[7] == "Labrador_retriever" and dog_model.wnids[11] == "n02108422"
    assert dog_model.class_index("bull_mastiff") == 11
    assert dog_model.class_index("n02099712") == 7
    assert dog_model.class_index("3") == 3


@pytest.mark.parametrize(
    "bad,err,match",
    [
        (np.zeros((10, 10, 3), np.uint8), TypeError, "uint8"),
        (np.zeros((10, 10), np.float32), ValueError, "shape"),
        (np.zeros((1, 1, 10, 10, 3), np.float32), ValueError, "shape"),
        (np.full((10, 10, 3), 200.0), ValueError, "divide by 255"),
        (np.full((10, 10, 3), -0.5), ValueError, "images / 2 \\+ 0.5"),
        (np.zeros((10, 10, 3), np.int64), TypeError, "float"),
    ],
)
def test_bad_images_get_clear_errors(dog_model, bad, err, match):
    with pytest.raises(err, match=match):
        dog_model.predict(bad)


def test_bad_classes_get_clear_errors(dog_model):
    with pytest.raises(IndexError, match="0..18"):
        dog_model.class_index(19)
    with pytest.raises(KeyError, match="Labrador_retriever"):
        dog_model.class_index("tabby")
    with pytest.raises(ValueError, match=r"\(N, 19\)"):
        dog_model.decode(np.zeros((2, 5)))


def test_unknown_model_lists_names():
    with pytest.raises(KeyError, match="dog_breeds, inception_v3, vgg16"):
        models.load("resnet")


def test_chapter_model_switch(monkeypatch):
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    assert models.chapter_model("lime") == "dog_breeds"
    monkeypatch.setenv(models.MODEL_ENV, "imagenet")
    assert models.chapter_model("lime") == "inception_v3"
    assert models.chapter_model("cam") == "vgg16" and models.chapter_model("gradcam") == "vgg16"
    monkeypatch.setenv(models.MODEL_ENV, "resnet")
    with pytest.raises(ValueError, match="imagenet"):
        models.chapter_model("lime")


def test_flatten_model_unnests_and_preserves_predictions(dog_model, rng):
    import keras

    nested = [l for l in dog_model.model.layers if isinstance(l, keras.Model)]
    assert len(nested) == 1  # the MobileNetV2 base
    flat = models.flatten_model(dog_model.model)
    assert not any(isinstance(l, keras.Model) for l in flat.layers)
    assert flat.get_layer(dog_model.last_conv_layer).output.shape == (None, 5, 5, 1280)
    assert flat.count_params() == dog_model.model.count_params()
    x = dog_model.preprocess(rng.rand(3, 160, 160, 3).astype(np.float32))
    np.testing.assert_allclose(flat(x), dog_model.model(x), atol=1e-6)


def test_flatten_model_on_a_small_nested_sequential():
    import keras

    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c1"), keras.layers.ReLU(name="r1")])
    outer = keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    flat = models.flatten_model(outer)
    assert [l.name for l in flat.layers][1:3] == ["c1", "r1"]
    x = np.random.RandomState(1).rand(2, 8, 8, 3).astype(np.float32)
    np.testing.assert_allclose(flat(x), outer(x), atol=1e-6)


@pytest.mark.parametrize(
    "name,size,layer,shape",
    [("inception_v3", (299, 299), "mixed10", (None, 8, 8, 2048)), ("vgg16", (224, 224), "block5_conv3", (None, 14, 14, 512))],
)
def test_text_exact_networks_without_weights(name, size, layer, shape, rng):
    import keras

    m = models.load(name, weights=None)
    assert m.input_size == size and m.num_classes == 1000
    assert m.model.get_layer(m.last_conv_layer).output.shape == shape
    img = rng.rand(100, 130, 3).astype(np.float32)
    x = m.preprocess(img)
    assert x.shape == (1, *size, 3)
    module = keras.applications.inception_v3 if name == "inception_v3" else keras.applications.vgg16
    import tensorflow as tf

    resized = tf.image.resize(img[None], size, antialias=True).numpy() * 255.0
    np.testing.assert_allclose(x, module.preprocess_input(resized), atol=1e-3)
    assert m.predict(img).shape == (1, 1000)


def test_with_model_keeps_the_wrapping_and_uses_the_new_network(dog_model, rng):
    import keras

    clone = keras.models.clone_model(dog_model.model)
    clone.set_weights([w * 0 for w in dog_model.model.get_weights()])  # all-zero network: uniform output
    other = dog_model.with_model(clone)
    img = rng.rand(50, 60, 3).astype(np.float32)
    assert other.class_names == dog_model.class_names and other.input_size == dog_model.input_size
    np.testing.assert_allclose(other.predict(img), np.full((1, 19), 1 / 19), atol=1e-6)
    assert not np.allclose(dog_model.predict(img), 1 / 19)  # the original is untouched


def test_predict_is_predict_resized_of_resize(dog_model, rng):
    import tensorflow as tf

    imgs = rng.rand(3, 90, 120, 3).astype(np.float32)
    small = dog_model.resize(imgs)
    assert small.shape == (3, 160, 160, 3) and small.dtype == np.float32
    expected = tf.image.resize(imgs, (160, 160), method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(small, np.clip(expected, 0, 1), atol=1e-6)
    at_size = rng.rand(2, 160, 160, 3).astype(np.float32)
    np.testing.assert_array_equal(dog_model.resize(at_size), at_size)  # identity at input_size
    np.testing.assert_array_equal(dog_model.predict(imgs, batch_size=2), dog_model.predict_resized(small, batch_size=2))
    # predict_resized is the network on the scaled batch, nothing else
    np.testing.assert_allclose(
        dog_model.predict_resized(small), dog_model.model(dog_model.preprocess(imgs)).numpy(), atol=1e-5
    )
    with pytest.raises(ValueError, match="resize"):
        dog_model.predict_resized(imgs)


@pytest.fixture(scope="module")
def random_vgg16():
    return models.load("vgg16", weights=None)


def test_imagenet_class_names_come_from_the_pinned_index(random_vgg16, monkeypatch):
    from keras.applications import imagenet_utils

    monkeypatch.delattr(imagenet_utils, "CLASS_INDEX", raising=False)  # keras' private: not used
    m = random_vgg16.with_model(random_vgg16.model)  # a fresh wrapper: names not loaded yet
    m._class_names = m._wnids = None
    names = m.class_names
    assert len(names) == 1000 and len(m.wnids) == 1000
    assert (names[242], names[243], names[282], names[208]) == ("boxer", "bull_mastiff", "tiger_cat", "Labrador_retriever")
    assert m.class_index("boxer") == 242 and m.class_index("n02108089") == 242
    top = m.decode(np.eye(1000)[[243]], top=1)[0][0]
    assert top[:2] == ("n02108422", "bull_mastiff")


def test_one_path_from_file_to_network_input(dog_model):
    """load_image keeps the picture's own size; the classifier resizes once (tf bilinear, antialias)."""
    import tensorflow as tf
    from PIL import Image

    image = data.load_image("cat_dog.jpg")
    with Image.open(data.fetch("cat_dog.jpg")) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    assert image.shape == pixels.shape and image.shape[:2] != dog_model.input_size
    np.testing.assert_array_equal(image, pixels)  # no resize on reading
    once = tf.image.resize(pixels[None], dog_model.input_size, method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(dog_model.resize(image), once, atol=1e-6)
    np.testing.assert_allclose(dog_model.preprocess(image), once * 2 - 1, atol=1e-5)  # MobileNetV2: [-1, 1]
    # not bilinear without antialias (what tf.image.resize does by default)
    plain = tf.image.resize(pixels[None], dog_model.input_size).numpy()
    assert np.abs(dog_model.resize(image) - plain).max() > 0.05


def test_resize_matrices_resize_to_a_non_square_input(rng):
    """``rows @ x @ cols.T`` is ``resize(x)`` for a network whose input is not square (6 x 10)."""
    import keras

    inp = keras.Input((6, 10, 3))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inp)
    net = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(conv)))
    clf = models.load_model(net, preprocess="unit")
    imgs = rng.rand(2, 9, 25, 3).astype(np.float32)
    rows, cols = clf.resize_matrices(9, 25)
    assert rows.shape == (6, 9) and cols.shape == (10, 25)
    np.testing.assert_allclose(np.einsum("hi,nijc,wj->nhwc", rows, imgs, cols), clf.resize(imgs), atol=1e-5)


def test_predict_resized_takes_one_image_and_checks_it(dog_model, rng):
    one = rng.rand(160, 160, 3).astype(np.float32)
    np.testing.assert_array_equal(dog_model.predict_resized(one), dog_model.predict_resized(one[None]))
    with pytest.raises(TypeError, match="uint8"):
        dog_model.predict_resized(np.zeros((1, 160, 160, 3), np.uint8))
