"""LIME's steps 3 and 4 against numbers worked out by hand (no reference implementation)."""

import numpy as np
import pytest

from xaitools import lime


def test_cosine_distances_to_the_all_on_vector():
    perturbations = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 1]])
    expected = [1 - 1 / np.sqrt(2), 0.0, 1 - 1 / 2, 1 - np.sqrt(3) / 2, 1 - 1 / np.sqrt(2)]
    np.testing.assert_allclose(lime.perturbation_distances(perturbations), expected, rtol=0, atol=1e-12)


def test_kernel_weights_by_hand():
    # sqrt(exp(-d^2 / w^2)) = exp(-d^2 / (2 w^2)): 1 at d = 0, exp(-1/2) at d = w, exp(-2) at d = 2w
    np.testing.assert_allclose(lime.kernel_weights([0.0, 0.25, 0.5], 0.25), [1.0, np.exp(-0.5), np.exp(-2.0)], rtol=1e-12)
    np.testing.assert_allclose(lime.kernel_weights([0.3], 0.6), [np.exp(-0.125)], rtol=1e-12)


def grid(h, w, cell):
    rows, cols = np.arange(h)[:, None] // cell, np.arange(w)[None, :] // cell
    return rows * (w // cell) + cols


def and_model(seg):
    """P(class 1) = 0.1 + 0.8 * [superpixel 0 on AND superpixel 1 on], read from the pixels: not linear
    in the on/off vector, so the surrogate has residuals and its sample weights matter."""

    def predict(images):
        on = [np.asarray(images)[:, seg == k].mean(axis=(1, 2)) > 0.5 for k in (0, 1)]
        p = 0.1 + 0.8 * (on[0] & on[1])
        return np.stack([1 - p, p], axis=1)

    return predict


def test_the_surrogate_is_the_weighted_least_squares_fit_and_its_score_the_weighted_r2():
    seg = grid(8, 8, 4)  # 4 superpixels
    image = np.ones((8, 8, 3))
    exp = lime.explain(image, and_model(seg), 1, num_perturb=60, superpixels=seg, random_state=3)
    X, y = exp.perturbations.astype(float), exp.predictions[:, 1]
    w = lime.kernel_weights(lime.perturbation_distances(X), 0.25)
    np.testing.assert_allclose(exp.weights, w, rtol=1e-12)
    # weighted least squares by hand: minimise sum_i w_i (y_i - b - x_i . c)^2
    A = np.hstack([np.ones((len(X), 1)), X]) * np.sqrt(w)[:, None]
    beta = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]
    np.testing.assert_allclose(exp.intercept, beta[0], atol=1e-9)
    np.testing.assert_allclose(exp.coeff, beta[1:], atol=1e-9)
    residual = y - beta[0] - X @ beta[1:]
    ybar = np.sum(w * y) / np.sum(w)
    weighted_r2 = 1 - np.sum(w * residual**2) / np.sum(w * (y - ybar) ** 2)
    unweighted_r2 = 1 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2)
    assert exp.score == pytest.approx(weighted_r2, abs=1e-9)
    assert abs(weighted_r2 - unweighted_r2) > 0.01  # the test tells the two apart
    # the unweighted fit is a different surrogate
    plain = np.linalg.lstsq(np.hstack([np.ones((len(X), 1)), X]), y, rcond=None)[0]
    assert np.abs(plain[1:] - exp.coeff).max() > 0.01
    # the two superpixels the model reads rank first; the heatmap is the positive part over its maximum
    assert set(exp.top_features(2)) == {0, 1}
    pos = np.clip(exp.coeff, 0, None)
    np.testing.assert_allclose(exp.heatmap(), (pos / pos.max())[seg], rtol=1e-12)


def test_hide_color_is_what_switched_off_superpixels_show():
    seg = grid(4, 4, 2)
    image = np.full((4, 4, 3), 0.8)
    out = lime.perturb_images(image, np.array([[1, 0, 0, 1]]), seg, hide_color=0.25)[0]
    np.testing.assert_allclose(out[seg == 0], 0.8)
    np.testing.assert_allclose(out[seg == 1], 0.25)
    np.testing.assert_allclose(out[(seg == 1) | (seg == 2)], 0.25)
    np.testing.assert_allclose(out[seg == 3], 0.8)


def test_negative_superpixel_labels_are_refused():
    seg = grid(4, 4, 2)
    seg[0, 0] = -1  # a label -1 would silently index the last superpixel's on/off entry
    with pytest.raises(ValueError, match="non-negative integer labels"):
        lime.perturb_images(np.ones((4, 4, 3)), np.array([[1, 0, 0, 1]]), seg)
