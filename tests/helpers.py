"""Measurements shared by tests (the benchmark has its own, documented copies)."""

from __future__ import annotations

import numpy as np

from riffcast.dsp.stft import magnitude_spectrogram
from riffcast.params import RIFFUSION_V1


def spectral_convergence_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """20·log10(‖estimate − reference‖ / ‖reference‖), Frobenius norms."""
    return float(20 * np.log10(np.linalg.norm(estimate - reference) / np.linalg.norm(reference)))


def magnitude_below_10k(audio: np.ndarray, frames: int) -> np.ndarray:
    """|STFT| at Riffusion's settings, bins up to 10 kHz, first ``frames`` frames."""
    return magnitude_spectrogram(audio, RIFFUSION_V1)[:4001, :frames]
