import numpy as np
import pytest

from xaitools import gradcam

BULL_MASTIFF, PUG = 11, 14
SEEDS = {"flatten": 1, "gap": 3}  # weights whose maps for classes 0, 1, 3 of `x12` are not all negative


def tiny_model(activation="softmax", head="flatten"):
    import keras

    keras.utils.set_random_seed(SEEDS[head])
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(h)  # (8, 8, 8) feature maps
    if head == "gap":
        h = keras.layers.GlobalAveragePooling2D()(h)
    else:  # a head CAM cannot handle: Flatten -> Dense -> Dense
        h = keras.layers.Dense(16, activation="tanh")(keras.layers.Flatten()(h))
    out = keras.layers.Dense(4, activation=activation, name="head")(h)
    return keras.Model(inp, out)


def twin(model, head):
    """The same weights with a linear last layer: outputs the logits (built independently)."""
    t = tiny_model(activation=None, head=head)
    t.set_weights(model.get_weights())
    return t


def texts_gradcam(logit_model, layer, x, c):
    """The text's recipe (keras.io style, TF2): grads, pooled_grads, weighted channels, mean, ReLU, /max."""
    import keras
    import tensorflow as tf

    grad_model = keras.Model(logit_model.inputs[0], [logit_model.get_layer(layer).output, logit_model.output])
    with tf.GradientTape() as tape:
        conv_layer_output, preds = grad_model(x[np.newaxis])
        class_channel = preds[:, c]
    grads = tape.gradient(class_channel, conv_layer_output)
    pooled_grads_value = np.asarray(tf.reduce_mean(grads, axis=(0, 1, 2)))
    conv_layer_output = np.array(conv_layer_output[0])
    for i in range(conv_layer_output.shape[-1]):
        conv_layer_output[:, :, i] *= pooled_grads_value[i]
    heatmap = np.mean(conv_layer_output, axis=-1)
    heatmap = np.maximum(heatmap, 0)
    return heatmap / np.max(heatmap)


def corr(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


@pytest.fixture
def x12():
    return np.random.RandomState(0).rand(3, 12, 12, 3).astype(np.float32)


@pytest.fixture(scope="module")
def cat_dog_x(dog_model):
    from xaitools import data

    return dog_model.preprocess(data.load_image("cat_dog.jpg"))


@pytest.fixture(scope="module")
def dog_gradcam(dog_model):
    return gradcam.GradCAM(dog_model.model, dog_model.last_conv_layer)


@pytest.mark.parametrize("head", ["flatten", "gap"])
def test_equals_the_texts_recipe(x12, head):
    model, x = tiny_model(head=head), x12
    maps = gradcam.GradCAM(model, "conv2").compute_maps(x, [0, 1, 3])
    assert maps.shape == (3, 8, 8)
    for i, c in enumerate([0, 1, 3]):
        np.testing.assert_allclose(maps[i], texts_gradcam(twin(model, head), "conv2", x[i], c), atol=1e-5)


def test_on_a_gap_dense_head_gradcam_is_the_scaled_cam(x12):
    model, x = tiny_model(head="gap"), x12[:2]
    alpha, A, _ = gradcam.GradCAM(model, "conv2").get_cam_weights(x, [2, 2])
    kernel = np.asarray(model.get_layer("head").kernel)  # (K, C)
    h, w = A.shape[1:3]
    # y^c = sum_k W_kc mean_ij A^k_ij + b_c  =>  alpha_k = W_kc / (h w): Grad-CAM = CAM / (h w), before ReLU
    np.testing.assert_allclose(alpha * h * w, np.tile(kernel[:, 2], (2, 1)), rtol=1e-5, atol=1e-6)
    cam_raw = np.einsum("nhwk,k->nhw", A, kernel[:, 2])
    np.testing.assert_allclose(np.einsum("nhwk,nk->nhw", A, alpha) * h * w, cam_raw, rtol=1e-4, atol=1e-5)


def test_on_the_dog_model_gradcam_equals_cam(dog_model, dog_gradcam, cat_dog_x):
    # MobileNetV2 -> GAP -> Dropout -> Dense(softmax): the same identity on the real network
    alpha, A, probs = dog_gradcam.get_cam_weights(cat_dog_x, BULL_MASTIFF)
    kernel = np.asarray(dog_model.model.layers[-1].kernel)
    np.testing.assert_allclose(alpha[0] * 25, kernel[:, BULL_MASTIFF], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probs, dog_model.predict(cat_dog_x * 0.5 + 0.5), atol=1e-4)
    from xaitools import cam

    np.testing.assert_allclose(
        dog_gradcam.compute_maps(cat_dog_x, BULL_MASTIFF), cam.CAM(dog_model.model, "out_relu").compute_maps(cat_dog_x, BULL_MASTIFF),
        atol=1e-5,
    )


def tf_keras_vis_gradcam(model, layer, x, classes):
    """tf-keras-vis 0.8.7's Gradcam, on the logits (ReplaceToLinear on a clone), before upsampling."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    vis = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    return np.asarray(
        vis(CategoricalScore(list(classes)), x, penultimate_layer=layer, seek_penultimate_conv_layer=False,
            expand_cam=False, normalize_cam=False)
    )


def test_agrees_with_tf_keras_vis_on_a_small_model(x12):
    model, x = tiny_model(head="flatten"), x12
    theirs = tf_keras_vis_gradcam(model, "conv2", x, [0, 1, 3])
    ours = gradcam.GradCAM(model, "conv2").compute_maps(x, [0, 1, 3])
    assert np.asarray(model(x)).sum() == pytest.approx(3.0, abs=1e-4)  # the clone left our model's softmax alone
    for t, o in zip(theirs, ours):
        assert t.max() > 0 and corr(t, o) >= 0.99
        np.testing.assert_allclose(o, t / t.max(), atol=1e-5)


def test_agrees_with_tf_keras_vis_on_the_dog_model(dog_model, dog_gradcam, cat_dog_x):
    from xaitools.models import flatten_model

    # tf-keras-vis needs the flat model (it builds its own model from `layer.output`)
    theirs = tf_keras_vis_gradcam(flatten_model(dog_model.model), "out_relu", np.repeat(cat_dog_x, 2, 0), [BULL_MASTIFF, PUG])
    ours = dog_gradcam.compute_maps(cat_dog_x, [BULL_MASTIFF, PUG])
    for t, o in zip(theirs, ours):
        assert corr(t, o) >= 0.99


def test_two_classes_give_different_maps(dog_gradcam, cat_dog_x):
    maps = dog_gradcam.compute_maps(cat_dog_x, [BULL_MASTIFF, PUG])
    assert maps.shape == (2, 5, 5) and maps.min() >= 0 and np.allclose(maps.max(axis=(1, 2)), 1)
    assert corr(maps[0], maps[1]) < 0.9


def test_batched_equals_one_at_a_time(dog_gradcam, cat_dog_x, rng):
    x = np.concatenate([cat_dog_x, cat_dog_x[:, :, ::-1], np.clip(cat_dog_x + rng.normal(0, 0.1, cat_dog_x.shape), -1, 1)])
    classes = [BULL_MASTIFF, PUG, 7]
    batched = gradcam.GradCAM(dog_gradcam.model, "out_relu", batch_size=2).compute_maps(x, classes)
    single = np.concatenate([dog_gradcam.compute_maps(x[i : i + 1], c) for i, c in enumerate(classes)])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    many = dog_gradcam.compute_maps(x[:1], classes)  # one image, several classes
    np.testing.assert_allclose(many, np.concatenate([dog_gradcam.compute_maps(x[:1], c) for c in classes]), atol=1e-5)


def test_convenience_function_and_upsample(dog_model, cat_dog_x):
    from xaitools import data

    image = data.load_image("cat_dog.jpg")
    maps = gradcam.gradcam(dog_model, image)  # the top class: bull_mastiff
    np.testing.assert_allclose(maps, gradcam.GradCAM(dog_model.model, "out_relu").compute_maps(cat_dog_x, BULL_MASTIFF), atol=1e-6)
    up = gradcam.upsample(maps, image.shape[:2])
    assert up.shape == (1, *image.shape[:2]) and 0 <= up.min() and up.max() <= 1
    assert gradcam.upsample(maps[0], (50, 40)).shape == (50, 40)


def test_bad_inputs_get_clear_errors(dog_model, dog_gradcam, cat_dog_x):
    with pytest.raises(ValueError, match="out_relu"):  # lists the conv layers
        gradcam.GradCAM(dog_model.model, "block_99_relu")
    with pytest.raises(ValueError, match="not a conv layer"):
        gradcam.GradCAM(dog_model.model, "dense")
    with pytest.raises(IndexError, match=r"19 classes \(0..18\)"):
        dog_gradcam.compute_maps(cat_dog_x, 19)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        dog_gradcam.compute_maps(cat_dog_x[0], 0)
    with pytest.raises(TypeError, match="float"):
        dog_gradcam.compute_maps(np.zeros((1, 160, 160, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        dog_gradcam.compute_maps(np.repeat(cat_dog_x, 3, 0), [1, 2])
    with pytest.raises(ValueError, match="output must be one of"):
        gradcam.GradCAM(dog_model.model, "out_relu", output="softmax")


def test_cli_gradcam(tmp_path, capsys):
    from xaitools import cli

    hm = tmp_path / "map.npy"
    assert cli.main(["explain", "cat_dog.jpg", "--method", "gradcam", "--class", "pug", "--heatmap-out", str(hm)]) == 0
    assert "gradcam: pug (class 14" in capsys.readouterr().out
    heatmap = np.load(hm)
    assert heatmap.shape == (480, 640) and heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    assert cli.main(["explain", "cat_dog.jpg", "--method", "gradcam", "--layer", "no_such_layer"]) == 2
    err = capsys.readouterr().err
    assert "'no_such_layer' is not a conv layer" in err and "out_relu" in err  # lists the conv layers


def test_gradcam_of_the_probability_differentiates_the_softmax_output(x12):
    """output="probability": the text's recipe on the softmax model itself (no logit twin), which
    differs from the logit's map."""
    model = tiny_model(head="gap")
    probability = gradcam.GradCAM(model, "conv2", output="probability").compute_maps(x12, [0, 1, 3])
    logit = gradcam.GradCAM(model, "conv2").compute_maps(x12, [0, 1, 3])
    for i, c in enumerate([0, 1, 3]):
        np.testing.assert_allclose(probability[i], texts_gradcam(model, "conv2", x12[i], c), atol=1e-5)
    assert np.abs(probability - logit).max() > 0.05


def test_upsample_of_no_maps_is_no_maps():
    assert gradcam.upsample(np.zeros((0, 5, 5)), (10, 12)).shape == (0, 10, 12)
    assert gradcam.upsample(np.zeros((3, 5, 5)), (10, 12)).shape == (3, 10, 12)
