"""The listeners of ``benchmarks/fanout.py``: one client process holding N ``/stream`` connections.

Each listener is a lean WebSocket reader on a non-blocking socket (HTTP upgrade, then frame
headers parsed in place, pings answered), not the websockets client: on a small machine the
clients compete with the server for the cores and should take as little CPU as they can.

A frame's arrival time is the kernel's receive timestamp (``SO_TIMESTAMPNS``, Linux) of the
read that completed it — when the server's write reached this listener's socket, not when this
busy process got round to reading it. The read time (``time.time()`` after the read) is kept too.
When a read holds more than one frame, all get the timestamp of its last bytes (never early).

Also here: the stalled listener (the upgrade request, then never a byte read, with a tiny receive
buffer). The open-files limit is raised with ``harness.machine.raise_open_files_limit``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import multiprocessing
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

from riffcast_client import protocol

from harness.machine import raise_open_files_limit
from harness.websocket import complete_frames

SAMPLE_RATE = 44100
FRAME_SAMPLES = 4410  # 100 ms, riffcast's default --frame-ms
FRAME_BYTES = protocol.HEADER.size + 2 * FRAME_SAMPLES  # s16le mono
PREROLL_SKIPPED = 4  # binary frames after hello left out of lag (riffcast sends 3 pre-roll frames)
CONNECT_BATCH = 50
CONNECT_TIMEOUT_S = 30.0
TAIL_S = 2.0  # the clients keep reading this long after the window for frames due in it
READ_BYTES = 256 * 1024
STALLED_RCVBUF_BYTES = 4096
SO_TIMESTAMPNS = 35  # Linux's value (asm-generic); the socket module has no name for it
TIMESPEC = struct.Struct("@qq")  # struct timespec on 64-bit Linux
_U16 = struct.Struct("!H")


def upgrade_request(host: str, port: int, path: str = "/stream") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


@dataclass
class Window:
    """What the listeners measure: frames *due* in [t0_s, t1_s) (Unix seconds)."""

    epoch_s: float = 0.0  # the server's time of sample 0
    t0_s: float = math.inf
    t1_s: float = math.inf
    arrival_lags_s: list[float] = field(default_factory=list)  # kernel receive time − due
    read_lags_s: list[float] = field(default_factory=list)  # time this process read it − due
    tick_late_s: list[float] = field(default_factory=list)  # the header's server time − due
    kernel_stamped: int = 0  # frames whose arrival is a kernel timestamp (the others: read time)


class ListenerClient:
    """One listener: reads every message, counts the window's frames and gaps, answers pings."""

    def __init__(self, sock: socket.socket, window: Window) -> None:
        self.sock = sock
        self.window = window
        self.buffer = bytearray()
        self.upgraded = False
        self.hello: dict | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.next_position: int | None = None
        self.binary_seen = 0
        self.frames = 0  # frames due in the window that arrived
        self.gaps = 0  # ... whose position was not the previous frame's next position
        self.bad = 0  # messages that are not riffcast/1
        self.close_code: int | None = None
        self.lost = False

    def on_readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(READ_BYTES, socket.CMSG_SPACE(TIMESPEC.size))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self.close(error)
            return
        read_at = time.time()
        if not data:
            self.close(None)
            return
        arrived_at = read_at
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= TIMESPEC.size:
                seconds, nanoseconds = TIMESPEC.unpack_from(payload)
                arrived_at = seconds + nanoseconds * 1e-9
        self.buffer += data
        self._parse(arrived_at, read_at, arrived_at != read_at)

    def close(self, error: BaseException | None) -> None:
        if self.lost:
            return
        self.lost = True
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before hello ({error or self.close_code})"))

    def _parse(self, arrived_at: float, read_at: float, stamped: bool) -> None:
        buffer = self.buffer
        offset = 0
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                status = buffer[: buffer.find(b"\r\n")].decode(errors="replace")
                self.close(ConnectionError(status))
                return
            self.upgraded = True
            offset = end + 4
        frames, end = complete_frames(buffer, offset)
        for opcode, start, length in frames:
            if opcode == 2:
                self._frame(buffer, start, length, arrived_at, read_at, stamped)
            elif opcode == 1:
                self._text(bytes(buffer[start:start + length]))
            elif opcode == 9:
                self._send(0xA, bytes(buffer[start:start + length]))  # pong
            elif opcode == 8:
                self.close_code = _U16.unpack_from(buffer, start)[0] if length >= 2 else 1005
                self.close(None)
                return
        del buffer[:end]

    def _frame(self, buffer: bytearray, start: int, length: int, arrived_at: float, read_at: float,
               stamped: bool) -> None:
        if self.hello is None or length != FRAME_BYTES:
            self.bad += 1
            return
        position, server_time = protocol.HEADER.unpack_from(buffer, start)
        jumped = self.next_position is not None and position != self.next_position
        self.next_position = position + FRAME_SAMPLES
        self.binary_seen += 1
        window = self.window
        due = window.epoch_s + position / SAMPLE_RATE
        if window.t0_s <= due < window.t1_s and self.binary_seen > PREROLL_SKIPPED:
            self.frames += 1
            self.gaps += jumped
            window.arrival_lags_s.append(arrived_at - due)
            window.read_lags_s.append(read_at - due)
            window.tick_late_s.append(server_time - due)
            window.kernel_stamped += stamped

    def _text(self, payload: bytes) -> None:
        if self.hello is not None:
            return  # events such as now_playing
        message = json.loads(payload)
        if message.get("type") != "hello" or message.get("protocol") != protocol.PROTOCOL:
            self.bad += 1
            return
        if message.get("format") != "s16le" or message.get("frame_samples") != FRAME_SAMPLES:
            self.close(ConnectionError(f"unexpected stream: {message}"))
            return
        self.hello = message
        self.next_position = message["position"]
        self.ready.set_result(message)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked client frame (control payloads are under 126 bytes)."""
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        with contextlib.suppress(OSError):
            self.sock.send(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


async def open_listener(host: str, port: int, window: Window) -> ListenerClient:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if sys.platform == "linux":
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, upgrade_request(host, port))
    except OSError:
        sock.close()
        raise
    listener = ListenerClient(sock, window)
    loop.add_reader(sock.fileno(), listener.on_readable)
    try:
        await asyncio.wait_for(listener.ready, CONNECT_TIMEOUT_S)
    except BaseException:
        listener.close(None)
        raise
    return listener


def open_stalled_listener(host: str, port: int) -> socket.socket:
    """A listener that sends the upgrade request and never reads a byte (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF_BYTES)
    sock.connect((host, port))
    sock.sendall(upgrade_request(host, port))
    return sock


def run_clients(control: Connection, host: str, port: int, count: int, stalled: bool) -> None:
    """Process entry. Over ``control``: sends ("connected", …) once the listeners are in, receives
    (epoch_s, t0_s, t1_s), and sends a dict of results once the window (and TAIL_S) is over."""
    raise_open_files_limit()
    asyncio.run(_clients_main(control, host, port, count, stalled))


async def _clients_main(control: Connection, host: str, port: int, count: int, stalled: bool) -> None:
    loop = asyncio.get_running_loop()
    window = Window()
    listeners: list[ListenerClient] = []
    failures: list[str] = []
    started = time.monotonic()
    for first in range(0, count, CONNECT_BATCH):
        batch = range(first, min(first + CONNECT_BATCH, count))
        opened = await asyncio.gather(*(open_listener(host, port, window) for _ in batch), return_exceptions=True)
        for result in opened:
            if isinstance(result, BaseException):
                failures.append(repr(result))
            else:
                listeners.append(result)
    connect_s = time.monotonic() - started
    stall_socket = open_stalled_listener(host, port) if stalled else None
    stall_port = stall_socket.getsockname()[1] if stall_socket else None
    control.send(("connected", len(listeners), failures[:3], len(failures), connect_s, stall_port, time.time()))

    window.epoch_s, window.t0_s, window.t1_s = await loop.run_in_executor(None, control.recv)
    await asyncio.sleep(window.t1_s + TAIL_S - time.time())

    frame_s = FRAME_SAMPLES / SAMPLE_RATE
    due_in_window = (math.ceil((window.t1_s - window.epoch_s) / frame_s - 1e-9)
                     - math.ceil((window.t0_s - window.epoch_s) / frame_s - 1e-9))
    lost = [listener.lost for listener in listeners]
    for listener in listeners:
        listener.close(None)
    if stall_socket is not None:
        stall_socket.close()
    control.send({
        "frames": np.array([listener.frames for listener in listeners]),
        "gaps": np.array([listener.gaps for listener in listeners]),
        "lost": np.array(lost),
        "bad": sum(listener.bad for listener in listeners),
        "close_codes": sorted({listener.close_code for listener in listeners if listener.close_code}),
        "due_per_listener": due_in_window,
        "arrival_lags_ms": np.array(window.arrival_lags_s) * 1000.0,
        "read_lags_ms": np.array(window.read_lags_s) * 1000.0,
        "tick_late_ms": np.array(window.tick_late_s) * 1000.0,
        "kernel_stamped": window.kernel_stamped,
    })


@contextlib.contextmanager
def clients_process(host: str, port: int, count: int, stalled: bool) -> Iterator[tuple[multiprocessing.Process, Connection]]:
    """:func:`run_clients` in a spawned process of its own → (the process, the parent's end of its pipe);
    joined on leaving (killed if it has not ended 10 s later)."""
    context = multiprocessing.get_context("spawn")
    control, child_end = context.Pipe()
    client = context.Process(target=run_clients, args=(child_end, host, port, count, stalled), daemon=True)
    client.start()
    try:
        yield client, control
    finally:
        client.join(10)
        if client.is_alive():
            client.kill()
