"""Output level stage: slow gain riding, then a look-ahead peak limiter. Streaming, in place.

The rider follows a mean-square estimate over a long window (``rider_time_s``, 30 s by
default; a plain running mean until that much has been heard) and moves its gain towards
``target_rms`` at most ``max_slew_db_per_s`` (0.1 dB/s: 6 dB a minute), never by more than
``max_gain_db`` either way and not at all below ``gate_rms`` (silence is not boosted). It
evens out the slow drift of a generated stream over minutes without touching its phrasing:
across a join (3 s each side) it moves the level by at most 0.6 dB.

The limiter guarantees ``|y| ≤ ceiling``: for each output sample it takes the smallest
gain any sample within ``lookahead_samples`` needs, lets that gain recover with a one-pole
release, and averages it over the look-ahead, so the gain never steps. It delays the
signal by ``lookahead_samples`` (128 samples = 2.9 ms by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit


@dataclass(frozen=True)
class LevelSettings:
    """Parameters of the level stage (levels in linear full-scale units)."""

    target_rms: float = 0.1  # −20 dBFS
    rider_time_s: float = 30.0
    max_slew_db_per_s: float = 0.1
    max_gain_db: float = 12.0
    gate_rms: float = 0.003  # −50 dBFS
    ceiling: float = 0.89  # −1 dBFS
    lookahead_samples: int = 128
    release_s: float = 0.08


# The stage's state between blocks, one record: the rider's mean square (full-scale units²)
# and linear gain, the sum of the limiter's gain envelope over its window, where the next
# sample goes in the ring buffers, and how many samples the rider has heard.
_LEVEL_STATE = np.dtype([
    ("mean_square", np.float64),
    ("rider_gain", np.float64),
    ("box_sum", np.float64),
    ("write_index", np.int64),
    ("samples_seen", np.int64),
])


class _KernelSettings(NamedTuple):
    """:class:`LevelSettings` in the kernel's per-sample units (linear gains, squared levels)."""

    mean_window_samples: float  # the rider's averaging window
    slew_per_sample: float  # the largest gain ratio from one sample to the next (> 1)
    target_square: float  # target_rms²
    gate_square: float  # gate_rms²
    gain_floor: float  # the rider's lowest gain
    gain_ceiling: float  # the rider's highest gain
    ceiling: float  # the limiter's |y| bound, full scale
    release_coef: float  # one-pole release coefficient per sample


def _kernel_settings(settings: LevelSettings, sample_rate: int) -> _KernelSettings:
    """``settings`` at ``sample_rate`` Hz, as the kernel takes them."""
    return _KernelSettings(
        mean_window_samples=float(settings.rider_time_s * sample_rate),
        slew_per_sample=float(10.0 ** (settings.max_slew_db_per_s / 20.0 / sample_rate)),
        target_square=float(settings.target_rms**2),
        gate_square=float(settings.gate_rms**2),
        gain_floor=float(10.0 ** (-settings.max_gain_db / 20.0)),
        gain_ceiling=float(10.0 ** (settings.max_gain_db / 20.0)),
        ceiling=float(settings.ceiling),
        release_coef=float(np.exp(-1.0 / (settings.release_s * sample_rate))),
    )


@njit(cache=True, nogil=True)
def _level_kernel(x, out, state, delay, required, envelope, settings):
    """Ride and limit ``x`` (n,) into ``out`` (n,), both float64, in place.

    state: (1,) ``_LEVEL_STATE`` record, read and written back. delay: (lookahead,) ridden
    samples held back; required, envelope: (lookahead + 1,) limiter gains (caller-owned).
    settings: :class:`_KernelSettings`.
    """
    mean_window = settings.mean_window_samples
    slew_per_sample = settings.slew_per_sample
    target_sq = settings.target_square
    gate_sq = settings.gate_square
    gain_floor = settings.gain_floor
    gain_ceiling = settings.gain_ceiling
    ceiling = settings.ceiling
    release_coef = settings.release_coef
    lookahead = delay.shape[0]
    window = lookahead + 1
    record = state[0]
    mean_sq = record["mean_square"]
    gain = record["rider_gain"]
    box_sum = record["box_sum"]
    index = record["write_index"]
    seen = record["samples_seen"]
    for n in range(x.shape[0]):
        sample = x[n]
        # Running mean until the rider's window has filled, then a one-pole average.
        mean_sq += (sample * sample - mean_sq) / min(seen + 1.0, mean_window)
        if mean_sq > gate_sq:
            wanted = min(max(np.sqrt(target_sq / mean_sq), gain_floor), gain_ceiling)
            if wanted > gain:
                gain = min(wanted, gain * slew_per_sample)
            else:
                gain = max(wanted, gain / slew_per_sample)
        ridden = sample * gain

        slot = index % window
        magnitude = abs(ridden)
        required[slot] = ceiling / magnitude if magnitude > ceiling else 1.0
        lowest = 1.0
        for k in range(window):
            if required[k] < lowest:
                lowest = required[k]
        previous_env = envelope[(index - 1) % window]
        recovered = previous_env + (1.0 - release_coef) * (1.0 - previous_env)
        box_sum -= envelope[slot]
        envelope[slot] = min(lowest, recovered)
        box_sum += envelope[slot]

        delayed = delay[index % lookahead]
        delay[index % lookahead] = ridden
        out[n] = delayed * (box_sum / window)
        index += 1
        seen += 1
    record["mean_square"] = mean_sq
    record["rider_gain"] = gain
    record["box_sum"] = box_sum
    record["write_index"] = index % (lookahead * window)
    record["samples_seen"] = seen


class LevelStage:
    """Stateful rider + limiter over consecutive blocks of mono float32 samples.

    The output lags the input by ``settings.lookahead_samples``: the first ``process`` call
    emits that many samples of silence first, and ``flush`` returns the held-back tail.
    """

    def __init__(self, sample_rate: int, settings: LevelSettings | None = None) -> None:
        self.settings = settings or LevelSettings()
        s = self.settings
        self.latency_samples = s.lookahead_samples
        self._kernel_settings = _kernel_settings(s, sample_rate)
        window = s.lookahead_samples + 1
        self._state = np.zeros(1, dtype=_LEVEL_STATE)
        self._state[0] = (0.0, 1.0, float(window), 0, 0)  # silence heard, unity gain, envelope at 1
        self._delay = np.zeros(s.lookahead_samples)
        self._required = np.ones(window)
        self._envelope = np.ones(window)

    @property
    def rider_gain_db(self) -> float:
        """The rider's current gain, dB."""
        return float(20.0 * np.log10(self._state[0]["rider_gain"]))

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Level ``samples`` (n,) → (n,) float32, delayed by ``latency_samples``."""
        x = np.asarray(samples, dtype=np.float64)
        out = np.empty_like(x)
        _level_kernel(x, out, self._state, self._delay, self._required, self._envelope, self._kernel_settings)
        return out.astype(np.float32)

    def flush(self) -> np.ndarray:
        """Push the held-back ``latency_samples`` out (by feeding silence)."""
        return self.process(np.zeros(self.latency_samples))
