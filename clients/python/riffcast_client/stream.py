"""Receive a ``riffcast/1`` stream as an async iterator, reconnecting when the server goes away.

    async with Listener("ws://127.0.0.1:8000/stream") as listener:
        async for position, samples, events in listener:
            ...  # samples: float32 (frames, channels) starting at absolute sample ``position``

Depends only on the wire protocol (docs/protocol.md): the hello, binary frames with
a position header, and JSON events between frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
import urllib.parse
from enum import Enum
from typing import Any, AsyncIterator

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI

from riffcast_client.protocol import (
    DEFAULT_FORMAT,
    PROTOCOL,
    ProtocolError,
    check_format,
    check_pcm_format,
    decode_frame,
)
from riffcast_client.sequence import FrameSequencer

# Largest message accepted: 4 MiB, ~24 s of mono f32le — far more than any sane frame.
MAX_MESSAGE_BYTES = 4 * 2**20
# HTTP answers worth retrying (the server is starting, overloaded or briefly away); any
# other refusal of the WebSocket upgrade is a wrong URL, and retrying cannot fix it.
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_TLS_ONLY = b"This station speaks HTTPS on this port"  # a station's answer to ws:// on its TLS port
# Recent audio kept to recognise a server's pre-roll after a reconnection: 10 s at 44.1 kHz.
RESEND_HISTORY_FRAMES = 441_000
# Seconds to wait for the server's side of a close before dropping the connection.
_CLOSE_TIMEOUT_S = 2.0
# The same when the iteration is cancelled (Ctrl-C, SIGTERM): a frozen or unreachable server
# must not hold the one who stops for long; a healthy one answers in milliseconds.
_CANCELLED_CLOSE_TIMEOUT_S = 0.5


def stream_url(url: str, sample_format: str | None = None) -> tuple[str, str]:
    """The WebSocket URL to open and the sample format to ask for.

    ``http(s)://`` becomes ``ws(s)://``, a missing scheme means ``ws://`` and an empty path
    means ``/stream``; ``format=`` in the query is set to ``sample_format`` (default: the
    URL's own ``format=``, else s16le). ValueError for anything that cannot be a stream URL.
    """
    if "://" not in url:
        url = "ws://" + url
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("ws", "wss"):
        raise ValueError(f"{url}: not a stream URL (use ws://HOST:PORT/stream)")
    if not parts.hostname:
        raise ValueError(f"{url}: no host in the URL (use ws://HOST:PORT/stream)")
    try:
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number
    except ValueError as error:
        raise ValueError(f"{url}: {error}") from None
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if sample_format is None:
        sample_format = next((value for key, value in query if key == "format"), DEFAULT_FORMAT)
    check_pcm_format(sample_format)  # this client plays PCM
    query = [(key, value) for key, value in query if key != "format"]
    if sample_format != DEFAULT_FORMAT:
        query.append(("format", sample_format))
    path = parts.path if parts.path not in ("", "/") else "/stream"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, urllib.parse.urlencode(query), "")), sample_format


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait after ``failures`` (≥ 1) failed tries in a row: ``initial_s`` doubling up
    to ``max_s``, times a random factor in [0.5, 1] so that listeners do not return in step."""
    return min(max_s, initial_s * 2.0 ** min(failures - 1, 60)) * random.uniform(0.5, 1.0)


def parse_hello(message: str | bytes, url: str) -> dict[str, Any]:
    """The first message of a ``riffcast/1`` stream, checked; ProtocolError if it is not one."""
    not_riffcast = f"{url} does not speak {PROTOCOL}"
    if not isinstance(message, str):
        raise ProtocolError(f"{not_riffcast}: its first message is binary, not a hello")
    try:
        hello = json.loads(message)
    except json.JSONDecodeError:
        raise ProtocolError(f"{not_riffcast}: its first message is not JSON: {message[:80]!r}") from None
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        raise ProtocolError(f"{not_riffcast}: its first message is not a hello: {message[:80]!r}")
    if hello.get("protocol") != PROTOCOL:
        raise ProtocolError(f"{not_riffcast}: it speaks {hello.get('protocol')!r}")
    for field, lowest in (("sample_rate", 1), ("channels", 1), ("frame_samples", 0), ("position", 0)):
        value = hello.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            raise ProtocolError(f"{url}: hello has no valid {field!r}: {value!r}")
    check_format(str(hello.get("format")))
    return hello


class UntrustedCertificate(ConnectionError):
    """A ``wss://`` station whose certificate fails the check (self-signed, unknown CA, wrong name)."""


class ListenerState(str, Enum):
    """Where a :class:`Listener` is; compares equal to, and prints as, its value."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    WAITING = "waiting"  # to reconnect, at ``retry_at``

    def __str__(self) -> str:
        return self.value


class Listener:
    """Audio frames of one station, as ``(position, samples, events)``, in arrival order.

    position: absolute sample position of the frame's first sample (samples since the stream
    started); samples: float32 (frames, channels); events: the JSON messages (dicts) received
    since the previous frame, oldest first — ``now_playing`` and any others, plus the
    ``hello`` of each new connection, so a reconnection shows in the events.

    After a reconnection to the same stream, audio already delivered (the server's pre-roll)
    is not delivered twice (see :mod:`riffcast_client.sequence`). A position that does not
    continue the previous frame is a gap: forward when frames were dropped or the connection
    was down, backward when the server restarted with a new stream.

    When the connection drops or cannot be made, it is tried again after an exponential
    back-off (``backoff_s`` doubling up to ``backoff_max_s``, with jitter), for ever; with
    ``reconnect=False`` the iteration ends when the server closes normally and raises OSError
    otherwise. A server that answers but does not speak ``riffcast/1`` raises ProtocolError
    (a ValueError) at once. No hello within ``open_timeout_s`` (a station still starting) or
    ``stall_s`` without any message later counts as a dropped connection.

    ssl_context: how a ``wss://`` station's certificate is checked (default: the system's CAs).
    A certificate that fails the check raises :class:`UntrustedCertificate` at once: retrying
    cannot fix it.
    """

    def __init__(
        self, url: str, sample_format: str | None = None, *, reconnect: bool = True,
        backoff_s: float = 0.5, backoff_max_s: float = 10.0, open_timeout_s: float = 10.0,
        stall_s: float = 10.0, ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url, self.sample_format = stream_url(url, sample_format)
        self.ssl_context = ssl_context
        self.reconnect = reconnect
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.open_timeout_s = open_timeout_s
        self.stall_s = stall_s
        self.hello: dict[str, Any] | None = None  # the latest hello
        self.state = ListenerState.CONNECTING
        self.retry_at = 0.0  # time.monotonic() of the next attempt while "waiting"
        self.last_error: str | None = None  # why the latest connection ended or failed
        self.frames = 0  # frames delivered
        self.connections = 0  # connections that got a hello
        self.server_time: float | None = None  # when the server emitted the frame just delivered (Unix s)
        self.last_drop: str | None = None  # why the latest established connection ended
        self._sequencer = FrameSequencer(sample_rate=44100, history=RESEND_HISTORY_FRAMES)  # rate: per hello
        self._events: list[dict[str, Any]] = []
        self._iterator: Any = None  # the running iteration (an async generator)

    @property
    def gaps(self) -> int:
        """Frames whose position did not continue the previous one (forward: frames dropped or
        time disconnected; backward: a new stream)."""
        return self._sequencer.gaps

    @property
    def duplicates(self) -> int:
        """Frames received again after a reconnection (pre-roll), not delivered."""
        return self._sequencer.duplicates

    @property
    def next_position(self) -> int | None:
        """Where the next frame continues the audio delivered so far."""
        return self._sequencer.next_position

    @property
    def reconnects(self) -> int:
        """Connections after the first one."""
        return max(0, self.connections - 1)

    def __aiter__(self) -> AsyncIterator[tuple[int, np.ndarray, list[dict[str, Any]]]]:
        self._iterator = self._frames()
        return self._iterator

    async def aclose(self) -> None:
        """Close the connection now (it is closed anyway when the iteration is garbage
        collected; leaving ``async for`` with ``break`` does not close it by itself)."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def __aenter__(self) -> Listener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _frames(self) -> AsyncIterator[tuple[int, np.ndarray, list[dict[str, Any]]]]:
        failures = 0
        while True:
            self.state = ListenerState.CONNECTING
            delivered = self.frames
            try:
                websocket = await connect(
                    self.url, compression=None, max_size=MAX_MESSAGE_BYTES,
                    open_timeout=self.open_timeout_s, close_timeout=_CLOSE_TIMEOUT_S,
                    user_agent_header="riffcast-listen",
                    **({"ssl": self.ssl_context} if self.ssl_context and self.url.startswith("wss:") else {}),
                )
                close_code, close_reason = 1000, ""  # also when the caller stops iterating
                try:
                    async with contextlib.aclosing(self._session(websocket)) as session:
                        async for item in session:
                            yield item
                except asyncio.CancelledError:
                    websocket.close_timeout = _CANCELLED_CLOSE_TIMEOUT_S
                    raise
                except ProtocolError as error:
                    close_code, close_reason = 1002, str(error)[:120]
                    raise
                except (TimeoutError, asyncio.TimeoutError):
                    close_code, close_reason = 1001, "no data"
                    raise
                finally:
                    await _close(websocket, close_code, close_reason)
                self.last_error = f"closed by the server ({_close_text(websocket)})"
                if not self.reconnect and websocket.close_code in (1000, 1001):
                    return
            except InvalidURI as error:
                raise ValueError(f"{self.url}: {error}") from None
            except InvalidStatus as error:
                status = error.response.status_code
                if status == 400 and error.response.body.startswith(_TLS_ONLY):  # riffcast.station.tls_port
                    secure = urllib.parse.urlsplit(self.url)._replace(scheme="wss").geturl()
                    raise ProtocolError(f"{self.url}: the station speaks TLS on this port: use {secure} "
                                        "(with --cacert FILE for a self-signed certificate)") from None
                if status not in _RETRY_STATUS:
                    raise ProtocolError(
                        f"{self.url} refused the stream: HTTP {status} (is this a riffcast/1 /stream URL?)"
                    ) from None
                self.last_error = f"HTTP {status}"
            except InvalidHandshake as error:
                if not (isinstance(error, InvalidMessage) and isinstance(error.__cause__, EOFError)):
                    raise ProtocolError(f"{self.url} does not speak WebSocket ({error})") from None
                self.last_error = "connection closed during the handshake"  # a server going away
            except ConnectionClosed as error:
                self.last_error = f"connection lost ({_close_text(error)})"
            except ssl.SSLCertVerificationError as error:
                raise UntrustedCertificate(
                    f"{self.url}: the station's certificate is not trusted ({error.verify_message or error.reason})"
                ) from None
            except ssl.SSLError as error:
                if error.reason != "WRONG_VERSION_NUMBER":
                    self.last_error = _error_text(error)
                else:  # the port speaks plain HTTP
                    raise ProtocolError(f"{self.url}: the station does not speak TLS (use ws:// or http://)") from None
            except (OSError, asyncio.TimeoutError) as error:
                self.last_error = _error_text(error)
            if self.state is ListenerState.STREAMING:
                self.last_drop = self.last_error
            if not self.reconnect:
                raise ConnectionError(f"{self.url}: {self.last_error}")
            failures = 1 if self.frames > delivered else failures + 1
            delay = backoff_delay(failures, self.backoff_s, self.backoff_max_s)
            self.state = ListenerState.WAITING
            self.retry_at = time.monotonic() + delay
            await asyncio.sleep(delay)

    async def _session(self, websocket: ClientConnection) -> AsyncIterator[tuple[int, np.ndarray, list[dict[str, Any]]]]:
        """One connection: the hello, then frames until the server closes (ConnectionClosed
        for an abnormal close, TimeoutError after ``stall_s`` without a message)."""
        try:  # a station that is still starting may hold its hello back: try again later
            first = await asyncio.wait_for(websocket.recv(), self.open_timeout_s)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no hello in {self.open_timeout_s:g} s") from None
        hello = parse_hello(first, self.url)
        self.hello = hello
        self.connections += 1
        self.state = ListenerState.STREAMING
        self.last_error = None
        self._events.append(hello)
        sample_format, channels = hello["format"], hello["channels"]
        self._sequencer.sample_rate = hello["sample_rate"]
        while True:
            try:
                message = await asyncio.wait_for(websocket.recv(), self.stall_s)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no data for {self.stall_s:g} s") from None
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code in (1000, 1001):
                    return  # a normal close (1001: the server is shutting down)
                raise
            if isinstance(message, str):
                self._events.append(_parse_event(message, self.url))
                continue
            frame = decode_frame(message, sample_format, channels)
            accepted = self._sequencer.accept(frame.position, frame.samples, frame.server_time)
            if accepted is None:
                continue
            position, samples = accepted
            self.server_time = frame.server_time + (position - frame.position) / hello["sample_rate"]
            self.frames += 1
            events, self._events = self._events, []
            yield position, samples, events


async def _close(websocket: ClientConnection, code: int, reason: str) -> None:
    """Close, reading (and dropping) what is still queued meanwhile: a connection paused for
    back-pressure would not read the server's close frame and hang until the timeout."""

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await websocket.recv()

    drainer = asyncio.ensure_future(drain())
    try:
        await websocket.close(code, reason)
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)


def _parse_event(message: str, url: str) -> dict[str, Any]:
    try:
        event = json.loads(message)
    except json.JSONDecodeError:
        raise ProtocolError(f"{url} sent text that is not JSON: {message[:80]!r}") from None
    if not isinstance(event, dict):
        raise ProtocolError(f"{url} sent an event that is not a JSON object: {message[:80]!r}")
    return event


def _close_text(source: ClientConnection | ConnectionClosed) -> str:
    code = source.close_code if isinstance(source, ClientConnection) else (source.rcvd.code if source.rcvd else None)
    reason = source.close_reason if isinstance(source, ClientConnection) else (source.rcvd.reason if source.rcvd else "")
    if code is None:
        return "no close frame"
    return f"code {code}" + (f": {reason}" if reason else "")


def _error_text(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)) and not str(error):
        return "timed out"
    return str(error) or type(error).__name__
