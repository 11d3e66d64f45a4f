import numpy as np
import pytest

from xaitools import metrics, saliency

SIZE, REGION = 16, (slice(4, 10), slice(6, 12))  # the only pixels the synthetic model looks at


def region_model(images):
    """Probability of class 1 = the mean brightness of REGION; class 0 gets the rest."""
    p = np.asarray(images)[:, REGION[0], REGION[1], :].mean(axis=(1, 2, 3))
    return np.stack([1 - p, p], axis=1)


@pytest.fixture
def image(rng):
    img = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    img[REGION] = 0.9
    return img


def correct_map():
    m = np.zeros((SIZE, SIZE))
    m[REGION] = 1.0
    return m


@pytest.mark.parametrize("baseline", ["zeros", "blur"])
def test_correct_map_beats_random_order(image, baseline):
    kw = dict(steps=16, baseline=baseline, batch_size=5)
    good_del = metrics.deletion(image, region_model, 1, correct_map(), **kw)
    good_ins = metrics.insertion(image, region_model, 1, correct_map(), **kw)
    rand_del = metrics.random_curve(image, region_model, 1, "deletion", rng=0, **kw)
    rand_ins = metrics.random_curve(image, region_model, 1, "insertion", rng=0, **kw)
    # margin: 30 % of the probability's whole drop from the image to the baseline
    margin = 0.3 * (good_del.scores[0] - good_del.scores[-1])
    assert margin > 0.1
    assert good_del.auc < rand_del.auc - margin
    assert good_ins.auc > rand_ins.auc + margin
    # a map that points away from the region is worse than random on both
    bad = 1 - correct_map()
    assert metrics.deletion(image, region_model, 1, bad, **kw).auc > rand_del.auc
    assert metrics.insertion(image, region_model, 1, bad, **kw).auc < rand_ins.auc


def test_curve_endpoints_and_auc(image):
    base = metrics.make_baseline(image, "zeros")
    curve = metrics.deletion(image, region_model, 1, correct_map(), steps=8, baseline="zeros")
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1 and len(curve.scores) == 9
    assert curve.scores[0] == pytest.approx(region_model(image[None])[0, 1])
    assert curve.scores[-1] == pytest.approx(region_model(base[None])[0, 1])
    assert curve.auc == pytest.approx(np.trapezoid(curve.scores, curve.fractions))
    # the region is 36 of 256 pixels: after 2 of 8 steps (64 pixels, the region first) it is all gone
    assert curve.scores[2] == pytest.approx(0.0, abs=1e-6)
    ins = metrics.insertion(image, region_model, 1, correct_map(), steps=8, baseline="zeros")
    assert ins.scores[0] == pytest.approx(0.0) and ins.scores[2] == pytest.approx(0.9)


def test_superpixel_scores_and_small_maps_rank_like_the_pixel_map(image):
    segments = np.zeros((SIZE, SIZE), int)
    segments[REGION] = 1
    by_segment = metrics.pixel_ranks([0.0, 1.0], segments=segments)
    assert (by_segment[REGION] < 36).all()
    small = np.zeros((4, 4))
    small[1:2, 2:3] = 1  # the 4x4 cell over the region's centre, resized to 16x16
    ranks = metrics.pixel_ranks(small, shape=(SIZE, SIZE))
    assert ranks[6, 9] < 16 and ranks[15, 0] > 100  # zeros tie: raster order after the non-zeros


def test_random_order_is_seeded():
    a = metrics.pixel_ranks(None, (5, 7), rng=3)
    assert (a == metrics.pixel_ranks(None, (5, 7), rng=3)).all()
    assert sorted(a.ravel()) == list(range(35))


# -- model-parameter randomization -----------------------------------------------------------------
def tiny_cnn(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3, activation="softmax", name="head")(h)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def cnn():
    return tiny_cnn()


def gradient_map(image):
    return lambda model: saliency.saliency_map(saliency.vanilla_gradient(model, image[None], 0))[0]


def sobel_map(image):
    from skimage.filters import sobel

    return lambda model: sobel(image.mean(axis=-1))  # ignores the model: an edge detector


def test_cascade_reinitialises_from_the_top(cnn):
    before = [w.copy() for w in cnn.get_weights()]
    assert metrics.weighted_layers(cnn) == ["head", "conv2", "conv1"]
    seen = []
    for k, top, model in metrics.cascade(cnn, [0, 1, 2], seed=1):
        names = [layer.name for layer in model.layers if layer.weights]
        changed = {n: not np.allclose(model.get_layer(n).get_weights()[0], cnn.get_layer(n).get_weights()[0]) for n in names}
        seen.append((k, top, changed))
    assert seen[0] == (0, "none", {"conv1": False, "conv2": False, "head": False})
    assert seen[1] == (1, "head", {"conv1": False, "conv2": False, "head": True})
    assert seen[2] == (2, "conv2", {"conv1": False, "conv2": True, "head": True})
    for a, b in zip(before, cnn.get_weights()):  # the original is untouched
        np.testing.assert_array_equal(a, b)
    # seeded: the same re-initialisation twice
    np.testing.assert_array_equal(
        metrics.randomize_top_layers(cnn, 2, seed=1).get_layer("conv2").get_weights()[0],
        metrics.randomize_top_layers(cnn, 2, seed=1).get_layer("conv2").get_weights()[0],
    )


def test_cascade_refuses_depths_that_do_not_increase_within_the_layers(cnn):
    """Re-initialising from the top down cannot go back up: decreasing, negative or too deep ``depths``
    are one clear error before any layer is re-initialised (mutation run 3's survivor metrics:196,
    ``depths[1:]`` -> ``depths[0:]``, which let [2, 1] through)."""
    for bad in ([2, 1], [0, 2, 1], [-1, 1], [1, 4], [0, 1, 4], []):
        with pytest.raises(ValueError, match=r"depths must increase within 0\.\.3"):
            next(metrics.cascade(cnn, bad))
    assert [k for k, _, _ in metrics.cascade(cnn, [0, 1, 1, 3])] == [0, 1, 1, 3]  # repeats are allowed


def test_randomization_changes_gradients_but_not_an_edge_detector(cnn, rng):
    image = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    image[REGION] = 0.9
    rows = metrics.sanity_check(cnn, {"gradient": gradient_map(image), "sobel": sobel_map(image)}, [1, 3], seed=0)
    assert [(r.method, r.layers_randomized) for r in rows] == [("gradient", 1), ("sobel", 1), ("gradient", 3), ("sobel", 3)]
    final = {r.method: r for r in rows if r.layers_randomized == 3}
    assert abs(final["gradient"].spearman) < 0.5 and final["gradient"].ssim < 0.5
    assert final["sobel"].spearman == pytest.approx(1.0) and final["sobel"].ssim == pytest.approx(1.0)
    assert metrics.passes(rows, threshold=0.5) == {"gradient": True, "sobel": False}


def test_compare_maps():
    a = np.arange(16.0).reshape(4, 4) ** 2
    rho, ssim = metrics.compare_maps(a, np.sqrt(a))  # monotone: same ranking
    assert rho == pytest.approx(1.0) and ssim < 1
    assert metrics.compare_maps(a, -a)[0] == pytest.approx(-1.0)
    assert metrics.compare_maps(a, np.zeros_like(a))[0] == 0.0


# -- pointing game -------------------------------------------------------------------------------------
def test_pointing_game():
    m = np.zeros((20, 20))
    m[5, 7] = 1
    box = (4, 6, 8, 10)  # rows 4..7, columns 6..9
    assert metrics.pointing_game(m, box)
    assert not metrics.pointing_game(m, (6, 6, 8, 10))  # the point is one row above
    assert metrics.pointing_game(m, (6, 6, 8, 10), tolerance=1)
    assert not metrics.pointing_game(m, (8, 10, 12, 14), tolerance=3)  # 3 rows and 3 columns off: 4.2 px
    assert metrics.pointing_game(m, (8, 10, 12, 14), tolerance=4.5)
    # a 4x4 map on an 80x80 image: cell (1, 2) covers rows 20..39 and columns 40..59
    small = np.zeros((4, 4))
    small[1, 2] = 1
    assert metrics.pointing_game(small, (20, 40, 40, 60), shape=(80, 80))
    assert not metrics.pointing_game(small, (0, 0, 20, 40), shape=(80, 80))
    hits, rate = metrics.pointing_game_hits([m, m, small], [box, (0, 0, 3, 3), (1, 2, 2, 3)])
    assert hits.tolist() == [True, False, True] and rate == pytest.approx(2 / 3)


def test_ssim_compares_the_maps_scaled_to_the_unit_range():
    a = np.random.RandomState(0).rand(12, 12)
    rho, ssim = metrics.compare_maps(a, 5 * a + 2)  # the same map in other units
    assert rho == pytest.approx(1.0) and ssim == pytest.approx(1.0)
    from skimage.metrics import structural_similarity

    b = np.sqrt(a)
    unit = lambda m: (m - m.min()) / np.ptp(m)  # noqa: E731
    expected = structural_similarity(unit(a), unit(b), data_range=1.0, win_size=7)
    assert metrics.compare_maps(3 * a, 10 * b - 4)[1] == pytest.approx(expected, abs=1e-12)


def test_random_curve_is_the_mean_over_its_repeats(image):
    kw = dict(steps=8, baseline="zeros")
    rng = np.random.default_rng(7)
    curves = [metrics.perturbation_curve(image, region_model, 1, None, "deletion", rng=rng, **kw) for _ in range(3)]
    mean = metrics.random_curve(image, region_model, 1, "deletion", repeats=3, rng=7, **kw)
    np.testing.assert_allclose(mean.scores, np.mean([c.scores for c in curves], axis=0), rtol=1e-12)
    assert mean.auc == pytest.approx(np.trapezoid(mean.scores, mean.fractions))
    one = metrics.random_curve(image, region_model, 1, "deletion", repeats=1, rng=7, **kw)
    np.testing.assert_allclose(one.scores, curves[0].scores, rtol=1e-12)
    assert np.abs(one.scores - mean.scores).max() > 1e-3  # the repeats differ: averaging them matters


def test_the_blur_baseline_blurs_within_each_colour_channel(image):
    red = np.zeros((SIZE, SIZE, 3), np.float32)
    red[..., 0] = 1.0  # a flat red image: blurring in space changes nothing; mixing channels would
    np.testing.assert_allclose(metrics.make_baseline(red, "blur", blur_sigma=3), red, atol=1e-6)
    blurred = metrics.make_baseline(image, "blur", blur_sigma=3)
    assert blurred.std(axis=(0, 1)).max() < image.std(axis=(0, 1)).min()  # smoother than the image


def test_the_baseline_is_float32_whatever_the_images_dtype():
    image64 = np.random.default_rng(0).random((6, 7, 3))  # float64, e.g. a computed image
    for baseline in ("blurred", "black", 0.5, np.full((6, 7, 3), 0.2)):
        b = metrics.make_baseline(image64, baseline, blur_sigma=2)
        assert b.dtype == np.float32 and b.shape == (6, 7, 3), baseline


def test_a_curve_needs_at_least_one_step(image):
    with pytest.raises(ValueError, match="steps must be at least 1"):
        metrics.perturbation_curve(image, region_model, 1, correct_map(), steps=0)
    assert len(metrics.perturbation_curve(image, region_model, 1, correct_map(), steps=1).scores) == 2


def test_pointing_game_scales_rows_and_columns_separately():
    small = np.zeros((4, 4))
    small[1, 2] = 1  # on an image 80 high and 40 wide: rows 20..39, columns 20..29
    assert metrics.pointing_game(small, (20, 20, 40, 30), shape=(80, 40))
    assert not metrics.pointing_game(small, (20, 40, 40, 60), shape=(80, 40))  # where a square scaling would put it
    tall = np.zeros((4, 2))
    tall[1, 1] = 1  # a map with rows and columns of different sizes: rows 20..39, columns 20..39
    assert metrics.pointing_game(tall, (20, 20, 40, 40), shape=(80, 40))
    assert not metrics.pointing_game(tall, (0, 0, 80, 20), shape=(80, 40))


def test_pointing_game_hits_needs_one_box_per_map():
    with pytest.raises(ValueError, match="one box per map"):
        metrics.pointing_game_hits([np.ones((2, 2))] * 2, [(0, 0, 1, 1)])


def test_known_ends_skip_two_images_and_give_the_same_curve(image):
    """``ends`` = (score of the image, score of the baseline): the same curve, the two ends taken as
    given (deletion starts at the image, insertion at the baseline) and only steps - 1 images scored."""
    seen = []

    def counting(batch):
        seen.append(len(batch))
        return region_model(batch)

    for mode in metrics.MODES:
        kw = dict(steps=8, baseline="zeros", mode=mode)
        full = metrics.perturbation_curve(image, region_model, 1, correct_map(), **kw)
        ends = (region_model(image[None])[0, 1], region_model(metrics.make_baseline(image, "zeros")[None])[0, 1])
        seen.clear()
        known = metrics.perturbation_curve(image, counting, 1, correct_map(), ends=ends, **kw)
        assert sum(seen) == 7
        np.testing.assert_allclose(known.scores, full.scores, atol=1e-7)
        assert known.auc == pytest.approx(full.auc)
        swapped = metrics.perturbation_curve(image, region_model, 1, correct_map(), ends=ends[::-1], **kw)
        assert swapped.scores[0] == full.scores[-1] and swapped.scores[-1] == full.scores[0]
    with pytest.raises(ValueError, match="one int"):
        metrics.deletion(image, region_model, [0, 1], correct_map(), ends=ends)
