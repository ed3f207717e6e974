"""Stitcher: chunks in, one continuous stream with positions out; levels at joins."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.dsp.codec import MelImage, audio_to_mel
from riffcast.generation.demo_music import render_demo_song
from riffcast.pipeline.stitcher import Stitcher, join_gain_db

from helpers import magnitude_below_10k, spectral_convergence_db


def _stitch(chunks: list[MelImage], **options) -> tuple[np.ndarray, list[int]]:
    stitcher = Stitcher(**options)
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    positions = [block.position for block in blocks]
    for before, after in zip(blocks, blocks[1:]):
        assert after.position == before.end  # contiguous, no gap, no overlap
    return np.concatenate([block.samples for block in blocks]), positions


def _cut(mel: np.ndarray, widths: list[int], known_level: bool = True) -> list[MelImage]:
    chunks, start = [], 0
    for width in widths:
        part = mel[:, start : start + width]
        peak = float(part.max())
        chunks.append(MelImage(part / peak, peak if known_level else None))
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
    before = np.tile(rng.random((512, 1)), (1, 400))  # steady: the same column throughout
    assert join_gain_db(before, before / 2.0, 18.0) == pytest.approx(20 * np.log10(2.0))
    assert join_gain_db(before, before / 1000.0, 18.0) == 18.0
    assert join_gain_db(before, np.zeros_like(before), 18.0) == 0.0


def test_join_gain_keeps_a_crescendo_through_the_join():
    """A level rising 3 dB per second on both sides: the gain continues the line, not the mean."""
    column = np.random.default_rng(1).random((512, 1))
    seconds = np.arange(-400, 400) / 100.0
    ramp = column * 10 ** (3.0 * seconds / 20.0)
    before, after = ramp[:, :400], ramp[:, 400:] / 4.0  # the second image is 12 dB too quiet
    assert join_gain_db(before, after, 18.0) == pytest.approx(20 * np.log10(4.0), abs=0.05)


def test_join_gain_recovers_the_scale_of_music_chunks(params):
    """Consecutive chunks of music with a ±6 dB swell, each normalised: scale back to < 1 dB rms."""
    errors = []
    for seed in (0, 1):
        music = render_demo_song(20.48, seed=seed, tempo_bpm=95.0 + 10 * seed)
        t = np.arange(music.size) / params.sample_rate
        mel = audio_to_mel(music * 10 ** (6 * np.sin(2 * np.pi * t / 24 + seed) / 20), params)
        for k in range(1, 4):
            before, after = mel[:, 512 * (k - 1) : 512 * k], mel[:, 512 * k : 512 * (k + 1)]
            true_db = 20 * np.log10(after.max() / before.max())
            errors.append(join_gain_db(before / before.max(), after / after.max(), 18.0) - true_db)
    assert np.sqrt(np.mean(np.square(errors))) < 1.0


def test_level_stage_keeps_peaks_under_the_ceiling(music_mel):
    loud = _cut(music_mel * 30.0, [512, 512])
    audio, _ = _stitch(loud)
    assert np.max(np.abs(audio)) <= 0.89 + 1e-6


def test_bad_chunks_are_refused_and_change_nothing(music_mel):
    stitcher = Stitcher()
    for bad in (np.zeros((100, 10)), np.full((512, 10), np.nan), -np.ones((512, 10)), np.zeros((512, 0))):
        with pytest.raises(ValueError):
            stitcher.push(MelImage(bad, 1.0))
    assert not stitcher.join_gains_db
    block = stitcher.push(_cut(music_mel, [512])[0])
    assert block.position == 0


def _windows(music_mel: np.ndarray, window: int, crossfade: int) -> list[np.ndarray]:
    """The mel cut as window mode stitches it: 512 columns, then ``window`` new columns at a
    time, each piece starting with the ``crossfade`` columns before them."""
    ends = range(512, music_mel.shape[1] + 1, window)
    return [music_mel[:, :512]] + [music_mel[:, end - crossfade : end + window] for end in ends[:-1]]


def test_crossfaded_windows_stitch_into_one_stream(music, music_mel):
    """Windows that repaint the previous one's last 16 columns stitch into the continuous stream."""
    pieces = _windows(music_mel, 128, 16)
    columns = 512 + 128 * (len(pieces) - 1)
    stitcher = Stitcher(level=None, crossfade_columns=16)
    # Each image normalised to its own maximum: the crossfade columns give the exact relative level.
    blocks = [stitcher.push(MelImage(piece / piece.max(), None)) for piece in pieces] + [stitcher.flush()]
    audio = np.concatenate([block.samples for block in blocks])
    assert audio.size == columns * 441
    scale = music_mel[:, :512].max() / 150.0  # the first chunk of unknown level is set to 150
    true_changes_db = [20 * np.log10(b.max() / a.max()) for a, b in zip(pieces, pieces[1:])]
    assert np.allclose(stitcher.join_gains_db, true_changes_db, atol=0.01)
    convergence = spectral_convergence_db(
        magnitude_below_10k(audio * scale, columns), magnitude_below_10k(music, columns)
    )
    assert convergence < -22.0


def test_a_restored_checkpoint_continues_exactly_as_the_first_time(music_mel):
    """Pushes after a checkpoint are replaced, bit for bit, by pushing again after restoring it."""
    pieces = [MelImage(piece / piece.max(), None) for piece in _windows(music_mel, 64, 16)[:6]]
    stitcher = Stitcher(crossfade_columns=16)
    for piece in pieces[:2]:
        stitcher.push(piece)
    checkpoint = stitcher.checkpoint()
    first = [stitcher.push(piece) for piece in pieces[2:]]
    assert first[0].position == checkpoint.position
    for attempt in range(2):  # a checkpoint can be restored more than once
        stitcher.restore(checkpoint)
        again = [stitcher.push(piece) for piece in pieces[2:]]
        assert [block.position for block in again] == [block.position for block in first]
        assert all(np.array_equal(a.samples, b.samples) for a, b in zip(again, first))
    other = Stitcher(crossfade_columns=16)
    other.push(pieces[0])
    stitcher.restore(checkpoint)  # another stitcher's pushes do not leak into the copy
    assert np.array_equal(stitcher.push(pieces[2]).samples, first[0].samples)


def test_crossfade_must_leave_new_columns(music_mel):
    with pytest.raises(ValueError, match="crossfade_columns"):
        Stitcher(crossfade_columns=512)
    stitcher = Stitcher(crossfade_columns=64)
    with pytest.raises(ValueError, match="columns > 64"):
        stitcher.push(MelImage(music_mel[:, :64], 1.0))


@pytest.mark.parametrize("scale_db", [-20.0, 0.0, 12.0])
def test_the_stream_is_at_the_loudness_target_from_its_first_seconds(music_mel, scale_db):
    from riffcast.dsp.level_settings import LevelSettings
    from riffcast.dsp.loudness import integrated_loudness

    louder = music_mel * np.float32(10 ** (scale_db / 20))
    for target in (-16.0, -23.0):
        audio, _ = _stitch(_cut(louder, [512, 512, 512]), level=LevelSettings(target_lufs=target))
        assert integrated_loudness(audio[: 3 * 44100], 44100) == pytest.approx(target, abs=1.0)
        assert integrated_loudness(audio, 44100) == pytest.approx(target, abs=1.0)
