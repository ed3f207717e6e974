"""The listeners of ``benchmarks/delivery.py``: one client process holding N listeners of one kind.

Lean readers on non-blocking sockets (as ``fanout_clients.py``: the clients share the machine's
cores with the station and should cost little):

- ``pcm``, ``opus``: WebSocket ``/stream`` (``format=s16le`` / ``format=opus``): every frame's
  position (gaps: a position that is not the previous one's next) and lag, arrival − due, where
  a frame at position p is due at ``epoch_s + p / 44100``.
- ``mp3``: an endless MP3 response (``/live.mp3`` on the station, or a mount on an Icecast):
  MP3 frames are cut at their headers; with ``X-Riffcast-Position`` (the station's own
  /live.mp3) each frame's position is known, so its lag too. Icecast passes the frames on
  unchanged, so for a mount one reference reader on the station's /live.mp3 maps each frame's
  bytes to its position, and the mount's frames are looked up there.
- ``hls``: a player's loop: the playlist every target duration (2 s), each new segment once (the
  last three at the start); a segment's lag is its arrival − the due time of its first sample
  (from its ID3 timestamp).

Each kind counts the bytes that arrive in the window [t0_s, t1_s) (Unix seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

from riffcast_client import protocol

from fanout_clients import upgrade_request
from harness.machine import raise_open_files_limit
from harness.websocket import complete_frames

SAMPLE_RATE = 44100
CONNECT_BATCH = 50
CONNECT_TIMEOUT_S = 30.0
TAIL_S = 2.0
READ_BYTES = 256 * 1024
MP3_FRAME_SAMPLES = 1152
HLS_POLL_S = 2.0
PTS = re.compile(rb"com\.apple\.streaming\.transportStreamTimestamp\x00(.{8})", re.DOTALL)


@dataclass
class Window:
    epoch_s: float = 0.0
    t0_s: float = float("inf")
    t1_s: float = float("inf")
    lags_s: list[float] = field(default_factory=list)
    positions_by_frame: dict[int, int] = field(default_factory=dict)  # hash of an MP3 frame → position

    def inside(self, now_s: float) -> bool:
        return self.t0_s <= now_s < self.t1_s

    def due(self, position: float) -> float:
        return self.epoch_s + position / SAMPLE_RATE


class StreamReader:
    """One listener on a socket: WebSocket frames, or an endless MP3 body."""

    def __init__(self, sock: socket.socket, kind: str, window: Window, *, reference: bool = False) -> None:
        self.sock, self.kind, self.window = sock, kind, window
        self.reference = reference  # only maps frames to positions (see the module docstring)
        self.buffer = bytearray()
        self.head_done = False
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.next_position: int | None = None
        self.bytes_in_window = 0
        self.gaps = 0
        self.frames = 0
        self.lost = False

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        now = time.time()
        if self.window.inside(now):
            self.bytes_in_window += len(data)
        self.buffer += data
        if not self.head_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            self.head_done = True
            if not head.startswith(("HTTP/1.1 101", "HTTP/1.1 200", "HTTP/1.0 200", "ICY 200")):
                self.close()
                return
            found = re.search(r"(?im)^x-riffcast-position: *(\d+)", head)
            if found:
                self.next_position = int(found.group(1))
            if self.kind == "mp3":
                self.ready.set_result(None)
        if self.kind == "mp3":
            self._mp3(now)
        else:
            self._websocket(now)

    def _mp3(self, now: float) -> None:
        buffer, offset = self.buffer, 0
        while len(buffer) - offset >= 4:
            if buffer[offset] != 0xFF or buffer[offset + 1] & 0xE0 != 0xE0:
                offset += 1  # not a frame start (a relay's burst may begin mid-frame)
                continue
            padding = (buffer[offset + 2] >> 1) & 1
            length = 144 * 128_000 // SAMPLE_RATE + padding  # CBR 128 kbit/s at 44.1 kHz
            if len(buffer) - offset < length:
                break
            position = self.next_position
            key = hash(bytes(buffer[offset : offset + length]))
            if self.reference:
                self.window.positions_by_frame[key] = position
            elif position is None:
                position = self.window.positions_by_frame.get(key)
            if position is not None and not self.reference and self.window.inside(now):
                self.window.lags_s.append(now - self.window.due(position))
                self.frames += 1
            if self.next_position is not None:
                self.next_position += MP3_FRAME_SAMPLES
            offset += length
        del buffer[:offset]

    def _websocket(self, now: float) -> None:
        buffer = self.buffer
        frames, used = complete_frames(buffer)
        for opcode, start, length in frames:
            if opcode == 1 and not self.ready.done():
                self.ready.set_result(None)  # the hello
            elif opcode == 2 and length > protocol.HEADER.size:
                position, _ = protocol.HEADER.unpack_from(buffer, start)
                samples = 882 if self.kind == "opus" else (length - protocol.HEADER.size) // 2
                if self.next_position is not None and position != self.next_position and self.window.inside(now):
                    self.gaps += 1
                self.next_position = position + samples
                if self.window.inside(now):
                    self.frames += 1
                    self.window.lags_s.append(now - self.window.due(position))
            elif opcode == 8:
                self.close()
                return
        del buffer[:used]

    def close(self) -> None:
        if self.lost:
            return
        self.lost = True
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the stream began"))


async def open_reader(kind: str, host: str, port: int, path: str, window: Window, *, reference: bool = False) -> StreamReader:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    if kind == "mp3":
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    else:
        request = upgrade_request(host, port, path)
    await loop.sock_sendall(sock, request)
    reader = StreamReader(sock, kind, window, reference=reference)
    loop.add_reader(sock.fileno(), reader.on_readable)
    await asyncio.wait_for(reader.ready, CONNECT_TIMEOUT_S)
    return reader


class HlsPlayer:
    """A player's loop over a live playlist (see the module docstring)."""

    def __init__(self, host: str, port: int, window: Window) -> None:
        self.host, self.port, self.window = host, port, window
        self.seen: set[str] = set()
        self.bytes_in_window = 0
        self.frames = 0  # segments fetched in the window
        self.gaps = 0
        self.lost = False

    async def get(self, path: str) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), CONNECT_TIMEOUT_S)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            raise ConnectionError(head[:60])
        return body

    async def run(self, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            try:
                names = [line for line in (await self.get("/hls/live.m3u8")).decode().splitlines() if line.endswith(".mp3")]
                for name in names[-3:] if first else names:
                    if name in self.seen:
                        continue
                    self.seen.add(name)
                    body = await self.get(f"/hls/{name}")
                    now = time.time()
                    if self.window.inside(now):
                        self.bytes_in_window += len(body)
                        self.frames += 1
                        found = PTS.search(body[:128])
                        if found:
                            position = struct.unpack(">Q", found.group(1))[0] * SAMPLE_RATE / 90_000
                            self.window.lags_s.append(now - self.window.due(position))
                first = False
            except (OSError, ConnectionError, asyncio.TimeoutError):
                self.gaps += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), HLS_POLL_S)


def run_clients(control: Connection, kind: str, host: str, port: int, path: str, count: int,
                reference: tuple[str, int] | None = None) -> None:
    """Process entry: sends ("connected", n, failures) once the listeners are in, receives
    (epoch_s, t0_s, t1_s), and sends the results once the window and TAIL_S are over.
    reference: the station's (host, port), whose /live.mp3 maps MP3 frames to positions."""
    raise_open_files_limit()
    asyncio.run(_main(control, kind, host, port, path, count, reference))


async def _main(control: Connection, kind: str, host: str, port: int, path: str, count: int,
                reference: tuple[str, int] | None) -> None:
    loop = asyncio.get_running_loop()
    window = Window()
    if reference is not None:
        await open_reader("mp3", *reference, "/live.mp3", window, reference=True)
    listeners: list = []
    failures = 0
    stop = asyncio.Event()
    tasks = []
    for first in range(0, count, CONNECT_BATCH):
        batch = range(first, min(first + CONNECT_BATCH, count))
        if kind == "hls":
            players = [HlsPlayer(host, port, window) for _ in batch]
            listeners += players
            tasks += [asyncio.create_task(player.run(stop)) for player in players]
            await asyncio.sleep(0.1)
            continue
        opened = await asyncio.gather(*(open_reader(kind, host, port, path, window) for _ in batch), return_exceptions=True)
        failures += sum(isinstance(result, BaseException) for result in opened)
        listeners += [result for result in opened if not isinstance(result, BaseException)]
    control.send(("connected", len(listeners), failures))
    window.epoch_s, window.t0_s, window.t1_s = await loop.run_in_executor(None, control.recv)
    await asyncio.sleep(max(0.0, window.t1_s + TAIL_S - time.time()))
    lost = sum(isinstance(listener, StreamReader) and listener.lost for listener in listeners)
    stop.set()
    for listener in listeners:
        if isinstance(listener, StreamReader):
            listener.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    control.send({
        "bytes": np.array([listener.bytes_in_window for listener in listeners]),
        "frames": np.array([listener.frames for listener in listeners]),
        "gaps": int(sum(listener.gaps for listener in listeners)),
        "lost": int(lost),
        "lags_ms": np.array(window.lags_s) * 1000.0,
    })
