"""The station: pacing clock, listeners, control and HTTP on one asyncio loop and one port.

The clock emits block n — samples [n·F, (n+1)·F) — at wall time epoch + n·F / sample_rate,
reading whatever the feed has stitched (silence, counted, if nothing is ready: the clock never
waits). Each tick writes the block to every output (:mod:`riffcast.delivery.output`: the
WebSocket listeners, the encoders and what they feed, the sinks) without awaiting anyone.
Which frame is due when, the pre-roll and what to announce are :mod:`riffcast.station.pacer`'s
(sans I/O); the control socket is :mod:`riffcast.station.control_socket`'s; this module waits,
reads the feed and writes.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from riffcast.delivery.backlog import BacklogPolicy
from riffcast.delivery.codecs import Codec
from riffcast.delivery.icecast import IcecastTarget
from riffcast.delivery.output import Block, Output, OutputReport
from riffcast.delivery.outputs import EncodedOutputs, title_of
from riffcast.delivery.segment_store import SegmentStore
from riffcast.delivery.websocket import PcmListeners, shrink_send_buffer
from riffcast.delivery.window_index import DEFAULT_WINDOW_S
from riffcast.history.as_run import AiredOnce, Source
from riffcast.history.log_file import AsRunLog
from riffcast.history.steers import LoggedSteering
from riffcast.ops.dead_air import Air, DeadAirWatch, air_of
from riffcast.ops.health import Assessment, assess
from riffcast.ops.metrics import ListenerCounts, StationMetrics
from riffcast.ops.ratelimit import TokenBucket
from riffcast.pipeline.beat_clock import beats_heard, next_downbeat_heard
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.records import Aired, ImageRecord
from riffcast.station import http, reports, routes
from riffcast.station.clock import RealClock, StationClock
from riffcast.station.control_socket import serve_control
from riffcast.station.joins import join_opus, join_pcm
from riffcast.station.link import LinkFollower
from riffcast.station.pacer import ANNOUNCED_MEMORY_S, Announcements, Cadence, Pacer, Tick
from riffcast.station.rewind import RewindWindow
from riffcast.station.tls_port import answering_plain_http
from riffcast.steering.walk import heard_prompts
from riffcast_client import protocol

log = logging.getLogger("riffcast.station")

ALIVE_EVERY_S = 1.0
LISTENERS_LOGGED_EVERY_S = 60.0  # the as-run log's listener counts
NOT_LISTENED = frozenset({"record", "speaker", "as-run", "hls", "hls-window"})  # outputs without listeners to count
START_POLL_S = 0.02  # how often the clock looks whether playback may start
# Connections the kernel queues for accept(), and asyncio's accepts per wake-up: above asyncio's 100 (a busy
# loop dropped bursts of /history requests), within the open files the handshake limit leaves (a wake-up
# accepting 1024 ran out of descriptors before the oldest idle handshakes could be dropped).
LISTEN_BACKLOG = 256


class StationFailure(RuntimeError):
    """The stream can no longer be generated: the process should exit for its supervisor."""


@dataclass(frozen=True)
class StationConfig:
    control_token: str
    name: str = "riffcast"
    host: str = "127.0.0.1"
    port: int = 8000
    frame_samples: int = 4410
    preroll_frames: int = 3
    backlog_s: float = 1.0  # the backlog policy of /stream's listeners (riffcast.delivery.backlog)
    stall_close_s: float = 5.0
    max_listeners: int = 10_000
    max_message_bytes: int = 64 * 1024
    control_rate_per_s: float = 10.0  # requests per control connection, bursts of 4 s worth
    open_timeout_s: float = 10.0  # a connection must finish its handshake within this
    allowed_origins: tuple[str, ...] = ()  # origins besides the station's own that may open /control
    icecast: tuple[IcecastTarget, ...] = ()  # mounts to feed as a source client
    tls: ssl.SSLContext | None = None  # HTTPS and WSS on the port, when set
    link_latency_s: float | None = None  # --link: an Ableton Link peer this far behind the clock; None: off
    hls_window_s: float = DEFAULT_WINDOW_S  # --hls-window: the rewind window (HLS, /stream?from=, /clip)
    hls_window_dir: Path | None = None  # --hls-window-dir: its folder; None: a temporary one


class Station:
    """Serve a :class:`Feed` to listeners in real time (see the module docstring)."""

    def __init__(
        self, config: StationConfig, feed: Feed, *, generator_name: str, sinks: list[Output] = (),
        metrics: StationMetrics | None = None, as_run: AsRunLog | None = None, clock: StationClock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or RealClock()
        self.feed = feed
        self.params = feed.params
        self.generator_name = generator_name
        self.metrics = metrics or StationMetrics()
        self.metrics.watch(lambda: self.lead_s, feed.generator_faults, lambda: feed.assembly.stitcher.level_stats)
        self.metrics.generating.set_function(lambda: float(self.generator_ok))
        self.metrics.producer_restarts.set_function(lambda: self.feed.producer_restarts)
        self.metrics.steer_rewinds.set_function(lambda: self.feed.rewinds)
        self.metrics.rewound_seconds.set_function(lambda: self.feed.rewound_samples / self.params.sample_rate)
        self.metrics.problems.set_function(lambda: len(self.problems()))
        # Health checks of what runs beside the stream: each returns a one-line problem or None.
        self.checks: list[Callable[[], str | None]] = []
        # Called from the clock about once a second while it ticks and the station generates
        # (the systemd watchdog's keep-alive: a wedged process stops calling it).
        self.on_alive: Callable[[], None] = lambda: None
        self.on_playing: Callable[[], None] = lambda: None  # once, when the first frame is due
        policy = BacklogPolicy(config.backlog_s, config.stall_close_s)
        self.listeners = PcmListeners(policy, feed.params.sample_rate)  # ws-pcm
        self.outputs = EncodedOutputs(config.name, policy, self._emitted_history, http.SECURITY_HEADERS)
        self.sinks = list(sinks)
        self.as_run = as_run or AsRunLog(None, generator=generator_name, model="")  # /history, even without --as-run
        self.control_steering = LoggedSteering(feed, self.as_run, Source.CONTROL)
        self.rewind = RewindWindow(self, SegmentStore(config.hls_window_s, feed.params.sample_rate, config.hls_window_dir),
                                   segment_url=f"{routes.RUN}/{{sequence}}.mp3")
        self.all_outputs: tuple[Output, ...] = (self.listeners, self.outputs, *self.sinks, self.as_run, self.rewind.store)
        self.refused: collections.Counter[str] = collections.Counter()  # listeners turned away: full, abusive
        self._title = config.name  # what is heard now, for players (ICY, Icecast)
        self.position: int | None = None  # next sample the clock emits; None before playback
        self.epoch_s: float | None = None  # Unix time at which sample 0 was due
        self.starved_frames = 0
        self.dead_air = DeadAirWatch(feed.params.sample_rate)  # silence or fallback for seconds
        self.checks.append(lambda: self.dead_air.problem(self.clock.now_s()))
        self.pacer = Pacer(frame_samples=config.frame_samples, sample_rate=feed.params.sample_rate,
                           preroll_frames=config.preroll_frames)
        self._announcements = Announcements(memory_samples=round(ANNOUNCED_MEMORY_S * feed.params.sample_rate))
        self._aired = AiredOnce()  # the images the as-run log is told of
        self.playing = asyncio.Event()  # set when the first frame is due
        self.metrics.watch_outputs(self.output_health, self._listener_counts, self.outputs.encoder_cpu_s,
                                   lambda: self.outputs.encoder_failures)
        self.metrics.listeners.set_function(lambda: self.stream_listeners)
        feed.on_generated = self.metrics.chunk_generation_seconds.observe  # thread-safe
        feed.on_stitched = self.metrics.chunk_stitch_seconds.observe
        feed.on_underrun = self.metrics.underruns.inc

    # -- what the station reports ----------------------------------------------------------
    def now_playing(self, record: ImageRecord) -> str:
        """The ``now_playing`` event of ``record``, with the picture that shows it."""
        downbeat = next_downbeat_heard(self.feed.records(), record.position, self.params.sample_rate)
        return reports.now_playing_event(record, self.feed.picture_for(record), downbeat)

    @property
    def lead_s(self) -> float:
        return self.feed.lead_samples() / self.params.sample_rate

    @property
    def generator_ok(self) -> bool:
        """The producer and feed run and no paint has hung (see Feed.generating)."""
        return self.feed.generating()

    @property
    def stream_listeners(self) -> int:
        """Listeners on ``/stream``, PCM and Opus."""
        return len(self.listeners) + len(self.outputs.opus_listeners)

    def output_health(self) -> tuple[OutputReport, ...]:
        """Every named output now (``ws-pcm``, ``ws-opus``, ``mp3``, ``hls``, each Icecast mount, sinks)."""
        return tuple(report for output in self.all_outputs for report in output.health())

    def problems(self) -> tuple[str, ...]:
        """Failures beside the stream (the state file, dead air, an output: a recording, a mount), one line each."""
        return (*(problem for check in self.checks if (problem := check()) is not None),
                *(report.problem for report in self.output_health() if report.problem is not None))

    def _listener_counts(self) -> ListenerCounts:
        opus = self.outputs.opus_listeners
        return ListenerCounts(
            messages_sent=self.listeners.messages_sent + opus.messages_sent,
            messages_dropped=self.listeners.messages_dropped + opus.messages_dropped,
            closed={**self.refused, "too_slow": self.listeners.tally.closed_too_slow + opus.tally.closed_too_slow},
        )

    def assessment(self) -> Assessment:
        return assess(playing=self.position is not None, generating=self.generator_ok, problems=self.problems())

    def health(self) -> dict:
        return reports.health(self)

    def settings(self) -> dict:
        return reports.settings(self)

    def status(self) -> dict:
        """The fields of a control status reply (besides its id)."""
        return reports.status(self)

    # -- running ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, on_ready=lambda station: None) -> None:
        """Serve until ``stop`` is set, then close listeners with 1001 and the sinks."""
        self.feed.start()
        create_connection = functools.partial(routes.StationConnection, router=routes.Router(self))
        if self.config.tls is not None:  # TLS, and plain HTTP answered in words (riffcast.station.tls_port)
            create_connection = answering_plain_http(create_connection, self.config.tls,
                                                     timeout_s=self.config.open_timeout_s, shutdown_timeout_s=0.5)
        try:
            async with serve(
                self._handle, self.config.host, self.config.port, process_request=self._process_request,
                process_response=routes.process_response, select_subprotocol=routes.select_subprotocol,
                create_connection=create_connection,
                compression=None, max_size=self.config.max_message_bytes, close_timeout=0.5,
                open_timeout=self.config.open_timeout_s,
                ping_interval=20, ping_timeout=20, max_queue=4, backlog=LISTEN_BACKLOG,
            ) as server:
                self.bound_port = server.sockets[0].getsockname()[1]
                self.outputs.start_icecast(list(self.config.icecast), self.config.name)
                on_ready(self)
                clock = asyncio.create_task(self.play())
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait([clock, stopped], return_when=asyncio.FIRST_COMPLETED)
                clock.cancel()
                self.outputs.live_mp3.close_all()
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
            for output in self.all_outputs:
                output.close()
            self.feed.stop(timeout_s=0.3)

    async def play(self) -> None:
        """The pacing clock: wait for the pre-roll, then write frame after frame to every output as
        each falls due on ``self.clock``, forever (:meth:`run` serves it; tests drive it with a
        :class:`~riffcast.station.clock.ManualClock`). Raises :class:`StationFailure` when the
        stream can no longer be generated."""
        while not (self.feed.ready_to_play() and self.pacer.may_start(self.feed.end)):
            if self.feed.fatal:
                raise StationFailure(f"the generator failed before the first chunk: {self.feed.fatal}")
            await self.clock.sleep(START_POLL_S)
        clock = self.clock
        start_s = clock.now_s()
        self.epoch_s = clock.wall_s()
        self.position = 0
        self.playing.set()
        self.outputs.worker(Codec.MP3)  # HLS segments from the start: the rewind window fills
        self.on_playing()
        alive, counted = Cadence(ALIVE_EVERY_S), Cadence(LISTENERS_LOGGED_EVERY_S)
        link = None if self.config.link_latency_s is None else LinkFollower(self.params.sample_rate,
                                                                            self.config.link_latency_s)
        for tick in self.pacer.ticks(start_s):
            delay_s = tick.due_s - clock.now_s()
            if delay_s > 0:
                await clock.sleep(delay_s)
            if self.feed.fatal:
                raise StationFailure(self.feed.fatal)
            self._tick(tick)
            now_s = clock.now_s()
            if link is not None:
                link.follow(self.feed.records(), now_s - start_s)
            if alive.due(now_s) and self.generator_ok:
                alive.reported(now_s)
                self.on_alive()
            if counted.due(now_s):
                counted.reported(now_s)
                self.as_run.listeners({r.output: r.receivers for r in self.output_health()
                                       if r.output not in NOT_LISTENED}, clock.wall_s())

    def _tick(self, tick: Tick) -> None:
        """Make the tick's block and write it to every output."""
        block = self._block(tick)
        for output in self.all_outputs:
            output.write(block)

    def _block(self, tick: Tick) -> Block:
        """Samples [tick.position, tick.end) from the feed (silence, counted, if none is ready), with
        the events and title due; the playhead moves on."""
        position, frame = tick.position, self.config.frame_samples
        samples = self.feed.read(position, frame)
        record = self.feed.record_at(position)
        air = air_of(stitched=samples is not None, fallback=record is not None and record.fallback)
        if samples is None:
            samples = np.zeros(frame, dtype=np.float32)
            self.starved_frames += 1
            self.metrics.starved_frames.inc()
        self.dead_air.emitted(air, frame, self.clock.now_s())
        if air is not Air.MUSIC:
            self.metrics.dead_air_seconds.labels(air.value).inc(frame / self.params.sample_rate)
        emitted_s = self.clock.wall_s()
        self.feed.move_playhead(tick.end)
        self.position = tick.end
        records = self.feed.records()
        aired = tuple(Aired(r, emitted_s + (r.position - position) / self.params.sample_rate)
                      for r in self._aired.new(records, tick.end))  # a late one too: the log stays contiguous
        announced = self._announcements.new([r for r in records if r.announced], position, tick.end)
        if announced:
            self._title = title_of(heard_prompts(announced[-1].step))
        beats = beats_heard(records, position, tick.end, self.params.sample_rate)
        events = tuple(event for _, _, event in sorted(  # before the frame, in the order they are heard
            [(r.position, 0, self.now_playing(r)) for r in announced] + [(b.position, 1, reports.beat_event(b)) for b in beats]))
        return Block(position, samples, emitted_s, events, self._title, aired)

    def _emitted_history(self, seconds: float = 1.0) -> list[tuple[int, np.ndarray]]:
        """The frames emitted in the last ``seconds``, oldest first: (position, samples)."""
        if self.position is None:
            return []
        frame = self.config.frame_samples
        first = max(0, self.position - round(seconds * self.params.sample_rate) // frame * frame)
        frames = [(position, self.feed.read(position, frame)) for position in range(first, self.position, frame)]
        return [(position, samples) for position, samples in frames if samples is not None]

    def history(self, query: str, *, text: bool) -> Response:
        """``GET /history`` (JSON) and ``/history.txt`` (riffcast.station.reports)."""
        return reports.history(self, query, text=text)

    def attach_live_mp3(self, transport: asyncio.Transport, headers) -> None:
        """A ``GET /live.mp3`` taken over from the WebSocket server (see riffcast.station.routes)."""
        if self.stream_listeners + len(self.outputs.live_mp3) >= self.config.max_listeners:
            self.refused["full"] += 1
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 10\r\n"
                            b"Connection: close\r\n\r\n")
            transport.close()
            return
        self.outputs.attach_live_mp3(transport, icy=headers.get("Icy-MetaData", "").strip() == "1")

    # -- HTTP ------------------------------------------------------------------------------
    def _process_request(self, connection: routes.StationConnection, request: Request) -> Response | None:
        """Routing lives in :mod:`riffcast.station.routes` (sans I/O)."""
        return routes.process_request(connection, request)

    # -- WebSockets ------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        url = urlsplit(connection.request.path)
        if url.path == "/stream":
            await self._serve_listener(connection, parse_qs(url.query).get("format", [protocol.DEFAULT_FORMAT])[0],
                                       url.query)
        elif url.path == "/control":
            await serve_control(connection, self, self.config.control_rate_per_s)
        else:
            await connection.close(1008, "unknown path")

    async def _serve_listener(self, connection: ServerConnection, sample_format: str, query: str) -> None:
        if self.stream_listeners >= self.config.max_listeners:
            self.refused["full"] += 1
            await connection.close(1013, f"station full ({self.config.max_listeners} listeners); try again later")
            return
        await self.playing.wait()
        shrink_send_buffer(connection)
        start = self.rewind.stream_start(query)  # None: live
        if sample_format == protocol.OPUS:
            listeners = self.outputs.opus_listeners
            if start is None:
                listener = await join_opus(self, connection)
            elif await self.rewind.catch_up_opus(connection, start):
                listener = listeners.listener(connection, protocol.OPUS)
            else:
                return
            if listener is None:
                return
        else:
            listeners = self.listeners
            if start is None:
                listener = join_pcm(self, connection, sample_format)
            elif await self.rewind.catch_up_pcm(connection, sample_format, start):
                listener = self.listeners.listener(connection, sample_format)
            else:
                return
        # No await since the pre-roll (or the catch-up) was written: no frame or packet can slip in between.
        listeners.add(listener)
        log.debug("listener joined from %s (%s, %d listening)", routes.peer(connection), sample_format,
                  self.stream_listeners)
        chatter = TokenBucket(rate_per_s=5.0, burst=20)
        try:
            async for _ in connection:  # what listeners send is ignored (max_size bounds its size)
                if not chatter.take():
                    self.refused["abusive"] += 1
                    await connection.close(1008, "listeners must not send data")
        except ConnectionClosed:
            pass
        finally:
            listeners.discard(listener)
            log.debug("listener left from %s (close code %s, %d messages dropped)", routes.peer(connection),
                      connection.close_code, listener.messages_dropped)
