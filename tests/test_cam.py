import sys
import types

import cv2
import numpy as np
import pytest

import xaitools
from xaitools import cam, models


def tiny_gap_model(classes=3, seed=0):
    """1x1 conv (no activation) -> GAP -> Dense: its feature maps and CAMs are easy to compute by hand."""
    import keras

    rng = np.random.RandomState(seed)
    inputs = keras.Input((6, 7, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs)
    conv_w, conv_b = rng.normal(size=(1, 1, 3, 4)), rng.normal(size=4)
    dense_w, dense_b = rng.normal(size=(4, classes)), rng.normal(size=classes)
    model.get_layer("conv").set_weights([conv_w, conv_b])
    model.get_layer("out").set_weights([dense_w, dense_b])
    return model, (conv_w[0, 0], conv_b, dense_w)


def text_caml(conv_outputs, class_weights):
    """The text's loop over channels (indentation repaired), for one image: sum_k w_k A^k / max."""
    conv_outputs = np.rollaxis(conv_outputs, 2)
    caml = np.zeros(shape=conv_outputs.shape[1:3], dtype=np.float32)
    for i, w in enumerate(class_weights[:]):
        caml += w * conv_outputs[i, :, :]
    return caml / np.max(caml)


def test_cam_equals_the_hand_computed_map():
    model, (conv_w, conv_b, dense_w) = tiny_gap_model()
    x = np.random.RandomState(1).normal(size=(2, 6, 7, 3)).astype(np.float32)
    A = x @ conv_w + conv_b  # the 1x1 conv by hand: (2, 6, 7, 4)
    maps = cam.CAM(model, "conv").compute_maps(x, [2, 0])
    for n, c in enumerate([2, 0]):
        expected = np.maximum(A[n] @ dense_w[:, c], 0)
        np.testing.assert_allclose(maps[n], expected / expected.max(), atol=1e-5)
        if (A[n] @ dense_w[:, c]).min() > 0:  # where no ReLU clipping happens, the text's loop agrees
            np.testing.assert_allclose(maps[n], text_caml(A[n], dense_w[:, c]), atol=1e-5)
    weights, feature_maps, predictions = cam.CAM(model, "conv").get_cam_weights(x, np.array([2, 0]))
    np.testing.assert_allclose(weights, dense_w[:, [2, 0]].T, atol=1e-6)
    np.testing.assert_allclose(feature_maps, A, atol=1e-5)
    np.testing.assert_allclose(predictions, model(x, training=False), atol=1e-6)


def test_the_texts_loop_and_the_einsum_agree_on_positive_maps():
    rng = np.random.RandomState(2)
    A, w = rng.uniform(0.1, 1, size=(5, 5, 8)), rng.uniform(0.1, 1, size=8)
    model, _ = tiny_gap_model()

    class Fixed(cam.BaseCAM):
        def get_cam_weights(self, images, classes):
            return w[None], A[None], np.zeros((1, 3))

    np.testing.assert_allclose(Fixed(model, "conv").compute_maps(np.zeros((1, 6, 7, 3)), 0)[0], text_caml(A, w), atol=1e-6)


def test_per_position_weights_make_a_layer_cam_style_map():
    """BaseCAM takes weights (N, h, w, K) as well as (N, K): the map is sum_k w_hwk A_hwk."""
    rng = np.random.RandomState(7)
    A = rng.uniform(-1, 1, size=(2, 5, 4, 3))
    w = rng.uniform(-1, 1, size=(2, 5, 4, 3))
    model, _ = tiny_gap_model()

    class PerPosition(cam.BaseCAM):
        def get_cam_weights(self, images, classes):
            return w, A, np.zeros((2, 3))

    maps = PerPosition(model, "conv").compute_maps(np.zeros((2, 6, 7, 3), np.float32), 0)
    for n in range(2):
        expected = np.maximum((A[n] * w[n]).sum(axis=-1), 0)
        np.testing.assert_allclose(maps[n], expected / expected.max(), atol=1e-6)
    unrelu = PerPosition(model, "conv").compute_maps(np.zeros((2, 6, 7, 3), np.float32), 0, relu=False)
    raw = (A[0] * w[0]).sum(axis=-1)
    np.testing.assert_allclose(unrelu[0], raw / raw.max(), atol=1e-6)

    class WrongShape(cam.BaseCAM):
        def get_cam_weights(self, images, classes):
            return w[:, 0], A, np.zeros((2, 3))  # (N, w, K): neither (N, K) nor A's shape

    with pytest.raises(ValueError, match=r"\(N, K\)"):
        WrongShape(model, "conv").compute_maps(np.zeros((2, 6, 7, 3), np.float32), 0)


def test_maps_follow_the_dense_weights_while_training_and_all_zero_maps_are_safe():
    model, _ = tiny_gap_model()
    x = np.random.RandomState(3).normal(size=(1, 6, 7, 3)).astype(np.float32)
    explainer = cam.CAM(model, "conv")
    before = explainer.compute_maps(x, 1)
    dense = model.get_layer("out")
    dense.set_weights([-dense.get_weights()[0], dense.get_weights()[1]])  # the weights are read at call time
    after = explainer.compute_maps(x, 1)
    assert not np.allclose(before, after)
    dense.set_weights([np.zeros_like(dense.get_weights()[0]), dense.get_weights()[1]])
    assert np.array_equal(explainer.compute_maps(x, 1), np.zeros((1, 6, 7)))


def test_compute_heatmap_and_overlay_follow_the_texts_display_conventions():
    model, _ = tiny_gap_model()
    x = np.random.RandomState(4).normal(size=(1, 6, 7, 3)).astype(np.float32)
    explainer = cam.CAM(model, "conv")
    heatmap = explainer.compute_heatmap(x, 1)
    caml = cv2.resize(explainer.compute_maps(x, 1)[0], (7, 6))
    assert heatmap.shape == (6, 7, 3) and heatmap.dtype == np.uint8
    jet = cv2.applyColorMap(np.uint8(255 * caml), cv2.COLORMAP_JET)[..., ::-1]  # RGB
    np.testing.assert_array_equal(heatmap[caml >= 0.2], jet[caml >= 0.2])
    assert (caml < 0.2).any() and not heatmap[caml < 0.2].any()  # blacked out below 0.2
    image = np.full((6, 7, 3), 0.25, np.float32)
    same, output = explainer.overlay_heatmap(heatmap, image)
    assert same is heatmap and output.dtype == np.uint8
    np.testing.assert_array_equal(output, np.uint8(np.round(np.clip(heatmap / 255 * 0.5 + image, 0, 1) * 255)))


def test_conv_layer_names_and_cam_model_reach_into_nested_bases(dog_model, rng):
    import keras

    names = cam.conv_layer_names(dog_model.model)
    assert names[-1] == "out_relu" and "Conv1" in names and "dense" not in names
    assert not any(n.startswith("input") for n in names)
    cm = cam.cam_model(dog_model.model, "out_relu")
    x = dog_model.preprocess(rng.rand(2, 160, 160, 3).astype(np.float32))
    features, predictions = cm(x)
    base = next(l for l in dog_model.model.layers if isinstance(l, keras.Model))
    np.testing.assert_allclose(features, base(x, training=False), atol=1e-5)
    np.testing.assert_allclose(predictions, dog_model.model(x, training=False), atol=1e-5)


def test_cam_of_the_dog_model_is_its_gap_head(dog_model):
    """The dog model is GAP -> Dropout -> Dense already: CAM = ReLU(A @ kernel[:, c]) / max."""
    from xaitools import data

    x = dog_model.preprocess(data.load_image("cat-and-dog.jpg"))  # a Labrador: class 7 has evidence
    explainer = cam.CAM(dog_model.model, "out_relu")
    A = np.asarray(explainer.cammodel(x)[0])[0]
    kernel = dog_model.model.get_layer("dense").get_weights()[0]
    m = np.maximum(A @ kernel[:, 7], 0)
    np.testing.assert_allclose(explainer.compute_maps(x, 7)[0], m / m.max(), atol=1e-5)


@pytest.fixture(scope="module")
def dog_base():
    return cam.pretrained_base("dog_breeds")


def test_cam_model_flattens_the_base_and_preserves_predictions(dog_base, rng):
    import keras

    base, size, preprocess = dog_base
    model = cam.CAMmodel(base)
    assert not any(isinstance(l, keras.Model) for l in model.layers)
    assert [w.path for w in model.trainable_weights] == [w.path for w in model.layers[-1].weights]
    nested = keras.Sequential([keras.Input((*size, 3)), base, model.layers[-2], model.layers[-1]])
    x = preprocess(rng.rand(3, *size, 3))
    np.testing.assert_allclose(model(x), nested(x, training=False), atol=1e-5)
    assert cam.conv_layer_names(model)[-1] == "out_relu"


def train(base, preprocess, fast, x, y, epochs=2):
    xaitools.seed_everything(222)
    model = cam.CAMmodel(base)
    logger = cam.CAMLogger(preprocess(x[:3]), "out_relu", display=x[:3])
    history = cam.fit(model, preprocess(x), y, "out_relu", epochs=epochs, batch_size=4,
                      validation_data=(preprocess(x[:4]), y[:4]), callbacks=[logger], fast=fast)
    return model, history.history, logger


def test_the_fast_path_trains_the_same_model_as_the_naive_one(dog_base):
    base, size, preprocess = dog_base
    rng = np.random.RandomState(5)
    x = rng.rand(12, *size, 3).astype(np.float32)
    y = rng.randint(0, 2, 12)
    fast, fast_history, fast_logger = train(base, preprocess, True, x, y)
    naive, naive_history, naive_logger = train(base, preprocess, False, x, y)
    xaitools.seed_everything(222)
    initial = cam.CAMmodel(base)  # the same start, untrained: training must have changed the weights
    for w_fast, w_naive, w_init in zip(fast.layers[-1].get_weights(), naive.layers[-1].get_weights(),
                                       initial.layers[-1].get_weights()):
        np.testing.assert_allclose(w_fast, w_naive, atol=1e-5)
        assert not np.allclose(w_fast, w_init, atol=1e-5)
    np.testing.assert_allclose(fast.predict(preprocess(x[:4]), verbose=0), naive.predict(preprocess(x[:4]), verbose=0), atol=1e-5)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(fast_history[key], naive_history[key], atol=1e-5)
    np.testing.assert_allclose(np.stack(fast_logger.maps), np.stack(naive_logger.maps), atol=1e-5)


class FakeWandb(types.ModuleType):
    def __init__(self, run):
        super().__init__("wandb")
        self.run, self.logged = run, []
        self.Image = lambda array: ("image", np.asarray(array))

    def log(self, payload):
        self.logged.append(payload)


def tiny_base():
    """A small frozen conv base with BatchNorm, nested in a Sequential (like a pretrained base)."""
    import keras

    inner = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(6, 3, name="c1"),
                              keras.layers.BatchNormalization(name="bn1"), keras.layers.ReLU(name="r1")])
    return keras.Sequential([keras.Input((16, 16, 3)), inner], name="tiny_base")


def test_cam_logger_keeps_maps_per_epoch_and_logs_to_wandb_only_when_a_run_is_active(monkeypatch):
    fake = FakeWandb(run=object())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    xaitools.seed_everything(1)
    model = cam.CAMmodel(tiny_base())
    x = np.random.RandomState(6).rand(6, 16, 16, 3).astype(np.float32)
    logger = cam.CAMLogger(x[:2] * 2 - 1, "r1", display=x[:2])  # model=None: fit(fast=True) sets it
    cam.fit(model, x * 2 - 1, np.array([0, 1] * 3), "r1", epochs=2, batch_size=3, callbacks=[logger])
    assert len(logger.maps) == len(logger.probs) == 2 and logger.maps[0].shape == (2, 14, 14)
    assert not np.allclose(logger.maps[0], logger.maps[1])  # the maps follow the training
    np.testing.assert_allclose(logger.maps[1], cam.CAM(model, "r1").compute_maps(x[:2] * 2 - 1, 0), atol=1e-6)
    np.testing.assert_allclose(logger.probs[1], model(x[:2] * 2 - 1), atol=1e-6)
    assert [p["epoch"] for p in fake.logged] == [0, 1]
    payload = fake.logged[-1]
    assert len(payload["cam"]) == len(payload["images"]) == 2
    assert all(kind == "image" and img.shape == (16, 16, 3) and img.dtype == np.uint8 for kind, img in payload["cam"])
    fake.run = None  # wandb installed, no active run: nothing is logged
    logger.on_epoch_end(2)
    monkeypatch.setitem(sys.modules, "wandb", None)  # wandb not installed: `import wandb` fails
    logger.on_epoch_end(3)
    assert len(fake.logged) == 2 and len(logger.maps) == 4


def test_bad_inputs_get_clear_errors(dog_model):
    model, _ = tiny_gap_model()
    explainer = cam.CAM(model, "conv")
    x = np.zeros((2, 6, 7, 3), np.float32)
    with pytest.raises(ValueError, match=r"'nope' is not a conv layer.*conv"):
        cam.CAM(model, "nope")
    with pytest.raises(ValueError, match="out_relu"):  # the candidates of a nested base are listed
        cam.cam_model(dog_model.model, "block_99_relu")
    with pytest.raises(IndexError, match=r"3 classes \(0..2\)"):
        explainer.compute_maps(x, 3)
    with pytest.raises(IndexError, match="class index -1"):
        explainer.compute_maps(x, [0, -1])
    with pytest.raises(ValueError, match="one per image"):
        explainer.compute_maps(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        explainer.compute_maps(x[0], 0)
    with pytest.raises(TypeError, match="floats"):
        explainer.compute_maps(np.zeros((1, 6, 7, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="one image"):
        explainer.compute_heatmap(x, 0)
    with pytest.raises(ValueError, match="Grad-CAM"):  # the dog model's head, but not right after this layer
        cam.CAM(dog_model.model, "block_16_project")


def test_a_vgg16_top_is_not_a_gap_head_and_the_texts_cam_model_is(rng):
    import keras

    vgg = models.load("vgg16", weights=None)
    with pytest.raises(ValueError, match=r"MaxPooling2D -> Flatten -> Dense.*Grad-CAM"):
        cam.CAM(vgg.model, vgg.last_conv_layer)
    from xaitools import methods

    with pytest.raises(ValueError, match="Grad-CAM"):  # the registry's CAM on the ImageClassifier
        methods.METHODS["cam"](vgg, rng.rand(40, 50, 3).astype(np.float32), [0])
    # the text's model: VGG16 without its top, GAP and Dense(1) -- CAM reads the maps of block5_pool
    model = cam.CAMmodel(keras.applications.VGG16(include_top=False, weights=None))
    assert cam.conv_layer_names(model)[-1] == "block5_pool"
    maps = cam.CAM(model, "block5_pool").compute_maps(rng.rand(1, 64, 64, 3).astype(np.float32), 0)
    assert maps.shape == (1, 2, 2)


def test_cli_cam_writes_the_map_at_the_images_size(tmp_path, capsys, dog_model):
    from xaitools import cli, data

    hm = tmp_path / "map.npy"
    assert cli.main(["explain", "cat_dog.jpg", "--method", "cam", "--heatmap-out", str(hm)]) == 0
    assert "cam: bull_mastiff (class 11" in capsys.readouterr().out
    heatmap = np.load(hm)
    image = data.load_image("cat_dog.jpg")
    assert heatmap.shape == image.shape[:2] and heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    small = cam.CAM(dog_model.model, "out_relu").compute_maps(dog_model.preprocess(image), 11)[0]
    row, col = np.unravel_index(np.argmax(small), small.shape)  # the map's peak lands in the same place
    peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert int(peak[0] * 5 / heatmap.shape[0]) == row and int(peak[1] * 5 / heatmap.shape[1]) == col
    assert cli.main(["explain", "cat_dog.jpg", "--method", "cam", "--layer", "block_16_project"]) == 2
    assert "Grad-CAM" in capsys.readouterr().err


def test_without_relu_a_map_with_no_positive_value_is_left_unscaled():
    """compute_maps divides by the maximum only when it is positive (else by 1): an all-negative map
    without ReLU comes back as it is, an all-negative map with ReLU is all zero."""
    model, _ = tiny_gap_model()
    A = -np.random.RandomState(8).uniform(0.1, 1, size=(1, 3, 4, 2))

    class Negative(cam.BaseCAM):
        def get_cam_weights(self, images, classes):
            return np.ones((1, 2)), A, np.zeros((1, 3))

    x = np.zeros((1, 6, 7, 3), np.float32)
    np.testing.assert_allclose(Negative(model, "conv").compute_maps(x, 0, relu=False), A.sum(axis=-1), atol=1e-12)
    assert not Negative(model, "conv").compute_maps(x, 0).any()


def test_cam_logger_rescales_each_image_for_display_and_fast_fit_needs_a_frozen_base():
    x = np.random.RandomState(9).uniform(-1, 1, size=(2, 16, 16, 3)).astype(np.float32)
    logger = cam.CAMLogger(x, "r1")
    for shown, image in zip(logger.display, x):
        np.testing.assert_allclose(shown, (image - image.min()) / (image.max() - image.min()), atol=1e-6)
    model = cam.CAMmodel(tiny_base())
    model.layers[1].trainable = True  # the first layer of the (flattened) base
    with pytest.raises(ValueError, match="frozen"):
        cam.fit(model, x, np.array([0, 1]), "r1", epochs=1)


def test_the_old_module_name_cam_training_keeps_the_same_objects():
    """``xaitools.cam_training`` (the CAM chapter's old module) re-exports cam's own objects."""
    from xaitools import cam_training

    for name in cam_training.__all__:
        assert getattr(cam_training, name) is getattr(cam, name), name


def test_seed_everything_makes_runs_repeatable_and_ops_deterministic():
    """The training runs above rely on it: seeded NumPy and Keras draws, deterministic TensorFlow ops."""
    import keras
    from tensorflow.python.framework import config  # TF 2.21 has no public getter for op determinism

    xaitools.seed_everything(5)
    first = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    xaitools.seed_everything(5)
    second = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert config.is_op_determinism_enabled()


def test_the_dog_base_preprocess_is_the_dog_models_scaling(dog_base, dog_model, rng):
    """pretrained_base's ``preprocess``: [0, 1] images at its size -> MobileNetV2's [-1, 1], as the dog model."""
    base, size, preprocess = dog_base
    x = rng.rand(2, *size, 3).astype(np.float32)
    np.testing.assert_allclose(preprocess(x), dog_model.preprocess(x), atol=1e-6)
    np.testing.assert_allclose(preprocess(np.zeros((1, *size, 3))), -1.0)
    np.testing.assert_allclose(preprocess(np.ones((1, *size, 3))), 1.0)


def test_the_naive_fit_trains_every_trainable_layer():
    """fast=False is plain model.fit: a base that is not frozen is trained too (fast=True refuses it)."""
    import keras

    xaitools.seed_everything(3)
    inp = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(3, 3, name="conv")  # trainable: not a frozen base
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(conv(inp))))
    before = conv.get_weights()[0].copy()
    x = np.random.RandomState(0).rand(6, 8, 8, 3).astype(np.float32)
    y = np.array([0, 1] * 3)
    history = cam.fit(model, x, y, "conv", epochs=1, batch_size=3, fast=False)
    assert len(history.history["loss"]) == 1 and not hasattr(history, "features")
    assert not np.allclose(conv.get_weights()[0], before)
    with pytest.raises(ValueError, match="frozen"):
        cam.fit(model, x, y, "conv", epochs=1, batch_size=3, fast=True)


def test_cam_logger_logs_display_images_clipped_to_8_bit(monkeypatch):
    """Display images a little outside [0, 1] are logged clipped to 0..255, not wrapped around."""
    fake = FakeWandb(run=object())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    model = cam.CAMmodel(tiny_base())
    x = np.random.RandomState(7).rand(2, 16, 16, 3).astype(np.float32)
    display = x * 1.6 - 0.3  # values in [-0.3, 1.3]
    cam.CAMLogger(x * 2 - 1, "r1", model=model, display=display).on_epoch_end(0)
    logged = np.stack([img for kind, img in fake.logged[-1]["images"]])
    np.testing.assert_array_equal(logged, np.uint8(np.round(np.clip(display, 0, 1) * 255)))
    assert logged.max() == 255 and logged.min() == 0
