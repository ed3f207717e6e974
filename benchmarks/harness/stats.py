"""Small statistics for the reports: percentiles (of samples or of a histogram) and slopes."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def percentile(values: np.ndarray, q: float) -> float:
    """The ``q``-th percentile (0–100, linear interpolation) of ``values``; NaN when there are none."""
    return float(np.percentile(values, q)) if values.size else math.nan


def binned_percentile(bins: Sequence[int], bin_width: float, fraction: float) -> float:
    """The ``fraction`` (0–1) quantile of a histogram with bins of ``bin_width`` from 0: the upper edge
    of the bin where the running count reaches it; NaN for an empty histogram."""
    total = sum(bins)
    if total == 0:
        return math.nan
    running = 0
    for index, count in enumerate(bins):
        running += count
        if running >= fraction * total:
            return (index + 1) * bin_width
    return len(bins) * bin_width


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    """Slope (y per x) of the least-squares line through ``points`` (x, y); NaN for under 2 distinct x."""
    if len(points) < 2:
        return math.nan
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return math.nan
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
