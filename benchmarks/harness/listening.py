"""One listener of a station's ``/stream`` for the benchmarks: its messages after the hello, until told to stop."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from websockets.asyncio.client import connect


async def messages_until(url: str, stop: asyncio.Event, poll_s: float = 0.5) -> AsyncIterator[str | bytes]:
    """The messages ``url`` sends after its hello (text events, binary frames) until ``stop`` is set
    (looked at every ``poll_s`` at least)."""
    async with connect(url, compression=None) as listener:
        await listener.recv()  # hello
        while not stop.is_set():
            try:
                yield await asyncio.wait_for(listener.recv(), poll_s)
            except asyncio.TimeoutError:
                continue
