"""The station's one port under ``--tls-cert``: TLS for HTTPS and WSS, and a clear answer — not an
empty reply — to plain HTTP sent there by mistake (``http://`` or ``ws://`` to an HTTPS station).

Each accepted connection waits for its first byte without reading it (``MSG_PEEK`` on a second
descriptor of the socket, while the transport's reading is paused). A TLS record starts with
0x16 (a handshake): the connection is upgraded with :meth:`asyncio.loop.start_tls` and handed
to the station's WebSocket/HTTP protocol, exactly as ``serve(ssl=…)`` would. Anything else is
plain text: the request head is read and answered with ``400`` and one line naming the
``https://`` address, then the connection is closed.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import sys
from typing import Callable

TLS_HANDSHAKE = 0x16  # the content type of a TLS record that opens a connection
MAX_HEAD_BYTES = 8192  # of a plain request read before answering anyway
PLAIN_HTTP_REFUSAL = "This station speaks HTTPS on this port, not plain HTTP"  # riffcast listen knows it
_HOST = re.compile(rb"^host:[ \t]*([A-Za-z0-9.\-:\[\]]+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_TARGET = re.compile(rb"^[A-Z]+ (/[!-~]*) HTTP/1\.[01]\r?$", re.MULTILINE)


def plain_http_answer(head: bytes) -> bytes:
    """The reply to a plain-HTTP request ``head`` sent to the TLS port: 400 with one line that
    gives the same address with ``https://`` (``wss://`` for the stream)."""
    host = _HOST.search(head)
    target = _TARGET.search(head)
    if host:
        path = target.group(1).decode() if target else "/"
        fix = f"open https://{host.group(1).decode()}{path} instead (wss:// for the stream)"
    else:
        fix = "use https:// (wss:// for the stream)"
    body = f"{PLAIN_HTTP_REFUSAL}: {fix}.\n".encode()
    return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


class _UntilAttached(asyncio.Protocol):
    """The application side of ``start_tls`` until the station's protocol is attached: what the
    TLS layer delivers meanwhile (a request can come with the client's last handshake message,
    delivered before ``start_tls`` returns) is kept, to be replayed in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))

    def eof_received(self) -> None:
        self.events.append(("eof", None))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))


class TlsOrPlainHttp(asyncio.Protocol):
    """One accepted connection on the TLS port (see the module docstring). ``inner``: the
    station's protocol for this connection, attached once TLS is up; ``timeout_s``: for the
    first byte and the TLS handshake together, or for a plain request's head;
    ``shutdown_timeout_s``: for the TLS close (Python 3.11 and later; 30 s before).

    Other attributes are the inner connection's: websockets hands this object, as the
    connection its factory made, to ``select_subprotocol``, which reads ``request``.
    """

    def __init__(
        self, inner: asyncio.Protocol, context: ssl.SSLContext, *, timeout_s: float, shutdown_timeout_s: float,
    ) -> None:
        self.inner = inner
        self.context = context
        self.timeout_s = timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.transport: asyncio.Transport | None = None
        self._peek: socket.socket | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._head = b""
        self._until = 0.0  # loop time by which TLS must be up

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        loop = asyncio.get_running_loop()
        transport.pause_reading()
        raw = transport.get_extra_info("socket")
        self._peek = socket.socket(fileno=os.dup(raw.fileno()))  # the transport's own fd stays untouched
        self._peek.setblocking(False)
        loop.add_reader(self._peek.fileno(), self._first_byte)
        self._until = loop.time() + self.timeout_s
        self._deadline = loop.call_at(self._until, transport.abort)

    def _first_byte(self) -> None:
        assert self.transport is not None and self._peek is not None
        try:
            first = self._peek.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            first = b""
        self._stop_peeking()
        if not first:
            self.transport.abort()
        elif first[0] == TLS_HANDSHAKE:
            self._cancel_deadline()
            asyncio.get_running_loop().create_task(self._start_tls())
        else:
            self.transport.resume_reading()  # a plain request: data_received reads its head

    async def _start_tls(self) -> None:
        assert self.transport is not None
        waiting = _UntilAttached()
        loop = asyncio.get_running_loop()
        timeouts = {"ssl_handshake_timeout": max(0.1, self._until - loop.time())}  # one budget with the first byte
        if sys.version_info >= (3, 11):
            timeouts["ssl_shutdown_timeout"] = self.shutdown_timeout_s
        try:
            tls = await loop.start_tls(self.transport, waiting, self.context, server_side=True, **timeouts)
        except (OSError, ssl.SSLError, asyncio.TimeoutError):  # start_tls closed the connection
            return
        tls.set_protocol(self.inner)
        self.inner.connection_made(tls)
        for kind, value in waiting.events:
            if kind == "data":
                self.inner.data_received(value)  # type: ignore[arg-type]
            elif kind == "eof":
                self.inner.eof_received()
            else:
                self.inner.connection_lost(value)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        """Only for plain HTTP (TLS connections are the TLS layer's from the first byte)."""
        assert self.transport is not None
        self._head += data
        if b"\r\n\r\n" in self._head or b"\n\n" in self._head or len(self._head) >= MAX_HEAD_BYTES:
            self._answer()

    def eof_received(self) -> bool:
        self._answer()
        return False

    def _answer(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self._cancel_deadline()
        self.transport.write(plain_http_answer(self._head[:MAX_HEAD_BYTES]))
        self.transport.close()  # after the answer is written

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_peeking()
        self._cancel_deadline()

    def _stop_peeking(self) -> None:
        if self._peek is not None:
            asyncio.get_running_loop().remove_reader(self._peek.fileno())
            self._peek.close()
            self._peek = None

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def answering_plain_http(
    create_connection: Callable[..., asyncio.Protocol], context: ssl.SSLContext, *, timeout_s: float,
    shutdown_timeout_s: float,
) -> Callable[..., asyncio.Protocol]:
    """``create_connection`` for ``websockets.serve`` (called with ``ssl=None``) that puts each
    connection behind :class:`TlsOrPlainHttp` (the timeouts ``serve(ssl=…)`` would give the TLS
    layer: its open and close timeouts)."""

    def create(*args: object, **kwargs: object) -> asyncio.Protocol:
        return TlsOrPlainHttp(create_connection(*args, **kwargs), context, timeout_s=timeout_s,
                              shutdown_timeout_s=shutdown_timeout_s)

    return create
