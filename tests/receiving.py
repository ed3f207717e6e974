"""A WebSocket listener for tests: everything a station sends to ``/stream`` for a while."""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.client import connect


async def receive_for(url: str, seconds: float, **options) -> tuple[dict, list[tuple[float, bytes | str]]]:
    """Connect to ``url`` → (the hello, then each message with its arrival time on ``time.monotonic``)
    for ``seconds`` after the hello. ``options`` go to ``websockets.connect`` (compression is off)."""
    messages: list[tuple[float, bytes | str]] = []
    async with connect(url, compression=None, **options) as ws:
        hello = json.loads(await ws.recv())
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            messages.append((time.monotonic(), message))
    return hello, messages
