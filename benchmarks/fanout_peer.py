"""The fan-out benchmark's peer (``benchmarks/fanout.py``): broadcast as websockets' docs show it
(topics/broadcast.rst, "per-client queues") — one ``asyncio.Queue`` and one relay task per client
doing ``await websocket.send(message)`` — serving riffcast/1 frames (hello, then 16-byte header +
s16le PCM of a sine) at the same 100 ms pace as riffcast, in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from http import HTTPStatus
from multiprocessing.connection import Connection

import numpy as np

from riffcast_client import protocol

from fanout_clients import FRAME_SAMPLES, SAMPLE_RATE
from harness.endpoints import get_json, wait_playing
from harness.machine import raise_open_files_limit

START_TIMEOUT_S = 60.0  # for the peer's process to send its port


def run_peer(ready: Connection) -> None:
    """Process entry: serve /stream on 127.0.0.1 (port 0) and send the bound port on ``ready``."""
    raise_open_files_limit()
    asyncio.run(_peer_main(ready))


async def _peer_main(ready: Connection) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    tone = (0.25 * np.sin(2 * np.pi * 440.0 * np.arange(FRAME_SAMPLES) / SAMPLE_RATE)).astype(np.float32)
    queues: set[asyncio.Queue] = set()
    clock = {"epoch_s": None, "next_position": 0}

    async def relay(queue: asyncio.Queue, websocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await queue.get()
                await websocket.send(message)

    async def handler(websocket) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        queue.put_nowait(protocol.hello(
            station="peer", sample_rate=SAMPLE_RATE, channels=1, sample_format="s16le",
            frame_samples=FRAME_SAMPLES, position=clock["next_position"], server_time=time.time(),
        ))
        relay_task = asyncio.create_task(relay(queue, websocket))
        queues.add(queue)
        try:
            await websocket.wait_closed()
        finally:
            queues.discard(queue)
            relay_task.cancel()

    def healthz(connection, request):
        if request.path != "/healthz":
            return None
        return connection.respond(HTTPStatus.OK, json.dumps({
            "playing": clock["epoch_s"] is not None, "epoch_s": clock["epoch_s"], "listeners": len(queues),
            "max_queued_frames": max((q.qsize() for q in queues), default=0),
        }))

    async with serve(handler, "127.0.0.1", 0, compression=None, process_request=healthz) as server:
        ready.send(server.sockets[0].getsockname()[1])
        start = loop.time()
        clock["epoch_s"] = time.time()
        index = 0
        while True:
            delay = start + index * FRAME_SAMPLES / SAMPLE_RATE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = protocol.encode_frame(index * FRAME_SAMPLES, time.time(), tone, "s16le")
            clock["next_position"] = (index + 1) * FRAME_SAMPLES
            for queue in queues:
                queue.put_nowait(frame)
            index += 1


class PeerServer:
    """The peer in a spawned process, with the parts of ``harness.station.Station`` the benchmark uses."""

    name = "peer"

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self.process = context.Process(target=run_peer, args=(send,), daemon=True)
        self.process.start()
        if not receive.poll(START_TIMEOUT_S):
            self.process.kill()
            raise RuntimeError("the peer did not start")
        self.pid: int = self.process.pid
        self.port: int = receive.recv()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict:
        """Its ``/healthz``: playing, epoch_s, listeners, max_queued_frames."""
        return get_json(f"{self.http}/healthz")

    def wait_playing(self, timeout_s: float) -> dict:
        health = wait_playing(self.http, timeout_s, self.process.is_alive)
        if health is None:
            raise RuntimeError(f"peer did not start playing in {timeout_s:g} s")
        return health

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
