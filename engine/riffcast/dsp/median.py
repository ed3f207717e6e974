"""Running median along one axis: what ``scipy.ndimage.median_filter`` gives with a kernel that
is one element wide in every other axis, edges mirrored, in numpy alone (scipy is not a
dependency of the station)."""

from __future__ import annotations

import numpy as np


def running_median(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """The median of the ``width`` elements centred on each element of ``values`` along ``axis``.

    values: any shape, float. width: odd, ≥ 1 (elements). Beyond the edges the values are
    mirrored about the edge, the edge element repeated (d c b a | a b c d: scipy.ndimage's
    ``mode="reflect"``, numpy's ``"symmetric"`` pad). Returns an array of ``values``' shape
    and dtype; each element is one of the inputs (an odd count has a middle element).
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be odd and at least 1, not {width}")
    values = np.asarray(values)
    half = width // 2
    padding = [(0, 0)] * values.ndim
    padding[axis] = (half, half)
    padded = np.pad(values, padding, mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=axis)
    # np.partition, not np.median: the middle element as it is (no mean of one in float64).
    return np.partition(windows, half, axis=-1)[..., half]
