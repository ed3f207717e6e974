"""Level stage: loudness AGC to a target (BS.1770), true-peak limiter; and the meters it uses."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from riffcast.dsp.level import LevelSettings, LevelStage
from riffcast.dsp.loudness import integrated_loudness, k_weighting_sos, true_peak_dbtp

RATE = 44100


def _tone(seconds: float, amplitude: float, hz: float = 220.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def _music(seconds: float, lufs: float, seed: int = 0, bright: bool = True) -> np.ndarray:
    """Notes of filtered noise and partials, 4 per second, scaled to ``lufs`` integrated."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    signal = np.zeros(n)
    note = RATE // 4
    for start in range(0, n, note):
        hz = rng.choice([110.0, 147.0, 196.0, 262.0, 330.0]) * (2.0 if bright else 0.5)
        part = slice(start, min(start + note, n))
        elapsed = np.arange(part.stop - part.start) / RATE
        decay = np.exp(-elapsed / 0.15) * np.minimum(elapsed / 0.005, 1.0)  # 5 ms attack
        partials = sum(np.sin(2 * np.pi * hz * k * t[part]) / k ** (1.0 if bright else 2.5) for k in range(1, 8))
        signal[part] = (partials + 0.3 * rng.standard_normal(part.stop - part.start)) * decay
    signal *= 10 ** ((lufs - integrated_loudness(signal, RATE)) / 20)
    return signal.astype(np.float32)


def _run(stage: LevelStage, signal: np.ndarray, block: int = 4410, *, prime: bool = True) -> np.ndarray:
    """The stage's output aligned with ``signal`` (its latency removed)."""
    if prime:
        stage.prime(signal[: 5 * RATE])
    parts = [stage.process(signal[i : i + block]) for i in range(0, signal.size, block)]
    return np.concatenate(parts + [stage.flush()])[stage.latency_samples :]


def _windows_lufs(signal: np.ndarray, window_s: float = 3.0, hop_s: float = 0.5) -> np.ndarray:
    size, hop = int(window_s * RATE), int(hop_s * RATE)
    return np.array([integrated_loudness(signal[i : i + size], RATE) for i in range(0, signal.size - size + 1, hop)])


def _independent_true_peak_dbtp(signal: np.ndarray) -> float:
    """4× oversampled peak with scipy's polyphase resampler (a different interpolator)."""
    return float(20 * np.log10(np.max(np.abs(resample_poly(signal.astype(np.float64), 4, 1)))))


# --- the meters --------------------------------------------------------------------------------

def test_k_weighting_is_the_standard_filter_at_48_khz():
    # ITU-R BS.1770-4, tables 1 and 2.
    expected = np.array([
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ])
    np.testing.assert_allclose(k_weighting_sos(48000), expected, atol=1e-10)


@pytest.mark.parametrize("amplitude", [1.0, 0.1, 0.01])
def test_a_1_khz_sine_measures_as_the_standard_says(amplitude):
    # A full-scale 1 kHz sine in one channel is −3.01 LUFS (EBU Tech 3341's reference).
    lufs = integrated_loudness(_tone(5.0, amplitude, 1000.0), RATE)
    assert lufs == pytest.approx(-3.01 + 20 * np.log10(amplitude), abs=0.05)


def test_integrated_loudness_agrees_with_pyloudnorm_and_gates_silence():
    music = _music(12.0, -20.0, seed=3)
    with_pause = np.concatenate([music[: 6 * RATE], np.zeros(4 * RATE, np.float32), music[6 * RATE :]])
    for signal in (music, with_pause):
        assert integrated_loudness(signal, RATE) == pytest.approx(
            pyloudnorm.Meter(RATE).integrated_loudness(signal.astype(np.float64)), abs=0.1)
    assert integrated_loudness(with_pause, RATE) == pytest.approx(integrated_loudness(music, RATE), abs=0.2)
    assert integrated_loudness(np.zeros(RATE, np.float32), RATE) == float("-inf")


def test_true_peak_sees_between_the_samples():
    # A quarter-rate sine sampled 45° off its crests: samples at −3.01 dBFS, true peak 0 dBTP.
    sine = _tone(1.0, 1.0, RATE / 4, np.pi / 4)
    assert 20 * np.log10(np.abs(sine).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(sine) == pytest.approx(0.0, abs=0.15)
    for hz in (1000.0, 9000.0, 15000.0):
        for phase in np.linspace(0.0, np.pi / 2, 7):
            tone = _tone(0.5, 1.0, hz, phase) * np.minimum(1.0, np.minimum(np.arange(RATE // 2), np.arange(RATE // 2)[::-1]) / 441.0)
            assert -0.1 <= true_peak_dbtp(tone) <= 0.2  # 10 ms fades: no edge; high is the safe side
    for seed in (0, 1):
        music = _music(3.0, -14.0, seed=seed)
        assert true_peak_dbtp(music) == pytest.approx(_independent_true_peak_dbtp(music), abs=0.3)


# --- the level stage ---------------------------------------------------------------------------

def test_output_holds_the_target_from_the_first_second():
    for start_lufs in (-40.0, -28.0, -8.0):
        out = _run(LevelStage(RATE), _music(20.0, start_lufs, seed=1))
        assert integrated_loudness(out[: 3 * RATE], RATE) == pytest.approx(-16.0, abs=1.0)
        assert integrated_loudness(out, RATE) == pytest.approx(-16.0, abs=1.0)


def test_other_targets():
    out = _run(LevelStage(RATE, LevelSettings(target_lufs=-23.0)), _music(15.0, -30.0, seed=2))
    assert integrated_loudness(out, RATE) == pytest.approx(-23.0, abs=1.0)
    with pytest.raises(ValueError, match="loudness target"):
        LevelSettings(target_lufs=3.0)


def test_music_of_another_character_settles_within_three_seconds():
    loud_bright = _music(20.0, -10.0, seed=4, bright=True)
    quiet_dark = _music(20.0, -30.0, seed=5, bright=False)  # 20 LU under it
    for first, second in ((loud_bright, quiet_dark), (quiet_dark, loud_bright)):
        out = _run(LevelStage(RATE), np.concatenate([first, second]))
        windows = _windows_lufs(out[20 * RATE :])  # windows starting 0, 0.5, 1 … s after the change
        assert np.all(np.abs(windows[6:] + 16.0) <= 3.0)  # from 3 s on
        assert np.all(np.abs(windows[12:] + 16.0) <= 1.5)  # and from 6 s on, near the target


def test_phrasing_inside_the_window_is_left_alone():
    music = _music(60.0, -20.0, seed=6)
    t = np.arange(music.size) / RATE
    swell_db = 1.5 * np.sin(2 * np.pi * t / 8.0)  # ±1.5 dB, period 8 s
    swelling = (music * 10 ** (swell_db / 20)).astype(np.float32)
    stage = LevelStage(RATE)
    out = _run(stage, swelling)
    gain_db = 20 * np.log10(np.abs(out[20 * RATE :]).max() / np.abs(swelling[20 * RATE :]).max())
    level_in = _windows_lufs(swelling[20 * RATE :], 1.0, 1.0)
    level_out = _windows_lufs(out[20 * RATE :], 1.0, 1.0)
    assert np.ptp(level_out) >= 0.7 * np.ptp(level_in)  # the swell is kept
    assert abs(gain_db) < 8.0


def test_true_peak_stays_under_the_ceiling():
    spiky = _music(10.0, -12.0, seed=7)
    spiky[RATE :: 7001] = 1.5  # isolated overs far above the ceiling
    inter_sample = _tone(3.0, 0.9, RATE / 4, np.pi / 4)
    for signal in (spiky, inter_sample, _music(10.0, -6.0, seed=8)):
        out = _run(LevelStage(RATE), signal)
        assert _independent_true_peak_dbtp(out) <= -1.0 + 0.1
        assert true_peak_dbtp(out) <= -1.0 + 0.02
    stats = LevelStage(RATE).stats
    assert stats.limited_fraction == 0.0 and stats.max_reduction_db == 0.0


def test_limiter_statistics_report_what_it_did():
    stage = LevelStage(RATE, LevelSettings(target_lufs=-8.0))
    _run(stage, _music(10.0, -8.0, seed=9))
    stats = stage.stats
    assert 0.0 < stats.limited_fraction < 1.0
    assert 0.0 < stats.mean_reduction_db <= stats.max_reduction_db < 20.0


def test_delay_is_the_latency_and_music_at_the_target_passes_unchanged():
    music = _music(6.0, -16.0, seed=10)
    assert true_peak_dbtp(music) < -1.5  # the limiter has nothing to do
    out = _run(LevelStage(RATE), music)[: music.size]
    gain = float(out @ music / (music @ music))  # the AGC's reading differs a little from ours
    assert 20 * np.log10(gain) == pytest.approx(0.0, abs=0.3)
    residual = out - gain * music  # aligned to the sample: nothing but a gain
    assert 10 * np.log10((residual @ residual) / (music @ music)) < -40.0


def test_block_size_does_not_matter():
    signal = _music(6.0, -20.0, seed=11) * np.linspace(0.2, 3.0, 6 * RATE, dtype=np.float32)
    assert np.array_equal(_run(LevelStage(RATE), signal, 441), _run(LevelStage(RATE), signal, 30000))


def test_silence_and_pauses_are_not_boosted():
    stage = LevelStage(RATE)
    _run(stage, np.zeros(5 * RATE, dtype=np.float32))
    assert stage.stats.agc_gain_db == 0.0
    music = _music(8.0, -22.0, seed=12)
    stage = LevelStage(RATE)
    _run(stage, music)
    gain_before = stage.stats.agc_gain_db
    _run(stage, np.zeros(6 * RATE, dtype=np.float32), prime=False)  # a 6 s pause
    assert stage.stats.agc_gain_db == pytest.approx(gain_before, abs=0.3)  # ungated: +30 dB


# --- dynamics: gain only as far as the peaks allow ------------------------------------------------

def _dynamic(seconds: float, seed: int) -> np.ndarray:
    """Quiet music with loud hits every 2 s: a peak-to-loudness ratio of about 25 dB."""
    music = _music(seconds, -36.0, seed=seed)
    hits = np.zeros_like(music)
    hit = (0.5 * np.sin(2 * np.pi * 180.0 * np.arange(RATE // 20) / RATE) * np.exp(-np.arange(RATE // 20) / 400)).astype(np.float32)
    for start in range(RATE // 2, music.size - hit.size, 2 * RATE):
        hits[start : start + hit.size] = hit
    return music + hits


def test_a_dynamic_piece_is_not_crushed_and_the_shortfall_is_reported():
    signal = _dynamic(14.0, seed=13)
    assert true_peak_dbtp(signal) - integrated_loudness(signal, RATE) > 20.0
    stage = LevelStage(RATE)
    out = _run(stage, signal)
    stats = stage.stats
    assert stats.max_reduction_db <= LevelSettings().peak_limiting_db + 1.5  # transients shaped, not crushed
    assert stage.reduction_percentile_db(99) <= 3.0
    assert stats.shortfall_lu > 2.0  # short of −16, and says so
    assert integrated_loudness(out, RATE) == pytest.approx(-16.0 - stats.shortfall_lu, abs=1.5)
    assert true_peak_dbtp(out) <= -1.0 + 0.02


def test_a_compressed_piece_reaches_the_target():
    dense = _music(12.0, -30.0, seed=14)
    dense = (np.tanh(8.0 * dense / np.abs(dense).max()) * 0.05).astype(np.float32)  # crest factor squashed
    assert true_peak_dbtp(dense) - integrated_loudness(dense, RATE) < 14.0
    stage = LevelStage(RATE)
    out = _run(stage, dense)
    assert integrated_loudness(out, RATE) == pytest.approx(-16.0, abs=1.0)
    assert stage.stats.shortfall_lu == 0.0
    assert stage.stats.max_reduction_db < 3.0
