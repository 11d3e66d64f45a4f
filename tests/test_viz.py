"""viz: resizing, colouring and blending maps, with values worked out by hand."""

import numpy as np
import pytest
from PIL import Image

from xaitools import viz


def test_resize_map_takes_height_then_width_and_interpolates_between_pixel_centres():
    m = np.array([[0.0, 1.0], [0.0, 1.0]])
    wide = viz.resize_map(m, (2, 4))
    assert wide.shape == (2, 4) and wide.dtype == np.float32
    # pixel centres at 0.25, 0.75 of the old pixels: 0, 1/4, 3/4, 1
    np.testing.assert_allclose(wide[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_array_equal(viz.resize_map(m, (2, 4), nearest=True)[1], [0, 0, 1, 1])
    tall = viz.resize_map(m.T, (4, 2))
    np.testing.assert_allclose(tall[:, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    assert viz.resize_map(np.zeros((3, 5)), (7, 2)).shape == (7, 2)
    same = np.random.RandomState(0).rand(5, 6)
    np.testing.assert_allclose(viz.resize_map(same, (5, 6)), same, atol=1e-6)


def test_colorize_is_opencvs_jet_in_rgb_with_black_below_the_threshold():
    m = np.array([[0.0, 0.5, 1.0, 1.7], [-0.3, 0.1, 0.3, 0.9]])
    rgb = viz.colorize(m)
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 128 / 255], atol=1e-6)  # JET starts dark blue
    np.testing.assert_allclose(rgb[0, 2], [128 / 255, 0, 0], atol=1e-6)  # and ends dark red
    np.testing.assert_array_equal(rgb[0, 3], rgb[0, 2])  # clipped to [0, 1]
    np.testing.assert_array_equal(rgb[1, 0], rgb[0, 0])
    import cv2

    jet = cv2.applyColorMap(np.uint8(255 * np.clip(m, 0, 1)).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1] / 255.0
    np.testing.assert_allclose(rgb, jet, atol=1e-6)
    dark = viz.colorize(m, threshold=0.3)
    assert not dark[0, 0].any() and not dark[1, 1].any() and not dark[1, 0].any()  # 0, 0.1, -0.3 < 0.3
    np.testing.assert_array_equal(dark[1, 2], rgb[1, 2])  # 0.3 itself is kept
    np.testing.assert_array_equal(dark[0, 1], rgb[0, 1])


def test_overlay_blends_the_resized_colour_map_over_the_image():
    image = np.full((4, 6, 3), 0.2, np.float32)
    heatmap = np.array([[0.0, 1.0]])  # resized to 4 x 6
    out = viz.overlay(image, heatmap, alpha=0.25)
    expected = 0.75 * image + 0.25 * viz.colorize(viz.resize_map(heatmap, (4, 6)))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(viz.overlay(image, heatmap, alpha=0.0), image)
    bright = viz.overlay(np.ones((4, 6, 3), np.float32), heatmap, alpha=0.9)
    assert bright.max() <= 1 and bright.min() >= 0


def test_save_image_writes_rounded_8_bit_rgb(tmp_path):
    image = np.array([[[0.0, 0.5, 1.0], [1.2, -0.1, 0.002]]], np.float32)
    viz.save_image(tmp_path / "x.png", image)
    saved = np.asarray(Image.open(tmp_path / "x.png"))
    np.testing.assert_array_equal(saved, [[[0, 128, 255], [255, 0, 1]]])


@pytest.mark.parametrize("size", [(3, 3), (10, 4)])
def test_resize_map_keeps_a_constant_map_constant(size):
    np.testing.assert_allclose(viz.resize_map(np.full((5, 7), 0.6), size), 0.6, atol=1e-6)


def test_overlay_clips_to_the_displayable_range():
    image = np.full((2, 3, 3), 1.6, np.float32)  # e.g. an image brightened past white
    out = viz.overlay(image, np.ones((2, 3)), alpha=0.5)
    assert out.max() == 1.0 and out.min() >= 0
    np.testing.assert_allclose(out[..., 0], 1.0)  # 0.8 + 0.5 * JET's red (0.5) > 1: clipped
    dark = viz.overlay(np.full((2, 3, 3), -1.0, np.float32), np.zeros((2, 3)), alpha=0.5)
    np.testing.assert_allclose(dark, 0.0)  # -0.5 + 0.5 * JET's blue (at most 0.5): clipped at 0
