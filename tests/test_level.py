"""Level stage: slow rider + look-ahead limiter."""

from __future__ import annotations

import numpy as np

from riffcast.dsp.level import LevelSettings, LevelStage

RATE = 44100


def _tone(seconds: float, amplitude: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _run(stage: LevelStage, signal: np.ndarray, block: int) -> np.ndarray:
    parts = [stage.process(signal[i : i + block]) for i in range(0, signal.size, block)]
    return np.concatenate(parts + [stage.flush()])


def test_limiter_never_exceeds_the_ceiling():
    spikes = _tone(2.0, 0.3)
    spikes[RATE // 2 :: 5000] = 3.0  # isolated overs, far above the ceiling
    out = _run(LevelStage(RATE), spikes, 4096)
    assert np.max(np.abs(out)) <= LevelSettings().ceiling + 1e-6


def test_delay_is_the_lookahead_and_quiet_signals_pass_unchanged():
    stage = LevelStage(RATE, LevelSettings(max_gain_db=0.0))
    signal = _tone(1.0, 0.1)
    out = _run(stage, signal, 1000)
    delay = stage.latency_samples
    assert np.allclose(out[delay : delay + signal.size], signal, atol=1e-6)


def test_block_size_does_not_matter():
    signal = _tone(3.0, 0.6) * np.linspace(0.2, 2.0, int(3.0 * RATE), dtype=np.float32)
    assert np.array_equal(_run(LevelStage(RATE), signal, 441), _run(LevelStage(RATE), signal, 30000))


def test_rider_is_slow_and_bounded():
    settings = LevelSettings()
    stage = LevelStage(RATE)
    quiet = _tone(90.0, 0.02)  # 14 dB under the target
    out = _run(stage, quiet, 1 << 16)
    per_second = np.abs(out[: 90 * RATE]).reshape(90, RATE).max(axis=1)
    gain_db = 20 * np.log10(per_second / 0.02)
    assert np.max(np.diff(gain_db)) <= settings.max_slew_db_per_s + 0.01
    assert gain_db[-1] > 0.8 * 14.0 * min(1.0, 60 * settings.max_slew_db_per_s / 14.0)  # it did ride up
    assert gain_db[-1] <= settings.max_gain_db + 0.01


def test_silence_is_not_boosted():
    stage = LevelStage(RATE)
    _run(stage, np.zeros(5 * RATE, dtype=np.float32), 10000)
    assert stage.rider_gain_db == 0.0
