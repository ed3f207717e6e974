"""HTTP on the station's port: which request gets what, and the guards in front of websockets.

- :class:`Router` (sans I/O): (method, target, headers, client) → a :class:`Response`, or an
  :class:`Upgrade` when the WebSocket handshake may go on. It refuses other methods (405), bad
  targets (400), foreign origins on /control (403) and missing or wrong tokens (401), counting
  each in /metrics and logging each kind at most once a second (:class:`LogLimiter`).
- :class:`StationConnection`, websockets' server connection with two guards: the request head is
  checked (:class:`~riffcast.station.http.HeadChecker`) before websockets parses it, so garbage —
  a TLS ClientHello, random bytes, HTTP/2.0, oversized headers — gets a 4xx at once and one
  rate-limited line, never a silent hang, a traceback or a line per request; and incoming pings
  are rate-limited (websockets answers each one itself), a flood being closed with 1008.
- :func:`process_request`, :func:`process_response`, :func:`select_subprotocol`: the hooks
  ``serve()`` calls; the response hook adds the security headers to every response websockets
  sends after a request was read, strips HEAD bodies and writes the access log (``--verbose``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event

from riffcast.delivery.http_stream import HandedOverTransport
from riffcast.ops.health import HealthStatus
from riffcast.ops.limits import HandshakeQueue
from riffcast.ops.ratelimit import LogLimiter, TokenBucket
from riffcast.station import http
from riffcast.station.http import Refusal
from riffcast_client import protocol

if TYPE_CHECKING:
    from riffcast.ops.metrics import StationMetrics
    from riffcast.pipeline.records import ImageRecord

log = logging.getLogger("riffcast.station")
access_log = logging.getLogger("riffcast.access")

LOG_EVERY_S = 1.0  # at most one line a second for each kind of refusal
PING_RATE_PER_S = 10.0  # pings a peer may send, on average …
PING_BURST = 20  # … after a burst of this many
CHUNK_PATH = re.compile(r"/chunks/([0-9a-z]{1,16})/([0-9]{1,15})\.png")
HLS_PLAYLIST = "/hls/live.m3u8"
HLS_SEGMENT = re.compile(r"/hls/([0-9a-z]{1,16})/([0-9]{1,12})\.mp3")
LOGGED_TEXT = re.compile(r"[^\x20-\x7e]")


def run_id(now_s: float | None = None) -> str:
    """A short id of this run: the start time in milliseconds, in base 36 (8 characters until 2059)."""
    value = int((time.time() if now_s is None else now_s) * 1000)
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not value:
            return digits


RUN = run_id()  # chunk URLs differ from one run to the next, so a cached picture is never another's


def picture_path(serial: int) -> str:
    """URL path of the spectrogram of image number ``serial`` in this run (numbers are never
    reused, so a picture never changes behind its URL)."""
    return f"/chunks/{RUN}/{serial}.png"


class Upgrade(enum.Enum):
    """The WebSocket handshake may go on, for this endpoint."""

    STREAM = "/stream"
    CONTROL = "/control"


class Takeover(enum.Enum):
    """The connection leaves the WebSocket server for an endless HTTP response, on this path."""

    LIVE_MP3 = "/live.mp3"


class Deferred(enum.Enum):
    """A response the site makes asynchronously (it may wait a moment), for this path."""

    HLS_PLAYLIST = HLS_PLAYLIST
    CLIP = "/clip"


class SiteConfig(Protocol):
    @property
    def control_token(self) -> str: ...

    @property
    def allowed_origins(self) -> tuple[str, ...]: ...


class Chunks(Protocol):
    def records(self) -> Iterable[ImageRecord]: ...


class Rewind(Protocol):  # riffcast.station.rewind.RewindWindow
    async def hls_playlist(self) -> Response: ...

    def hls_segment(self, sequence: int) -> bytes | None: ...

    def window(self) -> dict: ...

    def stream_refusal(self, query: str) -> Response | None: ...

    async def clip(self, query: str) -> Response: ...


class Site(Protocol):
    """What the router needs from the station."""

    @property
    def config(self) -> SiteConfig: ...

    @property
    def metrics(self) -> StationMetrics: ...

    @property
    def feed(self) -> Chunks: ...

    def health(self) -> dict: ...

    def attach_live_mp3(self, transport: asyncio.Transport, headers: Headers) -> None: ...

    @property
    def rewind(self) -> Rewind: ...

    def history(self, query: str, *, text: bool) -> Response: ...


class Router:
    """Sans-I/O routing; see the module docstring."""

    def __init__(self, site: Site, *, log_every_s: float = LOG_EVERY_S) -> None:
        self.site = site
        self.refusals = LogLimiter(log, log_every_s)
        self.handshakes: HandshakeQueue[StationConnection] = HandshakeQueue()
        self.allowed_origins = frozenset(http.normalize_origin(o) for o in site.config.allowed_origins)

    def route(self, method: str, target: str, headers: Headers, client: str = "?") -> Response | Upgrade | Takeover | Deferred:
        if method not in http.ALLOWED_METHODS:
            return self.refuse(Refusal.METHOD, client, method)
        try:
            url = urlsplit(target)
            if not url.path.startswith("/"):
                raise ValueError("not an absolute path")
        except ValueError:
            return self.refuse(Refusal.BAD_TARGET, client)
        path, query = url.path, url.query
        if path == Upgrade.STREAM.value:
            try:
                protocol.check_format(parse_qs(query).get("format", [protocol.DEFAULT_FORMAT])[0])
            except protocol.ProtocolError as error:
                return http.text_response(400, str(error))
            refusal = self.site.rewind.stream_refusal(query)  # from= or since= the window cannot serve
            return _upgrade(method, Upgrade.STREAM) if refusal is None else refusal
        if path == Upgrade.CONTROL.value:
            return self._control(method, headers, query, client)
        if path == Takeover.LIVE_MP3.value:
            if method == "HEAD":  # what GET would start, without the endless body
                return http.response(200, b"", "audio/mpeg", cache="no-cache, no-store")
            return Takeover.LIVE_MP3
        if path == "/":
            return http.player_file("index.html", host=_host(headers))
        if path.startswith("/static/"):
            return http.player_file(path[len("/static/") :])
        if path == "/favicon.ico":  # browsers ask; no icon, and no 404 in their console or our log
            return http.no_content(cache="public, max-age=86400")
        if path == "/healthz":  # 503 while starting or not generating: load balancers and probes act on it
            health = self.site.health()
            return http.json_response(health, HealthStatus(health["status"]).http_status)
        if path == "/metrics":
            return http.response(200, self.site.metrics.render(), self.site.metrics.content_type)
        if path in ("/history", "/history.txt"):
            return self.site.history(query, text=path.endswith(".txt"))
        match = CHUNK_PATH.fullmatch(path)
        if match:
            return self._chunk(match.group(1), int(match.group(2)))
        if path == HLS_PLAYLIST:
            return Deferred.HLS_PLAYLIST
        if path == "/window":
            return http.json_response(self.site.rewind.window())
        if path == Deferred.CLIP.value:
            return Deferred.CLIP
        match = HLS_SEGMENT.fullmatch(path)
        if match:
            return self._hls_segment(match.group(1), int(match.group(2)))
        return http.text_response(404, "not found")

    def _control(self, method: str, headers: Headers, query: str, client: str) -> Response | Upgrade:
        allowed, origin = http.origin_allowed(headers, self.allowed_origins)
        if not allowed:
            shown = _loggable(origin, 100)
            return self.refuse(Refusal.ORIGIN, client, f"{shown} (only the station's own origin and "
                               "those given with --allow-origin may)")
        token = http.bearer_token(headers, query)
        if not http.token_matches(token, self.site.config.control_token):
            reason = "missing" if not token else "wrong"
            self.site.metrics.control_auth_failures.labels(reason).inc()
            self.refusals.log(("token", reason), "control: refused a connection from %s with %s token",
                              client, "no" if reason == "missing" else "a wrong")  # never the token
            return http.text_response(
                401, "control needs the station's token (Sec-WebSocket-Protocol: "
                f"{http.CONTROL_SUBPROTOCOL}, {http.BEARER_PREFIX}TOKEN, or Authorization: Bearer TOKEN)",
            )
        return _upgrade(method, Upgrade.CONTROL)

    def _chunk(self, run: str, serial: int) -> Response:
        if run == RUN:
            record = next((r for r in self.site.feed.records() if r.serial == serial), None)
            if record is not None:
                return http.response(200, record.png, "image/png", cache="public, max-age=3600, immutable")
        return http.text_response(404, "no such chunk (only the last few of this run are kept)")

    def _hls_segment(self, run: str, sequence: int) -> Response:
        self.site.metrics.hls_requests.labels("segment").inc()
        data = self.site.rewind.hls_segment(sequence) if run == RUN else None
        if data is None:
            return http.text_response(404, "no such segment (only the rewind window of this run is kept)")
        return http.response(200, data, "audio/mpeg", cache="public, max-age=86400, immutable")

    def refuse(self, refusal: Refusal, client: str, detail: str = "") -> Response:
        """Count, log (rate-limited) and answer a refused request."""
        self.site.metrics.http_refused.labels(refusal.label).inc()
        self.refusals.log(refusal, "HTTP %d to %s: %s", refusal.status, client,
                          refusal.reason + (f": {_loggable(detail, 200)}" if detail else ""))
        return http.refusal_response(refusal, _loggable(detail, 200))

    def ping_flood(self, client: str) -> None:
        self.site.metrics.ping_floods.inc()
        self.refusals.log("pings", "closed a WebSocket from %s with 1008: more than %g pings a second",
                          client, PING_RATE_PER_S)


def _upgrade(method: str, endpoint: Upgrade) -> Response | Upgrade:
    if method == "HEAD":  # no handshake without GET: say what GET with the upgrade would do
        return http.text_response(426, "a WebSocket endpoint", headers=(("Upgrade", "websocket"),))
    return endpoint


def _host(headers: Headers) -> str | None:
    hosts = headers.get_all("Host")
    return hosts[0] if len(hosts) == 1 else None


def _loggable(text: str, limit: int) -> str:
    """Printable ASCII only, at most ``limit`` characters: what a peer sent may go in a log."""
    text = LOGGED_TEXT.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def peer(connection: ServerConnection) -> str:
    """``host:port`` of the other end."""
    address = connection.remote_address
    if not address:
        return "?"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


# -- the hooks serve() calls -------------------------------------------------------------------
def process_request(connection: StationConnection, request: Request) -> Response | Awaitable[Response] | None:
    """Route a request read by websockets: a response, or None to go on with the handshake."""
    connection.router.handshakes.finish(connection)
    outcome = connection.router.route(request.method, request.path, request.headers, peer(connection))
    if outcome is Takeover.LIVE_MP3:
        connection.router.site.attach_live_mp3(connection.hand_over(), request.headers)
        return http.response(200, b"", "audio/mpeg")  # for the access log: the stream was answered already
    if outcome is Deferred.HLS_PLAYLIST:
        return connection.router.site.rewind.hls_playlist()  # awaited by websockets
    if outcome is Deferred.CLIP:
        return connection.router.site.rewind.clip(urlsplit(request.path).query)
    return None if isinstance(outcome, Upgrade) else outcome


def process_response(connection: ServerConnection, request: Request, response: Response) -> Response:
    """Every response to a request that was read (routed or websockets' own): security headers, no
    body for HEAD, one access-log line (``--verbose``) with the client and never the query."""
    for name, value in http.SECURITY_HEADERS:
        if name not in response.headers:
            response.headers[name] = value
    if request.method == "HEAD":
        response.body = b""  # Content-Length stays that of GET
    try:
        path = urlsplit(request.path).path
    except ValueError:
        path = "(malformed target)"
    access_log.info("%s %s %s %d", peer(connection), request.method, _loggable(path, 200), response.status_code)
    return response


def select_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """``riffcast-control`` on /control when offered (never echo ``bearer.…``); none elsewhere."""
    if http.CONTROL_SUBPROTOCOL in offered and urlsplit(connection.request.path).path == Upgrade.CONTROL.value:
        return http.CONTROL_SUBPROTOCOL
    return None


class StationConnection(ServerConnection):
    """websockets' server connection with the station's two guards (see the module docstring).

    Pass ``functools.partial(StationConnection, router=…)`` as ``serve(create_connection=…)``.
    """

    def __init__(self, *args: Any, router: Router, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.router = router
        self._head: http.HeadChecker | None = http.HeadChecker()  # None once the head went on
        self._pings = TokenBucket(PING_RATE_PER_S, PING_BURST)
        self._closing: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection among those in their handshake; over the bound, drop the oldest
        (see riffcast.ops.limits) so idle connections cannot exhaust the open files."""
        super().connection_made(transport)
        oldest = self.router.handshakes.admit(self)
        if oldest is not None:
            self.router.site.metrics.http_refused.labels("handshake_backlog").inc()
            self.router.refusals.log("handshakes", "dropped the connection from %s: over %d connections had not "
                                     "sent a request yet (it was the oldest)", peer(oldest),
                                     self.router.handshakes.capacity)
            if oldest.transport is not None:
                oldest.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.router.handshakes.finish(self)
        super().connection_lost(exc)

    def hand_over(self) -> asyncio.Transport:
        """Give the TCP connection away (to an endless HTTP response) → its transport. websockets'
        side is told the connection is gone, so its handshake and handler end at once; the
        stand-in left in its place ignores what they still write or close."""
        real = self.transport
        self.transport = HandedOverTransport(real)
        self.connection_lost(None)
        return real

    def data_received(self, data: bytes) -> None:
        if self._head is None:
            super().data_received(data)
            return
        check = self._head.feed(data)
        if not check.done:
            return
        head, self._head = bytes(self._head.buffer), None
        if check.refusal is None:
            super().data_received(head)
            return
        # websockets never sees these bytes: answer, half-close, and discard what else comes
        # (the peer's close, or open_timeout, ends the connection).
        self.protocol.send_response(self.router.refuse(check.refusal, peer(self)))
        self.send_data()

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING and not self._pings.take():
            if self._closing is None:
                self.router.ping_flood(peer(self))
                # Fail at once (websockets answers no more pings: it discards what comes), stop
                # reading (TCP holds the flood back instead of the CPU), and let close() wait
                # close_timeout for the peer to hang up before it aborts the connection.
                self.protocol.fail(CloseCode.POLICY_VIOLATION, "too many pings")
                self.send_data()
                self.transport.pause_reading()
                self._closing = self.loop.create_task(self.close())
            return
        super().process_event(event)

    def send_data(self) -> None:
        """As websockets' own, but what is queued goes out in one write: the pongs for a batch of
        pings cost one system call, not one each (and one asyncio warning, not thousands, when
        the peer has reset the connection meanwhile)."""
        chunks = self.protocol.data_to_send()
        if not chunks:
            return
        eof = chunks[-1] == b""  # SEND_EOF is only ever last
        data = b"".join(chunks)
        if data:
            self.transport.write(data)
        if eof:
            if self.transport.can_write_eof():  # half-close, as websockets does
                try:
                    self.transport.write_eof()
                except Exception:  # noqa: BLE001 — websockets ignores these too (OSError, uvloop's RuntimeError)
                    pass
            else:
                self.transport.close()
