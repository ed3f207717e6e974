"""A scripted riffcast/1 peer for the client's tests: a real WebSocket server on 127.0.0.1 (in a
thread) that sends exactly what a test tells it to, the frames it sends (``signal_at``), and the
``riffcast listen`` arguments parsed as the command would."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
from typing import Any, Awaitable, Callable

import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from riffcast_client.cli import add_listen_arguments
from riffcast_client.protocol import encode_frame, hello

from station import free_port

__all__ = ["FRAME", "RATE", "T0", "Handler", "Peer", "free_port", "listen_args", "send_frames", "send_hello",
           "signal_at"]

RATE = 8000
FRAME = 400  # samples per frame (50 ms)
T0 = 1_700_000_000.0  # server time of position 0 of the first stream

Handler = Callable[[ServerConnection, int], Awaitable[None]]


def signal_at(position: int, count: int, stream: int = 0) -> np.ndarray:
    """What the peer's stream number ``stream`` holds at [position, position + count):
    distinct float32 values (another stream: other values at the same positions)."""
    return ((np.arange(position, position + count) % 1000 + 1 + 337 * stream) % 1000 / 1000).astype(np.float32)


class Peer:
    """A scripted riffcast/1 server in a thread: ``handler(websocket, n)`` runs for the n-th
    connection (from 0). ``url`` is its /stream URL."""

    def __init__(self, handler: Handler, *, port: int | None = None, process_request: Any = None) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}/stream"
        self.connections = 0
        self.process_request = process_request
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        async def one(websocket: ServerConnection) -> None:
            number = self.connections
            self.connections += 1
            with contextlib.suppress(Exception):
                await self.handler(websocket, number)

        async with serve(one, "127.0.0.1", self.port, compression=None, process_request=self.process_request):
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Peer:
        self._thread.start()
        assert self._ready.wait(10), "the peer did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def send_hello(websocket: ServerConnection, position: int = 0, sample_format: str = "f32le") -> None:
    await websocket.send(
        hello(station="peer", sample_rate=RATE, channels=1, sample_format=sample_format, frame_samples=FRAME,
              position=position, server_time=T0)
    )


async def send_frames(
    websocket: ServerConnection, start: int, count: int, *, size: int = FRAME, t0: float = T0,
    sample_format: str = "f32le", stream: int = 0,
) -> None:
    """``count`` frames of ``size`` from ``start``, stamped as emitted at t0 + position / RATE."""
    for position in range(start, start + count * size, size):
        samples = signal_at(position, size, stream)
        await websocket.send(encode_frame(position, t0 + position / RATE, samples, sample_format))


def listen_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_listen_arguments(parser)
    return parser.parse_args(list(argv))
