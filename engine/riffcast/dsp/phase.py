"""Streaming phase reconstruction: linear STFT magnitude frames in, final PCM samples out.

Method (measured in ``benchmarks/inversion.py``):

1. Real-time Phase Gradient Heap Integration (RTPGHI, Průša & Holighaus 2017) gives every
   new frame a phase consistent with its neighbours, continuing from the last frame whose
   phase is already settled. The Hann window is treated as a Gaussian with
   λ = 0.25645·L² samples² (Průša et al. 2017).
2. Frames enter in blocks of ``block_frames`` (4: 40 ms), whatever the size of a push. For
   each block a round of Fast Griffin-Lim iterations (Perraudin, Balazs & Søndergaard 2013,
   momentum 0.99) refines every frame that is not committed yet, while the committed frames
   before them stay fixed (their overlap-add tail is carried), as RTISI-LA does (Zhu,
   Beauregard & Wyse 2007). A frame is refined in every round until it is committed: with
   4-frame blocks and 4 look-ahead frames, twice.
3. All but the last ``lookahead_frames`` of them are committed and overlap-added; samples
   that no uncommitted frame touches are final and leave. The lookahead frames keep their
   refined phase as the start of the next round.

Measured on real music (``benchmarks/inversion_real.py``), refining each frame in a sliding
window of small rounds beats refining a whole 512-frame push at once with the same iterations,
and beats 50 to 150 iterations over the whole piece at once.

The analysis grid is FFT size = window length = 4410 (10 Hz bins, hop 441): the same window
as the model's 17 640-point grid without the zero padding, so its magnitudes are every 4th
bin of the model's. The iterations run on a coarser sampling of the same frames when only
the low bins carry energy: for Riffusion (nothing above 10 kHz) a 2100-point window and hop
210, i.e. 21 kHz, which holds all 1001 active bins below its Nyquist. The coefficients are
the same on both grids (the frames are the same band-limited functions of time, sampled
less densely), so the iterations cost half as much; the samples that leave are rebuilt on
the full 4410-point grid.

Look-ahead: RTPGHI needs one frame after the frame it solves, committing needs
``lookahead_frames`` more, and a sample is final once every frame covering it (half a window
after it) is committed: ``latency_samples = (lookahead_frames + 1)·hop + window/2``.
How the input is cut changes only which frames were refined together; the seam benchmark
measures that this stays within measurement of inverting everything at once.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from riffcast.dsp import kernels
from riffcast.dsp.stft import hann_window

HANN_GAUSSIAN_LAMBDA = 0.25645  # λ / L² of the Gaussian matching a Hann window of length L
_LOG_FLOOR = 1e-30
_MIN_WINDOW_SQUARE_SUM = np.float32(1e-3)  # where almost no window reaches (stream start)


class PhaseStream:
    """Turn magnitude frames (bins, frames) into PCM samples, block by block.

    Parameters
    ----------
    window_samples, hop_samples : int
        Hann window length (also the FFT size) and hop, in samples.
    lookahead_frames : int
        Frames refined with the committed ones but held back for the next round.
    iterations : int
        Fast Griffin-Lim iterations per round.
    tolerance : float
        Bins quieter than ``tolerance`` × the frame maximum are left out of the integration.
    active_bins : int or None
        Only bins below this index carry energy (1001 for Riffusion: nothing above 10 kHz);
        the rest are taken as zero and skipped. ``None``: all bins.
    fft_workers : int
        Threads for the batched FFTs (scipy's ``workers``; −1: every core). Each frame's FFT
        is computed the same way whatever the number, so the output does not change.
    block_frames : int or None
        Frames per round: a push is taken in blocks of this many frames. ``None``: each push
        is one round (how a stream is cut then changes which frames were refined together).
    grid_samples : int or None
        Window length (= FFT size) of the grid the iterations run on, at its own sample rate
        ``grid_samples / window_samples`` times the stream's; it must give a whole hop and
        hold the active bins below its Nyquist. ``None``: the smallest such size whose FFT
        factors into 2, 3, 5 and 7 (``window_samples`` itself when no smaller one fits).
    """

    def __init__(
        self,
        *,
        window_samples: int = 4410,
        hop_samples: int = 441,
        lookahead_frames: int = 4,
        iterations: int = 8,
        momentum: float = 0.99,
        tolerance: float = 1e-5,
        active_bins: int | None = None,
        fft_workers: int = -1,
        block_frames: int | None = 4,
        grid_samples: int | None = None,
    ) -> None:
        if window_samples % 2 or window_samples % hop_samples:
            raise ValueError("window_samples must be even and a multiple of hop_samples")
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.n_bins = window_samples // 2 + 1
        self.active_bins = self.n_bins if active_bins is None else min(active_bins, self.n_bins)
        self.lookahead_frames = lookahead_frames
        self.iterations = iterations
        self.momentum = momentum
        self.fft_workers = fft_workers
        if block_frames is not None and block_frames < 1:
            raise ValueError("block_frames must be at least 1 (or None)")
        self.block_frames = block_frames
        self._log_tolerance = float(np.log(tolerance))
        self._lambda = HANN_GAUSSIAN_LAMBDA * window_samples**2
        self._output = _Grid(window_samples, hop_samples)
        if grid_samples is None:
            grid_samples = refinement_grid(window_samples, hop_samples, self.active_bins)
        if not _grid_fits(grid_samples, window_samples, hop_samples, self.active_bins):
            raise ValueError("grid_samples must be even, at most window_samples, give a whole hop and hold the active bins")
        grid_hop = grid_samples * hop_samples // window_samples
        self._grid = self._output if grid_samples == window_samples else _Grid(grid_samples, grid_hop)
        self._bin_sign = np.where(np.arange(self.active_bins) % 2, -1.0, 1.0).astype(np.float32)

        # Frames not yet committed (rows = frames), starting at absolute frame self._first_frame.
        self._first_frame = 0
        self._magnitude = np.zeros((0, self.active_bins), dtype=np.float32)
        self._log_magnitude = np.zeros((0, self.active_bins), dtype=np.float64)
        self._coefficients = np.zeros((0, self.active_bins), dtype=np.complex64)
        self._last_committed_log = np.zeros(self.active_bins)
        self._last_committed_phase = np.zeros(self.active_bins)
        # Overlap-add of committed frames, from the first sample that is not final yet.
        self._accumulator = np.zeros(window_samples, dtype=np.float32)
        # The same on the refinement grid (the same array when the grids are one).
        self._grid_tail = self._accumulator if self._grid is self._output else np.zeros(grid_samples, dtype=np.float32)
        self.frames_in = 0
        self.samples_out = 0

    @property
    def latency_samples(self) -> int:
        """Upper bound of samples held back behind the end of the pushed frames."""
        return (self.lookahead_frames + 1) * self.hop_samples + self.window_samples // 2

    # -- public -------------------------------------------------------------------------

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        """Add frames; return the samples that became final, float32, shape (samples,).

        magnitude: (n_bins, frames) linear STFT magnitude on this stream's grid.
        """
        magnitude = np.asarray(magnitude, dtype=np.float32)
        if magnitude.ndim != 2 or magnitude.shape[0] != self.n_bins:
            raise ValueError(f"magnitude must have shape ({self.n_bins}, frames), got {magnitude.shape}")
        if not np.all(np.isfinite(magnitude)):
            raise ValueError("magnitude contains NaN or infinity")
        frames = np.ascontiguousarray(np.maximum(magnitude[: self.active_bins], 0.0).T)
        total = frames.shape[0]
        if self.block_frames is None:
            ends = [total]
        else:  # blocks end on whole multiples of block_frames whatever the cutting, and at the end
            first = self.block_frames - self.frames_in % self.block_frames
            ends = list(range(first, total, self.block_frames)) + [total]
        out = [self._push_frames(frames[start:end]) for start, end in zip([0] + ends, ends)]
        return np.concatenate(out)

    def _push_frames(self, frames: np.ndarray) -> np.ndarray:
        """Buffer (frames, active_bins) magnitudes and run a round; return the final samples."""
        self._magnitude = np.concatenate([self._magnitude, frames])
        self._log_magnitude = np.concatenate(
            [self._log_magnitude, np.log(np.maximum(frames, _LOG_FLOOR).astype(np.float64))]
        )
        self.frames_in += frames.shape[0]
        # RTPGHI needs the frame after the last one it solves.
        solvable = self._magnitude.shape[0] - 1
        if solvable - self.lookahead_frames < 1:
            return np.zeros(0, dtype=np.float32)
        return self._process(solvable, solvable - self.lookahead_frames, final=False)

    def flush(self) -> np.ndarray:
        """End of stream: commit every remaining frame and return the rest of the samples.

        The stream's total length is ``frames_in × hop_samples`` samples: one hop per frame.
        """
        out = []
        frames = self._magnitude.shape[0]
        if frames:
            out.append(self._process(frames, frames, final=True))
        end = self.frames_in * self.hop_samples
        tail_start = self._first_frame * self.hop_samples - self.window_samples // 2
        wss = self._output.window_square_sum(tail_start, self._accumulator.size, last_frame=self.frames_in - 1)
        tail = self._accumulator / wss
        out.append(self._take_final(tail, tail_start, end))
        self._accumulator[:] = 0.0
        self._grid_tail[:] = 0.0
        return np.concatenate(out)

    # -- rounds ---------------------------------------------------------------------------

    def _process(self, frames: int, commit_frames: int, *, final: bool) -> np.ndarray:
        """Refine the first ``frames`` buffered frames and commit the first ``commit_frames``."""
        self._initialise_phases(frames, final=final)
        grid = self._grid
        start_sample = self._first_frame * grid.hop_samples - grid.window_samples // 2
        segment = (frames - 1) * grid.hop_samples + grid.window_samples
        # Only the frames present: future frames are unknown, not silent.
        last_frame = self._first_frame + frames - 1
        wss = grid.window_square_sum(start_sample, segment, last_frame)
        fixed = np.zeros(segment, dtype=np.float32)
        fixed[: self._grid_tail.size] = self._grid_tail
        zero_index = max(0, -start_sample)
        coefficients = self._refine(self._coefficients[:frames], self._magnitude[:frames], fixed, wss, zero_index)
        self._coefficients[:frames] = coefficients
        return self._commit(commit_frames, segment_frames=frames)

    def _initialise_phases(self, frames: int, *, final: bool) -> None:
        """Give frames [have, frames) of the buffer an RTPGHI phase and the target magnitude."""
        have = self._coefficients.shape[0]
        if have >= frames:
            return
        log = self._log_magnitude
        if have > 0:
            before_log = log[have - 1]
            before_phase = np.angle(self._coefficients[have - 1] * self._bin_sign).astype(np.float64)
        else:
            before_log = self._last_committed_log
            before_phase = self._last_committed_phase
        after = log[frames] if frames < log.shape[0] else log[frames - 1]
        rows = np.concatenate([before_log[None], log[have:frames], after[None]])
        phase = np.empty((frames - have, self.active_bins))
        has_start = self._first_frame + have > 0
        kernels.rtpghi(
            rows, before_phase, has_start, self.hop_samples, self.window_samples,
            self._lambda, self._log_tolerance, phase,
        )
        new = (self._magnitude[have:frames] * self._bin_sign) * np.exp(1j * phase).astype(np.complex64)
        self._coefficients = np.concatenate([self._coefficients, new.astype(np.complex64)])

    def _refine(
        self,
        coefficients: np.ndarray,
        target: np.ndarray,
        fixed: np.ndarray,
        wss: np.ndarray,
        zero_index: int,
    ) -> np.ndarray:
        """Fast Griffin-Lim on (F, bins) coefficients with the committed part ``fixed`` held.

        ``zero_index``: index of stream sample 0 in the segment when the segment starts before
        it (the first round), else 0.
        """
        coefficients = coefficients.copy()
        previous = np.empty_like(coefficients)
        grid = self._grid
        frames = np.empty((coefficients.shape[0], grid.window_samples), dtype=np.float32)
        for iteration in range(self.iterations):
            signal = fixed.copy()
            kernels.overlap_add(grid.frames(coefficients, self.fft_workers), grid.hop_samples, signal)
            _fold_reflection(signal, zero_index)
            signal /= wss
            _mirror_reflection(signal, zero_index)
            kernels.windowed_frames(signal, grid.window, grid.hop_samples, frames)
            rebuilt = scipy.fft.rfft(frames, axis=1, workers=self.fft_workers)[:, : self.active_bins]
            if iteration == 0:
                previous[:] = rebuilt
            kernels.fgla_step(rebuilt, previous, target, np.float32(self.momentum), coefficients)
        return coefficients

    def _commit(self, commit_frames: int, *, segment_frames: int) -> np.ndarray:
        """Overlap-add the first frames of the window and hand out the samples now final.

        The window-square sum of the final samples is complete: every frame covering them
        is committed.
        """
        committed = self._coefficients[:commit_frames]
        start_sample = self._first_frame * self.hop_samples - self.window_samples // 2
        accumulator = self._output.overlap_add(committed, self._accumulator, start_sample, self.fft_workers)
        segment = (segment_frames - 1) * self.hop_samples + self.window_samples
        wss = self._output.window_square_sum(start_sample, segment, self._first_frame + segment_frames - 1)
        final_samples = commit_frames * self.hop_samples
        ready = accumulator[:final_samples] / wss[:final_samples]
        out = self._take_final(ready, start_sample, None)
        if self._grid is not self._output:
            grid = self._grid
            grid_start = self._first_frame * grid.hop_samples - grid.window_samples // 2
            grid_tail = grid.overlap_add(committed, self._grid_tail, grid_start, self.fft_workers)
            self._grid_tail = grid_tail[commit_frames * grid.hop_samples :]

        self._last_committed_log = self._log_magnitude[commit_frames - 1].copy()
        self._last_committed_phase = np.angle(committed[-1] * self._bin_sign).astype(np.float64)
        self._first_frame += commit_frames
        self._magnitude = self._magnitude[commit_frames:]
        self._log_magnitude = self._log_magnitude[commit_frames:]
        self._coefficients = self._coefficients[commit_frames:]
        self._accumulator = accumulator[final_samples:]
        if self._grid is self._output:
            self._grid_tail = self._accumulator
        return out

    def _take_final(self, samples: np.ndarray, start_sample: int, end_sample: int | None) -> np.ndarray:
        """Keep the part of ``samples`` (starting at absolute ``start_sample``) in [samples_out, end)."""
        skip = max(0, self.samples_out - start_sample)
        stop = samples.size if end_sample is None else max(skip, min(samples.size, end_sample - start_sample))
        out = samples[skip:stop].astype(np.float32)
        self.samples_out += out.size
        return out


def refinement_grid(window_samples: int, hop_samples: int, active_bins: int) -> int:
    """Smallest grid (window = FFT size, samples) for the iterations; see :class:`PhaseStream`."""
    for size in range(2 * active_bins + 2, window_samples):
        if _grid_fits(size, window_samples, hop_samples, active_bins) and _factors_into_2357(size):
            return size
    return window_samples


def _grid_fits(size: int, window_samples: int, hop_samples: int, active_bins: int) -> bool:
    """Whether a ``size``-sample window can carry the frames (itself; or even, whole hop, bins below Nyquist)."""
    if size == window_samples:
        return True
    return size % 2 == 0 and size < window_samples and (size * hop_samples) % window_samples == 0 and active_bins < size // 2


def _factors_into_2357(size: int) -> bool:
    for prime in (2, 3, 5, 7):
        while size % prime == 0:
            size //= prime
    return size == 1


class _Grid:
    """One sampling of the frames: Hann window (= FFT size) and hop, in samples of its own rate.

    The coefficients are the same on every grid (bins of 10 Hz for Riffusion), so a coarser
    grid that still holds the active bins below its Nyquist refines the same frames for less.
    ``frames`` and ``overlap_add`` take coefficients (F, bins), complex64, centre-referenced
    as ``PhaseStream`` keeps them.
    """

    def __init__(self, window_samples: int, hop_samples: int) -> None:
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.window = hann_window(window_samples).astype(np.float32)

    def frames(self, coefficients: np.ndarray, workers: int) -> np.ndarray:
        """Windowed time frames (F, window_samples) float32 of coefficients (F, bins)."""
        time_frames = scipy.fft.irfft(coefficients, n=self.window_samples, axis=1, workers=workers)
        time_frames *= self.window  # in place: one (frames, window) float32 array less
        return time_frames

    def overlap_add(self, coefficients: np.ndarray, tail: np.ndarray, start_sample: int, workers: int) -> np.ndarray:
        """``tail`` plus the overlap-add of the frames of (F, bins) coefficients, float32.

        The first frame's first sample is absolute sample ``start_sample``, as is ``tail[0]``.
        """
        span = (coefficients.shape[0] - 1) * self.hop_samples + self.window_samples
        accumulator = np.zeros(span, dtype=np.float32)
        accumulator[: tail.size] = tail
        kernels.overlap_add(self.frames(coefficients, workers), self.hop_samples, accumulator)
        _fold_reflection(accumulator, max(0, -start_sample))
        return accumulator

    def window_square_sum(self, start_sample: int, length: int, last_frame: int | None = None) -> np.ndarray:
        """Σₙ w²(t − n·hop + N/2) at absolute samples t in [start, start + length), float32.

        Sums frames 0 ≤ n ≤ ``last_frame`` (every frame that can exist when ``None``): the
        least-squares inverse STFT divides the overlap-add by this. Near the stream start the
        parts of frames before sample 0 are folded onto the samples they mirror.
        """
        half = self.window_samples // 2
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
        _fold_reflection(wss, max(0, -low))
        wss = wss[start_sample - low :]
        return np.maximum(wss, _MIN_WINDOW_SQUARE_SUM)


def _fold_reflection(signal: np.ndarray, zero_index: int) -> None:
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


def _mirror_reflection(signal: np.ndarray, zero_index: int) -> None:
    """Fill the samples before stream sample 0 with their reflection, x[−t] = x[t], in place."""
    mirrored = min(zero_index, signal.size - zero_index - 1)
    if mirrored > 0:
        signal[zero_index - mirrored : zero_index] = signal[zero_index + 1 : zero_index + 1 + mirrored][::-1]
