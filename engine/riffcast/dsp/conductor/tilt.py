"""Brightness as a spectral tilt of mel images: a gain of ``tilt_db_per_octave`` per octave
above (and below) a pivot, ramped from the previous image's tilt to this one's across the
image's columns so that a change is smooth in time."""

from __future__ import annotations

import numpy as np

MAX_TILT_DB_PER_OCTAVE = 3.0  # brightness ±1 (as the synth tilts its images)
PIVOT_HZ = 1000.0
LOWEST_HZ = 30.0  # rows below are tilted as this frequency (no boost towards 0 Hz)


def tilt_for(brightness: float) -> float:
    """Brightness −1 … +1 → dB per octave (−3 … +3)."""
    return float(np.clip(brightness, -1.0, 1.0)) * MAX_TILT_DB_PER_OCTAVE


def apply_tilt(mel: np.ndarray, centres_hz: np.ndarray, from_db_per_octave: float,
               to_db_per_octave: float) -> np.ndarray:
    """``mel`` (n_mels, columns) with a tilt ramped linearly from ``from_db_per_octave`` at the
    first column to ``to_db_per_octave`` at the last → a new (n_mels, columns) float32.

    centres_hz: (n_mels,) each row's centre frequency.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if from_db_per_octave == 0.0 and to_db_per_octave == 0.0:
        return mel.copy()
    octaves = np.log2(np.maximum(centres_hz, LOWEST_HZ) / PIVOT_HZ).astype(np.float32)
    ramp = np.linspace(from_db_per_octave, to_db_per_octave, mel.shape[1], dtype=np.float32)
    gain_db = octaves[:, None] * ramp[None, :]
    return mel * np.power(np.float32(10.0), gain_db / np.float32(20.0))
