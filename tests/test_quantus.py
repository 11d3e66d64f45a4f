"""Our metrics against Quantus 0.6.0, an implementation we did not write (issue 18: "a test compares the
metrics with Quantus's"; the findings on real photos are in benchmarks/quantus_crosscheck.md).

Everything is computed here, on both sides, from the same inputs: a tiny Keras classifier (a 3x3 conv,
a 1x1 conv, a dense softmax head over two classes; seeded weights) with MobileNetV2's input scaling
([0, 1] images -> [-1, 1]), two smooth random 24 x 24 images, and four maps: each pixel's exact share
of the top class's logit margin, gradient x (input - baseline) ("right"), its negation ("inverted"), a
random map and a "partial" one (the right map on the left half, 0 on the right half: many ties).
Quantus gets the plain ``keras.Model`` and the network's input (channel-last); ours gets the [0, 1]
images and ``ImageClassifier.predict_resized``.

Quantus is a test dependency (requirements-quantus.txt, installed by ``make install`` with --no-deps).
Two of its calls need a workaround under this stack, as the cross-check found: ROAD's imputer raises
IndexError on the map broadcast over 3 channels (a ``perturb_func`` maps the features to their pixels
and calls Quantus' own ``noisy_linear_imputation``), and PixelFlipping's AUC calls ``np.trapz``, gone
in NumPy 2.4 (its rule, the trapezoid with dx=1, is applied with ``np.trapezoid``).
"""

from __future__ import annotations

import numpy as np
import pytest

import quantus
from quantus.functions.perturb_func import noisy_linear_imputation

import xaitools
from xaitools import metrics, road

S = 24  # image side: H * W = 576 pixels, divisible by 3 * STEP
HW = S * S
STEP = 32  # pixels per pixel-flipping step: Quantus counts 3 * STEP features (the map broadcast over 3 channels)


def tiny_model():
    """Two classes whose logit difference is linear in the input (linear convolutions, a dense head): the
    contribution of each pixel to it is gradient x (input - baseline), exactly, and removing pixels in the
    order of those contributions lowers the class probability fastest (the "right" map)."""
    import keras

    rng = np.random.default_rng(7)
    x = keras.Input((S, S, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    h = keras.layers.Conv2D(8, 1, name="conv2")(h)  # a 1x1 kernel: its axis 0 has length 1
    out = keras.layers.Dense(2, activation="softmax", name="head")(keras.layers.Flatten()(h))
    model = keras.Model(x, out)
    scale = {4: 0.5, 1: 0.1, 2: 0.02}  # kernels of the convolutions, biases, the head's kernel
    model.set_weights([rng.normal(0, scale[w.ndim], w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def setup():
    import tensorflow as tf
    from scipy.ndimage import gaussian_filter

    km = tiny_model()
    clf = xaitools.load_model(km, preprocess="mobilenet_v2")
    rng = np.random.default_rng(2024)
    raw = gaussian_filter(rng.random((2, S, S, 3)), sigma=(0, 2, 2, 0))
    lo, hi = raw.min(axis=(1, 2, 3), keepdims=True), raw.max(axis=(1, 2, 3), keepdims=True)
    images = (0.05 + 0.9 * (raw - lo) / (hi - lo)).astype(np.float32)  # [0.05, 0.95]
    x = clf.preprocess(images)  # the network's input, [-1, 1]
    y = np.argmax(clf.predict_resized(images), axis=1)
    # Quantus' "black": the minimum of the whole sample (all channels), one number per image
    black = images.min(axis=(1, 2, 3))
    t = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(t)
        logp = tf.math.log(clf.network_t(t))
        margin = tf.gather(logp, y, batch_dims=1) - tf.gather(logp, 1 - y, batch_dims=1)  # the logit difference
    grad = tape.gradient(margin, t).numpy().astype(np.float64)
    right = (grad * (images - black[:, None, None, None])).sum(axis=-1)  # each pixel's share of the margin
    partial = np.where(np.arange(S)[None, None, :] < S // 2, right, 0.0)
    maps = {"right": right, "inverted": -right, "random": rng.random((2, S, S)), "partial": partial}
    return {"km": km, "clf": clf, "images": images, "x": x, "y": y, "black": black, "maps": maps}


def quantus_auc(curves):
    """Quantus' calculate_auc (trapezoid, dx=1, over the curve after each step); np.trapz is gone in NumPy 2.4."""
    try:
        return np.asarray(quantus.helpers.utils.calculate_auc(np.asarray(curves), batched=True))
    except AttributeError:
        return np.trapezoid(np.asarray(curves), dx=1, axis=1)


def test_pixel_flipping_matches_our_deletion_with_quantus_baseline_and_steps(setup):
    """PixelFlipping (features_in_step = 3 * 32: 32 whole pixels a step, 18 steps, baseline "black" = the
    sample's minimum over all channels) against ``metrics.deletion`` with ``steps=18`` and that minimum as
    a flat baseline, per image and map. The curves agree to 1e-5 (float32 rounding: Quantus replaces in
    the network's input space, we in [0, 1]) after every step, for all maps without ties. Our AUC (the
    trapezoid over the fraction 0..1, starting at the intact image) is Quantus' AUC (dx=1, from the first
    step on) plus the first interval, divided by the steps: checked to 1e-5, and both rank the tie-free
    maps alike (right best, inverted worst, as the model's linear margin dictates). The partial map has 0
    on half the image: ties, which we take in raster order (stable sort) and Quantus in np.argsort's order
    of the 3 * H * W broadcast features (single channels of pixels, not whole pixels); the curves agree
    exactly where the removed set does not depend on the tie order (before the first tied pixel and once
    all of them are removed)."""
    s = setup
    steps = HW // STEP
    metric = quantus.PixelFlipping(features_in_step=3 * STEP, perturb_baseline="black", disable_warnings=True)
    aucs = {}
    for name, m in s["maps"].items():
        theirs = np.asarray(metric(model=s["km"], x_batch=s["x"], y_batch=s["y"], a_batch=m[:, None],
                                   channel_first=False, softmax=True))
        assert theirs.shape == (2, steps)
        theirs_auc = quantus_auc(theirs)
        for i in range(2):
            ours = metrics.deletion(s["images"][i], s["clf"].predict_resized, int(s["y"][i]), m[i], steps=steps,
                                    baseline=float(s["black"][i]))
            if name == "partial":
                n_pos, n_tied = int((m[i] > 0).sum()), int((m[i] == 0).sum())
                removed = STEP * np.arange(1, steps + 1)
                clear = (removed <= n_pos) | (removed >= n_pos + n_tied)
                assert clear[0] and clear[-1] and not clear.all()  # both regimes occur
                np.testing.assert_allclose(ours.scores[1:][clear], theirs[i][clear], atol=1e-5)
                continue
            np.testing.assert_allclose(ours.scores[1:], theirs[i], atol=1e-5)
            assert ours.auc == pytest.approx((theirs_auc[i] + (ours.scores[0] + theirs[i][0]) / 2) / steps, abs=1e-5)
            aucs.setdefault(i, {})[name] = (ours.auc, float(theirs_auc[i]))
    for i, per_map in aucs.items():
        ours_order = sorted(per_map, key=lambda k: per_map[k][0])
        theirs_order = sorted(per_map, key=lambda k: per_map[k][1])
        assert ours_order == theirs_order, per_map
        assert ours_order[0] == "right" and ours_order[-1] == "inverted", per_map  # the maps do differ


PERCENT = (25, 50, 75)  # Quantus' ROAD percentages: int(576 * p / 100) = 144, 288, 432 of the 3 * 576 features


def quantus_road(setup, m, i, noise, record):
    """Quantus' ROAD (MoRF) on image i with map m; ``record`` gets the removed pixels and the imputed inputs."""

    def imputation(arr, indices, **kwargs):
        # Quantus 0.6 hands the imputer indices into the map broadcast over 3 channels (3 * H * W features),
        # but noisy_linear_imputation indexes the H * W pixels: IndexError. Its own imputer on those pixels.
        pixels = np.unique(np.asarray(indices) % HW)
        out = noisy_linear_imputation(arr, pixels, **kwargs)
        record.append((pixels, out))
        return out

    metric = quantus.ROAD(percentages=list(PERCENT), noise=noise, perturb_func=imputation, disable_warnings=True)
    return metric(model=setup["km"], x_batch=setup["x"][i : i + 1], y_batch=setup["y"][i : i + 1],
                  a_batch=m[i : i + 1, None], channel_first=False, softmax=True)


def test_road_same_pixels_images_and_outcomes_as_quantus(setup):
    """Quantus' ROAD at p = 25, 50, 75 % removes the top int(H * W * p / 100) of the map broadcast over 3
    channels, i.e. p / 3 % of the pixels (whole pixels here: 144, 288, 432 features = 48, 96, 144 pixels).
    Ours (``road.perturbed``) at the percentile 100 - p / 3 removes exactly the same pixels (compared as
    sets), and with the noise off both imputations give the same images: ours in [0, 1], scaled to the
    network's input, equals Quantus' (imputed in the network's input space) to 1e-5 (linear imputation
    commutes with the per-channel affine scaling). The outcome per percentage, whether the top class is
    kept, is the same, and ``road.score``'s probability change equals the model's on Quantus' images
    minus on the intact image, to 1e-5. Per image, for the right, inverted and random maps."""
    s = setup
    percentiles = [100 - p / 3 for p in PERCENT]
    for name in ("right", "inverted", "random"):
        m = s["maps"][name]
        for i in range(2):
            record = []
            outcome = quantus_road(s, m, i, 0.0, record)
            assert list(outcome) == list(PERCENT) and len(record) == len(PERCENT)
            batch = road.perturbed(s["images"][i], m[i], percentiles, noise=0.0)
            morf = batch[1 : 1 + len(PERCENT)]
            theirs_x = np.stack([out for _, out in record]).transpose(0, 2, 3, 1)  # (3, H, W, C), network input
            for q, (pixels, _) in zip(percentiles, record):
                ours_removed = np.flatnonzero(~road.keep_mask(m[i], q).ravel())
                np.testing.assert_array_equal(ours_removed, pixels)
            np.testing.assert_allclose(s["clf"].preprocess(morf), theirs_x, atol=1e-5)
            kept = np.argmax(s["clf"].predict_resized(morf), axis=1) == s["y"][i]
            assert [bool(v) for v in kept] == [bool(outcome[p]) for p in PERCENT], (name, i)
            ours = road.score(batch, s["clf"].predict_resized, int(s["y"][i]), percentiles)
            probs = s["km"].predict(np.concatenate([s["x"][i : i + 1], theirs_x]), verbose=0)[:, s["y"][i]]
            np.testing.assert_allclose(ours.morf_curve, probs[1:] - probs[0], atol=1e-5)


def test_road_noise_has_quantus_scale_in_the_network_input(setup):
    """The imputation noise: Quantus adds noise=0.01 (standard deviation) in the network's input space;
    ours, ``road.noise_for(clf)``, is given in [0, 1] units (0.005 for MobileNetV2's [-1, 1] scaling).
    Measured on the removed pixels of both (the noisy image minus the noise-free one, in the network's
    input), pooled over the three percentages, the standard deviations are 0.01 within 15 % (864 samples
    each: the standard error of a standard deviation is about 2.4 %)."""
    s = setup
    m, i = s["maps"]["right"], 0
    clean, noisy = [], []
    quantus_road(s, m, i, 0.0, clean)
    np.random.seed(0)
    quantus_road(s, m, i, road.NOISE, noisy)
    percentiles = [100 - p / 3 for p in PERCENT]
    ours_clean = s["clf"].preprocess(road.perturbed(s["images"][i], m[i], percentiles, noise=0.0))
    noise = road.noise_for(s["clf"])  # 0.01 in the network's input, in [0, 1] units
    ours_noisy = s["clf"].preprocess(road.perturbed(s["images"][i], m[i], percentiles, noise=noise, seed=0))
    theirs, ours = [], []
    for k, (pixels, out) in enumerate(clean):
        rows, cols = np.divmod(pixels, S)
        theirs.append((noisy[k][1] - out).transpose(1, 2, 0)[rows, cols].ravel())
        ours.append((ours_noisy[1 + k] - ours_clean[1 + k])[rows, cols].ravel())
    theirs, ours = np.concatenate(theirs), np.concatenate(ours)
    assert theirs.size == ours.size == 3 * (48 + 96 + 144)
    assert np.std(theirs) == pytest.approx(road.NOISE, rel=0.15)
    assert np.std(ours) == pytest.approx(road.NOISE, rel=0.15)


def saliency_maps(clf, keras_model, unit_images, classes):
    c = clf if keras_model is clf.model else clf.with_model(keras_model)
    results = xaitools.explain(c, list(unit_images), "saliency", classes=[int(t) for t in classes])
    return np.stack([r.map for r in results])


def test_mpr_similarity_matches_quantus_on_the_networks_it_randomizes(setup):
    """Quantus' MPRT (top-down cascade, Spearman) with our saliency maps as its explain_func: for every
    network Quantus builds (the original, then each layer from the top) our ``metrics.compare_maps``
    Spearman between the original map and that network's map equals Quantus' score to 1e-6. Where
    Quantus returns NaN (a constant map: no ranking) ours reports 0 for that constant map, as documented.
    This compares the similarity on the same networks, not the randomization (see the next test)."""
    s = setup
    clf = s["clf"]
    original = saliency_maps(clf, s["km"], s["images"], s["y"])
    produced = []

    def explain_func(model, inputs, targets, **_):
        unit = (np.asarray(inputs).transpose(0, 2, 3, 1) + 1) / 2  # channel-first network input -> [0, 1]
        maps = saliency_maps(clf, model, unit, targets)
        produced.append(maps)
        return maps[:, None]

    metric = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, layer_order="top_down",
                          seed=42, disable_warnings=True)
    scores = metric(model=s["km"], x_batch=s["x"], y_batch=s["y"], a_batch=original[:, None], channel_first=False,
                    softmax=True, explain_func=explain_func)
    assert list(scores) == ["original", "head", "conv2", "conv1"] and len(produced) == 4
    np.testing.assert_allclose(produced[0], original, atol=1e-6)  # the same map of the trained network
    for (layer, theirs), maps in zip(scores.items(), produced):
        for i in range(2):
            ours = metrics.compare_maps(original[i], maps[i])[0]
            if np.isnan(theirs[i]):
                assert np.ptp(maps[i]) == 0 and ours == 0.0, (layer, i)
            else:
                assert ours == pytest.approx(theirs[i], abs=1e-6), (layer, i)


def test_mpr_randomization_differs_from_ours_as_measured(setup):
    """What each side's "randomize the top k layers" does to the weights, measured as the fraction of a
    layer's weights equal to the trained ones. Ours (``metrics.cascade``, k = 1) re-initialises the top
    layer only: the layers below are the trained ones (fraction 1), the top changed (< 1 %). Quantus'
    ``get_random_layer_generator`` starts from ``keras.models.clone_model``, which in Keras 3 re-draws every
    weight from its initializer: at k = 1 the layers below are not the trained ones either (< 1 %), so
    each step of Quantus' cascade is a fully re-initialised network. Its permutation along axis 0
    (``np.random.permutation``) leaves a 1x1 kernel as drawn (axis 0 has length 1), and the biases are
    the initializer's zeros (permuted: still zeros), not the trained ones.
    Its seed does not fix those draws (Keras' initializers are not seeded by ``np.random.seed``): two
    generators with the same seed give different networks; ours, with the same seed, the same one."""
    s = setup
    km = s["km"]
    trained = {layer.name: layer.get_weights() for layer in km.layers if layer.weights}

    def unchanged(model, name):
        now, then = model.get_layer(name).get_weights(), trained[name]
        return sum(int(np.sum(a == b)) for a, b in zip(now, then)) / sum(a.size for a in then)

    ours = metrics.randomize_top_layers(km, 1, seed=42)
    assert unchanged(ours, "conv1") == 1.0 and unchanged(ours, "conv2") == 1.0
    assert unchanged(ours, "head") < 0.01

    generator = quantus.TensorFlowModel(model=km, channel_first=False).get_random_layer_generator("top_down", seed=42)
    name, theirs = next(generator)
    assert name == "head"
    assert unchanged(theirs, "conv1") < 0.01 and unchanged(theirs, "conv2") < 0.01 and unchanged(theirs, "head") < 0.01
    drawn = [w.copy() for w in theirs.get_layer("conv2").get_weights()]
    name, theirs = next(generator)
    assert name == "conv2"
    kernel, bias = theirs.get_layer("conv2").get_weights()
    assert kernel.shape[0] == 1 and np.array_equal(kernel, drawn[0])
    assert np.array_equal(np.sort(bias), np.sort(drawn[1])) and not np.any(bias)  # a fresh bias: zeros, permuted

    def first_draw():  # conv1 of Quantus' network after its first step, from a new generator
        wrapped = quantus.TensorFlowModel(model=km, channel_first=False)
        return next(wrapped.get_random_layer_generator("top_down", seed=42))[1].get_layer("conv1").get_weights()[0]

    assert not np.array_equal(first_draw(), first_draw())
    full = len(metrics.weighted_layers(km))
    a, b = metrics.randomize_top_layers(km, full, seed=42), metrics.randomize_top_layers(km, full, seed=42)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert max(unchanged(a, n) for n in trained) < 0.01  # ours fully randomized: every layer re-drawn
