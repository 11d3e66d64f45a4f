"""Known-answer tests for occlusion and RISE (xaitools.perturbation)."""

import numpy as np
import pytest
from scipy.signal import convolve2d

from xaitools import perturbation


def linear_model(shape=(8, 8, 2), classes=3, seed=0, weights=None, bias=None):
    """f(x) = W^T vec(x) + b: additive in the pixels, so every pixel's importance is known."""
    import keras

    inp = keras.Input(shape)
    out = keras.layers.Dense(classes, name="head")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, out)
    rng = np.random.RandomState(seed)
    w = rng.randn(int(np.prod(shape)), classes).astype(np.float32) if weights is None else weights
    b = rng.randn(classes).astype(np.float32) if bias is None else bias
    model.get_layer("head").set_weights([w, b])
    return model, w.reshape(*shape, classes), b


def quadrant_model(size=32, seed=0):
    """A small CNN that only sees the top-right quadrant: its input is multiplied by a fixed 0/1 mask
    before the first convolution (zero biases, so the feature maps are zero far from the quadrant)."""
    import keras

    keras.utils.set_random_seed(seed)
    mask = np.zeros((1, size, size, 1), np.float32)
    mask[:, : size // 2, size // 2 :] = 1
    inp = keras.Input((size, size, 3))
    h = keras.ops.multiply(inp, mask)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="head")(h))


def quadrant_mass(maps, size=32):
    """The share of each map's mass above its median (the level of the unseen three quarters) that
    lies inside the top-right quadrant."""
    m = np.asarray(maps, np.float64)
    m = np.clip(m - np.median(m, axis=(1, 2), keepdims=True), 0, None)
    return m[:, : size // 2, size // 2 :].sum(axis=(1, 2)) / m.sum(axis=(1, 2))


def corr(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


@pytest.fixture
def x8():
    return np.random.RandomState(1).rand(4, 8, 8, 2).astype(np.float32)


# -- occlusion --------------------------------------------------------------------------------------
def test_occlusion_single_pixels_give_w_times_x(x8):
    """size 1: the drop is exactly w_p . (x_p - baseline) summed over the channels."""
    model, w, _ = linear_model()
    classes = [0, 2, 1, 2]
    for baseline in (0.0, 0.3):
        got = perturbation.occlusion(model, x8, classes, size=1, stride=1, baseline=baseline, output="logit")
        want = np.stack([((x8[i] - baseline) * w[..., c]).sum(-1) for i, c in enumerate(classes)])
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_occlusion_patches_average_the_patch_sums(x8):
    """size 3, stride 1: a pixel's attribution is the mean, over the windows that contain it, of the
    window's total contribution (computed here with convolutions)."""
    model, w, _ = linear_model()
    got = perturbation.occlusion(model, x8, 1, size=3, stride=1, output="logit")
    ones = np.ones((3, 3))
    for i in range(len(x8)):
        contrib = (x8[i] * w[..., 1]).sum(-1)
        window_sums = convolve2d(contrib, ones, mode="valid")  # (6, 6)
        want = convolve2d(window_sums, ones, mode="full") / convolve2d(np.ones_like(window_sums), ones, mode="full")
        np.testing.assert_allclose(got[i], want, atol=1e-4)


def test_occlusion_uneven_stride_covers_every_pixel(x8):
    """size (2, 3) stride (2, 3) on 8x8: the last column of patches is flush with the edge, so every
    pixel is covered; non-overlapping tiles give each pixel its tile's sum."""
    model, w, _ = linear_model()
    got = perturbation.occlusion(model, x8[:1], 0, size=(2, 3), stride=(2, 3), output="logit")[0]
    contrib = (x8[0] * w[..., 0]).sum(-1)
    tile = lambda r, c: contrib[r : r + 2, c : c + 3].sum()  # noqa: E731
    for r in range(0, 8, 2):
        np.testing.assert_allclose(got[r : r + 2, 0:3], tile(r, 0), atol=1e-4)
        np.testing.assert_allclose(got[r : r + 2, 3:5], tile(r, 3), atol=1e-4)
        # columns 5..7: the patch at column 5 alone covers column 7; column 5 is also in the tile at 3
        np.testing.assert_allclose(got[r : r + 2, 7], tile(r, 5), atol=1e-4)
        np.testing.assert_allclose(got[r : r + 2, 5], (tile(r, 3) + tile(r, 5)) / 2, atol=1e-4)


def test_occlusion_batching_does_not_change_the_result(x8):
    model, _, _ = linear_model()
    a = perturbation.occlusion(model, x8, [0, 1, 2, 0], size=3, stride=2, batch_size=7, output="logit")
    b = np.concatenate([perturbation.occlusion(model, x8[i : i + 1], c, size=3, stride=2, output="logit")
                        for i, c in enumerate([0, 1, 2, 0])])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_occlusion_one_image_several_classes(x8):
    model, w, _ = linear_model()
    got = perturbation.occlusion(model, x8[:1], [2, 0], size=1, stride=1, output="logit")
    assert got.shape == (2, 8, 8)
    np.testing.assert_allclose(got[1], (x8[0] * w[..., 0]).sum(-1), atol=1e-4)


def test_occlusion_quadrant_model_is_zero_outside_the_quadrant():
    model = quadrant_model()
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    maps = perturbation.occlusion(model, x, None, size=4, stride=4, output="logit")
    assert np.abs(maps[:, 16:, :]).max() == 0 and np.abs(maps[:, :, :16]).max() == 0  # exactly unseen
    assert np.abs(maps[:, :16, 16:]).max() > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 9}, "larger than the input"),
    ({"size": 0}, "size must be a positive int"),
    ({"stride": (1, 2, 3)}, "stride must be"),
    ({"output": "logits"}, "output must be one of"),
])
def test_occlusion_bad_arguments(x8, kwargs, message):
    model, _, _ = linear_model()
    with pytest.raises(ValueError, match=message):
        perturbation.occlusion(model, x8, 0, **kwargs)


# -- RISE -----------------------------------------------------------------------------------------
def test_rise_masks_are_smooth_shifted_and_keep_p():
    masks = perturbation.rise_masks(2000, (16, 16), grid=4, p=0.25, seed=0)
    assert masks.shape == (2000, 16, 16) and masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.25) < 0.01  # E[M(q)] = p for every pixel
    assert np.abs(masks.mean(axis=0) - 0.25).max() < 0.05  # ... at every pixel (the random shift)
    assert 0 < np.mean((masks > 0.01) & (masks < 0.99))  # bilinear: not binary
    np.testing.assert_array_equal(masks, perturbation.rise_masks(2000, (16, 16), grid=4, p=0.25, seed=0))


def test_rise_is_seeded_and_independent_of_batch_size(x8):
    model, _, _ = linear_model()
    a = perturbation.rise(model, x8[:2], 0, masks=100, grid=3, seed=5, batch_size=64)
    b = perturbation.rise(model, x8[:2], 0, masks=100, grid=3, seed=5, batch_size=9)
    c = perturbation.rise(model, x8[:2], 0, masks=100, grid=3, seed=6)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert np.abs(a - c).max() > 1e-3


def test_rise_equals_its_formula(x8):
    """S = sum_i f(x * M_i) M_i / (n p) with the masks of rise_masks (same seed)."""
    model, w, b = linear_model()
    masks = perturbation.rise_masks(50, (8, 8), grid=3, p=0.4, seed=2)
    got = perturbation.rise(model, x8[:1], 1, masks=50, grid=3, p=0.4, seed=2, output="logit")[0]
    scores = np.einsum("nhwc,hwc->n", x8[0] * masks[..., None], w[..., 1]) + b[1]
    np.testing.assert_allclose(got, np.einsum("n,nhw->hw", scores, masks) / (50 * 0.4), rtol=1e-4, atol=1e-4)


def rise_limit(contrib, bias, grid, p):
    """RISE's exact limit for f = sum_q c_q M_q + b (c = w * x summed over channels), in closed form.

    A mask is M(q) = sum_cells K_cell(q) B_cell with independent B ~ Bernoulli(p) and bilinear weights
    K that sum to 1, so E[M_r M_q] = p^2 + p (1 - p) E_shift[sum_cells K_cell(r) K_cell(q)] and
    E[f M_q] / p = b + p sum_r c_r + (1 - p) sum_r c_r k(r, q): the importance c, blurred by the
    masks' kernel k, on a constant floor.
    """
    import tensorflow as tf

    h, w = contrib.shape
    ch, cw = -(-h // grid), -(-w // grid)
    basis = np.eye(grid * grid, dtype=np.float32).reshape(-1, grid, grid, 1)
    k = tf.image.resize(basis, ((grid + 1) * ch, (grid + 1) * cw), method="bilinear").numpy()[..., 0]
    kernel = np.zeros((h * w, h * w))
    for dy in range(ch):  # the random shift is uniform on [0, cell) per side
        for dx in range(cw):
            kc = k[:, dy : dy + h, dx : dx + w].reshape(len(k), -1)
            kernel += kc.T @ kc / (ch * cw)
    c = contrib.ravel()
    return (bias + p * c.sum() + (1 - p) * (c @ kernel)).reshape(h, w)


def test_rise_converges_to_a_linear_models_importance():
    """A linear model's RISE map tends to its importance w * x blurred by the masks' kernel (see
    rise_limit); the error shrinks as the masks grow, roughly like 1 / sqrt(masks)."""
    shape = (24, 24, 1)
    w = np.zeros(shape + (1,), np.float32)
    w[3:9, 14:20] = 1.0  # one 6x6 block of evidence ...
    w[15:18, 2:5] = -2.0  # ... and a smaller block against the class
    model, _, _ = linear_model(shape, classes=1, weights=w.reshape(-1, 1), bias=np.array([0.5], np.float32))
    x = np.random.RandomState(0).rand(1, *shape).astype(np.float32)
    importance = (w[..., 0] * x[0]).sum(-1)
    limit = rise_limit(importance, 0.5, grid=4, p=0.4)
    span = limit.max() - limit.min()
    errors = []
    for n in (40, 400, 4000):
        s = perturbation.rise(model, x, 0, masks=n, grid=4, p=0.4, seed=0, output="logit")[0]
        errors.append(np.abs(s - limit).max() / span)
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.1, errors
    # the limit peaks on the evidence and dips on the counter-evidence
    floor = 0.5 + 0.4 * importance.sum()  # b + p S: far from both blocks
    assert limit[3:9, 14:20].mean() > floor + 1 > floor - 1 > limit[15:18, 2:5].mean()
    np.testing.assert_allclose(limit[21:, 18:], floor, rtol=2e-3)


def test_rise_quadrant_model_puts_its_mass_in_the_quadrant():
    model = quadrant_model()
    x = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
    maps = perturbation.rise(model, x, None, masks=1000, grid=4, seed=0, output="logit")
    assert (quadrant_mass(maps) > 0.7).all(), quadrant_mass(maps)


def test_rise_bad_arguments(x8):
    model, _, _ = linear_model()
    with pytest.raises(ValueError, match=r"p \(the probability"):
        perturbation.rise(model, x8, 0, masks=10, p=0)
    with pytest.raises(ValueError, match="samples must be"):  # the count of masks is `samples` (old name: masks)
        perturbation.rise(model, x8, 0, masks=0)
    with pytest.raises(ValueError, match="samples must be"):
        perturbation.rise(model, x8, 0, samples=0)


def test_normalize():
    m = perturbation.normalize(np.array([[[-2.0, 1.0]], [[0.0, 0.0]]]))
    np.testing.assert_allclose(m, [[[-1.0, 0.5]], [[0.0, 0.0]]])
