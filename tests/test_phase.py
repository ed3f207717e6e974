"""PhaseStream: RTPGHI + Fast Griffin-Lim, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.dsp.codec import audio_to_mel
from riffcast.dsp.mel import MelInverter
from riffcast.dsp.mel_projection import MelProjection
from riffcast.dsp.params import RIFFUSION_V1
from riffcast.dsp.phase import PhaseStream, refinement_grid
from riffcast.dsp.stft import magnitude_spectrogram

from helpers import log_spectral_distance_db, magnitude_below_10k, spectral_convergence_db


def _chirp(seconds: float, sample_rate: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sweep_hz = 100.0 * (40.0 ** (t / seconds))  # 100 Hz → 4 kHz, exponential
    phase = 2 * np.pi * np.cumsum(sweep_hz) / sample_rate
    return (0.3 * np.sin(phase) * np.minimum(1, t / 0.05)).astype(np.float32)


def _invert(magnitude: np.ndarray, cut: int | None = None, **options) -> np.ndarray:
    stream = PhaseStream(active_bins=1001, **options)
    columns = magnitude.shape[1]
    step = cut or columns
    pieces = [stream.push(magnitude[:, i : i + step]) for i in range(0, columns, step)]
    return np.concatenate(pieces + [stream.flush()])


def test_length_is_one_hop_per_frame(params):
    magnitude = magnitude_spectrogram(_chirp(1.0), params, fft_size=4410)
    audio = _invert(magnitude, cut=37)
    assert audio.shape == (magnitude.shape[1] * 441,)
    assert audio.dtype == np.float32


def test_chirp_round_trip_is_close(params):
    chirp = _chirp(3.0)
    magnitude = magnitude_spectrogram(chirp, params, fft_size=4410)
    audio = _invert(magnitude)
    rebuilt = magnitude_spectrogram(audio, params, fft_size=4410)
    frames = magnitude.shape[1]
    assert spectral_convergence_db(rebuilt[:1001, :frames], magnitude[:1001]) < -25.0


def test_iterations_improve_on_the_rtpghi_start(params, music, music_mel):
    """On music through the real mel path, FGLA refines the RTPGHI phase."""
    magnitude = MelInverter(params)(music_mel)
    frames = music_mel.shape[1]
    truth = magnitude_below_10k(music, frames)

    def convergence(iterations: int) -> float:
        audio = _invert(magnitude, cut=512, iterations=iterations)
        return spectral_convergence_db(magnitude_below_10k(audio, frames), truth)

    start, refined = convergence(0), convergence(8)
    assert start < -20.0  # RTPGHI alone is already a usable phase
    assert refined < start - 1.0


def test_deterministic_bit_for_bit(params, music):
    magnitude = magnitude_spectrogram(music[: 2 * 44100], params, fft_size=4410)
    assert np.array_equal(_invert(magnitude, cut=100), _invert(magnitude, cut=100))


@pytest.mark.parametrize("cut", [1, 7, 64, 200])
def test_cutting_changes_nothing_measurable(params, music, cut):
    """Any cutting of the input stays within 0.5 dB of inverting all at once."""
    magnitude = magnitude_spectrogram(music[: 2 * 44100], params, fft_size=4410)
    frames = magnitude.shape[1]
    whole = magnitude_spectrogram(_invert(magnitude), params, fft_size=4410)[:1001, :frames]
    cut_up = magnitude_spectrogram(_invert(magnitude, cut=cut), params, fft_size=4410)[:1001, :frames]
    target = magnitude[:1001]
    assert abs(spectral_convergence_db(cut_up, target) - spectral_convergence_db(whole, target)) < 0.5


def test_iterations_run_on_a_coarser_grid_for_the_same_result(params, music):
    """Riffusion's 1001 active bins fit a 2100-point grid (21 kHz); the result stays the same."""
    assert refinement_grid(4410, 441, 1001) == 2100
    assert refinement_grid(64, 8, 33) == 64  # nothing smaller holds every bin
    magnitude = magnitude_spectrogram(music[: 2 * 44100], params, fft_size=4410)
    target = magnitude[:1001]
    results = []
    for grid in (None, 4410):
        audio = _invert(magnitude, cut=64, grid_samples=grid)
        results.append(spectral_convergence_db(magnitude_spectrogram(audio, params, fft_size=4410)[:1001, : target.shape[1]], target))
    assert abs(results[0] - results[1]) < 0.1


def test_samples_leave_as_soon_as_final(params):
    stream = PhaseStream(active_bins=1001)
    magnitude = magnitude_spectrogram(_chirp(2.0), params, fft_size=4410)
    out = stream.push(magnitude[:, :100])
    held_back = 100 * 441 - out.size
    assert 0 < held_back <= stream.latency_samples
    assert stream.latency_samples <= int(0.150 * 44100)


def test_bad_input_is_refused():
    stream = PhaseStream()
    with pytest.raises(ValueError, match="shape"):
        stream.push(np.zeros((10, 5)))
    bad = np.zeros((2206, 5), dtype=np.float32)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stream.push(bad)
    assert stream.frames_in == 0


def test_a_zero_padded_fft_round_trips(params):
    """Frames zero-padded to 2× the window (5 Hz bins): the chirp comes back as closely."""
    chirp = _chirp(3.0)
    magnitude = magnitude_spectrogram(chirp, params, fft_size=8820)
    stream = PhaseStream(fft_samples=8820, active_bins=2000)
    audio = np.concatenate([stream.push(magnitude), stream.flush()])
    rebuilt = magnitude_spectrogram(audio, params, fft_size=4410)
    target = magnitude_spectrogram(chirp, params, fft_size=4410)
    frames = magnitude.shape[1]
    assert spectral_convergence_db(rebuilt[:1001, :frames], target[:1001, :frames]) < -25.0


def test_keeping_the_mel_rebuilds_the_mel_closer(params, music, music_mel):
    """Through the real mel path, iterations that keep each frame's mel bands (letting
    consistency fill in the detail inside them) end closer to the image's mel than iterations
    that hold every bin to the min-norm inverse, at about the same spectral convergence.
    (On real recordings they also gain 2–3 dB of it: ``benchmarks/inversion_real.py``.)"""
    inverter = MelInverter(params, fft_size=8820)
    magnitude = inverter(music_mel)
    frames = music_mel.shape[1]
    truth = magnitude_below_10k(music, frames)

    def rebuilt(mel_projection) -> tuple[float, float]:
        stream = PhaseStream(fft_samples=8820, active_bins=inverter.active_bins, mel_projection=mel_projection)
        audio = np.concatenate([stream.push(magnitude[:, i : i + 512]) for i in range(0, frames, 512)] + [stream.flush()])
        convergence = spectral_convergence_db(magnitude_below_10k(audio, frames), truth)
        return convergence, log_spectral_distance_db(audio_to_mel(audio, params)[:, :frames], music_mel)

    (bins_sc, bins_lsd), (bands_sc, bands_lsd) = rebuilt(None), rebuilt(MelProjection.from_filterbank(inverter.grid_filters()))
    assert bands_lsd < bins_lsd - 0.15, (bins_lsd, bands_lsd)
    assert bands_sc < bins_sc + 0.5, (bins_sc, bands_sc)


def test_bad_grids_and_filters_are_refused():
    with pytest.raises(ValueError, match="fft_samples"):
        PhaseStream(fft_samples=6000)
    projection = MelProjection.from_filterbank(MelInverter(RIFFUSION_V1).grid_filters()[:, :999])
    with pytest.raises(ValueError, match="mel_projection"):
        PhaseStream(active_bins=1001, mel_projection=projection)
