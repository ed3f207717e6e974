"""Measurements and waits shared by tests (the benchmark has its own, documented copies)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.dsp.stft import magnitude_spectrogram


def spectral_convergence_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """20·log10(‖estimate − reference‖ / ‖reference‖), Frobenius norms."""
    return float(20 * np.log10(np.linalg.norm(estimate - reference) / np.linalg.norm(reference)))


def log_spectral_distance_db(mel_estimate: np.ndarray, mel_reference: np.ndarray, floor_db: float = 80.0) -> float:
    """Per frame, rms over bands of the dB difference of two mels (each floored 80 dB under its
    maximum), averaged over frames (as ``benchmarks/inversion.py``)."""
    floor = 10 ** (-floor_db / 20)
    a = np.maximum(mel_estimate, mel_estimate.max() * floor)
    b = np.maximum(mel_reference, mel_reference.max() * floor)
    return float(np.mean(np.sqrt(np.mean((20 * np.log10(a / b)) ** 2, axis=0))))


def magnitude_below_10k(audio: np.ndarray, frames: int) -> np.ndarray:
    """|STFT| at Riffusion's settings, bins up to 10 kHz, first ``frames`` frames."""
    return magnitude_spectrogram(audio, RIFFUSION_V1)[:4001, :frames]


def eventually(condition: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.01) -> bool:
    """Whether ``condition()`` becomes true within ``timeout_s`` (checked every ``poll_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()
