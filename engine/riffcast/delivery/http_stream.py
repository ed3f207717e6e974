"""``GET /live.mp3``: an endless MP3 response to any player, on the station's port.

The WebSocket server reads and routes the request as any other; the router then hands the
connection's transport over to a :class:`LiveResponse` (``transport.set_protocol``) and the
WebSocket side lets go of it (:class:`HandedOverTransport`). The response has no length and
ends when either side closes. :class:`LiveMp3` writes each MP3 packet to every listener without
waiting, under the one backlog policy (:mod:`riffcast.delivery.backlog`): a listener more than
``backlog_s`` behind has packets skipped (whole MP3 frames, so its decoder resynchronises at once)
and one behind for ``stall_close_s`` is closed. Together they are the output ``mp3``. With
``Icy-MetaData: 1`` a listener gets the title heard now every 16 000 bytes (:mod:`.icy`). The
head's ``X-Riffcast-Position`` is the stream position of the first frame's first sample, so a
client can line the audio up with the ``now_playing`` events of ``/stream``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Callable

from riffcast.delivery.backlog import BacklogPolicy, Lag, Verdict
from riffcast.delivery.codecs import STREAM_RATE, Packet
from riffcast.delivery.icy import METAINT_BYTES, IcyInterleaver
from riffcast.delivery.output import OutputReport, Tally
from riffcast.ops.ratelimit import LogLimiter

log = logging.getLogger("riffcast.delivery")

SEND_BUFFER_BYTES = 64 * 1024
MP3_BYTES_PER_S = 128_000 // 8
MP3_FRAME_SAMPLES = 1152
POLICY = BacklogPolicy(backlog_s=2.0, stall_close_s=10.0)  # players buffer more than /stream's listeners


def response_head(*, station: str, icy: bool, extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The head of an endless ``audio/mpeg`` response (no length: it ends when the connection does)."""
    headers = [
        ("Content-Type", "audio/mpeg"),
        ("Cache-Control", "no-cache, no-store"),
        ("Connection", "close"),
        ("Access-Control-Allow-Origin", "*"),
        ("icy-name", station.replace("\r", " ").replace("\n", " ")),
        ("icy-br", "128"),
        *extra_headers,
    ]
    if icy:
        headers.append(("icy-metaint", str(METAINT_BYTES)))
    lines = ["HTTP/1.1 200 OK", *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1", "replace")


class HandedOverTransport:
    """Stands in for a transport the WebSocket connection gave away: writes and closes are no-ops,
    what it reports (the peer's address) is the real transport's."""

    def __init__(self, real: asyncio.Transport) -> None:
        self._real = real

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def write(self, data: bytes) -> None: ...
    def writelines(self, data: Any) -> None: ...
    def write_eof(self) -> None: ...
    def can_write_eof(self) -> bool: return False
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: return True
    def get_write_buffer_size(self) -> int: return 0
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class LiveResponse(asyncio.Protocol):
    """One listener's endless response: what it sends is discarded, its loss unregisters it."""

    def __init__(self, transport: asyncio.Transport, *, icy: bool, lag: Lag,
                 on_lost: Callable[[LiveResponse], None]) -> None:
        self.transport = transport
        self.icy = IcyInterleaver() if icy else None
        self.lag = lag
        self.head: bytes | None = None  # the response head, until the first packets go with it
        self._on_lost = on_lost
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        pass  # a player sends nothing more; anything it does is ignored

    def eof_received(self) -> bool:
        return False  # the peer hung up its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(self)

    def start(self, packets: list[Packet], title: str) -> int:
        """The response head, naming the first packet's stream position, then the packets → the
        audio bytes written."""
        if not packets:
            return 0
        head = self.head.replace(b"\r\n\r\n", f"\r\nX-Riffcast-Position: {packets[0].position}\r\n\r\n".encode(), 1)
        self.head = None
        self.transport.write(head)
        return self.send(b"".join(packet.data for packet in packets), title)

    def send(self, audio: bytes, title: str) -> int:
        self.transport.write(self.icy.feed(audio, title) if self.icy else audio)
        return len(audio)


class LiveMp3:
    """Every ``/live.mp3`` listener, written to packet by packet."""

    def __init__(self, station: str, *, policy: BacklogPolicy = POLICY) -> None:
        self.station = station
        self.policy = policy
        self.listeners: set[LiveResponse] = set()
        self.tally = Tally("mp3")
        self._closes_log = LogLimiter(log, 1.0, level=logging.INFO)  # 300 readers may stall at once

    def __len__(self) -> int:
        return len(self.listeners)

    def attach(self, transport: asyncio.Transport, *, icy: bool, recent: list[Packet], title: str,
               extra_headers: tuple[tuple[str, str], ...] = ()) -> LiveResponse:
        """Take over ``transport``: send the head and the last packets, then the live ones. The head's
        ``X-Riffcast-Position`` is the stream position of the first MP3 frame's first sample."""
        listener = LiveResponse(transport, icy=icy, lag=Lag(self.policy, MP3_BYTES_PER_S), on_lost=self.listeners.discard)
        listener.head = response_head(station=self.station, icy=icy, extra_headers=extra_headers)
        recent = [packet for packet in recent if packet.position >= 0]
        if recent:  # else the head goes with the encoder's first packets
            self.tally.sent_bytes += listener.start(recent, title)
        self.listeners.add(listener)
        return listener

    def deliver(self, packets: list[Packet], title: str, now_s: float) -> None:
        """Write ``packets`` to every listener that keeps up (``now_s``: monotonic, for stalls)."""
        audio = b"".join(packet.data for packet in packets)
        for listener in list(self.listeners):
            verdict = listener.lag.judge(listener.transport.get_write_buffer_size(), now_s)
            if verdict is Verdict.SEND:
                if listener.head is not None:
                    self.tally.sent_bytes += listener.start([packet for packet in packets if packet.position >= 0], title)
                else:
                    self.tally.sent_bytes += listener.send(audio, title)
                continue
            self.tally.dropped_s += len(packets) * MP3_FRAME_SAMPLES / STREAM_RATE
            if verdict is Verdict.CLOSE:
                self.tally.closed_too_slow += 1
                self.listeners.discard(listener)
                self._closes_log.log("too_slow", "closing a /live.mp3 listener: behind for over %g s",
                                     self.policy.stall_close_s)
                listener.transport.abort()

    def health(self) -> tuple[OutputReport, ...]:
        return (self.tally.report(len(self.listeners)),)

    def close_all(self) -> None:
        for listener in list(self.listeners):
            listener.transport.close()
        self.listeners.clear()
