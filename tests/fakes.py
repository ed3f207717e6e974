"""Fakes shared by tests: a generator that paints images encoding its requests and misbehaves
on cue (``PatternGenerator``), the seed image it starts from (``SEED_IMAGE``), and a receiver
that stopped reading (``StalledTransport``, ``StalledConnection``)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from riffcast.generation.types import ImageRequest, Interrupted, PaintedImage

SEED_IMAGE = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))


class PatternGenerator:
    """Paints an image that encodes its request (so tests can see what was asked), and
    misbehaves on the chunk indices it is told to (key None: every chunk): raise, return
    blank, block until stopped, hang until released, or take its time."""

    name = "pattern"

    def __init__(self, fail: dict[int, str] | None = None) -> None:
        self.fail = dict(fail or {})
        self.calls: list[ImageRequest] = []
        self.release = threading.Event()

    def paint(self, request: ImageRequest, should_stop=lambda: False) -> PaintedImage:
        self.calls.append(request)
        mode = self.fail.get(request.index, self.fail.get(None))
        if mode == "raise":
            raise RuntimeError("injected fault")
        if mode == "raise-once":
            del self.fail[request.index]
            raise RuntimeError("injected fault, once")
        if mode == "blank":
            return PaintedImage(np.full((512, 512), 255, np.uint8))
        if mode == "block":
            while not should_stop():
                self.release.wait(0.01)
            raise Interrupted()
        if mode == "hang":  # a stuck device: deaf to should_stop until released
            self.release.wait()
        if mode == "slow":  # takes 0.2 s, and listens to should_stop like a real paint
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                if should_stop():
                    raise Interrupted()
                time.sleep(0.01)
        image = SEED_IMAGE.copy()
        image[0, :4] = (request.index % 256, request.start.seed % 256, request.end.seed % 256, int(request.alpha * 100))
        return PaintedImage(image, {"paint": 0.0})


class StalledTransport:
    """A socket whose peer stopped reading: its write buffer stays full."""

    def __init__(self) -> None:
        self.aborted = False

    def get_extra_info(self, name, default=None):
        return default

    def set_protocol(self, protocol) -> None: ...
    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 10**7

    def abort(self) -> None:
        self.aborted = True


class StalledConnection:
    """A WebSocket connection over a :class:`StalledTransport`; ``closed`` is set when it is closed."""

    def __init__(self) -> None:
        self.transport = StalledTransport()
        self.closed = asyncio.Event()

    async def close(self, code: int, reason: str) -> None:
        self.closed.set()
