"""Streaming phase reconstruction: linear STFT magnitude frames in, final PCM samples out.

Method (measured on real music in ``benchmarks/inversion_real.py``):

1. Real-time Phase Gradient Heap Integration (RTPGHI, Průša & Holighaus 2017) gives every
   new frame a phase consistent with its neighbours, continuing from the last frame whose
   phase is already settled. The Hann window is treated as a Gaussian with
   λ = 0.25645·L² samples² (Průša et al. 2017).
2. Frames enter in blocks of ``block_frames`` (4: 40 ms), whatever the size of a push. For
   each block a round of Fast Griffin-Lim iterations (Perraudin, Balazs & Søndergaard 2013,
   momentum 0.99) refines every frame that is not committed yet, while the committed frames
   before them stay fixed (their overlap-add tail is carried), as RTISI-LA does (Zhu,
   Beauregard & Wyse 2007). A frame is refined in every round until it is committed: with
   4-frame blocks and 2 look-ahead frames, once or twice.
3. All but the last ``lookahead_frames`` of them are committed and overlap-added; samples
   that no uncommitted frame touches are final and leave. The lookahead frames keep their
   refined phase as the start of the next round.

The magnitude step of each iteration (``mel_projection`` given, as the stitcher does): not the
min-norm magnitude bin by bin, but the nearest magnitude with the image's mel
(:mod:`riffcast.dsp.mel_projection`): consistency fills in the detail inside each mel band.

Grids. The frames are Hann windows of 4410 samples (hop 441), zero-padded to an FFT of
``fft_samples`` = 8820 (5 Hz bins; the model's own grid is 17 640, 2.5 Hz): the finer
frequency sampling gives the iterations twice the magnitude constraints for the same frames,
and the magnitudes are every 2nd bin of the model's. The iterations run on a coarser
sampling of the same frames when only the low bins carry energy: for Riffusion (nothing
above 10 kHz) a 2100-point window, hop 210 and FFT 4200, i.e. 21 kHz, which holds all 2000
active bins below its Nyquist. The coefficients are the same on both grids (the frames are
the same band-limited functions of time, sampled less densely), so the iterations cost half
as much; the samples that leave are rebuilt on the full 4410-point grid.

Look-ahead: RTPGHI needs one frame after the frame it solves, committing needs
``lookahead_frames`` more, and a sample is final once every frame covering it (half a window
after it) is committed: ``latency_samples = (lookahead_frames + 1)·hop + window/2``.
How the input is cut changes only which frames were refined together; the seam benchmark
measures that this stays within measurement of inverting everything at once.
"""

from __future__ import annotations

import copy

import numpy as np

from riffcast.dsp import kernels
from riffcast.dsp.mel_projection import MelProjection
from riffcast.dsp.phase_grid import Grid, fold_reflection, grid_fits, mirror_reflection, refinement_grid
from riffcast.dsp.phase_settings import DEFAULT_BLOCK_FRAMES, DEFAULT_ITERATIONS, DEFAULT_LOOKAHEAD_FRAMES

HANN_GAUSSIAN_LAMBDA = 0.25645  # λ / L² of the Gaussian matching a Hann window of length L
_LOG_FLOOR = 1e-30


class PhaseStream:
    """Turn magnitude frames (bins, frames) into PCM samples, block by block.

    Parameters
    ----------
    window_samples, hop_samples : int
        Hann window length and hop, in samples.
    fft_samples : int or None
        FFT size, a whole multiple of the window (zero-padded): the magnitude frames have
        ``fft_samples // 2 + 1`` bins. ``None``: the window length.
    lookahead_frames : int
        Frames refined with the committed ones but held back for the next round.
    iterations : int
        Fast Griffin-Lim iterations per round.
    tolerance : float
        Bins quieter than ``tolerance`` × the frame maximum are left out of the integration.
    active_bins : int or None
        Only bins below this index carry energy (for Riffusion nothing above 10 kHz: 1001 bins
        of 10 Hz, 2000 of 5 Hz); the rest are taken as zero and skipped. ``None``: all bins.
    mel_projection : MelProjection or None
        Triangular filters over the active bins of this grid: the iterations keep each
        frame's band sums (:mod:`riffcast.dsp.mel_projection`) instead of each bin's
        magnitude. ``None``: each bin's magnitude (classic Fast Griffin-Lim).
    block_frames : int or None
        Frames per round: a push is taken in blocks of this many frames. ``None``: each push
        is one round (how a stream is cut then changes which frames were refined together).
    grid_samples : int or None
        Window length of the grid the iterations run on (its FFT: ``fft_samples /
        window_samples`` times that), at its own sample rate
        ``grid_samples / window_samples`` times the stream's; it must give a whole hop and
        hold the active bins below its Nyquist. ``None``: the smallest such size whose FFT
        factors into 2, 3, 5 and 7 (``window_samples`` itself when no smaller one fits).
    """

    def __init__(
        self,
        *,
        window_samples: int = 4410,
        hop_samples: int = 441,
        lookahead_frames: int = DEFAULT_LOOKAHEAD_FRAMES,
        iterations: int = DEFAULT_ITERATIONS,
        momentum: float = 0.99,
        tolerance: float = 1e-5,
        active_bins: int | None = None,
        block_frames: int | None = DEFAULT_BLOCK_FRAMES,
        grid_samples: int | None = None,
        fft_samples: int | None = None,
        mel_projection: MelProjection | None = None,
    ) -> None:
        if window_samples % 2 or window_samples % hop_samples:
            raise ValueError("window_samples must be even and a multiple of hop_samples")
        fft_samples = window_samples if fft_samples is None else fft_samples
        if fft_samples % window_samples:
            raise ValueError("fft_samples must be a whole multiple of window_samples")
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.fft_samples = fft_samples
        self.oversampling = fft_samples // window_samples
        self.n_bins = fft_samples // 2 + 1
        self.active_bins = self.n_bins if active_bins is None else min(active_bins, self.n_bins)
        self.lookahead_frames = lookahead_frames
        self.iterations = iterations
        self.momentum = momentum
        if block_frames is not None and block_frames < 1:
            raise ValueError("block_frames must be at least 1 (or None)")
        self.block_frames = block_frames
        if mel_projection is not None and mel_projection.n_bins != self.active_bins:
            raise ValueError(f"mel_projection must cover the {self.active_bins} active bins, not {mel_projection.n_bins}")
        self.mel_projection = mel_projection
        self._log_tolerance = float(np.log(tolerance))
        self._lambda = HANN_GAUSSIAN_LAMBDA * window_samples**2
        self._output = Grid(window_samples, hop_samples, fft_samples)
        # The active bins in bins of 1/window_samples cycles per sample (the grids' Nyquist test).
        window_bins = (self.active_bins - 1) // self.oversampling + 1
        if grid_samples is None:
            grid_samples = refinement_grid(window_samples, hop_samples, window_bins)
        if not grid_fits(grid_samples, window_samples, hop_samples, window_bins):
            raise ValueError("grid_samples must be even, at most window_samples, give a whole hop and hold the active bins")
        grid_hop = grid_samples * hop_samples // window_samples
        self._grid = (
            self._output if grid_samples == window_samples
            else Grid(grid_samples, grid_hop, grid_samples * self.oversampling)
        )
        # Centre-referenced phase (RTPGHI's) → the phase of a frame that starts at sample 0 of
        # its FFT: a delay of half a window, exp(−2πi·m·(window/2)/fft) (±1 when fft = window).
        self._to_frame_start = np.exp(
            -1j * np.pi * np.arange(self.active_bins) / self.oversampling
        ).astype(np.complex64)

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

    # Fixed after construction (grids and their caches, the projection): a copy shares them.
    _SHARED = frozenset({"_output", "_grid", "mel_projection", "_to_frame_start"})

    def __deepcopy__(self, memo: dict) -> PhaseStream:
        """A copy of the stream's state (the stitcher's checkpoints), sharing what never changes."""
        clone = object.__new__(PhaseStream)
        for name, value in vars(self).items():
            setattr(clone, name, value if name in self._SHARED else copy.deepcopy(value, memo))
        return clone

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
            before_phase = np.angle(self._coefficients[have - 1] * self._to_frame_start.conj()).astype(np.float64)
        else:
            before_log = self._last_committed_log
            before_phase = self._last_committed_phase
        after = log[frames] if frames < log.shape[0] else log[frames - 1]
        rows = np.concatenate([before_log[None], log[have:frames], after[None]])
        phase = np.empty((frames - have, self.active_bins))
        has_start = self._first_frame + have > 0
        kernels.rtpghi(
            rows, before_phase, has_start, self.hop_samples, self.fft_samples,
            self._lambda, self._log_tolerance, phase,
        )
        new = (self._magnitude[have:frames] * self._to_frame_start) * np.exp(1j * phase).astype(np.complex64)
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
        # Windowed frames, zero-padded to the FFT size once: the FFT then copies nothing.
        padded = np.zeros((coefficients.shape[0], grid.fft_samples), dtype=np.float32)
        frames = padded[:, : grid.window_samples]
        momentum = np.float32(self.momentum)
        band_target = self.mel_projection.band_sums(target) if self.mel_projection is not None else None
        for iteration in range(self.iterations):
            signal = fixed.copy()
            kernels.overlap_add(grid.frames(coefficients), grid.hop_samples, signal)
            fold_reflection(signal, zero_index)
            signal /= wss
            mirror_reflection(signal, zero_index)
            kernels.windowed_frames(signal, grid.window, grid.hop_samples, frames)
            rebuilt = np.fft.rfft(padded, axis=1)[:, : self.active_bins]
            if iteration == 0:
                previous[:] = rebuilt
            if self.mel_projection is None:
                kernels.fgla_step(rebuilt, previous, target, momentum, coefficients)
            else:
                self.mel_projection.step(rebuilt, previous, band_target, momentum, coefficients)
        return coefficients

    def _commit(self, commit_frames: int, *, segment_frames: int) -> np.ndarray:
        """Overlap-add the first frames of the window and hand out the samples now final.

        The window-square sum of the final samples is complete: every frame covering them
        is committed.
        """
        committed = self._coefficients[:commit_frames]
        start_sample = self._first_frame * self.hop_samples - self.window_samples // 2
        accumulator = self._output.overlap_add(committed, self._accumulator, start_sample)
        segment = (segment_frames - 1) * self.hop_samples + self.window_samples
        wss = self._output.window_square_sum(start_sample, segment, self._first_frame + segment_frames - 1)
        final_samples = commit_frames * self.hop_samples
        ready = accumulator[:final_samples] / wss[:final_samples]
        out = self._take_final(ready, start_sample, None)
        if self._grid is not self._output:
            grid = self._grid
            grid_start = self._first_frame * grid.hop_samples - grid.window_samples // 2
            grid_tail = grid.overlap_add(committed, self._grid_tail, grid_start)
            self._grid_tail = grid_tail[commit_frames * grid.hop_samples :]

        self._last_committed_log = self._log_magnitude[commit_frames - 1].copy()
        self._last_committed_phase = np.angle(committed[-1] * self._to_frame_start.conj()).astype(np.float64)
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


__all__ = ["PhaseStream", "refinement_grid"]
