"""Waits between tries of something that keeps failing (an Icecast link, a paused recording),
sans I/O: ``first_s``, doubling up to ``max_s``, back to ``first_s`` on :meth:`Backoff.reset` or
after a try that lasted ``stable_s`` (so a peer that takes a connection and drops it at once is
tried less and less often, not every second)."""

from __future__ import annotations

import math


class Backoff:
    """The wait before each next try (seconds; see the module docstring)."""

    def __init__(self, *, first_s: float, max_s: float, stable_s: float = math.inf) -> None:
        self.first_s, self.max_s, self.stable_s = first_s, max_s, stable_s
        self._next_s = first_s

    def delay_s(self, streamed_s: float = 0.0) -> float:
        """The wait before the next try, after a try that worked for ``streamed_s`` seconds (0
        when it failed at once)."""
        if streamed_s >= self.stable_s:
            self.reset()
        delay_s = self._next_s
        self._next_s = min(2 * delay_s, self.max_s)
        return delay_s

    def reset(self) -> None:
        """It works again: the next failure waits ``first_s``."""
        self._next_s = self.first_s
