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


@njit(cache=True, nogil=True)
def _heap_push(keys, items, size, key, item):
    i = size
    keys[i] = key
    items[i] = item
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] >= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        items[parent], items[i] = items[i], items[parent]
        i = parent
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(keys, items, size):
    item = items[0]
    size -= 1
    keys[0] = keys[size]
    items[0] = items[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] > keys[left]:
            child = left + 1
        if keys[i] >= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        items[child], items[i] = items[i], items[child]
        i = child
    return item, size


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
    keys = np.empty(2 * n_bins)
    items = np.empty(2 * n_bins, dtype=np.int64)
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
        floor = cur.max()
        if use_prev:
            floor = max(floor, prev.max())
        floor += log_tolerance
        remaining = 0
        for m in range(n_bins):
            phase[m] = 0.0
            done[m] = cur[m] <= floor
            if not done[m]:
                remaining += 1
        size = 0
        if use_prev:
            for m in range(n_bins):
                if prev[m] > floor:
                    size = _heap_push(keys, items, size, prev[m], m)
        while remaining > 0:
            if size == 0:
                best = -1
                for m in range(n_bins):
                    if not done[m] and (best < 0 or cur[m] > cur[best]):
                        best = m
                if use_prev:
                    phase[best] = prev_phase[best] + 0.5 * hop * (prev_tgrad[best] + cur_tgrad[best])
                done[best] = True
                remaining -= 1
                size = _heap_push(keys, items, size, cur[best], n_bins + best)
                continue
            item, size = _heap_pop(keys, items, size)
            if item < n_bins:
                m = item
                if not done[m]:
                    phase[m] = prev_phase[m] + 0.5 * hop * (prev_tgrad[m] + cur_tgrad[m])
                    done[m] = True
                    remaining -= 1
                    size = _heap_push(keys, items, size, cur[m], n_bins + m)
            else:
                m = item - n_bins
                for neighbour in (m - 1, m + 1):
                    if 0 <= neighbour < n_bins and not done[neighbour]:
                        step = freq_scale * (fgrad[m] + fgrad[neighbour])
                        phase[neighbour] = phase[m] + (step if neighbour > m else -step)
                        done[neighbour] = True
                        remaining -= 1
                        size = _heap_push(keys, items, size, cur[neighbour], n_bins + neighbour)
        for m in range(n_bins):
            phase[m] = (phase[m] + np.pi) % _TWO_PI - np.pi
            prev_phase[m] = phase[m]
            prev_tgrad[m] = cur_tgrad[m]
