"""Output level stage: a loudness AGC to an integrated target, then a true-peak limiter.

Streaming and in place, in one numba kernel over caller-owned buffers; look-ahead only the
limiter's.

**AGC** (a "window" AGC, as broadcast processors ride gain). The input, K-weighted as
ITU-R BS.1770 measures it (:mod:`riffcast.dsp.loudness`), is summed into 100 ms steps; every
step closes a 400 ms block, which is gated — below −70 LUFS, or more than
``relative_gate_lu`` under the slow estimate, it is a pause and changes nothing. Blocks that
pass feed two estimates of the music's loudness: a slow one, an exponential average of their
power (``slow_time_s``), and a recent one, the plain mean of the last ``recent_blocks``
(2.3 s by default), which forgets the music before a change entirely once that many blocks
have passed. The gain follows the slow estimate, so the phrasing of the music is left alone,
until the recent one leaves a window of ``window_lu`` around it — music of another character
(a steer) — and then the slow estimate starts again from the recent one. The gain aims at
``target_lufs − slow estimate``, at most ``max_gain_db`` either way, and glides there (a
one-pole of ``gain_glide_s``, at most ``max_slew_db_per_s``), never stepping.

**Dynamics first.** The gain is raised only as far as the music's peaks allow: at most
``true_peak_dbtp − held peak + peak_limiting_db``, where the held peak is the largest sample
peak of the input over the last ``peak_hold_s`` (then falling at ``peak_release_db_per_s``).
So the limiter works on transients by about ``peak_limiting_db`` at most, never crushing a
dynamic piece up to the target; where the piece's peak-to-loudness ratio is too high for the
target, the stage stays short of it and says by how much (:attr:`LevelStats.shortfall_lu`).
:meth:`LevelStage.prime` starts both estimates from a whole first stretch of music (the
stitcher's first chunk), so the stream is at the target from its first second.

**Limiter.** For each sample it takes the gain that keeps the true peak (4× oversampled
around the sample, both adjacent intervals) under ``true_peak_dbtp``; the gain applied is the
smallest any sample within ``lookahead_samples`` needs, recovering with a one-pole
``release_s``, averaged over the look-ahead so it never steps. It aims
``TRUE_PEAK_MARGIN_DB`` under the ceiling: meters interpolate differently (BS.1770 only gives
an example filter) and read music up to that much higher than this one. Latency: the
look-ahead plus the interpolator's 8 samples (136 samples, 3.1 ms, by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.loudness import (
    ABSOLUTE_GATE_LUFS,
    BLOCK_S,
    LOUDNESS_OFFSET_DB,
    STEP_S,
    TAPS_PER_PHASE,
    biquad_step,
    integrated_loudness,
    interpolated_peak,
    k_weighting_sos,
    mean_square_of,
    true_peak_taps,
)

TRUE_PEAK_MARGIN_DB = 0.2  # the limiter's aim under the stated true-peak ceiling
HISTOGRAM_BINS_PER_DB = 10  # the limiter's gain-reduction histogram: 0.1 dB bins up to 24 dB


@dataclass(frozen=True)
class LevelStats:
    """What the stage did so far: the AGC's gain now, and the limiter's gain reduction."""

    agc_gain_db: float
    limited_fraction: float  # of output samples, with any gain reduction
    mean_reduction_db: float  # over the limited samples
    max_reduction_db: float
    shortfall_lu: float = 0.0  # how far under the target the peaks hold the aim now (0: on target)


# The stage's state between blocks, one record (numba reads and writes it by field name).
_LEVEL_STATE = np.dtype([
    ("step_sum", np.float64),  # K-weighted squares summed in the current 100 ms step
    ("step_fill", np.int64),  # samples in it
    ("steps_done", np.int64),  # steps completed (the last few are in the step ring)
    ("slow_square", np.float64),  # slow average of gated block powers (0: nothing heard yet)
    ("blocks_passed", np.int64),  # gated blocks that passed (the last few are in the recent ring)
    ("wanted_db", np.float64),  # the AGC's aim
    ("gain_db", np.float64),  # the AGC's gain now
    ("box_sum", np.float64),  # the limiter's gain envelope summed over its window
    ("sample_index", np.int64),  # samples processed, modulo a multiple of every ring's length
    ("previous_peak", np.float64),  # true peak of the previous sample's interval
    ("limited_samples", np.int64),
    ("output_samples", np.int64),
    ("reduction_db_sum", np.float64),
    ("max_reduction_db", np.float64),
    ("step_peak", np.float64),  # the input's sample peak in the current step
    ("peak_held", np.float64),  # the input's held peak (linear)
    ("shortfall_db", np.float64),  # target − (loudness + aim) when the peaks cap the aim
    ("primed_steps", np.int64),  # steps of the music prime() heard in advance
])


class _KernelSettings(NamedTuple):
    """:class:`LevelSettings` in the kernel's units (samples, linear, per-step coefficients)."""

    step_samples: int
    steps_per_block: int
    slow_coef: float  # weight of a new block in the slow average
    window_ratio: float  # window_lu as a power ratio
    relative_gate_ratio: float
    absolute_gate_square: float
    target_lufs: float
    max_gain_db: float
    glide_coef: float  # per sample
    max_step_db: float  # per sample
    ceiling: float  # linear true-peak bound
    aim_ceiling: float  # the same bound, for the AGC's cap (a benchmark moves only the limiter's)
    release_coef: float
    peak_limiting_db: float
    peak_release_ratio: float  # per step, linear


def _kernel_settings(settings: LevelSettings, sample_rate: int) -> _KernelSettings:
    step_s = STEP_S
    return _KernelSettings(
        step_samples=round(step_s * sample_rate),
        steps_per_block=round(BLOCK_S / step_s),
        slow_coef=float(1.0 - np.exp(-step_s / settings.slow_time_s)),
        window_ratio=float(10.0 ** (settings.window_lu / 10.0)),
        relative_gate_ratio=float(10.0 ** (settings.relative_gate_lu / 10.0)),
        absolute_gate_square=mean_square_of(ABSOLUTE_GATE_LUFS),
        target_lufs=float(settings.target_lufs),
        max_gain_db=float(settings.max_gain_db),
        glide_coef=float(1.0 - np.exp(-1.0 / (settings.gain_glide_s * sample_rate))),
        max_step_db=float(settings.max_slew_db_per_s / sample_rate),
        ceiling=float(10.0 ** ((settings.true_peak_dbtp - TRUE_PEAK_MARGIN_DB) / 20.0)),
        aim_ceiling=float(10.0 ** ((settings.true_peak_dbtp - TRUE_PEAK_MARGIN_DB) / 20.0)),
        release_coef=float(np.exp(-1.0 / (settings.release_s * sample_rate))),
        peak_limiting_db=float(settings.peak_limiting_db),
        peak_release_ratio=float(10.0 ** (-settings.peak_release_db_per_s * step_s / 20.0)),
    )


@njit(cache=True, nogil=True)
def _close_step(record, steps, recent, peaks, settings):
    """A 100 ms step is complete: gate its 400 ms block and update the AGC's aim.

    steps: ring of the latest step powers; recent: ring of the latest passed block powers;
    peaks: ring of the latest step peaks (``peak_hold_s``).
    """
    steps[record["steps_done"] % steps.shape[0]] = record["step_sum"] / settings.step_samples
    peaks[record["steps_done"] % peaks.shape[0]] = record["step_peak"]
    record["step_peak"] = 0.0
    held = record["peak_held"] * settings.peak_release_ratio
    for k in range(peaks.shape[0]):
        held = max(held, peaks[k])
    record["peak_held"] = held
    record["steps_done"] += 1
    record["step_sum"] = 0.0
    record["step_fill"] = 0
    if record["steps_done"] < settings.steps_per_block:
        return
    block = 0.0
    for k in range(settings.steps_per_block):
        block += steps[(record["steps_done"] - 1 - k) % steps.shape[0]]
    block /= settings.steps_per_block
    slow = record["slow_square"]
    if block <= settings.absolute_gate_square or block <= slow * settings.relative_gate_ratio:
        return  # a pause: hold
    recent[record["blocks_passed"] % recent.shape[0]] = block
    record["blocks_passed"] += 1
    count = min(record["blocks_passed"], recent.shape[0])
    recent_square = 0.0
    for k in range(count):
        recent_square += recent[k]
    recent_square /= count
    slow = block if slow == 0.0 else slow + settings.slow_coef * (block - slow)
    if not recent_square / settings.window_ratio <= slow <= recent_square * settings.window_ratio:
        slow = recent_square  # music of another character: start again from what is playing now
        if record["steps_done"] >= record["primed_steps"]:  # the primed music's peaks still lie ahead
            held = _forget_older_peaks(peaks, record["steps_done"], count)
            record["peak_held"] = held
    record["slow_square"] = slow
    wanted = settings.target_lufs - (LOUDNESS_OFFSET_DB + 10.0 * np.log10(slow))
    record["wanted_db"], record["shortfall_db"] = _capped_aim(wanted, held, settings)


@njit(cache=True, nogil=True)
def _forget_older_peaks(peaks, steps_done, keep):
    """Music of another character: only the last ``keep`` steps' peaks count → their max."""
    held = 0.0
    for k in range(peaks.shape[0]):
        slot = (steps_done - 1 - k) % peaks.shape[0]
        if k < keep:
            held = max(held, peaks[slot])
        else:
            peaks[slot] = 0.0
    return held


@njit(cache=True, nogil=True)
def _capped_aim(wanted_db, peak_held, settings):
    """The AGC's aim (dB) for ``wanted_db`` to the target, capped by the peaks → (aim, shortfall)."""
    aim = min(max(wanted_db, -settings.max_gain_db), settings.max_gain_db)
    if peak_held > 0.0:
        allowed = 20.0 * np.log10(settings.aim_ceiling / peak_held) + settings.peak_limiting_db
        if aim > allowed:
            return allowed, aim - allowed
    return aim, 0.0


@njit(cache=True, nogil=True)
def _level_kernel(x, out, state, k_filter, sos, taps, steps, recent, peaks, history, required, envelope, histogram,
                  settings):
    """Level ``x`` (n,) into ``out`` (n,) (float32 or float64), delayed by the latency.

    state: (1,) ``_LEVEL_STATE``; k_filter: (4,) the K-weighting biquads' state; sos: (2, 6)
    K-weighting; taps: the true-peak interpolator; steps: (steps_per_block,) ring of step
    powers; recent: (recent_blocks,) ring of passed block powers; peaks: ring of step peaks; histogram: (k,) output
    samples counted by gain reduction in steps of 1 / ``HISTOGRAM_BINS_PER_DB`` dB (the last bin: that or more); history: (2^k ≥ latency +
    half-taps + 1,) ring of gained samples; required, envelope: (lookahead + 1,) limiter gains.
    """
    record = state[0]
    window = required.shape[0]
    lookahead = window - 1
    mask = history.shape[0] - 1
    half = taps.shape[1] // 2
    ceiling = settings.ceiling
    keep = 1.0 - settings.release_coef
    step_sum, step_fill, step_peak = record["step_sum"], record["step_fill"], record["step_peak"]
    gain_db, wanted_db = record["gain_db"], record["wanted_db"]
    box_sum, index, previous_peak = record["box_sum"], record["sample_index"], record["previous_peak"]
    limited, reduction_sum, max_reduction = record["limited_samples"], record["reduction_db_sum"], record["max_reduction_db"]
    for n in range(x.shape[0]):
        sample = float(x[n])
        weighted = biquad_step(sos, 1, biquad_step(sos, 0, sample, k_filter), k_filter)
        step_sum += weighted * weighted
        step_fill += 1
        step_peak = max(step_peak, abs(sample))
        if step_fill == settings.step_samples:
            record["step_sum"], record["step_peak"] = step_sum, step_peak
            step_peak = 0.0
            _close_step(record, steps, recent, peaks, settings)
            step_sum, step_fill, wanted_db = 0.0, 0, record["wanted_db"]
        move = (wanted_db - gain_db) * settings.glide_coef
        gain_db += min(max(move, -settings.max_step_db), settings.max_step_db)

        history[index & mask] = sample * 10.0 ** (gain_db / 20.0)
        # The sample `half` back now has its neighbours: its true peak sets the gain it needs.
        peak = interpolated_peak(taps, history, index)
        both_sides = max(peak, previous_peak)
        previous_peak = peak
        slot = index % window
        required[slot] = ceiling / both_sides if both_sides > ceiling else 1.0
        lowest = 1.0
        for k in range(window):
            lowest = min(lowest, required[k])
        previous = envelope[(index - 1) % window]
        box_sum -= envelope[slot]
        envelope[slot] = min(lowest, previous + keep * (1.0 - previous))
        box_sum += envelope[slot]

        gain = box_sum / window
        out[n] = history[(index - half - lookahead) & mask] * gain
        if gain < 0.99999:
            reduction_db = -20.0 * np.log10(gain)
            histogram[min(int(reduction_db * HISTOGRAM_BINS_PER_DB), histogram.shape[0] - 1)] += 1
            limited += 1
            reduction_sum += reduction_db
            max_reduction = max(max_reduction, reduction_db)
        index = (index + 1) % (history.shape[0] * window)
    record["step_sum"], record["step_fill"], record["step_peak"] = step_sum, step_fill, step_peak
    record["gain_db"], record["box_sum"], record["sample_index"] = gain_db, box_sum, index
    record["previous_peak"] = previous_peak
    record["limited_samples"], record["reduction_db_sum"], record["max_reduction_db"] = limited, reduction_sum, max_reduction
    record["output_samples"] += x.shape[0]


class LevelStage:
    """Stateful AGC + true-peak limiter over consecutive blocks of mono samples.

    The output lags the input by ``latency_samples``: the first samples out are silence, and
    :meth:`flush` returns the held-back tail.
    """

    def __init__(self, sample_rate: int, settings: LevelSettings | None = None) -> None:
        self.settings = settings or LevelSettings()
        self.sample_rate = sample_rate
        s = self.settings
        half = TAPS_PER_PHASE // 2
        self.latency_samples = s.lookahead_samples + half
        self._kernel_settings = _kernel_settings(s, sample_rate)
        self._sos = k_weighting_sos(sample_rate)
        self._k_filter = np.zeros(4)
        self._taps = true_peak_taps()
        self._state = np.zeros(1, dtype=_LEVEL_STATE)
        window = s.lookahead_samples + 1
        self._state[0]["box_sum"] = float(window)  # the envelope starts at unity gain
        self._steps = np.zeros(self._kernel_settings.steps_per_block)
        self._recent = np.zeros(s.recent_blocks)
        self._peaks = np.zeros(max(1, round(s.peak_hold_s / STEP_S)))
        self._history = np.zeros(1 << int(np.ceil(np.log2(self.latency_samples + half + 1))))
        self._required = np.ones(window)
        self._envelope = np.ones(window)
        self._histogram = np.zeros(24 * HISTOGRAM_BINS_PER_DB + 1, dtype=np.int64)

    def prime(self, samples: np.ndarray) -> None:
        """Start the AGC from the integrated loudness of ``samples`` (n,): music about to be
        processed, heard in full before any of it is emitted. Silence changes nothing."""
        lufs = integrated_loudness(samples, self.sample_rate)
        if not np.isfinite(lufs):
            return
        record = self._state[0]
        record["slow_square"] = mean_square_of(lufs)
        self._recent[:] = record["slow_square"]
        record["blocks_passed"] = self._recent.size
        record["peak_held"] = float(np.max(np.abs(samples)))
        record["primed_steps"] = record["steps_done"] + samples.size // self._kernel_settings.step_samples
        self._peaks[:] = record["peak_held"]
        aim, shortfall = _capped_aim(self.settings.target_lufs - lufs, record["peak_held"], self._kernel_settings)
        record["wanted_db"] = record["gain_db"] = aim
        record["shortfall_db"] = shortfall

    def process(self, samples: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Level ``samples`` (n,) into ``out`` (n,) float32 (a new array when None), delayed
        by ``latency_samples`` → ``out``."""
        x = np.ascontiguousarray(samples, dtype=np.float32)
        if out is None:
            out = np.empty(x.shape, dtype=np.float32)
        _level_kernel(x, out, self._state, self._k_filter, self._sos, self._taps, self._steps, self._recent, self._peaks, self._history,
                      self._required, self._envelope, self._histogram, self._kernel_settings)
        return out

    def flush(self) -> np.ndarray:
        """Push the held-back ``latency_samples`` out (by feeding silence)."""
        return self.process(np.zeros(self.latency_samples, dtype=np.float32))

    def reduction_percentile_db(self, percent: float) -> float:
        """The limiter's gain reduction (dB, to 0.1 dB) that ``percent`` % of the output samples
        so far stayed at or under (unlimited samples count as 0 dB)."""
        total = int(self._state[0]["output_samples"])
        if total == 0:
            return 0.0
        unlimited = total - int(self._histogram.sum())
        wanted = percent / 100.0 * total
        if wanted <= unlimited:
            return 0.0
        index = int(np.searchsorted(np.cumsum(self._histogram) + unlimited, wanted))
        return (index + 1) / HISTOGRAM_BINS_PER_DB

    @property
    def stats(self) -> LevelStats:
        record = self._state[0]
        limited = int(record["limited_samples"])
        return LevelStats(
            agc_gain_db=float(record["gain_db"]),
            limited_fraction=limited / max(int(record["output_samples"]), 1),
            mean_reduction_db=float(record["reduction_db_sum"]) / limited if limited else 0.0,
            max_reduction_db=float(record["max_reduction_db"]),
            shortfall_lu=float(record["shortfall_db"]),
        )
