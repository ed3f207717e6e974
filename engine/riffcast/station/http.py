"""Plain HTTP on the station's port, sans I/O: responses with their security headers, the check of
a request head before websockets parses it, control tokens and origins."""

from __future__ import annotations

import enum
import hmac
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import InvalidHeader, RequestLineTooLong, SecurityError
from websockets.headers import parse_subprotocol
from websockets.http11 import MAX_LINE_LENGTH, Request, Response
from websockets.streams import StreamReader

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"),)
ALLOWED_METHODS = ("GET", "HEAD")
CONTROL_SUBPROTOCOL = "riffcast-control"
BEARER_PREFIX = "bearer."  # Sec-WebSocket-Protocol: riffcast-control, bearer.<token>
TOKEN_CHARS = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # RFC 9110 tchar: what a subprotocol may hold
MAX_HEAD_BYTES = 32 * 1024  # request line and header fields together (nginx's default is about this)


class Refusal(enum.Enum):
    """Why a request was refused before it reached a route, with the HTTP status it gets."""

    NOT_HTTP = (400, "not an HTTP/1.1 request (TLS on the plain port? random bytes?)")
    MALFORMED = (400, "malformed HTTP request")
    BAD_TARGET = (400, "malformed request target")
    VERSION = (505, "HTTP version not supported: use HTTP/1.1")
    URI_TOO_LONG = (414, "request line too long")
    HEADERS_TOO_LARGE = (431, "request header fields too large")
    METHOD = (405, "method not allowed: use GET or HEAD")
    ORIGIN = (403, "this origin may not steer the station")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    @property
    def label(self) -> str:
        return self.name.lower()


# -- responses ---------------------------------------------------------------------------------
def response(status: int, body: bytes, content_type: str, *, cache: str = "no-store",
             headers: tuple[tuple[str, str], ...] = ()) -> Response:
    fields = Headers(
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", cache),
         ("Connection", "close"), *SECURITY_HEADERS, *headers]
    )
    return Response(status, HTTPStatus(status).phrase, fields, body)


def no_content(*, cache: str = "no-store") -> Response:
    """204, without Content-Length (RFC 9110 forbids it there)."""
    fields = Headers([("Cache-Control", cache), ("Connection", "close"), *SECURITY_HEADERS])
    return Response(204, HTTPStatus(204).phrase, fields, b"")


def text_response(status: int, text: str, *, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return response(status, (text + "\n").encode(), "text/plain; charset=utf-8", headers=headers)


def json_response(payload: dict, status: int = 200) -> Response:
    return response(status, json.dumps(payload).encode(), "application/json")


def refusal_response(refusal: Refusal, detail: str = "") -> Response:
    extra = (("Allow", ", ".join(ALLOWED_METHODS)),) if refusal is Refusal.METHOD else ()
    return text_response(refusal.status, refusal.reason + (f": {detail}" if detail else ""), headers=extra)


def player_file(name: str, *, host: str | None = None) -> Response:
    """A file of the browser player (package ``riffcast.web``), or 404. Its page gets a
    Content-Security-Policy for the ``Host`` it was asked for."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in CONTENT_TYPES:
        return text_response(404, "not found")
    resource = resources.files("riffcast.web").joinpath(name)
    if not resource.is_file():
        return text_response(404, "not found")
    extra = (("Content-Security-Policy", content_security_policy(host)),) if suffix == ".html" else ()
    return response(200, resource.read_bytes(), CONTENT_TYPES[suffix], cache="no-cache", headers=extra)


HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def content_security_policy(host: str | None) -> str:
    """Exactly what the player needs: its own scripts, styles, worklet, pictures and /live.mp3, and sockets
    to the station (``'self'`` covers ws/wss to the same host in CSP 3; older browsers get the
    host named when the ``Host`` header is a plain host[:port])."""
    sockets = "'self'" + (f" ws://{host} wss://{host}" if host and HOST.fullmatch(host) else "")
    return "; ".join([
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "media-src 'self'",
        f"connect-src {sockets}", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ])


# -- the request head, before websockets parses it ----------------------------------------------
@dataclass(frozen=True)
class HeadCheck:
    """``done``: the head is complete or refused; ``refusal``: why it is refused (None: pass on)."""

    done: bool
    refusal: Refusal | None = None


PENDING = HeadCheck(False)
ACCEPTED = HeadCheck(True)
REQUEST_LINE = re.compile(rb"([A-Z]{1,20}) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])\r\n")
SOME_VERSION = re.compile(rb"[A-Z]{1,20} [\x21-\x7e]+ HTTP/[0-9.]{1,8}\r\n")
NOT_TEXT = re.compile(rb"[^\x20-\x7e\r\n]")


class HeadChecker:
    """Collects a connection's first bytes until its request head is complete (a blank line) and
    judges them: garbage is refused at its first bytes (a TLS ClientHello at byte one), a bad
    request line at its end, a head over :data:`MAX_HEAD_BYTES` as it grows; a complete head is
    parsed by websockets' own parser, so a head that passes here also passes there."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._line_checked = False
        self._searched = 0  # the blank line is not before this offset

    def feed(self, data: bytes) -> HeadCheck:
        self.buffer += data
        buffer = self.buffer
        if not buffer:
            return PENDING
        if not self._line_checked:
            end = buffer.find(b"\n")
            line = bytes(buffer if end < 0 else buffer[: end + 1])
            if not 0x41 <= line[0] <= 0x5A or NOT_TEXT.search(line):  # a method starts with A–Z
                return HeadCheck(True, Refusal.NOT_HTTP)
            if end < 0:
                return HeadCheck(True, Refusal.URI_TOO_LONG) if len(line) > MAX_LINE_LENGTH else PENDING
            if len(line) > MAX_LINE_LENGTH:
                return HeadCheck(True, Refusal.URI_TOO_LONG)
            match = REQUEST_LINE.fullmatch(line)
            if match is None:
                return HeadCheck(True, Refusal.VERSION if SOME_VERSION.fullmatch(line) else Refusal.MALFORMED)
            if (match.group(3), match.group(4)) not in ((b"1", b"1"), (b"1", b"0")):
                return HeadCheck(True, Refusal.VERSION)
            self._line_checked = True
        end = buffer.find(b"\r\n\r\n", max(0, self._searched - 3))
        if end < 0:
            self._searched = len(buffer)
            return HeadCheck(True, Refusal.HEADERS_TOO_LARGE) if len(buffer) > MAX_HEAD_BYTES else PENDING
        if end + 4 > MAX_HEAD_BYTES:
            return HeadCheck(True, Refusal.HEADERS_TOO_LARGE)
        return HeadCheck(True, _parse_problem(bytes(buffer[: end + 4])))


def _parse_problem(head: bytes) -> Refusal | None:
    """What websockets' request parser says of a complete head (None: it parses)."""
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parser = Request.parse(reader.read_line)
    try:
        next(parser)  # all the data and the end are there: it returns or raises, never waits
    except StopIteration:
        return None
    except RequestLineTooLong:
        return Refusal.URI_TOO_LONG
    except SecurityError:  # a header line too long, too many header fields
        return Refusal.HEADERS_TOO_LARGE
    except Exception:  # noqa: BLE001 — ValueError, UnicodeDecodeError, NotImplementedError, EOFError
        method = head.split(b" ", 1)[0].decode("ascii", "replace")
        return Refusal.METHOD if method not in ALLOWED_METHODS else Refusal.MALFORMED
    return Refusal.MALFORMED


# -- control tokens ------------------------------------------------------------------------------
def valid_token(token: str) -> bool:
    """A token that fits in ``Sec-WebSocket-Protocol: bearer.<token>`` (RFC 9110 token characters)."""
    return TOKEN_CHARS.fullmatch(token) is not None


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a client offers ([] when the header is absent or malformed)."""
    try:
        return [name for value in headers.get_all("Sec-WebSocket-Protocol") for name in parse_subprotocol(value)]
    except InvalidHeader:
        return []


def bearer_token(headers: Headers, query: str) -> str | None:
    """The token from ``Authorization: Bearer T``, the subprotocol ``bearer.T`` or ``?token=T``."""
    header = headers.get("Authorization", "") if len(headers.get_all("Authorization")) <= 1 else ""
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    for name in offered_subprotocols(headers):
        if name[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
            return name[len(BEARER_PREFIX) :]
    values = parse_qs(query).get("token")
    return values[0] if values else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


# -- origins -------------------------------------------------------------------------------------
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]``, lower case, without the scheme's default port; ValueError if
    ``value`` is not an http(s) origin."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if (scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query
            or parts.fragment or parts.username is not None or parts.password is not None):
        raise ValueError(f"not an origin (scheme://host[:port], http or https): {value!r}")
    port = parts.port  # ValueError when out of range or not a number
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else "")


def origin_allowed(headers: Headers, allowed: frozenset[str] | tuple[str, ...]) -> tuple[bool, str]:
    """(allowed?, the origin as given). No ``Origin`` (a client that is not a browser): allowed; the
    station's own origin (host:port equal to ``Host``, http or https): allowed; ``allowed``: allowed."""
    try:
        origin = headers.get("Origin")
        host = headers.get("Host")
    except MultipleValuesError:
        return False, "several Origin or Host fields"
    if origin is None:
        return True, ""
    try:
        given = normalize_origin(origin)
    except ValueError:
        return False, origin
    if given in allowed:
        return True, origin
    if host is None:
        return False, origin
    scheme = given.split("://", 1)[0]
    try:
        return given == normalize_origin(f"{scheme}://{host}"), origin
    except ValueError:
        return False, origin
