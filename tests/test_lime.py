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


def test_only_one_rgb_image_is_taken():
    """An RGBA image or a batch of one is refused with the shape LIME wants, not explained as if RGB."""
    seg = grid_segments()
    for bad in (np.zeros((24, 24, 4)), np.zeros((1, 24, 24, 3))):
        with pytest.raises(ValueError, match=r"one RGB image of shape \(H, W, 3\)"):
            lime.perturb_images(bad, np.ones((1, 9)), seg)


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
        # a predict function in the text's space: the text's hide colour 0 (the default 0.5 is for [0, 1] images)
        exp = lime.explain(img, OneSuperpixelModel(seg, k), classes=1, superpixels=seg, hide_color=0.0, seed=222)
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
        lime.explain(img + 0.5, OneSuperpixelModel(seg, 0), classes=5, superpixels=seg)


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


# -- LIME by superposition (ImageClassifier fast path) -------------------------------------------
def _image(shape):
    import skimage.transform

    from xaitools import data

    return skimage.transform.resize(data.load_image("cat-and-dog.jpg"), shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(299, 299), (123, 201)])  # the text's size; an odd, non-square one
@pytest.mark.parametrize("hide_color", [0.0, 0.5])
def test_superposed_inputs_equal_resizing_each_perturbed_image(dog_model, shape, hide_color):
    img = _image(shape)
    seg = lime.segment(img)
    k = int(seg.max()) + 1
    perts = np.vstack([np.zeros(k), np.ones(k), lime.sample_perturbations(k, 30, random_state=1)])
    expected = dog_model.resize(lime.perturb_images(img, perts, seg, hide_color))
    for sup in (lime.Superposition.of(dog_model.resize, img, seg, hide_color),
                lime.Superposition.separable(*dog_model.resize_matrices(*shape), img, seg, hide_color)):
        got = np.clip(sup.inputs(perts), 0, 1)
        assert got.shape == expected.shape == (len(perts), *dog_model.input_size, 3)
        assert np.abs(got - expected).max() <= 1e-5
        assert np.abs(got[0] - hide_color).max() <= 1e-5  # all off: the hide colour everywhere


@pytest.mark.parametrize("shape", [(299, 299), (123, 201), (160, 300), (160, 160)])
def test_resize_matrices_reproduce_the_classifiers_resize(dog_model, shape):
    """rows @ x[..., c] @ cols.T == resize(x): catches a swapped axis, a transposed matrix, or a
    resize that is not the classifier's (plain bilinear, no antialiasing); identity at input size."""
    x = np.random.RandomState(0).rand(2, *shape, 3).astype(np.float32)
    rows, cols = dog_model.resize_matrices(*shape)
    assert rows.shape == (dog_model.input_size[0], shape[0]) and cols.shape == (dog_model.input_size[1], shape[1])
    got = np.einsum("yh,nhwc,xw->nyxc", rows, x, cols)
    assert np.abs(got - dog_model.resize(x)).max() <= 1e-5
    if shape == tuple(dog_model.input_size):
        np.testing.assert_array_equal(rows, np.eye(shape[0]))


def test_separable_superposition_with_a_missing_label_and_a_one_pixel_superpixel(dog_model):
    img = _image((90, 70))
    seg = grid_segments(90, 70, 10)  # labels 0..62
    seg[seg == 4] = 5  # label 4 missing: its component is zero
    seg[0, 0] = 63  # a one-pixel superpixel
    perts = lime.sample_perturbations(64, 20, random_state=2)
    sup = lime.Superposition.separable(*dog_model.resize_matrices(90, 70), img, seg, 0.25)
    assert not sup.components[4].any() and sup.components[63].any()
    expected = dog_model.resize(lime.perturb_images(img, perts, seg, 0.25))
    assert np.abs(np.clip(sup.inputs(perts), 0, 1) - expected).max() <= 1e-5


def test_the_classifiers_clip_is_a_no_op_on_resized_unit_images(dog_model):
    """The resize's clip to [0, 1] keeps it linear on [0, 1] images: the antialiased bilinear kernel
    is non-negative, so resized values stay in the input's range. A 0/1 checkerboard is the worst case
    for overshoot; a kernel with negative lobes (bicubic) does overshoot on it."""
    import tensorflow as tf

    board = (np.indices((123, 201)).sum(axis=0) % 2).astype(np.float32)
    images = np.stack([np.repeat(board[..., None], 3, -1), np.random.RandomState(0).rand(123, 201, 3)]).astype(np.float32)
    raw = tf.image.resize(images, dog_model.input_size, method="bilinear", antialias=True).numpy()
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    np.testing.assert_allclose(dog_model.resize(images), raw, atol=1e-6)
    cubic = tf.image.resize(images, dog_model.input_size, method="bicubic", antialias=False).numpy()
    assert cubic.min() < -0.01 or cubic.max() > 1.01


def test_explain_with_a_classifier_equals_explain_with_its_predict(dog_model):
    img = _image((123, 201))
    seg = lime.segment(img)
    kw = dict(num_perturb=64, hide_color=0.5, superpixels=seg, random_state=3, batch_size=32)
    fast = lime.explain(img, dog_model, **kw)
    slow = lime.explain(img, dog_model.predict, **kw)
    assert fast.class_index == slow.class_index
    np.testing.assert_array_equal(fast.perturbations, slow.perturbations)
    np.testing.assert_allclose(fast.predictions, slow.predictions, atol=1e-5)
    np.testing.assert_allclose(fast.coeff, slow.coeff, atol=1e-4 * np.abs(slow.coeff).max())
    np.testing.assert_array_equal(fast.top_features(4), slow.top_features(4))


def test_predict_superposed_uses_the_superposition(dog_model, monkeypatch):
    """No perturbed image is resized or sent through the per-image path, yet the probabilities are
    those of predict() on every perturbed image (N not a multiple of the batch size, and N < batch)."""
    img = _image((60, 80))
    seg = grid_segments(60, 80, 20)  # 12 superpixels
    pert = lime.sample_perturbations(12, 70, random_state=0)
    expected = dog_model.predict(lime.perturb_images(img, pert, seg, 0.5))

    def refuse(*args, **kwargs):
        raise AssertionError("per-image path used")

    monkeypatch.setattr(dog_model, "resize", refuse)
    monkeypatch.setattr(dog_model, "predict_resized", refuse)
    for batch_size, rows in ((32, 70), (64, 5)):
        probs = lime.predict_superposed(dog_model, img, pert[:rows], seg, 0.5, batch_size=batch_size)
        assert probs.shape == (rows, dog_model.num_classes)
        np.testing.assert_allclose(probs, expected[:rows], atol=1e-5)


def test_superposition_bad_inputs(dog_model):
    img = _image((60, 80))
    seg = grid_segments(60, 80, 20)
    with pytest.raises(ValueError, match=r"hide_color must be in \[0, 1\]"):
        lime.explain(img, dog_model, hide_color=-1.0, superpixels=seg)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        lime.explain(img * 2 - 1, dog_model, superpixels=seg)
    with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
        lime.Superposition.of(dog_model.resize, img, seg).inputs(np.ones((3, 11)))
    with pytest.raises(ValueError, match="one class per call"):
        lime.explain(img, dog_model, classes=[1, 2], superpixels=seg)
    with pytest.raises(TypeError, match="ImageClassifier or a predict function"):
        lime.explain(img, "dog_breeds", superpixels=seg)


def test_the_registry_lime_used_by_the_cli_takes_the_superposition(dog_model, monkeypatch):
    """xaitools.explain(method="lime") -- the CLI's path -- never builds perturbed images at full size."""
    import xaitools

    def refuse(*args, **kwargs):
        raise AssertionError("the text's per-image step 2 was used")

    monkeypatch.setattr(lime, "predict_perturbations", refuse)
    monkeypatch.setattr(lime, "perturb_images", refuse)
    img = _image((123, 201))
    result = xaitools.explain(dog_model, [img], method="lime", samples=20)[0]
    assert result.method == "lime" and result.map.shape == (123, 201)
    assert result.map.max() == 1.0  # a superpixel with a positive coefficient, scaled to 1


def test_the_old_module_name_superposition_keeps_the_same_objects():
    """``xaitools.superposition`` (LIME's step 2 by superposition, old name) re-exports the core's objects."""
    from xaitools import superposition
    from xaitools.core import checks
    from xaitools.core import superposition as core

    assert superposition.Superposition is core.Superposition
    assert superposition.predict_superposed is core.predict_superposed
    assert superposition.check_hide_color is checks.check_hide_color


def test_lime_segments_are_quickshifts_labels_found_once_per_image(monkeypatch):
    """methods.lime_segments: lime.segment's labels; an image seen again is not segmented again; each
    caller gets its own copy; only the last SEGMENTS_KEPT images are kept."""
    from xaitools import methods

    rng = np.random.default_rng(4)
    images = [rng.random((20, 24, 3)).astype(np.float32) for _ in range(3)]
    expected = [lime.segment(im) for im in images]
    calls = []
    segment = lime.segment
    monkeypatch.setattr(lime, "segment", lambda im: calls.append(1) or segment(im))
    monkeypatch.setattr(methods, "_SEGMENTS", {})
    monkeypatch.setattr(methods, "SEGMENTS_KEPT", 2)
    first = methods.lime_segments(images[:2])
    assert len(calls) == 2 and all(np.array_equal(a, b) for a, b in zip(first, expected))
    first[0][:] = -1  # a caller's copy
    again = methods.lime_segments([images[1], images[0]])
    assert len(calls) == 2 and np.array_equal(again[0], expected[1]) and np.array_equal(again[1], expected[0])
    methods.lime_segments([images[2]])  # a third image: the oldest (images[0]) is dropped
    assert len(calls) == 3 and len(methods._SEGMENTS) == 2
    assert np.array_equal(methods.lime_segments([images[0]])[0], expected[0]) and len(calls) == 4
