import copy

import numpy as np
import pytest

from xaitools import lime


def text_perturb_image(img, perturbation, segments):
    """The text's perturb_image, with its indentation repaired."""
    active_pixels = np.where(perturbation == 1)[0]
    mask = np.zeros(segments.shape)
    for active in active_pixels:
        mask[segments == active] = 1
    perturbed_image = copy.deepcopy(img)
    perturbed_image = perturbed_image * mask[:, :, np.newaxis]
    return perturbed_image


def grid_segments(h=24, w=24, cell=8):
    rows, cols = np.indices((h, w)) // cell
    return rows * (w // cell) + cols


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_perturbation_equals_the_texts_loop(seed):
    rng = np.random.RandomState(seed)
    h, w = rng.randint(5, 40, size=2)
    n_seg = rng.randint(1, 30)
    segments = rng.randint(0, n_seg, size=(h, w))
    segments[0, : min(w, n_seg)] = np.arange(min(w, n_seg))
    img = rng.uniform(-1, 1, size=(h, w, 3))
    perts = rng.binomial(1, 0.5, size=(7, n_seg))
    batch = lime.perturb_images(img, perts, segments)
    for p, got in zip(perts, batch):
        np.testing.assert_array_equal(got, text_perturb_image(img, p, segments))
        np.testing.assert_array_equal(lime.perturb_image(img, p, segments), got)


def test_hide_color_fills_the_switched_off_superpixels():
    seg = grid_segments()
    img = np.full((24, 24, 3), 0.9)
    out = lime.perturb_image(img, np.array([1, 0] + [1] * 7), seg, hide_color=0.5)
    assert np.all(out[seg == 1] == 0.5) and np.all(out[seg != 1] == 0.9)


class OneSuperpixelModel:
    """Probability of class 1 = mean brightness of superpixel `k`; class 0 = the rest."""

    def __init__(self, segments, k):
        self.region = segments == k

    def __call__(self, images):
        p1 = images[:, self.region, :].mean(axis=(1, 2))
        return np.stack([1 - p1, p1], axis=1)


def test_a_model_that_looks_at_one_superpixel_is_explained_by_it():
    seg = grid_segments()
    img = np.random.RandomState(3).uniform(0.5, 1.0, size=(24, 24, 3))
    for k in (0, 4, 8):
        exp = lime.explain(img, OneSuperpixelModel(seg, k), class_index=1, superpixels=seg, random_state=222)
        assert exp.top_features(1)[0] == k
        others = np.delete(exp.coeff, k)
        assert exp.coeff[k] > 0.4 and np.abs(others).max() < 1e-6  # linear model: exact fit
        assert exp.score == pytest.approx(1.0)
        hm = exp.heatmap()
        assert hm.shape == seg.shape and hm[seg == k].min() == 1.0 and hm[seg != k].max() < 1e-5


def test_explain_defaults_to_the_top_class_and_follows_the_texts_steps():
    seg = grid_segments()
    img = np.random.RandomState(4).uniform(0.5, 1.0, size=(24, 24, 3))
    model = OneSuperpixelModel(seg, 2)
    exp = lime.explain(img, model, superpixels=seg, random_state=7)
    assert exp.class_index == int(np.argmax(model(img[None])[0]))
    # the same steps by hand, with NumPy's global generator as in the text
    np.random.seed(7)
    perturbations = np.random.binomial(1, 0.5, size=(150, 9))
    np.testing.assert_array_equal(exp.perturbations, perturbations)
    weights = lime.kernel_weights(lime.perturbation_distances(perturbations))
    np.testing.assert_allclose(exp.weights, weights)


def test_kernel_weights_equal_the_lime_packages():
    from lime.lime_image import LimeImageExplainer

    d = np.linspace(0, 1.5, 50)
    for width in (0.25, 0.5):
        np.testing.assert_allclose(lime.kernel_weights(d, width), LimeImageExplainer(kernel_width=width).base.kernel_fn(d))


def test_distances_equal_the_lime_packages_definition():
    import sklearn.metrics

    perts = np.random.RandomState(0).binomial(1, 0.5, size=(40, 12))
    perts[0] = 1
    expected = sklearn.metrics.pairwise_distances(perts, perts[0].reshape(1, -1), metric="cosine").ravel()
    np.testing.assert_allclose(lime.perturbation_distances(perts), expected)


def test_coefficient_ranking_agrees_with_lime_0_2_0_1():
    from lime.lime_base import LimeBase
    from lime.lime_image import LimeImageExplainer
    from sklearn.linear_model import LinearRegression

    rng = np.random.RandomState(11)
    seg = grid_segments(32, 32, 8)  # 16 superpixels
    img = rng.uniform(0.2, 1.0, size=(32, 32, 3))
    w = rng.normal(size=16)

    def model(images):  # a nonlinear function of the superpixels' brightness
        means = np.stack([images[:, seg == s].mean(axis=(1, 2)) for s in range(16)], axis=1)
        p = 1 / (1 + np.exp(-(means @ w)))
        return np.stack([1 - p, p], axis=1)

    perturbations = lime.sample_perturbations(16, 300, random_state=5)
    predictions = lime.predict_perturbations(model, img, perturbations, seg)
    distances = lime.perturbation_distances(perturbations)
    ours = lime.fit_surrogate(perturbations, predictions[:, 1], lime.kernel_weights(distances)).coef_

    base = LimeBase(LimeImageExplainer(kernel_width=0.25).base.kernel_fn)
    _, exp, _, _ = base.explain_instance_with_data(
        perturbations, predictions, distances, 1, num_features=16, feature_selection="none",
        model_regressor=LinearRegression(),
    )
    theirs = np.zeros(16)
    for idx, c in exp:
        theirs[idx] = c
    np.testing.assert_array_equal(np.argsort(ours), np.argsort(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_segment_uses_quickshift_with_the_texts_parameters():
    import skimage.segmentation

    img = np.random.RandomState(2).uniform(-1, 1, size=(40, 40, 3))
    expected = skimage.segmentation.quickshift(img, kernel_size=4, max_dist=200, ratio=0.2)
    np.testing.assert_array_equal(lime.segment(img), expected)
    seg = lime.segment(img)
    assert seg.min() == 0 and len(np.unique(seg)) == seg.max() + 1


def test_bad_inputs_get_clear_errors():
    seg = grid_segments()
    img = np.zeros((24, 24, 3))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        lime.perturb_images(np.zeros((24, 24)), np.ones((1, 9)), seg)
    with pytest.raises(TypeError, match="float"):
        lime.segment(np.zeros((24, 24, 3), np.uint8))
    with pytest.raises(ValueError, match="height and width"):
        lime.perturb_images(img, np.ones((1, 9)), seg[:10])
    with pytest.raises(ValueError, match="num_superpixels"):
        lime.perturb_images(img, np.ones((1, 4)), seg)
    with pytest.raises(ValueError, match="kernel_width"):
        lime.kernel_weights([0.1], 0)
    with pytest.raises(ValueError, match=r"predictions\[:, class\]"):
        lime.fit_surrogate(np.ones((3, 2)), np.ones((3, 1)), np.ones(3))
    with pytest.raises(IndexError, match="2 classes"):
        lime.explain(img + 0.5, OneSuperpixelModel(seg, 0), class_index=5, superpixels=seg)


def test_importing_xaitools_leaves_tensorflow_alone():
    """No TensorFlow import and no TF_* environment variable set by `import xaitools` (or its LIME)."""
    import subprocess
    import sys

    code = (
        "import os, sys; before = {k for k in os.environ if k.startswith('TF_')}; "
        "import xaitools, xaitools.lime; "
        "print('tensorflow' in sys.modules, sorted({k for k in os.environ if k.startswith('TF_')} - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "[]"]
