"""Loudness and true peak as ITU-R BS.1770-4 / EBU R128 define them: pure functions.

- K-weighting: a high shelf (+4 dB above ~1.7 kHz, the head) then a high-pass (~38 Hz, the
  "revised low-frequency B" curve), as two biquads. :func:`k_weighting_sos` gives them at any
  sample rate from their analogue prototypes (the 48 kHz coefficients of the standard come out
  exactly; the same derivation as libebur128's).
- Loudness of a mean square ``z`` of K-weighted samples: ``−0.691 + 10·log10(z)`` LUFS (mono).
- Integrated loudness (:func:`integrated_loudness`): 400 ms blocks every 100 ms, the absolute
  gate at −70 LUFS, then the relative gate 10 LU under the loudness of what passed it.
- True peak: the signal's peak after 4× oversampling (:func:`true_peak_taps`: a windowed-sinc
  polyphase interpolator, 16 taps per phase: BS.1770's example has 12, which reads music
  0.1–0.2 dB lower), in dBTP.

The streaming level stage (:mod:`riffcast.dsp.level`) runs the same biquads sample by sample
(:func:`biquad_step`) and the same interpolator (:func:`interpolated_peak`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

LOUDNESS_OFFSET_DB = -0.691  # BS.1770: LUFS = −0.691 + 10·log10(mean square of K-weighted samples)
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S = 0.4  # gating block
STEP_S = 0.1  # blocks start every 100 ms (75 % overlap)
OVERSAMPLING = 4  # true-peak detection rate, × the sample rate
TAPS_PER_PHASE = 16  # true-peak interpolator: 8 samples each side


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770 K-weighting at ``sample_rate`` Hz → (2, 6) float64 rows ``b0 b1 b2 1 a1 a2``."""
    # Stage 1, the shelf: its analogue prototype (centre, gain, Q) fitted to the 48 kHz filter.
    shelf_hz, shelf_gain_db, shelf_q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * shelf_hz / sample_rate)
    high_gain = 10.0 ** (shelf_gain_db / 20.0)
    band_gain = high_gain**0.4996667741545416
    norm = 1.0 + k / shelf_q + k * k
    shelf = [(high_gain + band_gain * k / shelf_q + k * k) / norm, 2.0 * (k * k - high_gain) / norm,
             (high_gain - band_gain * k / shelf_q + k * k) / norm, 1.0,
             2.0 * (k * k - 1.0) / norm, (1.0 - k / shelf_q + k * k) / norm]
    # Stage 2, the high-pass.
    pass_hz, pass_q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * pass_hz / sample_rate)
    norm = 1.0 + k / pass_q + k * k
    high_pass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / norm, (1.0 - k / pass_q + k * k) / norm]
    return np.array([shelf, high_pass], dtype=np.float64)


def loudness_lufs(mean_square: float) -> float:
    """LUFS of a mean square of K-weighted samples (−inf for silence)."""
    return LOUDNESS_OFFSET_DB + 10.0 * np.log10(mean_square) if mean_square > 0 else float("-inf")


def mean_square_of(lufs: float) -> float:
    """The K-weighted mean square that measures ``lufs``."""
    return float(10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0))


@njit(cache=True, nogil=True)
def biquad_step(sos, section, sample, z):
    """One sample through biquad ``section`` of ``sos`` (transposed direct form II).

    z: the section's two state values, ``z[2·section]`` and ``z[2·section + 1]``, updated.
    """
    b0, b1, b2, a1, a2 = sos[section, 0], sos[section, 1], sos[section, 2], sos[section, 4], sos[section, 5]
    i = 2 * section
    y = b0 * sample + z[i]
    z[i] = b1 * sample - a1 * y + z[i + 1]
    z[i + 1] = b2 * sample - a2 * y
    return y


@njit(cache=True, nogil=True)
def _step_mean_squares(samples, sos, step_samples, out):
    """Mean square of the K-weighted ``samples`` (n,) in each whole step of ``step_samples``
    → written to ``out`` (n // step_samples,)."""
    z = np.zeros(4)
    total = 0.0
    for n in range(out.shape[0] * step_samples):
        y = biquad_step(sos, 1, biquad_step(sos, 0, samples[n], z), z)
        total += y * y
        if (n + 1) % step_samples == 0:
            out[(n + 1) // step_samples - 1] = total / step_samples
            total = 0.0


def block_mean_squares(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted mean square of each 400 ms gating block, one every 100 ms → (blocks,)."""
    step_samples = round(STEP_S * sample_rate)
    steps_per_block = round(BLOCK_S / STEP_S)
    steps = np.empty(np.asarray(samples).size // step_samples)
    _step_mean_squares(np.asarray(samples, dtype=np.float64), k_weighting_sos(sample_rate), step_samples, steps)
    if steps.size < steps_per_block:
        return np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(steps, steps_per_block)
    return windows.mean(axis=1)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 gated integrated loudness of mono ``samples`` (n,), LUFS (−inf: nothing above
    the absolute gate, or shorter than one block)."""
    blocks = block_mean_squares(samples, sample_rate)
    with np.errstate(divide="ignore"):
        block_lufs = LOUDNESS_OFFSET_DB + 10.0 * np.log10(blocks)
    audible = blocks[block_lufs > ABSOLUTE_GATE_LUFS]
    if audible.size == 0:
        return float("-inf")
    relative_gate = loudness_lufs(float(audible.mean())) + RELATIVE_GATE_LU
    with np.errstate(divide="ignore"):
        kept = audible[LOUDNESS_OFFSET_DB + 10.0 * np.log10(audible) > relative_gate]
    return loudness_lufs(float(kept.mean()))


def true_peak_taps() -> np.ndarray:
    """The true-peak interpolator → (OVERSAMPLING − 1, TAPS_PER_PHASE) float64.

    Row ``p − 1`` gives the signal at ``m + p / OVERSAMPLING`` from samples ``m − 7 … m + 8``:
    a Kaiser-windowed sinc (β = 5), each phase scaled to unit gain at DC.
    """
    half = TAPS_PER_PHASE // 2
    offsets = np.arange(-half + 1, half + 1)  # sample m + offset
    phases = np.arange(1, OVERSAMPLING) / OVERSAMPLING
    distance = phases[:, None] - offsets[None, :]  # from each tap to the interpolated point
    window = np.i0(5.0 * np.sqrt(np.clip(1.0 - (distance / half) ** 2, 0.0, None))) / np.i0(5.0)
    taps = np.sinc(distance) * window
    return taps / taps.sum(axis=1, keepdims=True)


@njit(cache=True, nogil=True)
def interpolated_peak(taps, history, newest):
    """Largest magnitude of the signal over [m, m + 1), m = ``newest − 8``, from a ring of the
    latest samples, its length a power of two: ``history[(newest − j) % len]`` is sample
    ``newest − j``."""
    mask = history.shape[0] - 1
    half = taps.shape[1] // 2
    centre = newest - half
    peak = abs(history[centre & mask])
    first = centre - half + 1
    for phase in range(taps.shape[0]):
        value = 0.0
        for k in range(taps.shape[1]):
            value += taps[phase, k] * history[(first + k) & mask]
        peak = max(peak, abs(value))
    return peak


def true_peak_dbtp(samples: np.ndarray) -> float:
    """Peak of mono ``samples`` (n,) after 4× oversampling, dBTP (−inf for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    taps = true_peak_taps()
    half = TAPS_PER_PHASE // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(half)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, TAPS_PER_PHASE)[1 : x.size + 1]
    peak = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(windows @ taps.T), initial=0.0)))
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")
