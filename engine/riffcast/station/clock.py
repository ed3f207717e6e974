"""The clocks the station reads, behind one small interface: the real ones, or a test's fake.

The station's loop (:mod:`riffcast.station.server`) reads a monotonic clock (frame due times, dead
air, cadences), the wall clock (the Unix time a frame is emitted at, which the as-run log and the
protocol's ``server_time`` carry) and sleeps until a frame is due. :class:`RealClock` is asyncio's
loop clock, ``time.time`` and ``asyncio.sleep``; :class:`ManualClock` stands still until a test
moves it, so the real loop runs tick by tick in-process (tests/test_station_loop.py).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class StationClock(Protocol):
    def now_s(self) -> float:
        """Monotonic seconds (any origin)."""

    def wall_s(self) -> float:
        """Unix time, seconds."""

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on :meth:`now_s`."""


class RealClock:
    """The machine's clocks: asyncio's loop clock (monotonic), ``time.time`` and ``asyncio.sleep``."""

    def now_s(self) -> float:
        return asyncio.get_running_loop().time()

    def wall_s(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when :meth:`advance` says (a test's fake): sleepers wake in order of
    their due time as it passes them. ``wall_origin_s``: the Unix time at ``now_s() == 0``."""

    def __init__(self, wall_origin_s: float = 1_800_000_000.0) -> None:
        self._now_s = 0.0
        self.wall_origin_s = wall_origin_s
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_s(self) -> float:
        return self._now_s

    def wall_s(self) -> float:
        return self.wall_origin_s + self._now_s

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_s + seconds, next(self._order), woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, waking each sleeper due on the way at its due time and
        letting it run (and sleep again) before the clock moves past it."""
        until_s = self._now_s + seconds
        while self._sleepers and self._sleepers[0][0] <= until_s:
            due_s, _, woken = heapq.heappop(self._sleepers)
            self._now_s = max(self._now_s, due_s)
            if not woken.done():
                woken.set_result(None)
            for _ in range(5):  # let the woken task run up to its next sleep
                await asyncio.sleep(0)
        self._now_s = until_s
