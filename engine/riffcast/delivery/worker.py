"""One encoder per format, on a thread of its own: the clock hands it each frame and never waits.

:class:`EncoderWorker` takes blocks with :meth:`~EncoderWorker.submit` (a queue put, from the
event loop), encodes them on its thread and hands the packets to ``deliver`` on the event loop
(``call_soon_threadsafe``). An encoder that raises is logged (at most once a second), counted,
and replaced by a new one from the next block on; listeners see a jump in positions, never a
stop. An encoder that falls behind by more than ``max_pending_s`` has the oldest blocks dropped
(counted), so a slow encoder can never hold memory or the clock.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

import numpy as np

from riffcast.delivery.codecs import STREAM_RATE, Codec, Packet
from riffcast.ops.ratelimit import LogLimiter

if TYPE_CHECKING:
    from riffcast.delivery.encoders import StreamEncoder

log = logging.getLogger("riffcast.delivery")


class EncoderWorker:
    """Encode the stream in ``codec`` off the event loop (see the module docstring).

    deliver: called on ``loop`` with each batch of packets, in stream order.
    make_encoder: the encoder factory (default :class:`StreamEncoder`, imported on the worker's
    thread: the encoder libraries' import never touches the event loop or a station's start-up).
    recent_s: packets kept for late joiners (:meth:`recent`).
    """

    def __init__(self, codec: Codec, loop: asyncio.AbstractEventLoop, deliver: Callable[[list[Packet]], None],
                 *, make_encoder: Callable[[Codec], StreamEncoder] | None = None,
                 max_pending_s: float = 2.0, recent_s: float = 1.0) -> None:
        self.codec = codec
        self._loop = loop
        self._deliver = deliver
        self._make_encoder = make_encoder
        self._max_pending_samples = round(max_pending_s * STREAM_RATE)
        self._recent_samples = round(recent_s * STREAM_RATE)
        self._queue: queue.SimpleQueue[tuple[int, np.ndarray] | str | None] = queue.SimpleQueue()
        self._pending_samples = 0  # queued, not yet encoded (written on the loop, read by both)
        self._lock = threading.Lock()
        self._recent: deque[Packet] = deque()
        self.failures = 0  # encoders that raised and were replaced
        self.cpu_s = 0.0  # CPU time the encoder thread spent encoding (its own thread's clock)
        self.dropped_blocks = 0  # blocks dropped because the encoder was behind
        self.ready = asyncio.Event()  # set on the loop once the first packets are out
        self._errors = LogLimiter(log, 1.0)
        self._thread = threading.Thread(target=self._run, name=f"riffcast-encode-{codec.value}", daemon=True)
        self._thread.start()

    def submit(self, position: int, samples: np.ndarray) -> None:
        """Queue a block (never blocks); over ``max_pending_s`` behind, the block is dropped."""
        with self._lock:
            if self._pending_samples + samples.size > self._max_pending_samples:
                self.dropped_blocks += 1
                return
            self._pending_samples += samples.size
        self._queue.put((position, samples))

    def retitle(self, title: str) -> None:
        """Encoders that carry titles in the stream (Ogg) start a new stream with ``title``."""
        self._queue.put(title)

    def recent(self) -> list[Packet]:
        """The packets of about the last ``recent_s`` seconds, oldest first (on the loop)."""
        return list(self._recent)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        if self._make_encoder is None:
            from riffcast.delivery.encoders import encoder_for

            self._make_encoder = encoder_for
        encoder: StreamEncoder | None = None
        next_position, title = 0, None
        while (item := self._queue.get()) is not None:
            started_s = time.thread_time()
            try:
                if isinstance(item, str):  # a new title
                    title = item
                    packets = encoder.retitle(title, next_position) if hasattr(encoder, "retitle") else []
                else:
                    position, samples = item
                    with self._lock:
                        self._pending_samples -= samples.size
                    next_position = position + samples.size
                    if encoder is None:
                        encoder = self._make_encoder(self.codec)
                        if title is not None and hasattr(encoder, "retitle"):
                            encoder.retitle(title, position)
                    packets = encoder.encode(position, samples)
            except Exception as error:  # noqa: BLE001 - any encoder fault: replace it, the stream goes on
                self.failures += 1
                self._errors.log(self.codec, "%s encoder failed (%s: %s); a new one takes over",
                                 self.codec.value, type(error).__name__, error)
                encoder = None
                continue
            finally:
                self.cpu_s += time.thread_time() - started_s
            if packets:
                self._loop.call_soon_threadsafe(self._hand_over, packets)

    def _hand_over(self, packets: list[Packet]) -> None:
        self._recent.extend(packets)
        while self._recent and packets[-1].position - self._recent[0].position > self._recent_samples:
            self._recent.popleft()
        self.ready.set()
        self._deliver(packets)
