"""MelProjection: the magnitude step that keeps each frame's mel bands, sparse and exact."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.dsp.mel import mel_filterbank
from riffcast.dsp.mel_projection import MelProjection


def _filters() -> np.ndarray:
    """20 HTK triangles over 129 bins of 31.25 Hz; the bins above 3 kHz carry nothing (cut off)."""
    filters = mel_filterbank(sample_rate=8000, n_fft=256, n_mels=20, f_min_hz=0.0, f_max_hz=3000.0)
    return filters[:, : int(np.max(np.nonzero(filters.any(axis=0)))) + 1]


def _dense_step(rebuilt, previous, band_target, momentum, filters):
    """The same step written out with dense matrices: s = |t| + Fᵀ(FFᵀ + ridge)⁻¹(m − F|t|)."""
    t = rebuilt + momentum * (rebuilt - previous)
    size = np.abs(t).astype(np.float64)
    gram = filters @ filters.T
    gram += 1e-6 * np.mean(np.diag(gram)) * np.eye(gram.shape[0])
    corrected = size + (band_target.T - size @ filters.T) @ np.linalg.solve(gram, filters).astype(np.float64)
    return t * (np.maximum(corrected, 0.0) / size)


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    filters = _filters()
    target = (1.0 + rng.random((6, filters.shape[1]))).astype(np.float32)
    # A rebuilt spectrum near the target (the corrections stay small: nothing is clipped).
    rebuilt = (target * rng.uniform(0.8, 1.2, target.shape) * np.exp(1j * rng.uniform(0, 6.3, target.shape)))
    previous = rebuilt * np.exp(1j * 0.05)
    return filters, target, rebuilt.astype(np.complex64), previous.astype(np.complex64)


def test_band_sums_are_the_filters_applied(frames):
    filters, target, _, _ = frames
    projection = MelProjection.from_filterbank(filters)
    np.testing.assert_allclose(projection.band_sums(target), filters @ target.T.astype(np.float64), rtol=1e-6)


def test_step_matches_the_dense_projection(frames):
    filters, target, rebuilt, previous = frames
    projection = MelProjection.from_filterbank(filters)
    band_target = projection.band_sums(target)
    expected = _dense_step(rebuilt, previous, band_target, 0.99, filters)
    coefficients = np.empty_like(rebuilt)
    previous_copy = previous.copy()
    projection.step(rebuilt, previous_copy, band_target, np.float32(0.99), coefficients)
    np.testing.assert_allclose(coefficients, expected, rtol=1e-3, atol=1e-4)
    assert np.array_equal(previous_copy, rebuilt)  # momentum state moved on


def test_step_keeps_the_bands_and_the_phase(frames):
    filters, target, rebuilt, previous = frames
    projection = MelProjection.from_filterbank(filters)
    band_target = projection.band_sums(target)
    coefficients = np.empty_like(rebuilt)
    projection.step(rebuilt, previous.copy(), band_target, np.float32(0.0), coefficients)
    # The bands are the target's, though no bin is (the detail inside the bands is |t|'s) …
    np.testing.assert_allclose(filters @ np.abs(coefficients).T, band_target, rtol=1e-4)
    assert np.abs(np.abs(coefficients[:, 1:]) - target[:, 1:]).max() > 0.05
    # … the phase is t's, and DC, in no band, keeps its magnitude.
    np.testing.assert_allclose(np.angle(coefficients), np.angle(rebuilt), atol=1e-4)
    np.testing.assert_allclose(np.abs(coefficients[:, 0]), np.abs(rebuilt[:, 0]), rtol=1e-5)


def test_filters_that_are_not_triangles_are_refused():
    filters = _filters()
    filters[5, 40] = 1.0  # bin 40 now weighs into band 5 and its own, far apart
    with pytest.raises(ValueError, match="not triangular"):
        MelProjection.from_filterbank(filters)
