"""Listeners on ``/stream``: one frame written to all of them per tick, none waits for another.

Writes never await: a listener whose unsent bytes exceed its backlog (about 1 s of audio)
has the frame dropped (its next frame shows the jump in positions), and one that stays
behind for ``stall_close_s`` is closed with code 1008 and a reason.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State

from riffcast.ops.ratelimit import LogLimiter

log = logging.getLogger(__name__)

# Kernel send buffer per listener socket: small, so "behind" is seen after about the
# backlog rather than after megabytes of kernel buffering.
SEND_BUFFER_BYTES = 64 * 1024


@dataclass(eq=False)
class Listener:
    connection: ServerConnection
    sample_format: str
    backlog_bytes: int
    behind_since: float | None = None
    frames_sent: int = 0
    frames_dropped: int = 0

    @property
    def unsent_bytes(self) -> int:
        transport = self.connection.transport
        return transport.get_write_buffer_size() if transport is not None else 0


@dataclass
class TickResult:
    sent: int = 0
    dropped: int = 0
    closed: list[Listener] = field(default_factory=list)


def shrink_send_buffer(connection: ServerConnection) -> None:
    sock = connection.transport.get_extra_info("socket") if connection.transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def write(connection: ServerConnection, message: str | bytes) -> None:
    """Queue one message without waiting (a no-op on a connection that is closing)."""
    broadcast([connection], message)


def send_all(connection: ServerConnection, messages: list[bytes]) -> None:
    """Queue binary messages and write them in one go, without waiting (as websockets' broadcast,
    one system call for them all; nothing on a connection that is not open)."""
    if connection.protocol.state is not State.OPEN or connection.send_in_progress is not None:
        return
    try:
        for message in messages:
            connection.protocol.send_binary(message)
        connection.send_data()
    except Exception as error:  # noqa: BLE001 - as broadcast: a failed write never stops the others
        log.debug("skipped a write to a listener: %s", error)


class ListenerSet:
    """All connected listeners and the per-tick fan-out."""

    def __init__(self, *, stall_close_s: float = 5.0) -> None:
        self.stall_close_s = stall_close_s
        self._listeners: set[Listener] = set()
        self._by_format: dict[str, set[Listener]] = {}
        self._closing: set[asyncio.Task] = set()
        self._closes_log = LogLimiter(log, 1.0, level=logging.INFO)  # many may stall at once

    def __len__(self) -> int:
        return len(self._listeners)

    def __iter__(self):
        return iter(list(self._listeners))

    def formats(self) -> set[str]:
        return {name for name, listeners in self._by_format.items() if listeners}

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)
        self._by_format.setdefault(listener.sample_format, set()).add(listener)

    def discard(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        self._by_format.get(listener.sample_format, set()).discard(listener)

    def fan_out(self, events: list[str], frames: dict[str, bytes | list[bytes]], now_s: float) -> TickResult:
        """Write ``events`` (text) to every listener, then the frame(s) of its format in ``frames``
        to each listener of one (PCM formats: one frame a tick; Opus: the packets the encoder
        delivered, one message each, in one write per listener).

        now_s: a monotonic clock reading, for the stall timer.
        """
        result = TickResult()
        receivers: dict[str, list[ServerConnection]] = {name: [] for name in frames}
        for listener in [listener for name in frames for listener in self._by_format.get(name, ())]:
            if listener.unsent_bytes > listener.backlog_bytes:
                listener.frames_dropped += 1
                result.dropped += 1
                if listener.behind_since is None:
                    listener.behind_since = now_s
                elif now_s - listener.behind_since > self.stall_close_s:
                    self._close(listener, 1008, f"too slow: behind for over {self.stall_close_s:g} s")
                    result.closed.append(listener)
                continue
            listener.behind_since = None
            listener.frames_sent += 1
            result.sent += 1
            receivers[listener.sample_format].append(listener.connection)
        everyone = [listener.connection for listener in self._listeners]  # events are small: not dropped
        for event in events:
            broadcast(everyone, event)
        for name, connections in receivers.items():
            if not connections:
                continue
            messages = frames[name]
            if isinstance(messages, bytes):
                broadcast(connections, messages)
            else:
                for connection in connections:
                    send_all(connection, messages)
        return result

    def _close(self, listener: Listener, code: int, reason: str) -> None:
        self.discard(listener)
        self._closes_log.log(code, "closing a listener (%d %s)", code, reason)
        task = asyncio.get_running_loop().create_task(_close_or_abort(listener.connection, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close_or_abort(connection: ServerConnection, code: int, reason: str, timeout_s: float = 1.0) -> None:
    """Close with a code and reason; a peer that does not read never sees it, so after
    ``timeout_s`` the socket is aborted (its unsent data would otherwise hold it open)."""
    try:
        await asyncio.wait_for(connection.close(code, reason), timeout_s)
    except asyncio.TimeoutError:
        if connection.transport is not None:
            connection.transport.abort()
