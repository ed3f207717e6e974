"""The stems' running median (riffcast.dsp.conductor.median) against scipy.ndimage.median_filter, its reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter

from riffcast.dsp.conductor.median import median_along_rows


@pytest.mark.parametrize("shape", [(512, 512), (64, 40), (7, 3), (1, 1), (40, 15), (3, 64)])
@pytest.mark.parametrize("width", [1, 3, 31])
@pytest.mark.parametrize("axis", [0, 1])
def test_it_is_scipys_median_filter_with_mirrored_edges_element_for_element(shape, width, axis):
    values = np.random.default_rng(sum(shape) + width).random(shape, dtype=np.float32) ** 3
    values[:, ::5] = 0.0  # ties, as silent cells give
    size = [1, 1]
    size[axis] = width
    expected = median_filter(values, size=tuple(size), mode="reflect")
    got = median_along_rows(values, width) if axis == 1 else median_along_rows(values.T, width).T
    assert got.dtype == values.dtype and got.shape == values.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("width", [0, 2, -1])
def test_an_even_or_empty_width_is_refused(width):
    with pytest.raises(ValueError, match="must be odd"):
        median_along_rows(np.zeros((4, 4), np.float32), width)
