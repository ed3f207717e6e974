"""The beat clock's arithmetic: where the beats of a tempo's grid fall in the stream.

A generator that keeps time reports, with each image, the :class:`BeatGrid` (or grids, when a
change lands inside it) its music follows; the station turns them into ``beat`` events on
``/stream`` and the ``next_downbeat`` of ``now_playing`` and ``status`` (docs/protocol.md, ``beat``;
docs/controls.md, "The beat clock"). Positions are stream samples at the station's rate. Pure
functions, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence


@dataclass(frozen=True)
class BeatGrid:
    """A tempo's beats in the stream: bar ``bar`` begins at stream sample ``sample``, and bars of
    ``beats_per_bar`` beats of 60 / ``bpm`` seconds each lie before and after it."""

    sample: int
    bar: int
    bpm: float
    beats_per_bar: int = 4

    def beat_samples(self, sample_rate: int) -> float:
        """Samples in one beat (fractional)."""
        return 60.0 / self.bpm * sample_rate

    def beat_position(self, beat_index: int, sample_rate: int) -> int:
        """Stream sample of beat ``beat_index``, counted from the first beat of bar ``bar`` (0)."""
        return self.sample + round(beat_index * self.beat_samples(sample_rate))

    def first_beat_from(self, position: int, sample_rate: int, *, downbeat: bool = False) -> int:
        """The index (as :meth:`beat_position`) of the first beat — the first downbeat when
        ``downbeat`` — at or after stream sample ``position``."""
        step = self.beats_per_bar if downbeat else 1
        index = math.ceil((position - self.sample) / (self.beat_samples(sample_rate) * step) - 1e-9) * step
        while self.beat_position(index, sample_rate) < position:
            index += step
        while self.beat_position(index - step, sample_rate) >= position:
            index -= step
        return index


@dataclass(frozen=True)
class Beat:
    """One beat heard at stream sample ``position``: beat ``beat`` (1 = the downbeat) of bar ``bar``."""

    position: int
    bar: int
    beat: int
    bpm: float


def grid_spans(grids: Sequence[BeatGrid], start: int, stop: int) -> Iterator[tuple[int, int, BeatGrid]]:
    """The stretches of samples [start, stop) each grid of ``grids`` rules: grid i from its
    ``sample`` (the first from ``start``) until the next grid's ``sample`` → (from, to, grid)."""
    for i, grid in enumerate(grids):
        begin = start if i == 0 else max(start, grid.sample)
        end = stop if i + 1 == len(grids) else min(stop, grids[i + 1].sample)
        if begin < end:
            yield begin, end, grid


def beats_between(grids: Sequence[BeatGrid], start: int, stop: int, sample_rate: int) -> list[Beat]:
    """The beats at stream samples [start, stop) of the music that follows ``grids`` (as
    :func:`grid_spans`), in order."""
    beats = []
    for begin, end, grid in grid_spans(grids, start, stop):
        index = grid.first_beat_from(begin, sample_rate)
        while (position := grid.beat_position(index, sample_rate)) < end:
            bar, beat = divmod(index, grid.beats_per_bar)
            beats.append(Beat(position, grid.bar + bar, beat + 1, grid.bpm))
            index += 1
    return beats


def next_beat(grids: Sequence[BeatGrid], position: int, sample_rate: int, *, downbeat: bool = False) -> int | None:
    """The first beat (the first downbeat when ``downbeat``) at or after stream sample
    ``position`` of the music that follows ``grids`` (the last grid goes on past the others);
    None without a grid."""
    for begin, end, grid in grid_spans(grids, position, math.inf):
        beat = grid.beat_position(grid.first_beat_from(begin, sample_rate, downbeat=downbeat), sample_rate)
        if beat < end:
            return beat
    return None


def next_downbeat(grids: Sequence[BeatGrid], position: int, sample_rate: int) -> int | None:
    """:func:`next_beat`'s first downbeat."""
    return next_beat(grids, position, sample_rate, downbeat=True)
