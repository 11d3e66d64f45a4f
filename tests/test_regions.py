import warnings

import numpy as np
import pytest

from xaitools import regions
from xaitools.regions import Box


def test_mass_inside_counts_only_the_box():
    m = np.zeros((10, 20))
    m[2:4, 5:10] = 1.0  # all the mass in rows 2-3, columns 5-9
    assert regions.mass_inside(m, Box(0.2, 0.25, 0.4, 0.5)) == pytest.approx(1.0)
    assert regions.mass_inside(m, Box(0.0, 0.0, 0.2, 1.0)) == pytest.approx(0.0)
    # half of the columns: columns 5-9 -> the box's right edge at column 7.5 keeps 2.5 of 5
    assert regions.mass_inside(m, Box(0.0, 0.0, 1.0, 7.5 / 20)) == pytest.approx(0.5)


def test_uniform_map_scores_the_area_at_any_resolution():
    b = Box(0.1, 0.3, 0.7, 0.55)
    for shape in [(5, 5), (7, 3), (160, 160), (523, 500)]:
        assert regions.mass_inside(np.ones(shape), b) == pytest.approx(regions.area(b))


def test_negative_values_are_ignored_and_empty_map_is_nan():
    m = -np.ones((4, 4))
    m[0, 0] = 2.0
    assert regions.mass_inside(m, Box(0, 0, 0.25, 0.25)) == pytest.approx(1.0)
    assert np.isnan(regions.mass_inside(np.zeros((3, 3)), Box(0, 0, 1, 1)))


def test_pixels_and_mask_agree():
    b = Box(0.05, 0.35, 0.66, 0.74)
    y0, x0, y1, x1 = regions.pixels(b, (480, 640, 3))
    assert (y0, x0, y1, x1) == (24, 224, 317, 474)
    m = regions.mask(b, (480, 640))
    assert m.sum() == (y1 - y0) * (x1 - x0) and m[y0, x0] and not m[y0 - 1, x0] and not m[y1, x0]


def test_superpixels_inside():
    seg = np.zeros((10, 10), int)
    seg[:, 5:] = 1  # right half
    seg[:, 8:] = 2  # right fifth
    inside = regions.superpixels_inside(seg, Box(0, 0.5, 1, 1))
    assert list(inside) == [1, 2]
    assert list(regions.superpixels_inside(seg, Box(0, 0.4, 1, 1))) == [1, 2]  # label 0: 1 of 5 columns
    assert list(regions.superpixels_inside(seg, Box(0, 0.2, 1, 1))) == [0, 1, 2]  # label 0: 3 of 5


@pytest.mark.parametrize("bad", [(0.5, 0, 0.4, 1), (0, 0.5, 1, 0.5), (-0.1, 0, 1, 1), (0, 0, 1, 1.2), (0, 0, 1.2, 1),
                                 (0, -0.1, 1, 1)])
def test_bad_boxes_are_refused(bad):
    with pytest.raises(ValueError, match="top < bottom"):
        regions.mass_inside(np.ones((3, 3)), bad)


def test_named_regions():
    assert regions.box("cat_dog.jpg", "dog") == regions.REGIONS["cat_dog.jpg"]["dog"]
    with pytest.raises(KeyError, match="known"):
        regions.box("cat_dog.jpg", "horse")
    for boxes in regions.REGIONS.values():
        for b in boxes.values():
            assert 0 < regions.area(b) < 1


def test_a_box_thinner_than_a_pixel_still_covers_one_pixel():
    b = Box(0.5, 0.5, 0.55, 0.55)  # half a pixel high and wide on a 10 x 10 grid, inside pixel (5, 5)
    assert regions.pixels(b, (10, 10)) == (5, 5, 6, 6)
    assert regions.mask(b, (10, 10)).sum() == 1
    assert regions.pixels(Box(0.96, 0.96, 1.0, 1.0), (10, 10)) == (9, 9, 10, 10)  # and stays on the grid


def test_a_map_without_positive_mass_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(regions.mass_inside(np.zeros((3, 3)), Box(0, 0, 1, 1)))
        assert np.isnan(regions.mass_inside(-np.ones((3, 3)), Box(0, 0, 0.5, 0.5)))


def test_a_colour_image_is_not_taken_for_a_map():
    with pytest.raises(ValueError, match=r"heatmap must be a 2-D map \(h, w\), got shape \(4, 4, 3\)"):
        regions.mass_inside(np.ones((4, 4, 3)), Box(0, 0, 1, 1))
