import numpy as np
import pytest

from xaitools import saliency


def tiny_model(activation="softmax", seed=0, dtype="float64", head="gap"):
    """A small smooth CNN (tanh/softplus, so finite differences are meaningful), 3 classes."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3), dtype=dtype)
    h = keras.layers.Conv2D(6, 3, activation="tanh", dtype=dtype, name="conv1")(inp)
    h = keras.layers.Conv2D(5, 3, activation="softplus", dtype=dtype, name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(dtype=dtype)(h) if head == "gap" else keras.layers.Flatten(dtype=dtype)(h)
    init = keras.initializers.RandomNormal(stddev=3.0, seed=seed)  # large logits: gaps worth testing
    out = keras.layers.Dense(3, activation=activation, dtype=dtype, name="head", kernel_initializer=init)(h)
    return keras.Model(inp, out)


def logit_twin(model):
    """The same network with a linear last layer: its output is the logit, computed independently."""
    twin = tiny_model(activation=None, dtype=model.inputs[0].dtype)
    twin.set_weights(model.get_weights())
    return twin


def f(model, x):
    return np.asarray(model(np.asarray(x), training=False))


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


@pytest.fixture
def x8(rng):
    return rng.uniform(-1, 1, size=(2, 8, 8, 3))


@pytest.mark.parametrize("output", ["logit", "probability"])
def test_gradient_matches_finite_differences(tiny, x8, output):
    reference = logit_twin(tiny) if output == "logit" else tiny
    classes = np.array([0, 2])
    grads = saliency.vanilla_gradient(tiny, x8, classes, output=output)
    assert grads.shape == x8.shape
    eps = 1e-5
    rng = np.random.RandomState(1)
    for _ in range(12):
        i, r, c, ch = rng.randint(2), rng.randint(8), rng.randint(8), rng.randint(3)
        plus, minus = x8.copy(), x8.copy()
        plus[i, r, c, ch] += eps
        minus[i, r, c, ch] -= eps
        fd = (f(reference, plus)[i, classes[i]] - f(reference, minus)[i, classes[i]]) / (2 * eps)
        assert grads[i, r, c, ch] == pytest.approx(fd, rel=1e-4, abs=1e-8)


def test_logit_score_is_the_pre_softmax_output(tiny, x8):
    z = np.asarray(saliency.score_function(tiny)(x8))
    np.testing.assert_allclose(z, f(logit_twin(tiny), x8), rtol=1e-10)


def test_dog_model_logits_give_its_probabilities(dog_model, rng):
    x = dog_model.preprocess(rng.rand(2, 160, 160, 3).astype(np.float32))
    z = np.asarray(saliency.score_function(dog_model)(x), dtype=np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(1, keepdims=True), f(dog_model.model, x), atol=1e-5)
    assert np.ptp(z) > 1  # logits, not probabilities


@pytest.mark.parametrize("baseline", ["black", "blurred", "array"])
def test_integrated_gradients_completeness(tiny, x8, baseline):
    twin = logit_twin(tiny)
    base = np.full_like(x8, 0.25) if baseline == "array" else baseline
    classes = np.array([1, 2])
    attr = saliency.integrated_gradients(tiny, x8, classes, baseline=base, steps=64, blur_sigma=1.5)
    x0 = saliency.make_baseline(x8, base, blur_sigma=1.5)
    for i, c in enumerate(classes):
        gap = f(twin, x8)[i, c] - f(twin, x0)[i, c]
        assert abs(gap) > 0.05  # the test means something
        assert attr[i].sum() == pytest.approx(gap, rel=0.02)


def test_integrated_gradients_of_a_linear_score_is_exact(rng):
    import keras

    # logit linear in x: the gradient is the same everywhere, so IG = (x - x0) * gradient for any steps
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 3), dtype="float64")
    h = keras.layers.GlobalAveragePooling2D(dtype="float64")(keras.layers.Conv2D(4, 3, dtype="float64")(inp))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", dtype="float64")(h))
    x, x0 = rng.rand(2, 6, 6, 3), rng.rand(2, 6, 6, 3)
    grad = saliency.vanilla_gradient(model, x, 1)
    for steps in (1, 3, 8):
        np.testing.assert_allclose(saliency.integrated_gradients(model, x, 1, baseline=x0, steps=steps), (x - x0) * grad, rtol=1e-9, atol=1e-12)


def test_baselines(dog_model, rng):
    x = dog_model.preprocess(rng.rand(2, 160, 160, 3).astype(np.float32))
    np.testing.assert_allclose(saliency.make_baseline(x, "black", model=dog_model), -1.0)  # MobileNetV2: [-1, 1]
    np.testing.assert_array_equal(saliency.make_baseline(x, "black"), 0.0)  # a bare network: the [0, 1] image
    flat = np.full((1, 20, 20, 3), 0.3, np.float32)
    np.testing.assert_allclose(saliency.make_baseline(flat, "blurred"), 0.3, atol=1e-6)
    blurred = saliency.make_baseline(x, "blurred", blur_sigma=4)
    assert blurred.shape == x.shape and blurred.std() < 0.5 * x.std()
    np.testing.assert_allclose(blurred.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=0.05)  # colour kept


def test_the_black_baseline_of_one_image_is_the_networks_black(dog_model, rng):
    """One network input (H, W, 3), not a batch: its black is the network's black (MobileNetV2: -1)."""
    x = dog_model.preprocess(rng.rand(160, 160, 3).astype(np.float32))[0]
    base = saliency.make_baseline(x, "black", model=dog_model)
    assert base.shape == x.shape
    np.testing.assert_allclose(base, -1.0)


def test_a_blur_of_one_pixel_or_less_is_taken(rng):
    """``blur_sigma`` is any positive number of pixels: 1 and 0.5 blur a little (a Gaussian per channel);
    0 is refused."""
    from scipy.ndimage import gaussian_filter

    x = rng.rand(1, 9, 8, 3).astype(np.float32)
    for sigma in (1.0, 0.5):
        blurred = saliency.make_baseline(x, "blurred", blur_sigma=sigma)
        np.testing.assert_allclose(blurred, gaussian_filter(x, (0, sigma, sigma, 0), mode="nearest"), atol=1e-6)
        assert 0 < np.abs(blurred - x).max() and blurred.std() < x.std()
    with pytest.raises(ValueError, match="blur_sigma must be positive"):
        saliency.make_baseline(x, "blurred", blur_sigma=0)


def test_smoothgrad(tiny, x8):
    vanilla = saliency.vanilla_gradient(tiny, x8, 1)
    np.testing.assert_allclose(saliency.smoothgrad(tiny, x8, 1, samples=3, noise=0.0), vanilla, rtol=1e-10)
    a = saliency.smoothgrad(tiny, x8, 1, samples=8, noise=0.2, seed=5)
    np.testing.assert_array_equal(a, saliency.smoothgrad(tiny, x8, 1, samples=8, noise=0.2, seed=5))
    assert not np.allclose(a, saliency.smoothgrad(tiny, x8, 1, samples=8, noise=0.2, seed=6))
    assert not np.allclose(a, vanilla)
    # the mean of the gradients at noisy points (sigma = 0.5), here from one big batch of noisy copies
    rng = np.random.RandomState(2)
    noisy = x8[:1] + rng.normal(size=(300, 8, 8, 3)) * 0.5
    by_hand = saliency.vanilla_gradient(tiny, noisy, 1).mean(axis=0)
    ours = saliency.smoothgrad(tiny, x8[:1], 1, samples=300, noise=0.5 / np.ptp(x8[0]), seed=0)[0]
    err = lambda a: np.linalg.norm(a - by_hand) / np.linalg.norm(by_hand)  # noqa: E731
    assert err(ours) < 0.05 and err(ours) < 0.4 * err(vanilla[0])  # noise of the right size, averaged


@pytest.mark.parametrize("method", ["vanilla_gradient", "integrated_gradients"])
def test_batched_equals_one_at_a_time(tiny, rng, method):
    fn = getattr(saliency, method)
    kw = {"steps": 16} if method == "integrated_gradients" else {}
    x = rng.uniform(-1, 1, size=(5, 8, 8, 3))
    classes = [0, 1, 2, 1, 0]
    batched = fn(tiny, x, classes, batch_size=7, **kw)
    single = np.concatenate([fn(tiny, x[i : i + 1], c, **kw) for i, c in enumerate(classes)])
    np.testing.assert_allclose(batched, single, rtol=1e-9, atol=1e-12)
    # one image, many classes
    many = fn(tiny, x[:1], [0, 1, 2], **kw)
    np.testing.assert_allclose(many, np.concatenate([fn(tiny, x[:1], c, **kw) for c in range(3)]), rtol=1e-9, atol=1e-12)


def test_two_classes_give_different_maps(dog_model):
    from xaitools import data

    x = dog_model.preprocess(data.load_image("cat_dog.jpg"))
    maps = saliency.saliency_map(saliency.vanilla_gradient(dog_model, x, [11, 14]))  # bull_mastiff, pug
    assert maps.shape == (2, 160, 160)
    assert np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1] < 0.95
    top = saliency.vanilla_gradient(dog_model, x)  # None: the top class, bull_mastiff
    np.testing.assert_allclose(top, saliency.vanilla_gradient(dog_model, x, 11), rtol=1e-5, atol=1e-7)


def test_saliency_map():
    a = np.zeros((2, 2, 3, 3))
    a[0, 0, 0] = [0.5, -2.0, 1.0]
    a[0, 1, 2] = [0.0, 0.0, 1.0]
    m = saliency.saliency_map(a)
    np.testing.assert_allclose(m[0], [[1.0, 0, 0], [0, 0, 0.5]])
    np.testing.assert_array_equal(m[1], 0.0)  # an all-zero attribution stays zero
    assert saliency.saliency_map(a[0]).shape == (2, 3)
    grads = saliency.vanilla_gradient(logit_twin(tiny_model()), np.ones((1, 8, 8, 3)), 0)
    assert saliency.saliency_map(grads).max() == pytest.approx(1.0)


def test_bad_inputs_get_clear_errors(tiny, x8):
    with pytest.raises(ValueError, match=r"\(N, 8, 8, 3\).*x\[np.newaxis\]"):
        saliency.vanilla_gradient(tiny, x8[0], 0)
    with pytest.raises(ValueError, match="model takes inputs of shape"):
        saliency.vanilla_gradient(tiny, np.zeros((1, 9, 8, 3)), 0)
    with pytest.raises(TypeError, match="float"):
        saliency.vanilla_gradient(tiny, x8.astype(np.uint8), 0)
    with pytest.raises(IndexError, match=r"3 classes \(0..2\)"):
        saliency.vanilla_gradient(tiny, x8, [0, 3])
    with pytest.raises(IndexError, match="out of range"):
        saliency.integrated_gradients(tiny, x8, -1)
    with pytest.raises(ValueError, match="3 entries for 2 images"):
        saliency.vanilla_gradient(tiny, x8, [0, 1, 2])
    with pytest.raises(TypeError, match="integer class index"):
        saliency.vanilla_gradient(tiny, x8, "pug")
    with pytest.raises(ValueError, match="'black', 'blurred' or an array"):
        saliency.integrated_gradients(tiny, x8, 0, baseline="white")
    with pytest.raises(ValueError, match="does not broadcast"):
        saliency.integrated_gradients(tiny, x8, 0, baseline=np.zeros((5, 5)))
    with pytest.raises(ValueError, match="steps"):
        saliency.integrated_gradients(tiny, x8, 0, steps=0)
    with pytest.raises(ValueError, match="samples"):
        saliency.smoothgrad(tiny, x8, 0, samples=0)
    with pytest.raises(ValueError, match="output must be one of"):
        saliency.vanilla_gradient(tiny, x8, 0, output="logits")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        saliency.saliency_map(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="'relu' activation.*output='probability'"):
        saliency.vanilla_gradient(tiny_model(activation="relu"), x8, 0)


@pytest.mark.parametrize("method,extra", [("saliency", []), ("smoothgrad", ["--samples", "4"]), ("ig", ["--steps", "8", "--baseline", "blurred"])])
def test_cli_pixel_methods(method, extra, tmp_path, capsys):
    from xaitools import cli

    hm = tmp_path / "map.npy"
    assert cli.main(["explain", "cat_dog.jpg", "--method", method, "--heatmap-out", str(hm)] + extra) == 0
    assert f"{method}: bull_mastiff (class 11" in capsys.readouterr().out
    heatmap = np.load(hm)
    assert heatmap.shape == (480, 640) and heatmap.dtype == np.float32  # the image's own H x W
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)


def test_cli_pixel_methods_reject_a_layer(capsys):
    from xaitools import cli

    assert cli.main(["explain", "cat_dog.jpg", "--method", "saliency", "--layer", "out_relu"]) == 2
    err = capsys.readouterr().err
    assert "--layer is for" in err and "gradcam" in err and "saliency attributes the input pixels" in err


# -- known answers: where the logit comes from, and the integration rule ---------------------------
def head_model(head):
    """Conv -> GAP -> a head: "activation" (Dense(3) then a separate Activation("softmax")), "softmax_layer"
    (Dense(3) then Softmax()), or "sigmoid" (Dense(1, sigmoid), a binary classifier)."""
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((6, 6, 3), dtype="float64")
    h = keras.layers.GlobalAveragePooling2D(dtype="float64")(keras.layers.Conv2D(4, 3, activation="tanh", dtype="float64")(inp))
    init = keras.initializers.RandomNormal(stddev=3.0, seed=4)
    if head == "sigmoid":
        return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float64", kernel_initializer=init)(h))
    z = keras.layers.Dense(3, dtype="float64", kernel_initializer=init, name="logits")(h)
    last = keras.layers.Activation("softmax", dtype="float64") if head == "activation" else keras.layers.Softmax(dtype="float64")
    return keras.Model(inp, last(z))


@pytest.mark.parametrize("head", ["activation", "softmax_layer"])
def test_a_separate_softmax_layer_is_split_off(head, rng):
    import keras

    model = head_model(head)
    pre, kernel, bias = saliency.split_head(model.outputs[0])
    assert kernel is None and bias is None and pre is model.get_layer("logits").output
    x = rng.rand(2, 6, 6, 3)
    logits = np.asarray(keras.Model(model.inputs[0], model.get_layer("logits").output)(x))
    np.testing.assert_allclose(np.asarray(saliency.score_function(model)(x)), logits, rtol=1e-12)
    assert np.ptp(logits) > 1 and not np.allclose(logits, f(model, x))  # logits, not the probabilities


def test_a_sigmoid_dense_head_gives_the_log_odds(rng):
    model = head_model("sigmoid")
    pre, kernel, bias = saliency.split_head(model.outputs[0])
    assert tuple(kernel.shape) == (4, 1) and tuple(bias.shape) == (1,)
    x = rng.rand(3, 6, 6, 3)
    p = f(model, x)[:, 0]
    z = np.asarray(saliency.score_function(model)(x))[:, 0]
    np.testing.assert_allclose(z, np.log(p / (1 - p)), rtol=1e-8)  # the logit of a sigmoid is its log-odds
    # the gradient of the log-odds is the gradient of p divided by p (1 - p)
    g_logit = saliency.vanilla_gradient(model, x, 0)
    g_prob = saliency.vanilla_gradient(model, x, 0, output="probability")
    np.testing.assert_allclose(g_prob, g_logit * (p * (1 - p))[:, None, None, None], rtol=1e-8, atol=1e-14)


def test_integrated_gradients_uses_the_trapezoid_rule():
    """logit_0 = sum over pixels of relu(x - 1/2)^2 / 16: along the path from 0 to x the gradient
    is piecewise linear with its kink at alpha = 1/(2x); with x in {2/3, 1, 2} and 4 steps the kinks sit on
    the nodes 0.75, 0.5, 0.25, so the trapezoid rule is exact: IG = relu(x - 1/2)^2 / 16 per pixel.
    (Equal weights on the 5 nodes give 20 % too much for x = 1; a left or right Riemann sum is off too.)"""
    import keras

    inp = keras.Input((4, 4, 3), dtype="float64")
    shifted = keras.layers.Conv2D(3, 1, activation="relu", dtype="float64", name="shift")(inp)  # relu(x - 1/2)
    squared = keras.layers.Multiply(dtype="float64")([shifted, shifted])
    h = keras.layers.GlobalAveragePooling2D(dtype="float64")(squared)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", dtype="float64", name="head")(h))
    model.get_layer("shift").set_weights([np.eye(3).reshape(1, 1, 3, 3), np.full(3, -0.5)])
    model.get_layer("head").set_weights([np.array([[1.0, 0.0]] * 3), np.zeros(2)])
    x = np.random.RandomState(0).choice([2 / 3, 1.0, 2.0], size=(1, 4, 4, 3))
    attr = saliency.integrated_gradients(model, x, 0, baseline=np.zeros_like(x), steps=4)
    np.testing.assert_allclose(attr, np.maximum(x - 0.5, 0) ** 2 / 16, rtol=1e-9, atol=1e-15)
