"""``--icecast icecast://USER:PASSWORD@HOST:PORT/MOUNT``: riffcast as an Icecast source client.

The sans-I/O part (:class:`IcecastTarget`, :func:`source_request`, :func:`refusal`) says what to
send and what an answer means; :class:`IcecastSource` is the thin asyncio edge. It speaks HTTP
``PUT`` (Icecast ≥ 2.4) with ``Expect: 100-continue``, then streams the mount's packets for as long
as the connection holds. MP3 mounts (``.mp3``) carry the station's one MP3 encoder's packets and
get their title (the prompts heard) through Icecast's ``/admin/metadata``; Ogg Opus mounts
(``.ogg``, ``.opus``; 96 kbit/s) carry theirs in the stream: each title starts a chained Ogg
stream, as does each new connection (Icecast needs a stream's headers first). When Icecast is away,
refuses the password (401) or has the mount in use (403), the source says so in one line,
waits (1 s, doubling to 60 s) and tries again — at start-up and later — and never touches the
clock or the other outputs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import urllib.parse
from dataclasses import dataclass
from typing import Callable

from riffcast.delivery.codecs import Codec, Packet

log = logging.getLogger("riffcast.icecast")

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
BACKLOG_BYTES = 256 * 1024  # about 16 s of MP3: beyond, Icecast is not reading; reconnect
CONNECT_TIMEOUT_S = 10.0
CONTENT_TYPES = {Codec.MP3: "audio/mpeg", Codec.OGG_OPUS: "audio/ogg"}
MOUNT_CODECS = {".mp3": Codec.MP3, ".ogg": Codec.OGG_OPUS, ".opus": Codec.OGG_OPUS}
BITRATES_KBIT = {Codec.MP3: 128, Codec.OGG_OPUS: 96}


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


def refusal(status_line: bytes) -> str | None:
    """None when Icecast accepts the source (100 or 200), else why not, in words."""
    parts = status_line.decode("latin-1", "replace").split(" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if code in (100, 200):
        return None
    if code == 401:
        return "the password was refused (401): check the source password in icecast.xml"
    if code == 403:
        return "the mount is in use or not allowed (403): another source feeds it, or the mount is limited"
    return f"Icecast answered {status_line.decode('latin-1', 'replace').strip()!r}"


class IcecastSource:
    """Feed one mount for as long as the station runs (see the module docstring)."""

    def __init__(self, target: IcecastTarget, *, station: str, on_connect: Callable[[], None] | None = None) -> None:
        self.target = target
        self.station = station
        self._on_connect = on_connect  # Ogg: asks the encoder for a new stream, which must come first
        self._waiting_for_start = False
        self.connected = False
        self.connects = 0  # successful connections (the first, then each reconnect)
        self.failures = 0
        self._writer: asyncio.StreamWriter | None = None
        self._title: str | None = None
        self._sent_title: str | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._close()

    def feed(self, packets: list[Packet], title: str) -> None:
        """The mount's next packets (on the loop; never waits). Dropped while disconnected."""
        self._title = title
        writer = self._writer
        if writer is None:
            return
        if self._waiting_for_start:
            starts = [index for index, packet in enumerate(packets) if packet.starts_stream]
            if not starts:
                return
            packets, self._waiting_for_start = packets[starts[0] :], False
        if writer.transport.get_write_buffer_size() > BACKLOG_BYTES:
            log.warning("icecast %s: not reading for seconds; reconnecting", self.target.shown)
            self._close()
            return
        writer.write(b"".join(packet.data for packet in packets))
        if self.target.codec is Codec.MP3 and self._sent_title != title:  # Ogg carries its titles
            self._sent_title = title
            asyncio.get_running_loop().create_task(self._send_title(title))

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            problem = await self._connect()
            if problem is None:
                delay = RETRY_FIRST_S
                await self._wait_closed()
                problem = "the connection was closed"
            self.failures += 1
            log.warning("icecast %s: %s; retrying in %g s", self.target.shown, problem, delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, RETRY_MAX_S)

    async def _connect(self) -> str | None:
        """Open the source connection → None, or what went wrong."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as error:
            return f"cannot reach {self.target.host}:{self.target.port} ({error.__class__.__name__}: {error})"
        try:
            writer.write(source_request(self.target, station=self.station))
            status = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT_S)
            problem = refusal(status) if status else "Icecast closed the connection without an answer"
            while problem is None:  # the rest of the answer's head
                if await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT_S) in (b"\r\n", b"\n", b""):
                    break
        except (OSError, asyncio.TimeoutError) as error:
            problem = f"no answer from Icecast ({error.__class__.__name__})"
        if problem is not None:
            writer.close()
            return problem
        self._writer, self._reader = writer, reader
        self._sent_title = None
        if self._on_connect is not None:
            self._waiting_for_start = True
            self._on_connect()
        self.connected = True
        self.connects += 1
        log.info("icecast %s: connected, streaming %s", self.target.shown, self.target.codec.value)
        return None

    async def _wait_closed(self) -> None:
        """Until Icecast closes the connection (or :meth:`_close` does)."""
        try:
            while self._writer is not None and await self._reader.read(4096):
                pass  # Icecast sends nothing more; read only to see the end
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self.connected = False

    async def _send_title(self, title: str) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), CONNECT_TIMEOUT_S)
            writer.write(metadata_request(self.target, title))
            status = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT_S)
            writer.close()
            if b" 200 " not in status:
                log.warning("icecast %s: the title was not taken (%s)", self.target.shown,
                            status.decode("latin-1", "replace").strip())
        except (OSError, asyncio.TimeoutError) as error:
            log.warning("icecast %s: cannot set the title (%s)", self.target.shown, error.__class__.__name__)
