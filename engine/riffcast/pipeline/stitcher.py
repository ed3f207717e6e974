"""The stitcher: spectrogram chunks in, one continuous PCM stream with absolute positions out.

Sans-I/O (as python-websockets' protocol): no thread, clock, torch or socket in here. Feed
:meth:`Stitcher.push` one chunk at a time (any width); each call returns the samples that
became final, tagged with the absolute position of the first one. :meth:`Stitcher.flush`
ends the stream.

Per chunk:

1. **Level at the join.** A model image is normalised to its own maximum, so its absolute
   level is unknown. Its first ``join_columns`` are compared with the previous chunk's last
   ones, band by band, and one gain for the whole chunk makes the level continuous across the
   join: their mel energy, fitted over 4 s each side with a common trend, is continued
   across the join (clamped to ±``max_join_db``).
   The shape of the music inside the chunk is untouched. Chunks whose image states its
   absolute level (``max_value``) are taken as they are.
2. **Mel → linear** with :class:`riffcast.dsp.mel.MelInverter`, on a grid of 5 Hz bins (the
   4410-sample window zero-padded to 8820: ``fft_oversampling`` 2).
3. **Phase** with :class:`riffcast.dsp.phase.PhaseStream`, which carries phase and the
   overlap-add tail across the boundary; its iterations keep each frame's mel
   (``magnitude_step``, :mod:`riffcast.dsp.mel_projection`).
4. **Bandwidth extension** (:mod:`riffcast.dsp.bandwidth`, unless ``bandwidth`` is None): the
   band from 10 kHz to ``bandwidth.top_hz`` replicated from below and shaped by an envelope
   predicted from the columns just inverted.
5. **Level stage** (:mod:`riffcast.dsp.level`, unless ``level`` is None): loudness AGC to ``level.target_lufs`` (primed
   with the first chunk's loudness, so the stream starts at the target) and true-peak limiter.

Crossfade (window mode, ``crossfade_columns`` = C; see :mod:`riffcast.pipeline.layout`): each push
after the first begins with C columns that repaint the previous push's last C; the two
versions are crossfaded and their relative level read from those shared columns.

Checkpoints: :meth:`Stitcher.checkpoint` copies the whole state between two pushes and
:meth:`Stitcher.restore` goes back to it, so the feed can replace pushes whose samples have
not been played yet: the stream continues from the checkpoint as if they never came.

Latency: ``latency_samples`` = phase look-ahead + the extension's 2 hops + limiter look-ahead
(+ C columns in window mode) = 3528 + 882 + 136 samples (103 ms) with the defaults.

Kernels: the phase and level stages run numba kernels, loaded from numba's on-disk cache
(a third of a second) or, on a machine's first run, compiled (about ten seconds). A new
stitcher has them loaded on a thread of its own (:func:`prepare_kernels`) while its owner
does other work — a station paints its first chunk meanwhile — and says so on stderr
(:data:`COMPILE_NOTE`) before compiling, only when numba's cache has nothing for them.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from riffcast.dsp.bandwidth import BandwidthStage
from riffcast.dsp.bandwidth_model import EnvelopeModel
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import MelImage
from riffcast.dsp.level import LevelSettings, LevelStage, LevelStats
from riffcast.dsp.mel import MelInverter, mel_filterbank
from riffcast.dsp.mel_projection import MagnitudeStep, MelProjection
from riffcast.dsp.params import RIFFUSION_V1, SpectrogramParams
from riffcast.dsp.phase import PhaseStream
from riffcast.dsp.phase_settings import (
    DEFAULT_BLOCK_FRAMES,
    DEFAULT_FFT_OVERSAMPLING,
    DEFAULT_ITERATIONS,
    DEFAULT_LOOKAHEAD_FRAMES,
)
from riffcast.pipeline.join_level import join_gain_db, overlap_gain_db

# Absolute mel maximum given to a first chunk of unknown level: about what music peaking
# near −6 dBFS produces. The level stage takes the stream to its target loudness from there.
UNKNOWN_LEVEL_MEL_MAX = 150.0

# Printed once, on stderr, before the kernels compile (a cold numba cache). The time: 8.7 s
# measured on 2 shared cores (numba 0.68), rounded.
COLD_COMPILE_S = 10
COMPILE_NOTE = (f"riffcast: compiling the audio kernels for this machine (first run only, about "
                f"{COLD_COMPILE_S} s)…")


@dataclass(frozen=True)
class StitcherCheckpoint:
    """A stitcher's state between two pushes (a private copy: see :meth:`Stitcher.restore`)."""

    state: dict
    position: int  # the first sample the next push emits


@dataclass(frozen=True)
class PcmBlock:
    """Final samples: ``samples[i]`` is sample ``position + i`` of the stream (float32, mono)."""

    position: int
    samples: np.ndarray

    @property
    def end(self) -> int:
        return self.position + int(self.samples.size)


class Stitcher:
    """Stitch spectrogram chunks into one seamless stream (see the module docstring)."""

    def __init__(
        self,
        params: SpectrogramParams = RIFFUSION_V1,
        *,
        iterations: int = DEFAULT_ITERATIONS,
        lookahead_frames: int = DEFAULT_LOOKAHEAD_FRAMES,
        block_frames: int | None = DEFAULT_BLOCK_FRAMES,
        level: LevelSettings | None = LevelSettings(),
        join_columns: int = 400,
        max_join_db: float = 18.0,
        crossfade_columns: int = 0,
        fft_oversampling: int = DEFAULT_FFT_OVERSAMPLING,
        magnitude_step: MagnitudeStep = MagnitudeStep.BANDS,
        bandwidth: BandwidthSettings | None = None,
    ) -> None:
        if not 0 <= crossfade_columns < params.chunk_columns:
            raise ValueError(f"crossfade_columns must be in [0, {params.chunk_columns}), got {crossfade_columns}")
        self.params = params
        self.crossfade_columns = crossfade_columns
        self.join_columns = join_columns
        self.max_join_db = max_join_db
        self._inverter = MelInverter(params, fft_size=params.window_samples * fft_oversampling)
        self._phase = PhaseStream(
            window_samples=params.window_samples,
            fft_samples=params.window_samples * fft_oversampling,
            mel_projection=(
                MelProjection.from_filterbank(self._inverter.grid_filters())
                if magnitude_step is MagnitudeStep.BANDS else None
            ),
            hop_samples=params.hop_samples,
            iterations=iterations,
            lookahead_frames=lookahead_frames,
            block_frames=block_frames,
            active_bins=self._inverter.active_bins,
        )
        self._level = LevelStage(params.sample_rate, level) if level is not None else None
        self._bandwidth = BandwidthStage(params, bandwidth) if bandwidth is not None else None
        self._kernels = prepare_kernels(self._phase, level, params.sample_rate)
        self._delay_to_drop = self._level.latency_samples if self._level else 0
        self._level_primed = False
        self._tail_mel: np.ndarray | None = None  # last columns of the previous chunk, its own scale
        self._gain_db = 0.0  # gain of the previous chunk from its scale to the stream's
        self._held: np.ndarray | None = None  # crossfade: the previous push's last columns, absolute
        self._position = 0
        self.join_gains_db: deque[float] = deque(maxlen=64)  # the last level changes at joins, for diagnostics

    _SHARED = frozenset({"params", "crossfade_columns", "join_columns", "max_join_db", "_inverter", "_kernels"})

    @property
    def kernels_ready(self) -> bool:
        """Its numba kernels are loaded (compiled, on a machine's first run): stitching runs at speed."""
        return not self._kernels.is_alive()

    def set_bandwidth(self, bandwidth: BandwidthSettings | None, model: EnvelopeModel | None = None) -> None:
        """Change the bandwidth extension (None: off; ``model``: another envelope model than
        the shipped one) before the first push."""
        if self._position or self._tail_mel is not None:
            raise RuntimeError("the bandwidth extension is set before the first push")
        self._bandwidth = BandwidthStage(self.params, bandwidth, model) if bandwidth is not None else None

    def checkpoint(self) -> StitcherCheckpoint:
        """The state now, between pushes (about 1 ms to copy)."""
        state = {name: value for name, value in vars(self).items() if name not in self._SHARED}
        return StitcherCheckpoint(copy.deepcopy(state), self._position)

    def restore(self, checkpoint: StitcherCheckpoint) -> None:
        """Go back to ``checkpoint``: the next push continues from there (samples emitted since
        are to be replaced by the caller). A checkpoint can be restored any number of times."""
        vars(self).update(copy.deepcopy(checkpoint.state))

    @property
    def latency_samples(self) -> int:
        """Samples held back behind the end of the pushed columns."""
        limiter = self._level.latency_samples if self._level else 0
        extension = self._bandwidth.latency_samples if self._bandwidth else 0
        return self._phase.latency_samples + extension + limiter + self.crossfade_columns * self.params.hop_samples

    @property
    def level_stats(self) -> LevelStats | None:
        """What the level stage has done so far (None without one)."""
        return self._level.stats if self._level is not None else None

    @property
    def level_stage(self) -> LevelStage | None:
        return self._level

    def push(self, chunk: MelImage) -> PcmBlock:
        """Add one chunk; return the samples that became final.

        With ``crossfade_columns`` = C > 0 every push after the first begins with C columns
        that repaint the last C of the one before: the two versions are crossfaded, so each
        push adds ``columns − C`` new columns.
        """
        mel = np.asarray(chunk.mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.params.n_mels or mel.shape[1] <= self.crossfade_columns:
            raise ValueError(
                f"chunk mel must have shape ({self.params.n_mels}, columns > {self.crossfade_columns}), got {mel.shape}"
            )
        if not np.all(np.isfinite(mel)) or np.any(mel < 0):
            raise ValueError("chunk mel must be finite and non-negative")
        self._gain_db = self._chunk_gain_db(mel, chunk.max_value)
        self._tail_mel = mel[:, -self.join_columns :].copy()
        absolute = mel * np.float32(10.0 ** (self._gain_db / 20.0))
        return self._emit(self._phase.push(self._invert(self._crossfade(absolute))))

    def flush(self) -> PcmBlock:
        """End of stream: return every remaining sample (the stream is then
        ``columns × hop_samples`` samples long)."""
        samples = []
        if self._held is not None:
            samples.append(self._phase.push(self._invert(self._held)))
            self._held = None
        samples.append(self._phase.flush())
        return self._emit(np.concatenate(samples), final=True)

    def _invert(self, absolute: np.ndarray) -> np.ndarray:
        """The stream's next columns (absolute mel) → linear magnitude; the extension reads them too."""
        if self._bandwidth is not None:
            self._bandwidth.add_columns(absolute)
        return self._inverter(absolute)

    def _crossfade(self, absolute: np.ndarray) -> np.ndarray:
        """Crossfade: the columns to invert now, holding this push's last C back."""
        overlap = self.crossfade_columns
        if not overlap:
            return absolute
        head = absolute[:, :-overlap]
        if self._held is not None:
            fade_in = (np.arange(1, overlap + 1, dtype=np.float32) / (overlap + 1))[None, :]
            head = head.copy()
            head[:, :overlap] = self._held * (1.0 - fade_in) + absolute[:, :overlap] * fade_in
        self._held = absolute[:, -overlap:].copy()
        return head

    def _chunk_gain_db(self, mel: np.ndarray, max_value: float | None) -> float:
        """Gain (dB) that takes this chunk's pixel scale to the stream's absolute level."""
        if max_value is not None:
            return float(20.0 * np.log10(max_value))
        if self._tail_mel is None:
            peak = float(mel.max())
            return float(20.0 * np.log10(UNKNOWN_LEVEL_MEL_MAX / peak)) if peak > 0 else 0.0
        fade = self.crossfade_columns
        if fade:  # the same music on both sides: match it directly
            change_db = overlap_gain_db(self._tail_mel[:, -fade:], mel[:, :fade], self.max_join_db)
        else:
            change_db = join_gain_db(self._tail_mel, mel[:, : self.join_columns], self.max_join_db)
        self.join_gains_db.append(change_db)
        return self._gain_db + change_db

    def _emit(self, samples: np.ndarray, *, final: bool = False) -> PcmBlock:
        if self._bandwidth is not None:
            samples = self._bandwidth.process(samples)
            if final:
                samples = np.concatenate([samples, self._bandwidth.flush()])
        if self._level is not None:
            if not self._level_primed and samples.size:
                # The first chunk, heard in full before any of it is emitted: the level stage
                # starts at its target loudness instead of creeping there.
                self._level.prime(samples)
                self._level_primed = True
            samples = self._level.process(samples)
            if final:
                samples = np.concatenate([samples, self._level.flush()])
            # Drop the limiter's initial delay so position 0 is the stream's first sample.
            drop = min(samples.size, self._delay_to_drop)
            self._delay_to_drop -= drop
            samples = samples[drop:]
        block = PcmBlock(self._position, samples.astype(np.float32))
        self._position = block.end
        return block


_kernels_lock = threading.Lock()
_kernels_loading: dict[tuple, threading.Thread] = {}


def prepare_kernels(
    phase: PhaseStream, level: LevelSettings | None, sample_rate: int, *, wait: bool = False
) -> threading.Thread:
    """Have the numba kernels that ``phase`` and a level stage (unless ``level`` is None) run
    loaded (compiled on a first run) on a background thread, once per process and
    configuration → that thread.

    The thread runs a few silent frames through a throwaway phase stream and level stage of
    the same configuration: the same code with the same argument types, so exactly the
    specialisations the real ones will call are loaded (a kernel called with other types
    would compile anew). A real stage that needs a kernel meanwhile waits for numba's
    compiler lock and then finds it loaded: nothing is compiled twice. Before compiling —
    numba's cache holding nothing for some kernel on this machine — it prints
    :data:`COMPILE_NOTE` on stderr.
    """
    key = (phase.window_samples, phase.fft_samples, phase.hop_samples, phase.active_bins,
           phase.mel_projection is not None, min(phase.iterations, 1),
           phase.lookahead_frames, level is not None)
    with _kernels_lock:
        thread = _kernels_loading.get(key)
        if thread is None:
            thread = threading.Thread(
                target=_load_kernels, args=(phase, level, sample_rate), name="riffcast-kernels", daemon=True
            )
            _kernels_loading[key] = thread
            thread.start()
    if wait:
        thread.join()
    return thread


_noted = False  # COMPILE_NOTE printed (once a process)


def _load_kernels(phase: PhaseStream, level: LevelSettings | None, sample_rate: int) -> None:
    global _noted
    try:
        from numba.core.compiler_lock import global_compiler_lock

        # Under numba's compiler lock: no kernel starts compiling while the cache is read.
        with global_compiler_lock:
            cold = kernels_cache_cold()
        if cold and not _noted:
            _noted = True
            print(COMPILE_NOTE, file=sys.stderr, flush=True)
        rehearsal = PhaseStream(
            window_samples=phase.window_samples, hop_samples=phase.hop_samples, fft_samples=phase.fft_samples,
            mel_projection=phase.mel_projection,
            lookahead_frames=phase.lookahead_frames, iterations=min(phase.iterations, 1),
            active_bins=phase.active_bins,
        )
        frames = phase.lookahead_frames + 3  # enough to commit: every kernel runs
        rehearsal.push(np.zeros((phase.n_bins, frames), dtype=np.float32))
        rehearsal.flush()
        # The other magnitude step's kernels too, on a tiny grid (64-sample window, 6 bands):
        # numba's cache then holds every kernel, which is what kernels_cache_cold() asks.
        tiny_filters = mel_filterbank(sample_rate=8000, n_fft=128, n_mels=6, f_min_hz=0.0, f_max_hz=3000.0)
        other = PhaseStream(
            window_samples=64, hop_samples=8, fft_samples=128, active_bins=49, iterations=1, lookahead_frames=1,
            mel_projection=None if phase.mel_projection is not None else MelProjection.from_filterbank(tiny_filters[:, :49]),
        )
        other.push(np.zeros((65, 4), dtype=np.float32))
        other.flush()
        if level is not None:
            rehearsal_level = LevelStage(sample_rate, level)
            rehearsal_level.prime(np.zeros(sample_rate // 2, dtype=np.float32))
            rehearsal_level.flush()
    except Exception:  # noqa: BLE001 - only a head start: the real stages load what they need
        pass


def _kernel_dispatchers() -> list:
    from riffcast.dsp import kernels, level, loudness

    found = []
    for module in (kernels, level, loudness):
        found += [value for value in vars(module).values() if hasattr(value, "py_func") and hasattr(value, "_cache")]
    return found


def kernels_cache_cold() -> bool:
    """Whether numba's cache lacks, for this machine, some kernel of the phase and level stages.

    Read from each kernel's cache index (what numba itself reads before compiling): an entry
    for the kernel's present bytecode and this machine's CPU must be there. Private numba
    structures are read: anything unexpected there counts as warm (no note rather than a
    false one).
    """
    try:
        for dispatcher in _kernel_dispatchers():
            cache = dispatcher._cache
            if not hasattr(cache, "_cache_file"):  # a NullCache: caching is off, nothing to find
                continue
            wanted = cache._index_key(None, dispatcher.targetctx.codegen())[1:]
            if not any(key[1:] == wanted for key in cache._cache_file._load_index()):
                return True
    except Exception:  # noqa: BLE001 - see the docstring
        return False
    return False
