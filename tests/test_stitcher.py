"""Stitcher: chunks in, one continuous stream with positions out; levels at joins."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import magnitude_below_10k, spectral_convergence_db
from riffcast.codec import SpectrogramChunk
from riffcast.stitcher import Stitcher, join_gain_db


def _stitch(chunks: list[SpectrogramChunk], **options) -> tuple[np.ndarray, list[int]]:
    stitcher = Stitcher(**options)
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    positions = [block.position for block in blocks]
    for before, after in zip(blocks, blocks[1:]):
        assert after.position == before.end  # contiguous, no gap, no overlap
    return np.concatenate([block.samples for block in blocks]), positions


def _cut(mel: np.ndarray, widths: list[int], known_level: bool = True) -> list[SpectrogramChunk]:
    chunks, start = [], 0
    for width in widths:
        part = mel[:, start : start + width]
        peak = float(part.max())
        chunks.append(SpectrogramChunk(part / peak, peak if known_level else None))
        start += width
    return chunks


def test_positions_are_contiguous_from_zero(music_mel):
    audio, positions = _stitch(_cut(music_mel, [512, 512, 512]))
    assert positions[0] == 0
    assert audio.size == 3 * 512 * 441


def test_round_trip_of_music_is_close(music, music_mel):
    audio, _ = _stitch(_cut(music_mel, [512, 512, 512]), level=None)
    frames = music_mel.shape[1]
    convergence = spectral_convergence_db(magnitude_below_10k(audio, frames), magnitude_below_10k(music, frames))
    assert convergence < -22.0


def test_output_does_not_depend_on_the_cutting(music, music_mel):
    """Cut at 512 vs at odd places: each within 0.5 dB of the other, overall and near every cut."""
    frames = music_mel.shape[1]
    truth = magnitude_below_10k(music, frames)
    regular, _ = _stitch(_cut(music_mel, [512, 512, 512]), level=None)
    odd, _ = _stitch(_cut(music_mel, [100, 333, 700, 403]), level=None)
    regular_mag, odd_mag = magnitude_below_10k(regular, frames), magnitude_below_10k(odd, frames)
    assert abs(spectral_convergence_db(regular_mag, truth) - spectral_convergence_db(odd_mag, truth)) < 0.5
    for cut in (100, 433, 1133):
        around = slice(cut - 5, cut + 5)  # ±50 ms
        near_odd = spectral_convergence_db(odd_mag[:, around], truth[:, around])
        near_regular = spectral_convergence_db(regular_mag[:, around], truth[:, around])
        assert near_odd < near_regular + 0.5


def test_same_chunks_same_samples(music_mel):
    chunks = _cut(music_mel, [512, 512])
    assert np.array_equal(_stitch(chunks)[0], _stitch(chunks)[0])


def test_unknown_levels_are_reconciled_at_joins(music_mel):
    """Chunks normalised to their own maxima (as the model paints) keep their true relative level."""
    widths = [512, 512, 512]
    known, _ = _stitch(_cut(music_mel, widths), level=None)
    unknown_stitcher = Stitcher(level=None)
    for chunk in _cut(music_mel, widths, known_level=False):
        unknown_stitcher.push(chunk)
    peaks = [music_mel[:, i : i + 512].max() for i in range(0, 1536, 512)]
    true_changes = [20 * np.log10(b / a) for a, b in zip(peaks, peaks[1:])]
    assert np.allclose(unknown_stitcher.join_gains_db, true_changes, atol=2.0)


def test_join_gain_matches_energy_and_is_clamped():
    rng = np.random.default_rng(0)
    before = rng.random((512, 200))
    assert join_gain_db(before, before / 2.0, 18.0) == pytest.approx(20 * np.log10(2.0))
    assert join_gain_db(before, before / 1000.0, 18.0) == 18.0
    assert join_gain_db(before, np.zeros_like(before), 18.0) == 0.0


def test_level_stage_keeps_peaks_under_the_ceiling(music_mel):
    loud = _cut(music_mel * 30.0, [512, 512])
    audio, _ = _stitch(loud)
    assert np.max(np.abs(audio)) <= 0.89 + 1e-6


def test_bad_chunks_are_refused_and_change_nothing(music_mel):
    stitcher = Stitcher()
    for bad in (np.zeros((100, 10)), np.full((512, 10), np.nan), -np.ones((512, 10)), np.zeros((512, 0))):
        with pytest.raises(ValueError):
            stitcher.push(SpectrogramChunk(bad, 1.0))
    assert stitcher.chunks_in == 0
    block = stitcher.push(_cut(music_mel, [512])[0])
    assert block.position == 0
