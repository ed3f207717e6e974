"""The station: pacing clock, listeners, control and HTTP on one asyncio loop and one port.

The clock emits frame n — samples [n·F, (n+1)·F) — at wall time epoch + n·F / sample_rate,
reading whatever the feed has stitched (silence, counted, if nothing is ready: the clock never
waits). Each tick writes the frame to every listener and sink without awaiting anyone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import resource
import time
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from riffcast_client import protocol
from riffcast.station import routes
from riffcast.station.control import (
    ControlError, StatusRequest, ack_reply, error_reply, parse_request, status_reply,
)
from riffcast.station.feed import ChunkRecord, Feed
from riffcast.station.health import Assessment, assess
from riffcast.station.listeners import Listener, ListenerSet, shrink_send_buffer, write
from riffcast.station.metrics import StationMetrics
from riffcast.station.ratelimit import TokenBucket
from riffcast.walk import Step

log = logging.getLogger("riffcast.station")
access_log = logging.getLogger("riffcast.access")

STEER_APPLY_TIMEOUT_S = 10.0
ALIVE_EVERY_S = 1.0


class StationFailure(RuntimeError):
    """The stream can no longer be generated: the process should exit for its supervisor."""


class Sink(Protocol):
    """Something that takes every emitted frame (a recording, the sound card)."""

    def write(self, position: int, samples: np.ndarray) -> None: ...  # quick: called on the loop

    def close(self) -> None: ...


@dataclass(frozen=True)
class StationConfig:
    control_token: str
    name: str = "riffcast"
    host: str = "127.0.0.1"
    port: int = 8000
    frame_samples: int = 4410
    preroll_frames: int = 3
    backlog_s: float = 1.0
    stall_close_s: float = 5.0
    max_listeners: int = 10_000
    max_message_bytes: int = 64 * 1024
    control_rate_per_s: float = 10.0  # requests per control connection, bursts of 4 s worth
    open_timeout_s: float = 10.0  # a connection must finish its handshake within this
    allowed_origins: tuple[str, ...] = ()  # origins besides the station's own that may open /control


def heard_prompts(step: Step) -> list[tuple[str, float]]:
    """The prompt blend heard in a chunk: start's prompts × (1 − alpha), end's × alpha, each
    target's weights normalised to 1; texts in both are merged."""
    weights: dict[str, float] = {}
    for target, share in ((step.start, 1.0 - step.alpha), (step.end, step.alpha)):
        total = sum(prompt.weight for prompt in target.prompts)
        for prompt in target.prompts:
            weights[prompt.text] = weights.get(prompt.text, 0.0) + share * prompt.weight / total
    return [(text, round(weight, 4)) for text, weight in weights.items() if weight > 1e-6]


def now_playing_event(record: ChunkRecord) -> str:
    step = record.step
    seed = step.end.seed if step.alpha >= 0.5 else step.start.seed
    return protocol.now_playing(
        position=record.position, prompts=heard_prompts(step), seed=seed, alpha=round(step.alpha, 4),
        image=routes.chunk_path(record.position),
    )


class Station:
    """Serve a :class:`Feed` to listeners in real time (see the module docstring)."""

    def __init__(
        self, config: StationConfig, feed: Feed, *, generator_name: str, sinks: list[Sink] = (),
        metrics: StationMetrics | None = None,
    ) -> None:
        self.config = config
        self.feed = feed
        self.params = feed.params
        self.generator_name = generator_name
        self.sinks = list(sinks)
        self.metrics = metrics or StationMetrics()
        self.metrics.watch(lambda: self.lead_s, feed.generator_faults)
        self.metrics.generating.set_function(lambda: float(self.generator_ok))
        self.metrics.producer_restarts.set_function(lambda: self.feed.producer_restarts)
        self.metrics.problems.set_function(lambda: len(self.problems()))
        # Health checks of what runs beside the stream: each returns a one-line problem or None.
        self.checks: list[Callable[[], str | None]] = []
        # Called from the clock about once a second while it ticks and the station generates
        # (the systemd watchdog's keep-alive: a wedged process stops calling it).
        self.on_alive: Callable[[], None] = lambda: None
        self.on_playing: Callable[[], None] = lambda: None  # once, when the first frame is due
        self.listeners = ListenerSet(stall_close_s=config.stall_close_s)
        self.position: int | None = None  # next sample the clock emits; None before playback
        self.epoch_s: float | None = None  # Unix time at which sample 0 was due
        self.starved_frames = 0
        self._announced: set[int] = set()
        self._controls: set[ServerConnection] = set()
        self._playing = asyncio.Event()
        feed.on_generated = self.metrics.chunk_generation_seconds.observe  # thread-safe
        feed.on_stitched = self.metrics.chunk_stitch_seconds.observe
        feed.on_underrun = self.metrics.underruns.inc

    # -- what the station reports ----------------------------------------------------------
    @property
    def lead_s(self) -> float:
        return self.feed.lead_samples() / self.params.sample_rate

    @property
    def generator_ok(self) -> bool:
        """The producer and feed run and no paint has hung (see Feed.generating)."""
        return self.feed.generating()

    def problems(self) -> tuple[str, ...]:
        """Failures beside the stream (a recording, the state file), one line each."""
        return tuple(problem for check in self.checks if (problem := check()) is not None)

    def assessment(self) -> Assessment:
        return assess(playing=self.position is not None, generating=self.generator_ok, problems=self.problems())

    def health(self) -> dict:
        playing = self.position is not None
        assessment = self.assessment()
        return {
            "status": assessment.status.value,
            "problems": list(assessment.problems),
            "station": self.config.name,
            "generator": self.generator_name,
            "generator_ok": self.generator_ok,
            "producer_restarts": self.feed.producer_restarts,
            "playing": playing,
            "position": self.position or 0,
            "epoch_s": self.epoch_s,
            "sample_rate": self.params.sample_rate,
            "frame_samples": self.config.frame_samples,
            "lead_s": round(self.lead_s, 3),
            "listeners": len(self.listeners),
            "underruns": self.feed.underruns,
            "starved_frames": self.starved_frames,
            "generator_faults": self.feed.generator_faults(),
            "tasks": len(asyncio.all_tasks()),
            "open_files": _open_files(),
            "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "max_listeners": self.config.max_listeners,
        }

    def settings(self) -> dict:
        target = self.feed.heading_to
        return {
            "prompts": [{"text": p.text, "weight": p.weight} for p in target.prompts],
            "seed": target.seed,
            "negative_prompt": target.negative_prompt,
            "denoising": target.denoising,
            "guidance": target.guidance,
            "transition_chunks": self.feed.transition_chunks,
        }

    # -- running ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, on_ready=lambda station: None) -> None:
        """Serve until ``stop`` is set, then close listeners with 1001 and the sinks."""
        self.feed.start()
        try:
            async with serve(
                self._handle, self.config.host, self.config.port, process_request=self._process_request,
                process_response=routes.process_response, select_subprotocol=routes.select_subprotocol,
                create_connection=functools.partial(routes.StationConnection, router=routes.Router(self)),
                compression=None, max_size=self.config.max_message_bytes, close_timeout=0.5,
                open_timeout=self.config.open_timeout_s,
                ping_interval=20, ping_timeout=20, max_queue=4,
            ) as server:
                self.bound_port = server.sockets[0].getsockname()[1]
                on_ready(self)
                clock = asyncio.create_task(self._clock())
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait([clock, stopped], return_when=asyncio.FIRST_COMPLETED)
                clock.cancel()
                failure = clock.exception() if clock.done() and not clock.cancelled() else None
                if failure is not None:
                    server.close(code=1011, reason="station failed; it will be restarted")
                else:
                    server.close(code=1001, reason="station shutting down")
                try:
                    await asyncio.wait_for(server.wait_closed(), 1.5)
                except asyncio.TimeoutError:  # peers that do not answer the close are aborted
                    log.warning("some connections did not close in time")
                if failure is not None:
                    raise failure
        finally:
            for sink in self.sinks:
                sink.close()
            self.feed.stop(timeout_s=0.3)

    async def _clock(self) -> None:
        frame = self.config.frame_samples
        rate = self.params.sample_rate
        while self.feed.end < frame * (self.config.preroll_frames + 1):
            if self.feed.fatal:
                raise StationFailure(f"the generator failed before the first chunk: {self.feed.fatal}")
            await asyncio.sleep(0.02)
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.epoch_s = time.time()
        self.position = 0
        self._playing.set()
        self.on_playing()
        index = 0
        alive_reported_s = -math.inf
        while True:
            delay = start + index * frame / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.feed.fatal:
                raise StationFailure(self.feed.fatal)
            self._tick(index * frame)
            index += 1
            if loop.time() - alive_reported_s >= ALIVE_EVERY_S and self.generator_ok:
                alive_reported_s = loop.time()
                self.on_alive()

    def _tick(self, position: int) -> None:
        frame = self.config.frame_samples
        samples = self.feed.read(position, frame)
        if samples is None:
            samples = np.zeros(frame, dtype=np.float32)
            self.starved_frames += 1
            self.metrics.starved_frames.inc()
        now = time.time()
        self.feed.move_playhead(position + frame)
        self.position = position + frame
        events = [now_playing_event(r) for r in self._new_records(position, position + frame)]
        frames = {name: protocol.encode_frame(position, now, samples, name) for name in self.listeners.formats()}
        result = self.listeners.fan_out(events, frames, time.monotonic())
        self.metrics.frames_sent.inc(result.sent)
        self.metrics.frames_dropped.inc(result.dropped)
        for _ in result.closed:
            self.metrics.listeners_closed.labels("too_slow").inc()
        self.metrics.listeners.set(len(self.listeners))
        for sink in self.sinks:
            sink.write(position, samples)

    def _new_records(self, start: int, end: int) -> list[ChunkRecord]:
        found = [r for r in self.feed.records() if start <= r.position < end and r.position not in self._announced]
        for record in found:
            self._announced.add(record.position)
            self._announced = {p for p in self._announced if p >= start - 100 * self.params.sample_rate}
        return found

    # -- HTTP ------------------------------------------------------------------------------
    def _process_request(self, connection: routes.StationConnection, request: Request) -> Response | None:
        """Routing lives in :mod:`riffcast.station.routes` (sans I/O)."""
        return routes.process_request(connection, request)

    # -- WebSockets ------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        url = urlsplit(connection.request.path)
        if url.path == "/stream":
            await self._serve_listener(connection, parse_qs(url.query).get("format", [protocol.DEFAULT_FORMAT])[0])
        elif url.path == "/control":
            await self._serve_control(connection)
        else:
            await connection.close(1008, "unknown path")

    async def _serve_listener(self, connection: ServerConnection, sample_format: str) -> None:
        if len(self.listeners) >= self.config.max_listeners:
            self.metrics.listeners_closed.labels("full").inc()
            await connection.close(1013, f"station full ({self.config.max_listeners} listeners); try again later")
            return
        await self._playing.wait()
        shrink_send_buffer(connection)
        frame = self.config.frame_samples
        live = self.position
        first = max(live - self.config.preroll_frames * frame, self.feed.ring.start)
        first -= first % frame
        bytes_per_second = self.params.sample_rate * protocol.SAMPLE_DTYPES[sample_format].itemsize
        listener = Listener(connection, sample_format, round(self.config.backlog_s * bytes_per_second))
        # From here to add(): no await, so no tick can slip between the pre-roll and the live frames.
        write(connection, protocol.hello(
            station=self.config.name, sample_rate=self.params.sample_rate, channels=1,
            sample_format=sample_format, frame_samples=frame, position=first, server_time=time.time(),
        ))
        record = self.feed.record_at(first)
        if record is not None:
            write(connection, now_playing_event(record))
        for position in range(first, live, frame):
            samples = self.feed.read(position, frame)
            if samples is None:
                samples = np.zeros(frame, dtype=np.float32)
            emitted = self.epoch_s + position / self.params.sample_rate  # when it was first sent, ±jitter
            write(connection, protocol.encode_frame(position, emitted, samples, sample_format))
        self.listeners.add(listener)
        self.metrics.listeners.set(len(self.listeners))
        log.debug("listener joined from %s (%s, %d listening)", routes.peer(connection), sample_format, len(self.listeners))
        chatter = TokenBucket(rate_per_s=5.0, burst=20)
        try:
            async for _ in connection:  # what listeners send is ignored (max_size bounds its size)
                if not chatter.take():
                    self.metrics.listeners_closed.labels("abusive").inc()
                    await connection.close(1008, "listeners must not send data")
        except ConnectionClosed:
            pass
        finally:
            self.listeners.discard(listener)
            self.metrics.listeners.set(len(self.listeners))
            log.debug("listener left from %s (close code %s, %d frames dropped)", routes.peer(connection),
                      connection.close_code, listener.frames_dropped)

    async def _serve_control(self, connection: ServerConnection) -> None:
        self._controls.add(connection)
        bucket = TokenBucket(self.config.control_rate_per_s, burst=4 * round(self.config.control_rate_per_s))
        refused_in_a_row = 0
        try:
            async for message in connection:
                if bucket.take():
                    refused_in_a_row = 0
                    await connection.send(await self._answer(message))
                    continue
                self.metrics.control_errors.inc()
                refused_in_a_row += 1
                if refused_in_a_row > 100:
                    await connection.close(1008, "too many requests")
                    break
                await connection.send(error_reply(None, f"too many requests: at most {self.config.control_rate_per_s:g} per second"))
        except ConnectionClosed:
            pass
        finally:
            self._controls.discard(connection)

    async def _answer(self, message: str | bytes) -> str:
        try:
            request = parse_request(message, self.feed.heading_to)
        except ControlError as error:
            self.metrics.control_errors.inc()
            return error_reply(error.request_id, str(error))
        if isinstance(request, StatusRequest):
            return status_reply(
                request.request_id, position=self.position or 0, **self.settings(), lead_s=round(self.lead_s, 3),
                listeners=len(self.listeners), underruns=self.feed.underruns, generator=self.generator_name,
                generator_ok=self.generator_ok,
            )
        if not self.generator_ok:
            self.metrics.control_errors.inc()
            return error_reply(request.request_id, "the generator is not running; the stream plays its fallback")
        future = self.feed.steer(request.target, request.transition_chunks)
        try:
            position = await asyncio.wait_for(asyncio.wrap_future(future), STEER_APPLY_TIMEOUT_S)
        except asyncio.TimeoutError:
            return error_reply(request.request_id, "the generator did not take the change in time; it is queued")
        self.metrics.steers.inc()
        log.info("steer: %s", ", ".join(f"{p.text!r}×{p.weight:g}" for p in request.target.prompts))
        return ack_reply(request.request_id, position)


def _open_files() -> int | None:
    """File descriptors this process holds (Linux; None elsewhere), for leak checks."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
