"""Known-answer tests for Grad-CAM++, Layer-CAM, Score-CAM and Eigen-CAM (xaitools.cams), and their
agreement with tf-keras-vis 0.8.7 on the default model."""

import numpy as np
import pytest
from test_perturbation import quadrant_mass, quadrant_model

from xaitools import cams, gradcam


def gap_model(seed=3, size=10, classes=4):
    """conv (ReLU) -> GlobalAveragePooling2D -> Dense(softmax): logit S_c = sum_k v_kc mean(A^k) + b_c."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(classes, activation="softmax", name="head")(h))


def activations(model, layer, x):
    import keras

    return np.asarray(keras.Model(model.inputs[0], model.get_layer(layer).output)(x))


def by_max(maps):
    """ReLU, then each map divided by its maximum (the CAM core's normalisation)."""
    m = np.maximum(maps, 0)
    return m / m.max(axis=(1, 2), keepdims=True)


def corr(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


@pytest.fixture
def x10():
    return np.random.RandomState(0).rand(3, 10, 10, 3).astype(np.float32)


CLASSES = [0, 1, 3]


# -- closed forms on a GAP -> Dense head ------------------------------------------------------------
def test_gradcam_plus_plus_on_a_gap_head(x10):
    """g^k_ij = v_k / Z (Z = h w), so alpha = 1 / (2 + v_k mean(A^k)) and w_k = ReLU(v_k) / (2 + v_k mean(A^k))."""
    model = gap_model()
    A = activations(model, "conv", x10)  # (3, 8, 8, 6)
    v = model.get_layer("head").get_weights()[0]  # (6, 4)
    got = cams.GradCAMPlusPlus(model, "conv").compute_maps(x10, CLASSES)
    vc = v[:, CLASSES].T  # (3, 6)
    w = np.maximum(vc, 0) / (2 + vc * A.mean(axis=(1, 2)))
    np.testing.assert_allclose(got, by_max(np.einsum("nhwk,nk->nhw", A, w)), atol=1e-5)
    # the authors' normalised alphas: w_k = ReLU(v_k) / Z, i.e. CAM without its negative weights
    got_norm = cams.GradCAMPlusPlus(model, "conv", normalize_alphas=True).compute_maps(x10, CLASSES)
    np.testing.assert_allclose(got_norm, by_max(np.einsum("nhwk,nk->nhw", A, np.maximum(vc, 0))), atol=1e-5)
    # ... and neither is Grad-CAM (sum_k v_k A^k): the test model has negative weights that matter
    assert np.abs(got - gradcam.GradCAM(model, "conv").compute_maps(x10, CLASSES)).max() > 0.05


def test_layercam_on_a_gap_head(x10):
    """ReLU(g^k_ij) A^k_ij = ReLU(v_k) A^k_ij / Z: CAM with the negative class weights set to 0."""
    model = gap_model()
    A = activations(model, "conv", x10)
    v = model.get_layer("head").get_weights()[0][:, CLASSES].T
    got = cams.LayerCAM(model, "conv").compute_maps(x10, CLASSES)
    np.testing.assert_allclose(got, by_max(np.einsum("nhwk,nk->nhw", A, np.maximum(v, 0))), atol=1e-5)


def test_layercam_keeps_each_positions_gradient():
    """conv -> times a fixed spatial map s (both signs) -> GAP -> Dense: g^k_ij = s_ij v_k / Z, so
    Layer-CAM = sum_k ReLU(s_ij v_k) A^k_ij, while pooled gradients (Grad-CAM) would give mean(s) v_k."""
    import keras

    keras.utils.set_random_seed(0)
    s = np.linspace(-1, 2, 144, dtype=np.float32).reshape(1, 12, 12, 1)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(keras.ops.multiply(h, s))
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(h))
    x = np.random.RandomState(1).rand(2, 12, 12, 3).astype(np.float32)
    A = activations(model, "conv", x)
    v = model.get_layer("head").get_weights()[0][:, [2, 0]].T  # (2, 5)
    want = np.einsum("nhwk,nhwk->nhw", A, np.maximum(s[..., :1] * v[:, None, None, :], 0))
    got = cams.LayerCAM(model, "conv").compute_maps(x, [2, 0])
    np.testing.assert_allclose(got, by_max(want), atol=1e-5)
    assert np.abs(got - gradcam.GradCAM(model, "conv").compute_maps(x, [2, 0])).max() > 0.1


def test_layercam_one_image_several_classes(x10):
    model = gap_model()
    both = cams.LayerCAM(model, "conv").compute_maps(x10[:1], [1, 3])
    np.testing.assert_allclose(both[1], cams.LayerCAM(model, "conv").compute_maps(x10[:1], 3)[0], atol=1e-6)


# -- Score-CAM ------------------------------------------------------------------------------------
def scorecam_reference(model, layer, x, c):
    """Score-CAM one channel at a time: OpenCV's bilinear upsampling, min-max, one forward pass each."""
    import cv2

    A = activations(model, layer, x[None])[0]
    weights = np.zeros(A.shape[-1])
    for k in range(A.shape[-1]):
        up = cv2.resize(A[..., k], (x.shape[1], x.shape[0]), interpolation=cv2.INTER_LINEAR)
        span = up.max() - up.min()
        mask = (up - up.min()) / span if span > 0 else np.zeros_like(up)
        weights[k] = np.asarray(model(x[None] * mask[None, ..., None]))[0, c]
    return weights, A


def test_scorecam_weights_are_masked_probabilities():
    """Against the one-channel-at-a-time reference, with one dead channel (skipped: weight 0) and one
    constant channel (its mask is all 0: the score of x * 0)."""
    model = quadrant_model(size=16, seed=2)
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[..., :2], bias[:2] = 0, [0.0, 0.5]
    model.get_layer("conv2").set_weights([kernel, bias])
    x = np.random.RandomState(3).rand(2, 16, 16, 3).astype(np.float32)
    explainer = cams.ScoreCAM(model, "conv2", batch_size=5)  # batches that split the 16 channels unevenly
    w, A, _ = explainer.get_cam_weights(x, np.array([1, 2]))
    for n, c in enumerate([1, 2]):
        want, a = scorecam_reference(model, "conv2", x[n], c)
        active = a.reshape(-1, a.shape[-1]).max(axis=0) > 0  # all-zero channels are skipped: weight 0
        assert active.sum() == len(active) - 1 and not active[0]
        np.testing.assert_allclose(w[n, active], want[active], atol=1e-4)
        assert (w[n, ~active] == 0).all()
        np.testing.assert_allclose(explainer.compute_maps(x[n : n + 1], c)[0],
                                   by_max(np.einsum("hwk,k->hw", a, want)[None])[0], atol=1e-4)


def test_faster_scorecam_keeps_the_most_varying_channels():
    model = quadrant_model(size=16, seed=2)
    x = np.random.RandomState(3).rand(1, 16, 16, 3).astype(np.float32)
    full, A, _ = cams.ScoreCAM(model, "conv2").get_cam_weights(x, np.array([1]))
    fast, _, _ = cams.ScoreCAM(model, "conv2", max_channels=3).get_cam_weights(x, np.array([1]))
    top3 = np.argsort(-A[0].reshape(-1, A.shape[-1]).var(axis=0))[:3]
    np.testing.assert_allclose(fast[0, top3], full[0, top3], atol=1e-6)
    assert np.count_nonzero(fast) == 3
    with pytest.raises(ValueError, match="max_channels must be"):
        cams.ScoreCAM(model, "conv2", max_channels=-1)


# -- Eigen-CAM ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [6, 2])  # h w > K and h w < K (the two ways to the principal direction)
def test_eigencam_of_rank_one_activations_is_the_spatial_factor(size):
    """A linear 1x1 conv of a one-channel image: A_ijk = x_ij c_k (rank 1). The first principal
    direction is +-c / |c|; with the sign rule the map is x / max(x), for any class (class-agnostic)."""
    import keras

    inp = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(5, 1, use_bias=False, name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h)))
    x = np.random.RandomState(0).rand(2, size, size, 1).astype(np.float32)
    for c in ([0.5, -1.0, 2.0, 0.1, 0.3], [-0.5, -1.0, -2.0, -0.1, -0.3]):  # mixed signs; all negative (A <= 0)
        model.get_layer("conv").set_weights([np.array(c, np.float32).reshape(1, 1, 1, 5)])
        e = cams.EigenCAM(model, "conv")
        np.testing.assert_allclose(e.compute_maps(x), x[..., 0] / x.max(axis=(1, 2, 3))[:, None, None], atol=1e-5)
        np.testing.assert_array_equal(e.compute_maps(x, [0, 0]), e.compute_maps(x, [1, 0]))


@pytest.mark.parametrize("size", [6, 2])
def test_eigencam_of_an_all_zero_activation_is_an_all_zero_map(size):
    """A black image through a bias-free linear conv: A = 0, no principal direction; its map is 0
    (not NaN), and the other image of the batch is mapped as usual."""
    import keras

    inp = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(5, 1, use_bias=False, name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h)))
    model.get_layer("conv").set_weights([np.array([0.5, -1.0, 2.0, 0.1, 0.3], np.float32).reshape(1, 1, 1, 5)])
    x = np.random.RandomState(1).rand(2, size, size, 1).astype(np.float32)
    x[0] = 0.0
    maps = cams.EigenCAM(model, "conv").compute_maps(x)
    np.testing.assert_array_equal(maps[0], 0.0)
    np.testing.assert_allclose(maps[1], x[1, ..., 0] / x[1].max(), atol=1e-5)


def test_eigencam_weights_are_the_first_right_singular_vector(x10):
    model = gap_model()
    w, A, _ = cams.EigenCAM(model, "conv").get_cam_weights(x10, np.zeros(3, np.int64))
    for n in range(3):
        v = np.linalg.svd(A[n].reshape(-1, A.shape[-1]).astype(np.float64))[2][0]
        np.testing.assert_allclose(np.abs(w[n] @ v), 1, atol=1e-5)


# -- every method on a model that only sees the top-right quadrant ------------------------------
@pytest.mark.parametrize("method, layer", [
    (gradcam.GradCAM, "conv2"), (cams.GradCAMPlusPlus, "conv2"), (cams.LayerCAM, "conv2"),
    (cams.LayerCAM, "conv1"), (cams.ScoreCAM, "conv2"), (cams.EigenCAM, "conv2"),
])
def test_quadrant_model_maps_sit_in_the_quadrant(method, layer):
    model = quadrant_model()
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    top = np.argmax(np.asarray(model(x)), axis=-1)
    maps = method(model, layer).compute_maps(x, top)
    assert maps.shape == (2, 32, 32)
    assert (quadrant_mass(maps) > 0.85).all(), quadrant_mass(maps)


# -- agreement with tf-keras-vis on the default model ----------------------------------------------
@pytest.fixture(scope="module")
def cat_dog(dog_model):
    from xaitools import data

    x = dog_model.preprocess(data.load_image("cat_dog.jpg"))
    return x, int(np.argmax(dog_model.model(x)[0]))


@pytest.fixture(scope="module")
def tfkv(dog_model):
    """tf-keras-vis' inputs: the flattened model with its softmax replaced by a linear output."""
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from xaitools.models import flatten_model

    kwargs = dict(penultimate_layer="out_relu", seek_penultimate_conv_layer=False, expand_cam=False)
    return flatten_model(dog_model.model), ReplaceToLinear(), CategoricalScore, kwargs


def min_max(maps):
    """tf-keras-vis' normalisation: (m - min) / (max - min); ours divides by the maximum only."""
    m = np.asarray(maps)
    lo, hi = m.min(axis=(1, 2), keepdims=True), m.max(axis=(1, 2), keepdims=True)
    return (m - lo) / (hi - lo)


def test_gradient_cams_agree_with_tf_keras_vis(dog_model, cat_dog, tfkv):
    """Same formulas: equal after tf-keras-vis' min-max normalisation. Grad-CAM++ with the authors'
    normalised alphas is tf-keras-vis' exactly; the paper's eq. 19 (our default) correlates >= 0.99."""
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam

    (x, c), (flat, linear, score, kwargs) = cat_dog, tfkv
    theirs = np.asarray(GradcamPlusPlus(flat, linear, clone=True)(score([c]), x, **kwargs))
    norm = cams.GradCAMPlusPlus(dog_model, "out_relu", normalize_alphas=True).compute_maps(x, c)
    np.testing.assert_allclose(min_max(norm), theirs, atol=2e-3)
    assert corr(cams.GradCAMPlusPlus(dog_model, "out_relu").compute_maps(x, c), theirs) >= 0.99
    theirs = np.asarray(Layercam(flat, linear, clone=True)(score([c]), x, **kwargs))
    np.testing.assert_allclose(min_max(cams.LayerCAM(dog_model, "out_relu").compute_maps(x, c)), theirs, atol=2e-3)


def test_scorecam_agrees_with_tf_keras_vis(dog_model, cat_dog, tfkv):
    """Faster-Score-CAM with the same 128 channels (largest spatial spread) on both sides. The masks
    differ slightly (tf-keras-vis upsamples with scipy's zoom, we with tf.image.resize), so the maps
    agree in correlation, not to the last digit."""
    from tf_keras_vis.scorecam import Scorecam

    (x, c), (flat, linear, score, kwargs) = cat_dog, tfkv
    theirs = np.asarray(Scorecam(flat, linear, clone=True)(score([c]), x, max_N=128, **kwargs))
    ours = cams.ScoreCAM(dog_model, "out_relu", max_channels=128).compute_maps(x, c)
    assert corr(ours, theirs) >= 0.95
