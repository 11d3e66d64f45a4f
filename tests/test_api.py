"""xaitools.explain and the method registry, on tiny models whose explanations are known."""

import subprocess
import sys

import numpy as np
import pytest

import xaitools
from xaitools import api, methods, models


def linear_gap_model(seed=0):
    """1x1 conv (no activation) -> GAP -> Dense(softmax) on 6x7 inputs: CAM = ReLU(A @ w_c) / max by hand."""
    import keras

    rng = np.random.RandomState(seed)
    inputs = keras.Input((6, 7, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))
    conv_w, conv_b, dense_w, dense_b = (rng.normal(size=s) for s in [(1, 1, 3, 4), (4,), (4, 3), (3,)])
    model.get_layer("conv").set_weights([conv_w, conv_b])
    model.get_layer("out").set_weights([dense_w, dense_b])
    return model, conv_w[0, 0], conv_b, dense_w


def nested(seed=1):
    """A Sequential conv base nested in a functional model, GAP -> Dense: names layers inside the base."""
    import keras

    base = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="inner1"),
                             keras.layers.Conv2D(5, 3, activation="relu", name="inner2")], name="base")
    inputs = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base(inputs)))
    model = keras.Model(inputs, out)
    rng = np.random.RandomState(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_cam_through_explain_is_the_hand_computed_map():
    model, conv_w, conv_b, dense_w = linear_gap_model()
    rng = np.random.RandomState(2)
    images = rng.rand(4, 6, 7, 3).astype(np.float32)  # at the input size: no resize
    feature_maps = images @ conv_w + conv_b  # the 1x1 conv by hand, (4, 6, 7, 4)
    classes = [0, 1, 2, 0]  # each with a positive peak; 0 and 1 also with clipped (negative) parts
    results = xaitools.explain(model, images, "cam", classes=classes, preprocess="unit")
    for image, A, c, r in zip(images, feature_maps, classes, results):
        expected = np.maximum(A @ dense_w[:, c], 0)
        assert expected.max() > 0
        np.testing.assert_allclose(r.map, expected / expected.max(), atol=1e-5)
        probs = np.asarray(model(image[None]))[0]
        assert r.class_index == c and r.class_name == str(c) and r.probability == pytest.approx(probs[c], abs=1e-6)
        assert r.layer == "conv" and r.method == "cam" and r.model == "model" and r.seconds > 0


def test_maps_come_back_at_each_images_own_size_and_classes_default_to_the_top_class():
    model = nested()
    rng = np.random.RandomState(3)
    images = [rng.rand(h, w, 3).astype(np.float32) for h, w in [(16, 16), (40, 23), (9, 50)]]
    clf = models.load_model(model, preprocess="unit", class_names=["cat", "dog"])
    for method in methods.METHODS:
        options = {k: v for k, v in {"samples": 8, "steps": 4, "masks": 32}.items() if k in methods.METHODS[method].options}
        results = xaitools.explain(clf, images, method, **options)
        assert [r.map.shape for r in results] == [(16, 16), (40, 23), (9, 50)]
        for image, r in zip(images, results):
            p = clf.predict(image)[0]
            assert r.class_index == int(np.argmax(p)) and r.class_name == ["cat", "dog"][r.class_index]
            assert r.map.dtype == np.float32 and r.map.min() >= 0 and r.map.max() <= 1
            assert r.image in (0, 1, 2) and r.options == methods.METHODS[method].check_options(options)
            assert r.layer == ("inner2" if methods.METHODS[method].layer else None)


def test_classes_by_name_per_image_and_layers_inside_a_nested_base():
    clf = models.load_model(nested(), preprocess="unit", class_names=["cat", "dog"])
    images = np.random.RandomState(4).rand(2, 16, 16, 3).astype(np.float32)
    results = xaitools.explain(clf, images, "gradcam", classes=["dog", 0], layer="inner1")
    assert [r.class_index for r in results] == [1, 0] and {r.layer for r in results} == {"inner1"}
    assert results[0].map.shape == (16, 16)
    with pytest.raises(ValueError, match="one per image"):
        xaitools.explain(clf, images, "gradcam", classes=[1, 0, 1])
    with pytest.raises(KeyError, match="unknown class 'fox'"):
        xaitools.explain(clf, images, "gradcam", classes="fox")
    with pytest.raises(ValueError, match=r"'nope' is not a conv layer of model.*inner2"):
        xaitools.explain(clf, images, "gradcam", layer="nope")
    with pytest.raises(ValueError, match="takes no layer"):
        xaitools.explain(clf, images, "saliency", layer="inner1")


def test_the_map_of_an_image_does_not_depend_on_its_batch():
    clf = models.load_model(nested(), preprocess="unit")
    rng = np.random.RandomState(5)
    images = [rng.rand(16 + i, 20, 3).astype(np.float32) for i in range(5)]
    together = xaitools.explain(clf, images, "gradcam", batch_size=5)
    alone = xaitools.explain(clf, images, "gradcam", batch_size=2)
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.map, b.map, atol=1e-5)
        assert a.probability == pytest.approx(b.probability, abs=1e-6)


def test_options_are_checked_against_the_registry():
    clf = models.load_model(nested(), preprocess="unit")
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match=r"gradcam does not take steps \(it takes: output\)"):
        xaitools.explain(clf, image, "gradcam", steps=3)
    with pytest.raises(ValueError, match="option steps must be int"):
        xaitools.explain(clf, image, "ig", steps=2.5)
    with pytest.raises(ValueError, match="must be one of black, blurred"):
        xaitools.explain(clf, image, "ig", baseline="white")
    with pytest.raises(KeyError, match="unknown method 'gradcamm'; available: lime, cam, gradcam"):
        xaitools.explain(clf, image, "gradcamm")
    with pytest.raises(ValueError, match="preprocess"):  # a bare keras.Model needs its input scaling
        xaitools.explain(nested(), image, "gradcam")


def test_a_registered_method_reaches_the_api_and_the_cli(capsys):
    """register() in a few lines: a map function on the resized batch, with one option."""

    def brightness(model, resized, classes, level=0.5):
        return np.where(resized.mean(axis=-1) > level, 1.0, 0.0)  # (N, h, w) at the input size

    methods.register("bright", methods.map_method(brightness), options={"level": 0.5}, doc="bright pixels")
    try:
        clf = models.load_model(nested(), preprocess="unit")
        image = np.zeros((32, 32, 3), np.float32)
        image[:, 16:] = 1.0  # right half white
        r = xaitools.explain(clf, image, "bright", level=0.25)[0]
        assert r.map.shape == (32, 32) and r.map[:, :14].max() == 0 and r.map[:, 18:].min() == 1
        from xaitools import cli

        parser = cli._parser()
        args = parser.parse_args(["explain", "x.png", "--method", "bright", "--level", "0.3"])
        assert cli.method_options(args) == {"level": 0.3}
    finally:
        del methods.METHODS["bright"]


def test_result_to_dict_is_json_ready():
    import json

    clf = models.load_model(nested(), preprocess="unit")
    d = xaitools.explain(clf, np.ones((16, 16, 3), np.float32), "gradcam")[0].to_dict()
    assert set(d) == {"image", "model", "method", "class", "class_index", "probability", "layer", "seconds", "options"}
    assert json.loads(json.dumps(d)) == d


def test_import_xaitools_imports_no_tensorflow_and_exports_explain_lazily():
    code = ("import sys, xaitools; assert callable(xaitools.explain) and callable(xaitools.load_model); "
            "import xaitools.methods, xaitools.api; print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        xaitools.nope  # noqa: B018


def test_dir_of_the_package_lists_its_lazy_names():
    """``dir(xaitools)`` (tab completion) shows ``explain`` and ``load_model``, imported on first use."""
    names = dir(xaitools)
    assert {"explain", "load_model", "seed_everything", "DEFAULT_SEED"} <= set(names) and names == sorted(names)


def test_a_flag_that_another_method_takes_with_another_type_is_refused():
    """One flag, one meaning on the command line: ``--steps`` is ig's integer, so a method whose
    ``steps`` is a string must give it another flag."""

    def fn(model, resized, classes, steps="fast"):
        return resized.mean(axis=-1)

    with pytest.raises(ValueError, match=r"flag --steps means str .* for ig; give one of them cli="):
        methods.register("stepper", methods.map_method(fn), options={"steps": "fast"})
    assert "stepper" not in methods.METHODS
    try:
        mode = methods.Option("steps", "fast", cli="--step-mode")
        assert methods.register("stepper", methods.map_method(fn), options={"steps": mode}).options["steps"].flag == "--step-mode"
    finally:
        methods.METHODS.pop("stepper", None)


def test_a_pixel_method_called_directly_refuses_a_layer():
    clf = models.load_model(nested(), preprocess="unit")
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    saliency = methods.get("saliency")
    with pytest.raises(ValueError, match="takes no layer"):
        saliency(clf, [image], [0], layer="inner2")
    assert saliency(clf, [image], [0])[0].shape == (16, 16)


def test_one_path_is_one_image(tmp_path):
    """``images`` may be one path (str or Path), not only a list of them."""
    from xaitools import viz

    clf = models.load_model(nested(), preprocess="unit")
    image = np.random.default_rng(2).random((16, 16, 3)).astype(np.float32)
    viz.save_image(tmp_path / "one.png", image)
    for path in (str(tmp_path / "one.png"), tmp_path / "one.png"):
        results = xaitools.explain(clf, path, "gradcam", classes=0)
        assert len(results) == 1 and results[0].map.shape == (16, 16)


@pytest.mark.parametrize("n, listed", [(9, r"c2, c3, c4, c5, c6, c7, c8, c9 \(the last 8 of 9\)"),
                                      (8, r"c1, c2, c3, c4, c5, c6, c7, c8")])
def test_an_unknown_layer_lists_the_last_eight_conv_layers(n, listed):
    import keras

    convs = [keras.layers.Conv2D(1, 3, padding="same", name=f"c{i}") for i in range(1, n + 1)]
    model = keras.Sequential([keras.Input((8, 8, 3)), *convs, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    clf = models.load_model(model, preprocess="unit")
    with pytest.raises(ValueError, match=f"feature maps: {listed}$"):
        xaitools.explain(clf, np.zeros((8, 8, 3), np.float32), "gradcam", layer="nope")


def test_a_lime_map_goes_back_to_the_image_by_nearest_neighbour(dog_model):
    """LIME works at 299 x 299; an image of another size gets its 299 map resized by nearest neighbour
    (each pixel keeps a superpixel's weight, no blend across superpixel borders)."""
    from skimage.transform import resize

    from xaitools import viz

    image = np.random.default_rng(3).random((60, 90, 3)).astype(np.float32)
    small = resize(image, methods.LIME_SIZE).astype(np.float32)  # what LIME explains for `image`
    at_299 = xaitools.explain(dog_model, small, "lime", classes=0, samples=10)[0].map
    mapped = xaitools.explain(dog_model, image, "lime", classes=0, samples=10)[0].map
    assert mapped.shape == (60, 90) and mapped.max() == 1 and len(np.unique(at_299)) > 3
    expected = viz.resize_map(at_299, (60, 90), nearest=True)
    np.testing.assert_allclose(mapped, expected / expected.max(), atol=1e-6)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_batch_size_below_one_is_refused(batch_size):
    clf = models.load_model(nested(), preprocess="unit")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        xaitools.explain(clf, np.zeros((16, 16, 3), np.float32), "gradcam", batch_size=batch_size)
