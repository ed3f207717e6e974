"""``--icecast icecast://USER:PASSWORD@HOST:PORT/MOUNT``: what riffcast says to Icecast as a source
client, and what Icecast's answers mean — sans I/O.

:class:`IcecastTarget` is a mount to feed; :func:`source_request` is the head of the source's HTTP
``PUT`` (Icecast ≥ 2.4, ``Expect: 100-continue``); :class:`ReplyReader` takes whatever comes back,
as it arrives, and says whether to wait, stream or give up (and why, in words). It is bounded
whatever arrives: a line over ``MAX_LINE_BYTES``, more than ``MAX_HEAD_LINES`` lines, bytes that
are not HTTP, or more than ``AFTER_HEAD_BYTES`` after the head (Icecast sends its sources nothing
once it has answered) fail at once. The socket, the clock and the retries are
:mod:`riffcast.delivery.icecast_source`'s and :mod:`riffcast.delivery.icecast_link`'s.
"""

from __future__ import annotations

import base64
import enum
import os
import re
import urllib.parse
from dataclasses import dataclass

from riffcast.delivery.codecs import Codec

CONTENT_TYPES = {Codec.MP3: "audio/mpeg", Codec.OGG_OPUS: "audio/ogg"}
MOUNT_CODECS = {".mp3": Codec.MP3, ".ogg": Codec.OGG_OPUS, ".opus": Codec.OGG_OPUS}
BITRATES_KBIT = {Codec.MP3: 128, Codec.OGG_OPUS: 96}
MAX_LINE_BYTES = 8 * 1024  # one line of Icecast's answer head (its own are under 200 bytes)
MAX_HEAD_LINES = 100
AFTER_HEAD_BYTES = 4 * 1024  # Icecast sends a source nothing after its answer; a little slack, then it is not Icecast
SHOWN_BYTES = 40  # of an answer that is not HTTP, in the problem's words
STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})(?: [^\r\n]*)?\r?\n")


@dataclass(frozen=True)
class IcecastTarget:
    """A mount to feed: where it is, who we are, and the codec its extension asks for."""

    host: str
    port: int
    mount: str
    user: str
    password: str
    codec: Codec

    @property
    def shown(self) -> str:
        """The target for logs: no password."""
        return f"icecast://{self.user}@{self.host}:{self.port}{self.mount}"

    @property
    def bytes_per_s(self) -> float:
        """The mount's nominal bitrate, in bytes per second."""
        return BITRATES_KBIT[self.codec] * 1000 / 8

    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


PASSWORD_ENV = "RIFFCAST_ICECAST_PASSWORD"  # the password of URLs that name none (kept out of unit files)


def parse_target(url: str, environ: dict[str, str] | None = None) -> IcecastTarget:
    """``icecast://USER[:PASSWORD]@HOST:PORT/MOUNT.mp3`` → the target (a URL without a password
    takes ``$RIFFCAST_ICECAST_PASSWORD``); ValueError saying what is wrong."""
    environ = os.environ if environ is None else environ
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "icecast":
        raise ValueError(f"--icecast must look like icecast://source:PASSWORD@HOST:8000/live.mp3, got {url!r}")
    try:
        port = parts.port or 8000
    except ValueError:
        raise ValueError(f"--icecast: the port in {url!r} is not a number") from None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else environ.get(PASSWORD_ENV)
    if not parts.hostname or not password:
        raise ValueError(f"--icecast needs a host and a password (in the URL or ${PASSWORD_ENV}): "
                         f"icecast://source:PASSWORD@HOST:8000/live.mp3, got {url!r}")
    mount = parts.path
    suffix = mount[mount.rfind(".") :].lower() if "." in mount.rsplit("/", 1)[-1] else ""
    if suffix not in MOUNT_CODECS:
        raise ValueError(f"--icecast: the mount {mount or '(none)'} must end in one of {', '.join(MOUNT_CODECS)}")
    return IcecastTarget(parts.hostname, port, mount, urllib.parse.unquote(parts.username or "source"),
                         password, MOUNT_CODECS[suffix])


def source_request(target: IcecastTarget, *, station: str) -> bytes:
    """The head of the source's ``PUT``."""
    name = station.replace("\r", " ").replace("\n", " ")
    lines = [
        f"PUT {urllib.parse.quote(target.mount)} HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        f"Authorization: {target.authorization()}",
        "User-Agent: riffcast",
        f"Content-Type: {CONTENT_TYPES[target.codec]}",
        f"Ice-Name: {name}",
        "Ice-Public: 0",
        f"Ice-Audio-Info: channels=1;samplerate=44100;bitrate={BITRATES_KBIT[target.codec]}",
        "Expect: 100-continue",
        "", "",
    ]
    return "\r\n".join(lines).encode("latin-1", "replace")


def metadata_request(target: IcecastTarget, title: str) -> bytes:
    """The ``GET /admin/metadata`` that sets an MP3 mount's title."""
    query = urllib.parse.urlencode({"mount": target.mount, "mode": "updinfo", "song": title})
    lines = [f"GET /admin/metadata?{query} HTTP/1.0", f"Host: {target.host}:{target.port}",
             f"Authorization: {target.authorization()}", "User-Agent: riffcast", "", ""]
    return "\r\n".join(lines).encode("latin-1", "replace")


def refusal(code: int, status_line: str) -> str | None:
    """None when Icecast takes the source (100 or 200), else why not, in words."""
    if code in (100, 200):
        return None
    if code == 401:
        return "the password was refused (401): check the source password in icecast.xml"
    if code == 403:
        return "the mount is in use or not allowed (403): another source feeds it, or the mount is limited"
    return f"Icecast answered {status_line.strip()!r}"


class Reply(enum.Enum):
    """Where the answer to the source's ``PUT`` stands."""

    WAITING = "waiting"  # its head is not complete yet
    ACCEPTED = "accepted"  # 100 or 200 and a whole head: stream
    FAILED = "failed"  # refused, not HTTP, too long, or followed by data: see ``problem``


class ReplyReader:
    """Icecast's answer to the source's ``PUT`` and anything after it, fed as it arrives (sans I/O).

    Call :meth:`receive` with each read; :attr:`state` then says whether to wait, stream or give
    up, :attr:`problem` why (one line). A refusal is known from the status line alone; the whole
    head must arrive before streaming. The caller bounds the time the head may take.
    """

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES, max_head_lines: int = MAX_HEAD_LINES,
                 after_head_bytes: int = AFTER_HEAD_BYTES) -> None:
        self.state = Reply.WAITING
        self.problem: str | None = None
        self._max_line_bytes = max_line_bytes
        self._max_head_lines = max_head_lines
        self._after_head_bytes = after_head_bytes
        self._pending = bytearray()  # bytes of the head not yet split into lines
        self._lines = 0
        self._after_head = 0  # bytes received after the head

    def receive(self, data: bytes) -> Reply:
        """Take ``data`` (the next bytes from Icecast) → the state now."""
        if self.state is Reply.ACCEPTED:
            self._count_after_head(len(data))
        elif self.state is Reply.WAITING:
            self._pending += data
            while self.state is Reply.WAITING and (end := self._pending.find(b"\n")) >= 0:
                line = bytes(self._pending[: end + 1])
                del self._pending[: end + 1]
                self._line(line)
            if self.state is Reply.WAITING:
                self._check_partial()
            elif self.state is Reply.ACCEPTED:
                rest, self._pending = len(self._pending), bytearray()
                self._count_after_head(rest)
        return self.state

    def _line(self, line: bytes) -> None:
        self._lines += 1
        if len(line) > self._max_line_bytes:
            self._fail(f"Icecast sent an answer line over {self._max_line_bytes} bytes")
        elif self._lines == 1:
            status = STATUS_LINE.fullmatch(line)
            if status is None:
                self._fail(_not_http(line))
            else:
                self.problem = refusal(int(status.group(1)), line.decode("latin-1"))
                if self.problem is not None:
                    self.state = Reply.FAILED
        elif line in (b"\r\n", b"\n"):
            self.state = Reply.ACCEPTED
        elif self._lines >= self._max_head_lines:
            self._fail(f"Icecast sent an answer head of over {self._max_head_lines} lines")

    def _check_partial(self) -> None:
        """A line still arriving: too long already, or a first line that cannot become HTTP."""
        if len(self._pending) > self._max_line_bytes:
            self._fail(f"Icecast sent an answer line over {self._max_line_bytes} bytes")
        elif self._lines == 0 and not b"HTTP/".startswith(bytes(self._pending[:5])):
            self._fail(_not_http(bytes(self._pending)))

    def _count_after_head(self, count: int) -> None:
        self._after_head += count
        if self._after_head > self._after_head_bytes:
            self._fail(f"Icecast sent over {self._after_head_bytes} bytes after its answer (Icecast sends its "
                       f"sources nothing: is this an Icecast server?)")

    def _fail(self, problem: str) -> None:
        self.state, self.problem = Reply.FAILED, problem


def _not_http(start: bytes) -> str:
    shown = start[:SHOWN_BYTES].decode("latin-1")
    return f"the answer is not HTTP: {shown!r}{'…' if len(start) > SHOWN_BYTES else ''} (is this an Icecast server?)"
