"""Dead air, sans I/O: how long the emitted audio has been something other than new music.

The clock never waits, so when the generator is late (or the whole process was stopped, say by
``kill -STOP`` or a swapping machine) it emits silence (nothing was stitched for that frame) or
the fallback (the last image again). A few hundred milliseconds of that are a hiccup; seconds of
it are dead air that an operator must hear about even while the generator itself looks fine.
:class:`DeadAirWatch` counts the emitted frames by kind and names a spell of dead air longer than
``limit_s`` of audio in ``/healthz``'s problems while it lasts and for ``hold_s`` after it ended,
so a monitor that polls every half minute still sees it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEAD_AIR_LIMIT_S = 4.0  # of audio: longer than the start-up's few fallback windows
DEAD_AIR_HOLD_S = 30.0  # wall seconds a spell stays reported after it ended


class Air(enum.Enum):
    """What an emitted frame held."""

    MUSIC = "music"  # a newly painted image
    FALLBACK = "fallback"  # the last image again: the generator was late or failed
    SILENCE = "silence"  # nothing was stitched in time


def air_of(*, stitched: bool, fallback: bool) -> Air:
    """What a frame holds: silence when nothing was stitched for it, else its image's kind."""
    return Air.SILENCE if not stitched else Air.FALLBACK if fallback else Air.MUSIC


@dataclass(frozen=True)
class Spell:
    """A run of frames that were not new music: ``silence_s`` + ``fallback_s`` seconds of audio,
    the last of it emitted at ``last_s`` (monotonic seconds)."""

    silence_s: float
    fallback_s: float
    last_s: float

    @property
    def duration_s(self) -> float:
        return self.silence_s + self.fallback_s

    def describe(self) -> str:
        parts = [f"{seconds:.1f} s of {name}" for name, seconds in (("silence", self.silence_s),
                                                                   ("fallback", self.fallback_s)) if seconds > 0]
        return " and ".join(parts)


class DeadAirWatch:
    """Frames in, the current or last spell of dead air out (see the module docstring).

    sample_rate: samples per second of the stream; limit_s: audio seconds of a spell before it is
    a problem; hold_s: wall seconds it stays one after music returned.
    """

    def __init__(self, sample_rate: int, *, limit_s: float = DEAD_AIR_LIMIT_S, hold_s: float = DEAD_AIR_HOLD_S) -> None:
        self.sample_rate = sample_rate
        self.limit_s = limit_s
        self.hold_s = hold_s
        self.total_s = {Air.SILENCE: 0.0, Air.FALLBACK: 0.0}  # audio seconds ever emitted, by kind
        self._current: Spell | None = None  # the spell going on now, if any
        self._ended: Spell | None = None  # the last spell over the limit, once music returned

    def emitted(self, air: Air, samples: int, now_s: float) -> None:
        """A frame of ``samples`` holding ``air`` was emitted at ``now_s`` (monotonic seconds)."""
        if air is Air.MUSIC:
            if self._current is not None and self._current.duration_s >= self.limit_s:
                self._ended = self._current
            self._current = None
            return
        seconds = samples / self.sample_rate
        self.total_s[air] += seconds
        spell = self._current or Spell(0.0, 0.0, now_s)
        self._current = Spell(spell.silence_s + (seconds if air is Air.SILENCE else 0.0),
                              spell.fallback_s + (seconds if air is Air.FALLBACK else 0.0), now_s)

    def problem(self, now_s: float) -> str | None:
        """One line while a spell longer than ``limit_s`` goes on or ended less than ``hold_s``
        ago (``now_s``: monotonic seconds), else None."""
        if self._current is not None and self._current.duration_s >= self.limit_s:
            return f"dead air: the stream has played {self._current.describe()} (the generator is late)"
        if self._ended is not None and now_s - self._ended.last_s < self.hold_s:
            return (f"dead air: the stream played {self._ended.describe()} until "
                    f"{now_s - self._ended.last_s:.0f} s ago")
        return None
