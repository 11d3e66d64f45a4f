"""Every registered method, through ``xaitools.explain``, on tiny models whose right answer is known.

The two-quadrant model: class 0's score is the mean of the top-left quadrant, class 1's the mean of the
bottom-right one (through a conv layer ``conv`` -> GAP -> Dense, so CAM applies too). Whatever the
method, class 0's map must have its mass in the top-left quadrant and class 1's in the bottom-right one.
An all-zero map, a map of the wrong class (classes mixed up between images or batches), a map flipped
or transposed, or a map of the other quadrant fails.
"""

from __future__ import annotations

import numpy as np
import pytest

import xaitools
from xaitools import methods

SIZE = 16
OPTIONS = {"lime": {"samples": 60}, "smoothgrad": {"samples": 4}, "ig": {"steps": 8}, "rise": {"samples": 600, "grid": 4},
           "occlusion": {"size": 4, "stride": 4}, "scorecam": {"output": "logit"}}
# the share of the map inside the right quadrant (chance: 0.25, the other quadrant: less); RISE (600 masks) is noisier
SHARE = {"rise": 0.3, "lime": 0.5}  # LIME: quickshift superpixels of noise cross the quadrant edges


def quadrant_model():
    import keras

    yy, xx = np.mgrid[:SIZE, :SIZE]
    tl = ((yy < SIZE // 2) & (xx < SIZE // 2)).astype("float32")[None, :, :, None]
    br = ((yy >= SIZE // 2) & (xx >= SIZE // 2)).astype("float32")[None, :, :, None]
    x = keras.Input((SIZE, SIZE, 3))
    both = keras.layers.Concatenate()([keras.layers.Lambda(lambda t: t * tl)(x), keras.layers.Lambda(lambda t: t * br)(x)])
    # three channels (the third always 0): a 1x1 conv with one filter per class would be a logits conv
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    features = conv(both)
    conv.set_weights([np.concatenate([np.eye(3)[[0, 0, 0]], np.eye(3)[[1, 1, 1]]])[None, None] / 3.0])
    head = keras.layers.Dense(2, activation="softmax", name="head")
    out = head(keras.layers.GlobalAveragePooling2D()(features))
    head.set_weights([4.0 * np.eye(3, 2, dtype="float32"), np.zeros(2, "float32")])
    return xaitools.load_model(keras.Model(x, out), preprocess="unit", class_names=["top_left", "bottom_right"])


@pytest.fixture(scope="module")
def model():
    return quadrant_model()


def share(m, quadrant):
    h = SIZE // 2
    part = m[:h, :h] if quadrant == 0 else m[h:, h:]
    return part.sum() / m.sum()


@pytest.mark.parametrize("method", list(methods.METHODS))
def test_each_image_gets_its_own_class_across_batches(model, method):
    # Bug caught: classes or maps mixed up between images or between batches (5 images, batches of 2,
    # alternating classes), an all-zero map, a map of the wrong quadrant.
    rng = np.random.default_rng(0)
    images = [rng.uniform(0.3, 0.9, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(5)]
    classes = [0, 1, 1, 0, 1]
    if method == "eigencam":  # class-agnostic: same map whatever the class; checked below
        pytest.skip("Eigen-CAM is class-agnostic (test_eigencam_*)")
    results = xaitools.explain(model, images, method, classes=classes, batch_size=2, **OPTIONS.get(method, {}))
    for r, c in zip(results, classes):
        assert r.class_index == c and r.map.shape == (SIZE, SIZE)
        assert r.map.max() == pytest.approx(1.0)
        assert share(r.map, c) >= SHARE.get(method, 0.9), (method, c, share(r.map, c))


def test_eigencam_with_signed_activations_points_at_the_large_activations():
    # Bug caught: the principal direction's sign left arbitrary (or chosen by the plain sum of the
    # projection): with channels [a, -a] the map would be -a, all zero after the ReLU.
    import keras

    yy, xx = np.mgrid[:SIZE, :SIZE]
    tl = ((yy < SIZE // 2) & (xx < SIZE // 2)).astype("float32")[None, :, :, None]
    x = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")
    features = conv(keras.layers.Lambda(lambda t: t * tl)(x))
    conv.set_weights([np.array([[1.0, -1.0]] * 3, "float32")[None, None] / 3])
    head = keras.layers.Dense(2, activation="softmax")
    out = head(keras.layers.GlobalAveragePooling2D()(features))
    model = xaitools.load_model(keras.Model(x, out), preprocess="unit")
    image = np.random.default_rng(1).uniform(0.3, 0.9, (SIZE, SIZE, 3)).astype(np.float32)
    m = xaitools.explain(model, image, "eigencam")[0].map
    assert m.max() == pytest.approx(1.0) and share(m, 0) == pytest.approx(1.0)


def test_gradient_times_input_of_a_linear_model_is_known():
    # Bug caught: the gradient taken of the wrong class, w.r.t. the wrong tensor, or IG's trapezoid
    # weights off: for a linear logit w.x, IG from a black (zero) baseline is exactly x * w.
    import keras

    w = np.random.default_rng(2).normal(size=(SIZE, SIZE, 3)).astype(np.float32)
    x = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(2, activation="softmax")
    out = dense(keras.layers.Flatten()(x))
    dense.set_weights([np.stack([np.zeros(w.size), w.ravel()], axis=1).astype("float32"), np.zeros(2, "float32")])
    model = xaitools.load_model(keras.Model(x, out), preprocess="unit")
    image = np.random.default_rng(3).uniform(0.1, 0.9, (SIZE, SIZE, 3)).astype(np.float32)
    ig = xaitools.explain(model, image, "ig", classes=1, steps=4)[0].map
    expected = np.abs(image * w).max(axis=-1)
    np.testing.assert_allclose(ig, expected / expected.max(), atol=1e-5)
    grad = xaitools.explain(model, image, "saliency", classes=1)[0].map
    np.testing.assert_allclose(grad, np.abs(w).max(axis=-1) / np.abs(w).max(), atol=1e-5)


def test_smoothgrad_map_of_an_image_does_not_depend_on_its_batch():
    # Bug caught: the noise drawn for the whole batch, so an image's map changes with its neighbours.
    # The model: class 1's logit is the mean of relu(x - 0.6), so a pixel's gradient is 1 where its noisy
    # value is above 0.6 and 0 below: the noise changes the map (the quadrant model's logit is linear,
    # and its gradient ignores the noise).
    import keras

    x = keras.Input((SIZE, SIZE, 3))
    active = keras.layers.Lambda(lambda t: keras.ops.relu(t - 0.6))(x)
    dense = keras.layers.Dense(1, use_bias=False)
    logit = dense(keras.layers.GlobalAveragePooling2D()(active))
    dense.set_weights([np.ones((3, 1), "float32")])
    two = keras.layers.Concatenate()([-logit, logit])
    clf = xaitools.load_model(keras.Model(x, keras.layers.Activation("softmax")(two)), preprocess="unit")
    rng = np.random.default_rng(4)
    images = [rng.uniform(0.3, 0.9, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(3)]
    kw = dict(classes=1, samples=3, noise=0.2)
    alone = xaitools.explain(clf, [images[1]], "smoothgrad", **kw)[0].map
    inside = xaitools.explain(clf, images, "smoothgrad", batch_size=2, **kw)[1].map
    np.testing.assert_array_equal(alone, inside)
    other_noise = xaitools.explain(clf, [images[1]], "smoothgrad", seed=5, **kw)[0].map
    assert np.abs(other_noise - alone).max() > 0.1  # the noise does change this map


def test_a_one_unit_sigmoid_model_is_two_classes(model):
    # Bug caught: class 0 ("cat") of a sigmoid model explained through +z instead of -z, or not at all.
    import keras

    x = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, name="conv")
    dense = keras.layers.Dense(1, activation="sigmoid")
    out = dense(keras.layers.GlobalAveragePooling2D()(conv(x)))
    conv.set_weights([np.ones((1, 1, 3, 1), "float32") / 3])
    dense.set_weights([np.array([[3.0]], "float32"), np.array([-1.0], "float32")])
    clf = xaitools.load_model(keras.Model(x, out), preprocess="unit", class_names=["cat", "dog"])
    image = np.random.default_rng(5).uniform(0.1, 0.9, (SIZE, SIZE, 3)).astype(np.float32)
    p = float(keras.Model(x, out)(image[None] * 1.0)[0, 0])
    np.testing.assert_allclose(clf.predict(image)[0], [1 - p, p], atol=1e-6)
    cat = xaitools.explain(clf, image, "cam", classes="cat")[0]
    dog = xaitools.explain(clf, image, "cam", classes="dog")[0]
    assert cat.class_name == "cat" and not cat.map.any()  # -v A <= 0 everywhere: ReLU leaves nothing
    assert dog.map.max() == pytest.approx(1.0)


def test_one_name_keeps_a_sigmoid_model_one_class():
    """Bug caught: a one-line class file (the name of the sigmoid's positive class) refused, or
    silently shifted onto [1 - p, p] so that class 0 meant the other class."""
    import keras

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    one = xaitools.load_model(model, preprocess="unit", class_names=["dog"])
    two = xaitools.load_model(model, preprocess="unit", class_names=["cat", "dog"])
    assert one.class_names == ["dog"] and two.class_names == ["cat", "dog"]
    image = np.random.default_rng(0).random((8, 8, 3)).astype("float32")
    p = one.predict(image)[0]
    q = two.predict(image)[0]
    assert p.shape == (1,) and q.shape == (2,)
    np.testing.assert_allclose([1 - p[0], p[0]], q, atol=1e-6)
