"""The station's pacing, sans I/O: which frame is due when, pre-roll, what to announce.

Frame n holds samples [n·F, (n+1)·F) and is due at ``start_s + n·F / sample_rate`` on the
clock that gave ``start_s``. Playback starts once ``preroll_frames + 1`` frames are
stitched. A listener joining at the live position gets up to ``preroll_frames`` frames
before it, stamped with the time they were first due. Each chunk record is announced
(``now_playing``) in the tick whose frame holds its first sample, once.

Nothing here reads a clock or touches a socket: times and positions are passed in, so all
of it is tested with a fake clock (tests/test_pacer.py); :mod:`riffcast.station.server`
does the waiting and the writing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from riffcast.pipeline.records import PlacedT

ANNOUNCED_MEMORY_S = 100.0  # announced positions older than this (behind a tick's start) are forgotten


@dataclass(frozen=True)
class Tick:
    """Frame ``index`` of the stream: samples [position, end), due at ``due_s``."""

    index: int
    position: int  # samples
    end: int  # samples: one past the frame's last sample
    due_s: float  # seconds, on the clock that gave the start time


@dataclass(frozen=True)
class Preroll:
    """The frames a joining listener gets at once: positions [first, live), whole frames."""

    first: int  # samples: the hello's position, a frame boundary
    live: int  # samples: the first live frame's position
    frame_samples: int

    @property
    def positions(self) -> range:
        """Each pre-roll frame's first sample, in order."""
        return range(self.first, self.live, self.frame_samples)




@dataclass(frozen=True)
class Pacer:
    """Frame arithmetic of the stream (see the module docstring).

    frame_samples: samples per frame; sample_rate: samples per second;
    preroll_frames: frames sent before the live edge to a listener that joins.
    """

    frame_samples: int
    sample_rate: int
    preroll_frames: int

    def may_start(self, stitched_end: int) -> bool:
        """Playback may start: samples [0, stitched_end) hold the pre-roll and one frame more."""
        return stitched_end >= self.frame_samples * (self.preroll_frames + 1)

    def tick(self, index: int, start_s: float) -> Tick:
        """Frame ``index`` when frame 0 was due at ``start_s`` (seconds)."""
        position = index * self.frame_samples
        return Tick(index, position, position + self.frame_samples,
                    start_s + index * self.frame_samples / self.sample_rate)

    def ticks(self, start_s: float) -> Iterator[Tick]:
        """Frames 0, 1, 2, … (endless) when frame 0 was due at ``start_s`` (seconds)."""
        return (self.tick(index, start_s) for index in itertools.count())

    def preroll(self, live: int, held_from: int) -> Preroll:
        """Pre-roll for a listener joining when ``live`` (a frame boundary) is the next
        position to emit and samples before ``held_from`` are no longer held."""
        first = max(live - self.preroll_frames * self.frame_samples, held_from)
        return Preroll(first - first % self.frame_samples, live, self.frame_samples)

    def first_due_s(self, epoch_s: float, position: int) -> float:
        """Unix time (seconds) at which the frame at ``position`` was first due, when sample 0
        was due at ``epoch_s``: the server time stamped on a pre-roll frame."""
        return epoch_s + position / self.sample_rate


class Announcements:
    """Which chunk records to announce in a tick: each once, in the tick whose frame holds
    its first sample (one placed after that frame went out is never announced). Positions
    announced are remembered ``memory_samples`` behind the latest tick with something new,
    so a range asked twice announces nothing twice."""

    def __init__(self, memory_samples: int) -> None:
        self.memory_samples = memory_samples
        self._announced: set[int] = set()

    def new(self, records: Iterable[PlacedT], start: int, end: int) -> list[PlacedT]:
        """Records placed in [start, end) (samples) not announced before, in the given order;
        they count as announced from now on."""
        found = [r for r in records if start <= r.position < end and r.position not in self._announced]
        if found:
            self._announced.update(r.position for r in found)
            self._announced = {p for p in self._announced if p >= start - self.memory_samples}
        return found


class Cadence:
    """Something reported at most once every ``every_s`` seconds, the first time at once
    (the station's keep-alive for the systemd watchdog)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._reported_s = -math.inf

    def due(self, now_s: float) -> bool:
        """``every_s`` or more have passed since the last report (seconds, any one clock)."""
        return now_s - self._reported_s >= self.every_s

    def reported(self, now_s: float) -> None:
        """It was reported at ``now_s``."""
        self._reported_s = now_s
