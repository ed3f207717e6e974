"""Whether the beat keeps its phase across the joins of a decode: librosa's onsets against the
asked tempo's grid, and the same test on audio with a phase jump planted at a join (the
measure's own check: a jump it did not see would make its passes mean nothing).

Pure functions over a mono float32 decode (``sample_rate`` Hz) and times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_S = 0.5  # each side of a join (the 1 s around it)
TOLERANCE_S = 0.020
ONSET_HOP_SAMPLES = 128  # 2.9 ms at 44.1 kHz
PLANTED_JUMP_S = 0.040  # cut from the audio at a join: the beats after it come 40 ms early


def onset_times(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(onsets,) librosa's onset times in ``audio``, s."""
    import librosa

    envelope = librosa.onset.onset_strength(y=audio.astype(np.float32), sr=sample_rate, hop_length=ONSET_HOP_SAMPLES)
    return librosa.onset.onset_detect(onset_envelope=envelope, sr=sample_rate, hop_length=ONSET_HOP_SAMPLES,
                                      units="time")


@dataclass(frozen=True)
class Held:
    """Whether the beat keeps its phase at one place, read two ways.

    every: every grid beat within WINDOW_S has an onset within TOLERANCE_S.
    detected: every detected beat there (a grid beat with an onset within a quarter period: a beat
        with none, a rest, is not detected) is within TOLERANCE_S, and there is one. (The grid runs
        from the decode's start: one beat on it says the phase has held since.)
    """

    every: bool
    detected: bool


def beats_held(onsets: np.ndarray, bpm: float, centres_s: list[float], duration_s: float) -> list[Held]:
    """For each centre, whether the grid's beats (one every 60/``bpm`` s from 0) within WINDOW_S
    of it have their onsets within TOLERANCE_S (after removing the detector's constant lag: the
    median offset of the onsets nearest the grid's beats, of those within a quarter beat)."""
    period = 60.0 / bpm
    grid = np.arange(0.0, duration_s, period)
    if onsets.size == 0:
        return [Held(False, False)] * len(centres_s)
    nearest = onsets[np.clip(np.searchsorted(onsets, grid), 1, onsets.size - 1)[:, None] - np.array([1, 0])]
    offsets = nearest - grid[:, None]
    offset = offsets[np.arange(grid.size), np.argmin(np.abs(offsets), axis=1)]
    lag = float(np.median(offset[np.abs(offset) < period / 4])) if np.any(np.abs(offset) < period / 4) else 0.0
    off_s = np.abs(offset - lag)
    detected = off_s < period / 4
    held = []
    for centre in centres_s:
        near = np.abs(grid - centre) <= WINDOW_S
        seen = near & detected
        held.append(Held(every=bool(near.any()) and bool(np.all(off_s[near] <= TOLERANCE_S)),
                         detected=bool(seen.any()) and bool(np.all(off_s[seen] <= TOLERANCE_S))))
    return held


@dataclass(frozen=True)
class Counts:
    """How many places held, each way (:class:`Held`)."""

    every: int
    detected: int

    @classmethod
    def of(cls, held: list[Held]) -> Counts:
        return cls(sum(h.every for h in held), sum(h.detected for h in held))


@dataclass(frozen=True)
class JoinCounts:
    """The joins held, the middles held (the control) and the joins held with a jump planted
    there (the measure's check: each join in a copy of its own)."""

    joins: Counts
    middles: Counts
    jumped: Counts


def with_jump(audio: np.ndarray, join_s: float, sample_rate: int) -> np.ndarray:
    """``audio`` with PLANTED_JUMP_S cut out at ``join_s``: the beats after it come that much early."""
    start = round(join_s * sample_rate)
    return np.concatenate([audio[:start], audio[start + round(PLANTED_JUMP_S * sample_rate):]])


def joins_measured(audio: np.ndarray, bpm: float, joins_s: list[float], middles_s: list[float],
                   sample_rate: int) -> JoinCounts:
    """How the beat keeps its phase at ``joins_s`` (and at ``middles_s``, the control) in a decode
    at ``bpm``."""
    duration_s = audio.size / sample_rate
    onsets = onset_times(audio, sample_rate)
    jumped = []
    for join in joins_s:
        with_it = with_jump(audio, join, sample_rate)
        jumped += beats_held(onset_times(with_it, sample_rate), bpm, [join], with_it.size / sample_rate)
    return JoinCounts(Counts.of(beats_held(onsets, bpm, joins_s, duration_s)),
                      Counts.of(beats_held(onsets, bpm, middles_s, duration_s)), Counts.of(jumped))
