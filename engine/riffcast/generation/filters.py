"""Butterworth filters for the synth, as second-order sections, and a numba ``sosfilt``.

The same design as ``scipy.signal.butter(..., output="sos")`` (analog prototype, band
transform, bilinear transform with pre-warping) and the same filtering as
``scipy.signal.sosfilt`` (transposed direct form II, zero initial state); tests check both
against scipy. Why not scipy itself: importing ``scipy.signal`` pulls in ``scipy.stats``,
``scipy.interpolate`` and more — 0.6–0.8 s, a quarter of a station's start to first audio —
and scipy (142 MiB) is not installed with riffcast: the tests' reference only.
"""

from __future__ import annotations

import enum

import numba
import numpy as np


class FilterKind(enum.Enum):
    LOWPASS = "lowpass"
    HIGHPASS = "highpass"
    BANDPASS = "bandpass"


def butter_sos(kind: FilterKind, cutoff_hz: float | tuple[float, float], sample_rate: int, order: int = 2) -> np.ndarray:
    """A digital Butterworth filter → (sections, 6) float64 rows ``b0 b1 b2 1 a1 a2``.

    cutoff_hz: one edge (Hz) for low/high-pass, (low, high) for band-pass, below Nyquist.
    The band-pass has ``2 · order`` poles, as scipy's.
    """
    edges = np.atleast_1d(np.asarray(cutoff_hz, dtype=np.float64))
    if kind is FilterKind.BANDPASS and edges.size != 2 or kind is not FilterKind.BANDPASS and edges.size != 1:
        raise ValueError(f"{kind.value} needs {'two edges' if kind is FilterKind.BANDPASS else 'one edge'}")
    nyquist = sample_rate / 2.0
    if not np.all((edges > 0) & (edges < nyquist)):
        raise ValueError(f"filter edges must be within (0, {nyquist:g}) Hz, got {cutoff_hz!r}")
    internal_rate = 2.0  # scipy designs on a normalised rate of 2 (Nyquist = 1)
    warped = 2 * internal_rate * np.tan(np.pi * (edges / nyquist) / internal_rate)
    prototype = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))  # unit-cutoff poles
    if kind is FilterKind.LOWPASS:
        poles, zeros, gain = warped[0] * prototype, np.zeros(0, complex), warped[0] ** order
    elif kind is FilterKind.HIGHPASS:
        poles, zeros = warped[0] / prototype, np.zeros(order, complex)
        gain = float(np.real(1.0 / np.prod(-prototype)))
    else:
        bandwidth, centre = warped[1] - warped[0], np.sqrt(warped[0] * warped[1])
        half = prototype * bandwidth / 2
        root = np.sqrt(half**2 - centre**2)
        poles, zeros, gain = np.concatenate([half + root, half - root]), np.zeros(order, complex), bandwidth**order
    return _sections(*_bilinear(zeros, poles, gain, internal_rate))


def _bilinear(zeros: np.ndarray, poles: np.ndarray, gain: float, rate: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Analog zeros, poles and gain → digital ones (zeros at −1 fill the degree difference)."""
    twice = 2.0 * rate
    digital_zeros = np.concatenate([(twice + zeros) / (twice - zeros), -np.ones(poles.size - zeros.size)])
    digital_gain = gain * float(np.real(np.prod(twice - zeros) / np.prod(twice - poles)))
    return digital_zeros, (twice + poles) / (twice - poles), digital_gain


def _sections(zeros: np.ndarray, poles: np.ndarray, gain: float) -> np.ndarray:
    """One section per conjugate pole pair, each with the two real zeros (Butterworth zeros sit
    at −1 and +1) nearest to it, chosen from the pole nearest the unit circle down; sections in
    ascending pole radius, the gain in the first: scipy's ``zpk2sos(pairing="nearest")``
    arrangement and arithmetic for these filters."""
    upper = poles[poles.imag > 0]
    upper = upper[np.argsort(np.abs(upper))]
    remaining = list(np.real(zeros))
    chosen: dict[int, tuple[float, float]] = {}
    for row in range(upper.size - 1, -1, -1):
        nearest = sorted(remaining, key=lambda zero: abs(zero - upper[row]))[:2]
        for zero in nearest:
            remaining.remove(zero)
        chosen[row] = (nearest[0], nearest[1])
    sos = np.zeros((upper.size, 6))
    for row, pole in enumerate(upper):
        zero_a, zero_b = chosen[row]
        sos[row] = (1.0, -(zero_a + zero_b), zero_a * zero_b, 1.0, -(pole + pole.conjugate()).real,
                    (pole * pole.conjugate()).real)
    sos[0, :3] *= gain
    return sos


@numba.njit(cache=True, nogil=True)
def _sosfilt(sos: np.ndarray, signal: np.ndarray, out: np.ndarray) -> None:
    state = np.zeros((sos.shape[0], 2))
    for n in range(signal.size):
        value = signal[n]
        for s in range(sos.shape[0]):
            filtered = sos[s, 0] * value + state[s, 0]
            state[s, 0] = sos[s, 1] * value - sos[s, 4] * filtered + state[s, 1]
            state[s, 1] = sos[s, 2] * value - sos[s, 5] * filtered
            value = filtered
        out[n] = value


def sosfilt(sos: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Filter ``signal`` (1-D) through the sections from rest → float64 array of its length."""
    out = np.empty(signal.size, dtype=np.float64)
    _sosfilt(np.ascontiguousarray(sos, dtype=np.float64), np.ascontiguousarray(signal, dtype=np.float64), out)
    return out
