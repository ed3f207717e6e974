"""The sampling grids of the phase stage: where the frames are rebuilt and where they are refined.

A grid is a Hann window, a hop and an FFT size, in samples of its own rate. The frames'
coefficients (bins of ``1/fft_samples`` cycles per window sample, e.g. 5 Hz for Riffusion with
a 2× zero-padded FFT) are the same on every grid that holds the active bins below its
Nyquist: a coarser grid refines the same frames for less (see :mod:`riffcast.dsp.phase`).
"""

from __future__ import annotations

import numpy as np

from riffcast.dsp import kernels
from riffcast.dsp.stft import hann_window

_MIN_WINDOW_SQUARE_SUM = np.float32(1e-3)  # where almost no window reaches (stream start)
_SUMS_KEPT = 64  # window-square sums kept per grid (a stream uses a handful of shapes)


def refinement_grid(window_samples: int, hop_samples: int, active_bins: int) -> int:
    """Smallest grid (window = FFT size, samples) for the iterations; see :class:`PhaseStream`."""
    for size in range(2 * active_bins + 2, window_samples):
        if grid_fits(size, window_samples, hop_samples, active_bins) and _factors_into_2357(size):
            return size
    return window_samples


def grid_fits(size: int, window_samples: int, hop_samples: int, active_bins: int) -> bool:
    """Whether a ``size``-sample window can carry the frames (itself; or even, whole hop, bins below Nyquist)."""
    if size == window_samples:
        return True
    return size % 2 == 0 and size < window_samples and (size * hop_samples) % window_samples == 0 and active_bins < size // 2


def _factors_into_2357(size: int) -> bool:
    for prime in (2, 3, 5, 7):
        while size % prime == 0:
            size //= prime
    return size == 1


class Grid:
    """One sampling of the frames: Hann window, hop and FFT size, in samples of its own rate.

    The window sits at the start of its FFT frame, zero-padded to ``fft_samples``.

    The coefficients are the same on every grid (bins of 5 Hz in Riffusion's stitcher), so a coarser
    grid that still holds the active bins below its Nyquist refines the same frames for less.
    ``frames`` and ``overlap_add`` take coefficients (F, bins), complex64, centre-referenced
    as ``PhaseStream`` keeps them.
    """

    def __init__(self, window_samples: int, hop_samples: int, fft_samples: int) -> None:
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.fft_samples = fft_samples
        self.window = hann_window(window_samples).astype(np.float32)
        self._sums: dict[tuple, np.ndarray] = {}  # window_square_sum away from the start, by shape

    def frames(self, coefficients: np.ndarray) -> np.ndarray:
        """Windowed time frames (F, window_samples) float32 of coefficients (F, bins)."""
        time_frames = np.fft.irfft(coefficients, n=self.fft_samples, axis=1)
        time_frames = time_frames[:, : self.window_samples]
        time_frames *= self.window  # in place: one (frames, window) float32 array less
        return time_frames

    def overlap_add(self, coefficients: np.ndarray, tail: np.ndarray, start_sample: int) -> np.ndarray:
        """``tail`` plus the overlap-add of the frames of (F, bins) coefficients, float32.

        The first frame's first sample is absolute sample ``start_sample``, as is ``tail[0]``.
        """
        span = (coefficients.shape[0] - 1) * self.hop_samples + self.window_samples
        accumulator = np.zeros(span, dtype=np.float32)
        accumulator[: tail.size] = tail
        kernels.overlap_add(self.frames(coefficients), self.hop_samples, accumulator)
        fold_reflection(accumulator, max(0, -start_sample))
        return accumulator

    def window_square_sum(self, start_sample: int, length: int, last_frame: int | None = None) -> np.ndarray:
        """Σₙ w²(t − n·hop + N/2) at absolute samples t in [start, start + length), float32.

        Sums frames 0 ≤ n ≤ ``last_frame`` (every frame that can exist when ``None``): the
        least-squares inverse STFT divides the overlap-add by this. Near the stream start the
        parts of frames before sample 0 are folded onto the samples they mirror. Away from the
        start the sum only depends on where the span sits between two hops, its length and how
        many frames it has: those are computed once (read-only arrays, shared).
        """
        half = self.window_samples // 2
        key = None
        if start_sample >= half:
            key = (start_sample % self.hop_samples, length,
                   None if last_frame is None else last_frame - start_sample // self.hop_samples)
            if key in self._sums:
                return self._sums[key]
        low = min(start_sample, -half) if start_sample < half else start_sample
        high = start_sample + length
        first = max(0, -(-(low - half) // self.hop_samples))
        last = (high - 1 + half) // self.hop_samples
        if last_frame is not None:
            last = min(last, last_frame)
        out = np.zeros(high - low + 2 * self.window_samples, dtype=np.float32)
        if last >= first:
            squares = np.tile(self.window**2, (last - first + 1, 1))
            offset = first * self.hop_samples - half - low + self.window_samples
            kernels.overlap_add(squares, self.hop_samples, out[offset:])
        wss = out[self.window_samples : self.window_samples + high - low]
        fold_reflection(wss, max(0, -low))
        wss = np.maximum(wss[start_sample - low :], _MIN_WINDOW_SQUARE_SUM)
        if key is not None:
            if len(self._sums) >= _SUMS_KEPT:
                self._sums.clear()
            wss.flags.writeable = False
            self._sums[key] = wss
        return wss


def fold_reflection(signal: np.ndarray, zero_index: int) -> None:
    """Move what lies before stream sample 0 onto the samples it mirrors, in place.

    The centered STFT pads the start of the stream by reflection (x[−t] = x[t]), so the part
    of an early frame before sample 0 belongs to sample t. ``signal[zero_index]`` is sample 0.
    """
    mirrored = min(zero_index, signal.size - zero_index - 1)
    if zero_index <= 0:
        return
    if mirrored > 0:
        signal[zero_index + 1 : zero_index + 1 + mirrored] += signal[zero_index - mirrored : zero_index][::-1]
    signal[:zero_index] = 0.0


def mirror_reflection(signal: np.ndarray, zero_index: int) -> None:
    """Fill the samples before stream sample 0 with their reflection, x[−t] = x[t], in place."""
    mirrored = min(zero_index, signal.size - zero_index - 1)
    if mirrored > 0:
        signal[zero_index - mirrored : zero_index] = signal[zero_index + 1 : zero_index + 1 + mirrored][::-1]
