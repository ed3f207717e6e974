"""A running median along the last axis (numba), for the stems' harmonic/percussive masks.

Each row keeps its window sorted: a step drops the value leaving and inserts the one coming,
O(width) each, so a 512 × 512 image with a 31-wide window takes milliseconds. The edges are
mirrored with the edge value repeated (``d c b a | a b c d | d c b a``), as
``scipy.ndimage.median_filter(mode="reflect")`` does.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def median_along_rows(values: np.ndarray, width: int) -> np.ndarray:
    """The median of each value's ``width`` neighbours along the last axis (odd ``width``,
    centred) of ``values`` (rows, columns) → a new (rows, columns) float32."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"the median's width must be odd and positive, got {width}")
    values = np.ascontiguousarray(values, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError("the median needs finite values")
    out = np.empty_like(values)
    if values.size:
        _running_median(values, width, out)
    return out


@njit(cache=True, nogil=True)
def _reflected(index: int, size: int) -> int:
    """``index`` mirrored into [0, size) with the edge repeated (any distance, any size ≥ 1)."""
    period = 2 * size
    index %= period
    return index if index < size else period - 1 - index


@njit(cache=True, nogil=True)
def _running_median(values: np.ndarray, width: int, out: np.ndarray) -> None:
    rows, columns = values.shape
    half = width // 2
    window = np.empty(width, np.float32)
    for row in range(rows):
        for k in range(width):  # the first window, sorted by insertion
            value = values[row, _reflected(k - half, columns)]
            position = k
            while position > 0 and window[position - 1] > value:
                window[position] = window[position - 1]
                position -= 1
            window[position] = value
        out[row, 0] = window[half]
        for column in range(1, columns):
            leaving = values[row, _reflected(column - 1 - half, columns)]
            coming = values[row, _reflected(column + half, columns)]
            position = 0
            while window[position] != leaving:
                position += 1
            while position + 1 < width and window[position + 1] < coming:  # shift left over smaller ones
                window[position] = window[position + 1]
                position += 1
            while position > 0 and window[position - 1] > coming:  # or right over larger ones
                window[position] = window[position - 1]
                position -= 1
            window[position] = coming
            out[row, column] = window[half]
