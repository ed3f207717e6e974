"""The asyncio edge of the Icecast source client: one task per mount that connects, asks, streams
what :meth:`IcecastSource.feed` is given, and tries again whatever goes wrong.

What to send and what answers mean is :mod:`riffcast.delivery.icecast`'s; when to retry, what to
log and when Icecast has stopped reading is :mod:`riffcast.delivery.icecast_link`'s. This module
only moves bytes and waits. MP3 mounts get their title (the prompts heard) through Icecast's
``/admin/metadata``; an Ogg mount's source asks its encoder for a new stream on each connection
(``on_connect``: Icecast needs a stream's headers first), and carries its titles in the stream.
Audio goes out in batches, every ``WRITE_EVERY_S``: a Linux receiver that is not reading keeps
growing its buffer for small segments (under ~1.2 KB: megabytes, seen on loopback) but not for
larger ones (~130 KiB), and only a bounded buffer lets the backlog policy see Icecast stop.
A connection is always aborted, never closed: closing would wait for a buffer Icecast may never
read. Nothing here touches the station's clock or the other outputs.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import struct
import sys
import termios
import time
from typing import Callable

from riffcast.delivery.backlog import Lag, Verdict
from riffcast.delivery.codecs import Codec, Packet
from riffcast.delivery.icecast import (
    MAX_LINE_BYTES,
    IcecastTarget,
    Reply,
    ReplyReader,
    metadata_request,
    source_request,
)
from riffcast.delivery.icecast_link import DEFAULT_LIMITS, LinkLimits, LinkState, LinkStatus, stopped_reading
from riffcast.ops.backoff import Backoff

log = logging.getLogger("riffcast.icecast")


def unacknowledged_bytes(transport: asyncio.WriteTransport) -> int:
    """Bytes written to ``transport`` that the peer has not acknowledged yet: the transport's buffer,
    plus the kernel's send queue on Linux (``SIOCOUTQ``; elsewhere the transport's buffer only)."""
    queued = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None and sys.platform.startswith("linux"):
        try:
            queued += struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4)))[0]
        except OSError:
            pass
    return queued


def _why(error: BaseException) -> str:
    return f"{error.__class__.__name__}: {error}" if str(error) else error.__class__.__name__


def _settle(future: asyncio.Future, value: str | None) -> None:
    if not future.done():
        future.set_result(value)


class _Wire(asyncio.Protocol):
    """One connection to Icecast. What arrives goes to a :class:`ReplyReader`; ``answered`` settles
    with None once Icecast takes the source (else with the problem), ``ended`` with why the
    connection ended. Data after the answer is only counted (and a flood of it ends the link)."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.reply = ReplyReader()
        self.answered: asyncio.Future[str | None] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        state = self.reply.receive(data)
        if state is Reply.ACCEPTED:
            _settle(self.answered, None)
        elif state is Reply.FAILED and self.transport is not None:
            self._end(self.reply.problem or "")
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reply.state is Reply.WAITING:
            self._end("Icecast closed the connection before answering")
        elif exc is None:
            self._end("Icecast closed the connection")
        else:
            self._end(f"the connection was lost ({_why(exc)})")

    def _end(self, why: str) -> None:
        _settle(self.answered, why)
        _settle(self.ended, why)


class IcecastSource:
    """Feed one mount for as long as the station runs (see the module docstring).

    output: the name ``/healthz`` and ``/metrics`` give it (default ``icecast:MOUNT``).
    on_connect: called on each connection Icecast accepts, before any audio is fed.
    """

    def __init__(self, target: IcecastTarget, *, station: str, on_connect: Callable[[], None] | None = None,
                 output: str | None = None, limits: LinkLimits = DEFAULT_LIMITS) -> None:
        self.target = target
        self.station = station
        self.limits = limits
        self.status = LinkStatus(output or f"icecast:{target.mount}")
        self._on_connect = on_connect  # Ogg: asks the encoder for a new stream, which must come first
        self._waiting_for_start = False
        self._transport: asyncio.Transport | None = None  # while streaming
        self._pending = bytearray()  # fed, not yet written (at most WRITE_EVERY_S of audio)
        self._sent_title: str | None = None
        self._task: asyncio.Task | None = None
        self._title_task: asyncio.Task | None = None

    @property
    def state(self) -> LinkState:
        """The link now: up, why not, reconnects, bytes sent."""
        return self.status.state(time.monotonic())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        """Give the link up (its task ends on the loop's next turns: see :meth:`stop`)."""
        for task in (self._task, self._title_task):
            if task is not None:
                task.cancel()

    async def stop(self) -> None:
        """Give the link up and wait until its task has ended."""
        self.close()
        await asyncio.gather(*(task for task in (self._task, self._title_task) if task is not None),
                             return_exceptions=True)

    def feed(self, packets: list[Packet], title: str) -> None:
        """The mount's next packets (on the loop; never waits): written within ``write_every_s``,
        dropped while not streaming."""
        if self._transport is None:
            return
        if self._waiting_for_start:
            starts = [index for index, packet in enumerate(packets) if packet.starts_stream]
            if not starts:
                return
            packets, self._waiting_for_start = packets[starts[0] :], False
        self._pending += b"".join(packet.data for packet in packets)
        if self.target.codec is Codec.MP3 and self._sent_title != title:  # Ogg carries its titles
            self._sent_title = title
            if self._title_task is not None:
                self._title_task.cancel()  # a newer title replaces one still on its way
            self._title_task = asyncio.get_running_loop().create_task(self._send_title(title))

    async def _run(self) -> None:
        """Try, stream, and try again after a back-off, forever: nothing ends this loop but stop()."""
        limits = self.limits
        backoff = Backoff(first_s=limits.retry_first_s, max_s=limits.retry_max_s, stable_s=limits.stable_s)
        while True:
            error: Exception | None = None
            try:
                problem = await self._session()
            except Exception as caught:  # noqa: BLE001 - said once, then retried like any failure
                error, problem = caught, f"unexpected error ({_why(caught)})"
            now_s = time.monotonic()
            delay_s = backoff.delay_s(self.status.streamed_s(now_s))
            if self.status.failed(problem, now_s):
                log.warning("icecast %s: %s; retrying in %g s, then up to every %g s", self.target.shown, problem,
                            delay_s, limits.retry_max_s, exc_info=error)
            await asyncio.sleep(delay_s)

    async def _session(self) -> str:
        """One connection: connect, ask, stream until the link ends → why it ended (one line)."""
        target, limits = self.target, self.limits
        loop = asyncio.get_running_loop()
        try:
            transport, wire = await asyncio.wait_for(loop.create_connection(_Wire, target.host, target.port),
                                                     limits.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as error:
            return f"cannot reach {target.host}:{target.port} ({_why(error)})"
        try:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # the kernel must not hide megabytes Icecast never read
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.send_buffer_bytes)
            transport.write(source_request(target, station=self.station))
            try:
                problem = await asyncio.wait_for(asyncio.shield(wire.answered), limits.answer_timeout_s)
            except asyncio.TimeoutError:
                return f"no whole answer from Icecast within {limits.answer_timeout_s:g} s"
            if problem is not None:
                return problem
            self._streaming(transport)
            lag = Lag(limits.backlog, target.bytes_per_s)
            while True:
                await asyncio.wait([wire.ended], timeout=limits.write_every_s)
                if wire.ended.done():
                    return wire.ended.result()
                data = bytes(self._pending)  # the transport may keep what it is given: never a buffer we reuse
                self._pending.clear()
                verdict = lag.judge(unacknowledged_bytes(transport), time.monotonic())
                if verdict is Verdict.SEND:
                    transport.write(data)
                    self.status.sent(len(data))
                    continue
                self.status.dropped(len(data) / target.bytes_per_s)
                if verdict is Verdict.CLOSE:
                    return stopped_reading(limits.backlog)
        finally:
            self._transport = None
            self._pending.clear()
            transport.abort()

    def _streaming(self, transport: asyncio.Transport) -> None:
        """Icecast took the source: what feed() is given goes out on ``transport`` from now on."""
        self._transport = transport
        self._sent_title = None
        if self._on_connect is not None:
            self._waiting_for_start = True
            self._on_connect()
        if self.status.connected(time.monotonic()):
            log.info("icecast %s: connected, streaming %s", self.target.shown, self.target.codec.value)

    async def _send_title(self, title: str) -> None:
        """Set an MP3 mount's title (``/admin/metadata``; only the answer's status line is read)."""
        target, limits = self.target, self.limits
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port, limit=MAX_LINE_BYTES), limits.connect_timeout_s)
            writer.write(metadata_request(target, title))
            status = await asyncio.wait_for(reader.readline(), limits.answer_timeout_s)
            if b" 200 " not in status:
                log.warning("icecast %s: the title was not taken (%r)", target.shown,
                            status[:80].decode("latin-1").strip())
        except (OSError, asyncio.TimeoutError, ValueError) as error:  # ValueError: a line over the limit
            log.warning("icecast %s: cannot set the title (%s)", target.shown, _why(error))
        finally:
            if writer is not None:
                writer.transport.abort()
