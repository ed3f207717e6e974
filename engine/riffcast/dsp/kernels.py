"""numba kernels of the phase reconstruction: tiny loops that write into caller-owned arrays.

Everything here is private to :mod:`riffcast.dsp.phase`, which documents shapes and units.
Kernels are compiled on first use and cached on disk (``cache=True``); numba falls back to
a per-user cache directory when the install location is read-only and writes cache files
atomically, so concurrent first runs are safe.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_TWO_PI = 2.0 * np.pi


@njit(cache=True, nogil=True)
def overlap_add(frames: np.ndarray, hop: int, out: np.ndarray) -> None:
    """out[i*hop + k] += frames[i, k] for every frame i (frames: (F, N), out: ((F-1)*hop+N,))."""
    n_frames, width = frames.shape
    for i in range(n_frames):
        base = i * hop
        for k in range(width):
            out[base + k] += frames[i, k]


@njit(cache=True, nogil=True)
def windowed_frames(signal: np.ndarray, window: np.ndarray, hop: int, out: np.ndarray) -> None:
    """out[i, k] = signal[i*hop + k] * window[k] (out: (F, N))."""
    n_frames, width = out.shape
    for i in range(n_frames):
        base = i * hop
        for k in range(width):
            out[i, k] = signal[base + k] * window[k]


@njit(cache=True, nogil=True)
def fgla_step(
    rebuilt: np.ndarray,
    previous: np.ndarray,
    target: np.ndarray,
    momentum: float,
    coefficients: np.ndarray,
) -> None:
    """One Fast Griffin-Lim update (Perraudin et al. 2013) on (F, bins) arrays, in place.

    ``t = rebuilt + momentum·(rebuilt − previous)``; ``previous ← rebuilt``;
    ``coefficients ← target · t/|t|`` (``target`` where ``|t| = 0``).
    """
    n_frames, n_bins = rebuilt.shape
    for i in range(n_frames):
        for m in range(n_bins):
            r = rebuilt[i, m]
            t = r + momentum * (r - previous[i, m])
            previous[i, m] = r
            size = abs(t)
            if size > 0.0:
                coefficients[i, m] = t * (target[i, m] / size)
            else:
                coefficients[i, m] = target[i, m]


# RTPGHI visits coefficients loudest first. A bucket queue on the log magnitude (buckets of
# 1/_BUCKETS_PER_NEPER nepers, last in first out within a bucket) keeps that order to within
# 0.04 dB at O(1) per operation, where a binary heap cost O(log n) and most of the kernel's time.
_BUCKETS_PER_NEPER = 200.0


@njit(cache=True, nogil=True)
def _bucket_of(key, top, n_buckets):
    b = int((top - key) * _BUCKETS_PER_NEPER)
    return min(max(b, 0), n_buckets - 1)


@njit(cache=True, nogil=True)
def _queue_push(heads, links, item, bucket, cursor):
    links[item] = heads[bucket]
    heads[bucket] = item
    return min(cursor, bucket)


@njit(cache=True, nogil=True)
def _queue_pop(heads, links, cursor):
    """Pop from the loudest non-empty bucket at or after ``cursor``: (item, cursor), item −1 if empty."""
    n_buckets = heads.shape[0]
    while cursor < n_buckets and heads[cursor] < 0:
        cursor += 1
    if cursor == n_buckets:
        return -1, cursor
    item = heads[cursor]
    heads[cursor] = links[item]
    return item, cursor


@njit(cache=True, nogil=True)
def _time_gradient(log_mag: np.ndarray, fft_size: int, lam: float, out: np.ndarray) -> None:
    """Phase time derivative (rad/sample) of one frame: 2πm/M + ∂s/∂ω / λ."""
    n_bins = log_mag.shape[0]
    half_m_over_lam = 0.5 * fft_size / lam
    for m in range(n_bins):
        lo = log_mag[m - 1] if m > 0 else log_mag[m + 1]
        hi = log_mag[m + 1] if m + 1 < n_bins else log_mag[m - 1]
        out[m] = _TWO_PI * m / fft_size + half_m_over_lam * (hi - lo)


@njit(cache=True, nogil=True)
def rtpghi(
    log_mag: np.ndarray,
    start_phase: np.ndarray,
    has_start: bool,
    hop: int,
    fft_size: int,
    lam: float,
    log_tolerance: float,
    out_phase: np.ndarray,
) -> None:
    """Real-time Phase Gradient Heap Integration (Průša & Holighaus 2017), frame by frame.

    log_mag: (F + 2, bins) natural-log magnitudes of the frame before the run, the F frames
    to solve, and the frame after (for the central time difference). start_phase: (bins,)
    phase of the frame before the run, centre-referenced (ignored when ``has_start`` is
    false: the first frame is then integrated along frequency only). out_phase: (F, bins).
    Bins more than ``-log_tolerance`` below the louder of two neighbouring frames get phase 0.
    """
    n_rows, n_bins = log_mag.shape
    n_frames = n_rows - 2
    n_buckets = int(-log_tolerance * _BUCKETS_PER_NEPER) + 2
    heads = np.empty(n_buckets, dtype=np.int64)
    links = np.empty(2 * n_bins, dtype=np.int64)
    prev_phase = start_phase.copy()
    prev_tgrad = np.empty(n_bins)
    cur_tgrad = np.empty(n_bins)
    fgrad = np.empty(n_bins)
    done = np.empty(n_bins, dtype=np.bool_)
    _time_gradient(log_mag[0], fft_size, lam, prev_tgrad)
    freq_scale = -lam / (2.0 * hop) / fft_size * 0.5
    for f in range(n_frames):
        prev = log_mag[f]
        cur = log_mag[f + 1]
        nxt = log_mag[f + 2]
        phase = out_phase[f]
        _time_gradient(cur, fft_size, lam, cur_tgrad)
        for m in range(n_bins):
            fgrad[m] = nxt[m] - prev[m]
        use_prev = has_start or f > 0
        top = cur.max()
        if use_prev:
            top = max(top, prev.max())
        floor = top + log_tolerance
        remaining = 0
        for m in range(n_bins):
            phase[m] = 0.0
            done[m] = cur[m] <= floor
            if not done[m]:
                remaining += 1
        heads[:] = -1
        cursor = n_buckets
        if use_prev:
            for m in range(n_bins):
                if prev[m] > floor:
                    cursor = _queue_push(heads, links, m, _bucket_of(prev[m], top, n_buckets), cursor)
        while remaining > 0:
            item, cursor = _queue_pop(heads, links, cursor)
            if item < 0:
                best = -1
                for m in range(n_bins):
                    if not done[m] and (best < 0 or cur[m] > cur[best]):
                        best = m
                if use_prev:
                    phase[best] = prev_phase[best] + 0.5 * hop * (prev_tgrad[best] + cur_tgrad[best])
                done[best] = True
                remaining -= 1
                cursor = _queue_push(heads, links, n_bins + best, _bucket_of(cur[best], top, n_buckets), cursor)
                continue
            if item < n_bins:
                m = item
                if not done[m]:
                    phase[m] = prev_phase[m] + 0.5 * hop * (prev_tgrad[m] + cur_tgrad[m])
                    done[m] = True
                    remaining -= 1
                    cursor = _queue_push(heads, links, n_bins + m, _bucket_of(cur[m], top, n_buckets), cursor)
            else:
                m = item - n_bins
                for neighbour in (m - 1, m + 1):
                    if 0 <= neighbour < n_bins and not done[neighbour]:
                        step = freq_scale * (fgrad[m] + fgrad[neighbour])
                        phase[neighbour] = phase[m] + (step if neighbour > m else -step)
                        done[neighbour] = True
                        remaining -= 1
                        cursor = _queue_push(
                            heads, links, n_bins + neighbour, _bucket_of(cur[neighbour], top, n_buckets), cursor
                        )
        for m in range(n_bins):
            phase[m] = (phase[m] + np.pi) % _TWO_PI - np.pi
            prev_phase[m] = phase[m]
            prev_tgrad[m] = cur_tgrad[m]


@njit(cache=True, nogil=True, fastmath=True)
def band_sums(magnitude, band_start, weight_low, weight_high, out):
    """out[k, i] = Σ_b F[k, b]·magnitude[b, i] for triangular filters F (see MelProjection).

    The bins whose lower band is k are ``band_start[k] ≤ b < band_start[k + 1]``; each weighs
    ``weight_low[b]`` into band k and ``weight_high[b]`` into band k + 1. Frames run along the
    last axis (the inner loops go across frames). magnitude: (bins, F) float32;
    out: (bands, F) float64.
    """
    n_frames = magnitude.shape[1]
    n_bands = out.shape[0]
    carried = np.zeros(n_frames)  # what the bins of band k − 1 weigh into band k
    for k in range(n_bands):
        for i in range(n_frames):
            out[k, i] = carried[i]
            carried[i] = 0.0
        for b in range(band_start[k], band_start[k + 1]):
            low = weight_low[b]
            high = weight_high[b]
            for i in range(n_frames):
                out[k, i] += low * magnitude[b, i]
                carried[i] += high * magnitude[b, i]


@njit(cache=True, nogil=True, fastmath=True)
def fgla_mel_step(
    rebuilt, previous, band_target, momentum,
    band_start, weight_low, weight_high, off_diagonal, inverse_pivot, upper, coefficients,
):
    """One Fast Griffin-Lim update whose magnitude step keeps the bands, not the bins, in place.

    ``t = rebuilt + momentum·(rebuilt − previous)``; ``previous ← rebuilt``; then per frame the
    magnitude nearest |t| whose band sums are ``band_target``: s = |t| + Fᵀ(FFᵀ)⁻¹(m − F|t|),
    clipped at 0 (FFᵀ + ridge is tridiagonal: a Thomas solve with the factors given, all
    frames at once); a bin in no band (DC: weights 0) keeps |t|, the mel says nothing of it.
    ``coefficients ← s · t/|t|``. rebuilt, previous, coefficients: (F, bins) complex64;
    band_target: (bands, F) float64; band_start etc.: see :func:`band_sums`.
    """
    n_frames, n_bins = rebuilt.shape
    n_bands = band_target.shape[0]
    frames_first = np.empty((n_frames, n_bins), dtype=np.float32)
    for i in range(n_frames):
        for b in range(n_bins):
            r = rebuilt[i, b]
            t = r + momentum * (r - previous[i, b])
            previous[i, b] = r
            coefficients[i, b] = t
            frames_first[i, b] = np.sqrt(t.real * t.real + t.imag * t.imag)
    size = np.ascontiguousarray(frames_first.T)  # (bins, F): the band loops run across frames
    # z (bands + 1, F), the last row 0: solve (FFᵀ + ridge)·z = m − F|t| for every frame.
    z = np.zeros((n_bands + 1, n_frames))
    band_sums(size, band_start, weight_low, weight_high, z[:n_bands])
    for i in range(n_frames):
        z[0, i] = (band_target[0, i] - z[0, i]) * inverse_pivot[0]
    for k in range(1, n_bands):
        for i in range(n_frames):
            z[k, i] = (band_target[k, i] - z[k, i] - off_diagonal[k - 1] * z[k - 1, i]) * inverse_pivot[k]
    for k in range(n_bands - 2, -1, -1):
        for i in range(n_frames):
            z[k, i] -= upper[k] * z[k + 1, i]
    gain = np.empty((n_bins, n_frames), dtype=np.float32)
    for k in range(n_bands):
        for b in range(band_start[k], band_start[k + 1]):
            low = weight_low[b]
            high = weight_high[b]
            for i in range(n_frames):
                s = size[b, i]
                corrected = s + low * z[k, i] + high * z[k + 1, i]
                gain[b, i] = max(corrected, 0.0) / s if s > 0.0 else 0.0
    for i in range(n_frames):
        for b in range(n_bins):
            coefficients[i, b] = coefficients[i, b] * gain[b, i]
