"""Tests for the procedural demo-music renderer."""

import numpy as np
import pytest

from riffcast.generation.demo_music import render_demo_song

SR = 44100
TEMPO = 100.0
BAR_S = 4 * 60.0 / TEMPO  # seconds per 4/4 bar


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return render_demo_song(30.0, sample_rate=SR, tempo_bpm=TEMPO, seed=0)


def test_length_and_dtype(song: np.ndarray) -> None:
    assert song.dtype == np.float32
    assert song.shape == (round(30.0 * SR),)
    odd = render_demo_song(1.2345, sample_rate=22050)
    assert odd.shape == (round(1.2345 * 22050),)
    assert odd.dtype == np.float32


def test_deterministic(song: np.ndarray) -> None:
    again = render_demo_song(30.0, sample_rate=SR, tempo_bpm=TEMPO, seed=0)
    assert np.array_equal(song, again)
    other = render_demo_song(30.0, sample_rate=SR, tempo_bpm=TEMPO, seed=1)
    assert not np.array_equal(song, other)


def test_finite_and_peak(song: np.ndarray) -> None:
    assert np.all(np.isfinite(song))
    peak = float(np.max(np.abs(song)))
    assert 0.1 < peak < 1.0


def test_energy_in_bass_mid_and_high_bands(song: np.ndarray) -> None:
    power = np.abs(np.fft.rfft(song.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(song), 1.0 / SR)
    total = power.sum()
    bass = power[freqs < 200.0].sum() / total
    mid = power[(freqs >= 200.0) & (freqs < 5000.0)].sum() / total
    high = power[freqs >= 5000.0].sum() / total
    assert bass > 0.1, bass
    assert mid > 0.1, mid
    assert high > 1e-3, high  # hi-hats / snare noise


def test_not_a_pure_loop(song: np.ndarray) -> None:
    # Bars 1 and 9 (0-based) share the same chord; the arrangement must still differ.
    n_bar = int(round(BAR_S * SR))
    bar1 = song[1 * n_bar : 2 * n_bar].astype(np.float64)
    bar9 = song[9 * n_bar : 10 * n_bar].astype(np.float64)
    rms = np.sqrt(np.mean(bar1**2))
    diff = np.sqrt(np.mean((bar1 - bar9) ** 2))
    assert rms > 0.01
    assert diff > 0.1 * rms, (diff, rms)


def test_short_and_empty() -> None:
    assert render_demo_song(0.0).shape == (0,)
    short = render_demo_song(0.05, sample_rate=16000)
    assert short.shape == (800,) and np.all(np.isfinite(short))
