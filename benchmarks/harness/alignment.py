"""Where in a recording a piece of audio lies: normalized cross-correlation around the position it
claims (a page's captured output against the station's ``--record`` file)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

APART_S = 0.05  # the runner-up peak: the best coefficient at least this far from the peak


@dataclass(frozen=True)
class Alignment:
    """``lag_samples``: where the audio matches best, relative to the position it claims (stream
    samples; + means the recording holds it later); ``coefficient``: the normalized correlation
    there (1: the same waveform up to a gain); ``at_claimed``: the coefficient at lag 0;
    ``runner_up`` / ``runner_up_lag_samples``: the best coefficient at least :data:`APART_S` from
    the peak, and its lag — what a wrong offset reaches at best."""

    lag_samples: float
    coefficient: float
    at_claimed: float
    runner_up: float
    runner_up_lag_samples: float


def align(audio: np.ndarray, first_position: float, step: float, recording: np.ndarray, sample_rate: int,
          search_s: float) -> Alignment:
    """Normalized cross-correlation of ``audio`` against ``recording`` for lags within ±``search_s``.

    ``audio``: (n,) float, samples whose stream positions are ``first_position + i * step``;
    ``recording``: (m,) the stream from position 0, any scale, at ``sample_rate`` (Hz). Where
    ``step`` is not 1 the recording is read between its samples (linear interpolation). The searched
    range must lie inside the recording (ValueError otherwise)."""
    audio = np.asarray(audio, dtype=np.float64)
    search = int(round(search_s * sample_rate / step))  # lags, in audio samples
    wanted = first_position + (np.arange(audio.size + 2 * search) - search) * step
    if wanted[0] < 0 or wanted[-1] > recording.size - 1:
        raise ValueError(f"stream positions {wanted[0]:.0f}–{wanted[-1]:.0f} are not all in the recording "
                         f"(0–{recording.size - 1})")
    reference = np.interp(wanted, np.arange(recording.size), recording.astype(np.float64))
    size = 1 << int(np.ceil(np.log2(reference.size + audio.size)))
    products = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(audio, size)), size)
    products = products[:2 * search + 1]  # products[k]: audio against reference[k:k + n]
    energy = np.concatenate(([0.0], np.cumsum(reference ** 2)))
    window_energy = energy[audio.size:audio.size + 2 * search + 1] - energy[:2 * search + 1]
    norms = np.sqrt(np.maximum(window_energy, 0.0) * np.sum(audio ** 2))
    coefficients = np.divide(products, norms, out=np.zeros_like(products), where=norms > 0)
    peak = int(np.argmax(coefficients))
    apart = int(round(APART_S * sample_rate / step))
    lags = np.arange(coefficients.size)
    elsewhere = np.where(np.abs(lags - peak) >= apart, coefficients, -np.inf)
    runner = int(np.argmax(elsewhere))
    return Alignment(lag_samples=(peak - search) * step, coefficient=float(coefficients[peak]),
                     at_claimed=float(coefficients[search]), runner_up=float(coefficients[runner]),
                     runner_up_lag_samples=(runner - search) * step)
