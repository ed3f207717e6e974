"""The OSC endpoint (``--osc-port``): UDP datagrams → steers, thin over
:mod:`riffcast.steering.osc` (which validates). Every refusal is counted in
``riffcast_osc_refused_total{reason}`` and logged at most once a second per reason. Datagrams are
limited in number and in bytes a second, so what a peer can make the loop parse is bounded."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Callable

import pythonosc

from riffcast.ops.metrics import StationMetrics
from riffcast.ops.ratelimit import LogLimiter, TokenBucket
from riffcast.station.control_socket import Steerable
from riffcast.steering.osc import OscRefused, RefusalReason, messages_in, steer_from_osc

log = logging.getLogger("riffcast.station")

OSC_RATE_PER_S = 200.0  # datagrams a second (a fader or a sensor sends tens), bursts of 2 s worth
OSC_BYTES_PER_S = 256 * 1024  # datagram bytes a second, bursts of 2 s worth (a fader sends a few kB)


class ParserLogFilter(logging.Filter):
    """Drops what python-osc logs through the root logger (a warning per unreadable element of a
    datagram, which a peer controls): refusals are counted and logged here instead, limited."""

    folder = os.path.dirname(pythonosc.__file__) + os.sep

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(self.folder)


def silence_parser_logs() -> None:
    """Install :class:`ParserLogFilter` on the root logger (once)."""
    root = logging.getLogger()
    if not any(isinstance(existing, ParserLogFilter) for existing in root.filters):
        root.addFilter(ParserLogFilter())


def bind_osc_socket(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port), so that a port in use is refused at start-up (OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"--osc-port {port}: cannot listen on udp://{host}:{port} ({error.strerror or error})") from None
    sock.setblocking(False)
    return sock


class OscEndpoint(asyncio.DatagramProtocol):
    """Take each datagram's messages as steers of ``feed`` while ``generating()``."""

    def __init__(self, feed: Steerable, metrics: StationMetrics, generating: Callable[[], bool],
                 rate_per_s: float = OSC_RATE_PER_S, bytes_per_s: float = OSC_BYTES_PER_S) -> None:
        self.feed = feed
        self.metrics = metrics
        self.generating = generating
        self.bucket = TokenBucket(rate_per_s, burst=round(2 * rate_per_s))
        self.byte_bucket = TokenBucket(bytes_per_s, burst=round(2 * bytes_per_s))
        silence_parser_logs()
        self.limiter = LogLimiter(log, 1.0)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            if not self.bucket.take():
                raise OscRefused(RefusalReason.FLOOD, f"more than {self.bucket.rate_per_s:g} OSC datagrams a second")
            if not self.byte_bucket.take(len(data)):
                raise OscRefused(RefusalReason.FLOOD, f"more than {self.byte_bucket.rate_per_s:g} OSC bytes a second")
            messages = messages_in(data)
        except OscRefused as refusal:
            self._refuse(refusal, addr)
            return
        for message in messages:
            try:
                if not self.generating():
                    raise OscRefused(RefusalReason.NOT_GENERATING, "the generator is not running; the stream plays its fallback")
                steer = steer_from_osc(message, self.feed.latest_target())
            except OscRefused as refusal:
                self._refuse(refusal, addr)
                continue
            self.feed.steer(steer.target, steer.transition_chunks)
            self.metrics.osc_steers.inc()

    def _refuse(self, refusal: OscRefused, addr: tuple) -> None:
        self.metrics.osc_refused.labels(refusal.reason.value).inc()
        self.limiter.log(refusal.reason, "OSC from %s refused: %s", addr[0], refusal)


async def serve_osc(sock: socket.socket, endpoint: OscEndpoint) -> asyncio.DatagramTransport:
    """Start receiving on the bound ``sock``; close the returned transport to stop."""
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: endpoint, sock=sock)
    return transport
