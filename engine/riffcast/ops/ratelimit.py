"""Rate limits: a token bucket for events, and a log that writes at most one line per interval
for each kind of event (saying how many it left out), so no peer can flood the station's log."""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Callable


class TokenBucket:
    """At most ``rate_per_s`` events per second on average, bursts of ``burst``."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst ≥ 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self, cost: float = 1.0) -> bool:
        """True if an event of ``cost`` tokens may pass now (and count it); False if over the rate."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False


class LogLimiter:
    """At most one line per ``every_s`` for each kind of event; the next line written for a kind
    says how many of its events were left out since the previous line.

    Kinds should come from a small fixed set (an enum): one entry is kept per kind.
    """

    def __init__(self, logger: logging.Logger, every_s: float = 1.0, *, level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if every_s <= 0:
            raise ValueError("every_s must be > 0")
        self.logger = logger
        self.every_s = every_s
        self.level = level
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._left_out: dict[Hashable, int] = {}

    def log(self, kind: Hashable, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a line of this kind was written less than ``every_s`` ago
        (then only count it). True if a line was written."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.every_s:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        self._last[kind] = now
        left_out = self._left_out.pop(kind, 0)
        if left_out and last is not None:
            message = f"{message} (and %d more like it since the previous such line, %.0f s ago)"
            args = (*args, left_out, now - last)
        self.logger.log(self.level, message, *args)
        return True
