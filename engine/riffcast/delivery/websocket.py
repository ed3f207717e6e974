"""Listeners on ``/stream``, as two outputs: ``ws-pcm`` (a frame per tick, s16le or f32le) and
``ws-opus`` (the Opus encoder's packets). None waits for another.

Writes never await. Each listener is judged by the one backlog policy
(:mod:`riffcast.delivery.backlog`): audio for a listener more than ``backlog_s`` behind is
dropped (its next message shows the jump in positions), and one behind for ``stall_close_s``
is closed with code 1008 and a reason. ``now_playing`` events are small and go to every listener.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State

from riffcast.delivery.backlog import BacklogPolicy, Lag, Verdict
from riffcast.delivery.codecs import OPUS_PACKET_SAMPLES, STREAM_RATE, Packet
from riffcast.delivery.output import Block, OutputReport, Tally
from riffcast.ops.ratelimit import LogLimiter
from riffcast_client import protocol

log = logging.getLogger(__name__)

# Kernel send buffer per listener socket: small, so "behind" is seen after about the
# backlog rather than after megabytes of kernel buffering.
SEND_BUFFER_BYTES = 64 * 1024
OPUS_BYTES_PER_S = 12_000  # 64 kbit/s Opus with its headers, rounded up: an Opus listener's backlog scale


class WebSocketReceiver:
    """One ``/stream`` connection: its format, its standing under the backlog policy, its counts."""

    def __init__(self, connection: ServerConnection, sample_format: str, lag: Lag) -> None:
        self.connection = connection
        self.sample_format = sample_format
        self.lag = lag
        self.messages_sent = 0
        self.messages_dropped = 0

    @property
    def unsent_bytes(self) -> int:
        transport = self.connection.transport
        return transport.get_write_buffer_size() if transport is not None else 0


def bytes_per_s(sample_format: str, sample_rate: int = STREAM_RATE) -> float:
    """What a listener of ``sample_format`` takes per second of audio."""
    if sample_format == protocol.OPUS:
        return OPUS_BYTES_PER_S
    return sample_rate * protocol.SAMPLE_DTYPES[sample_format].itemsize


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


class WebSocketListeners:
    """The listeners of one output (``ws-pcm`` or ``ws-opus``) and its fan-out."""

    def __init__(self, output: str, policy: BacklogPolicy) -> None:
        self.policy = policy
        self.tally = Tally(output)
        self.messages_sent = 0
        self.messages_dropped = 0
        self._listeners: set[WebSocketReceiver] = set()
        self._closing: set[asyncio.Task] = set()
        self._closes_log = LogLimiter(log, 1.0, level=logging.INFO)  # many may stall at once

    def __len__(self) -> int:
        return len(self._listeners)

    def __iter__(self):
        return iter(list(self._listeners))

    def listener(self, connection: ServerConnection, sample_format: str) -> WebSocketReceiver:
        """A new listener of ``sample_format``, judged by this output's policy (not added yet)."""
        return WebSocketReceiver(connection, sample_format, Lag(self.policy, bytes_per_s(sample_format)))

    def formats(self) -> set[str]:
        return {listener.sample_format for listener in self._listeners}

    def add(self, listener: WebSocketReceiver) -> None:
        self._listeners.add(listener)

    def discard(self, listener: WebSocketReceiver) -> None:
        self._listeners.discard(listener)

    def fan_out(self, events: tuple[str, ...], messages: dict[str, bytes | list[bytes]], audio_s: float,
                now_s: float) -> None:
        """Write ``events`` (text) to every listener, then the message(s) of its format in
        ``messages`` — ``audio_s`` seconds of audio — to each listener of one that keeps up.

        now_s: a monotonic clock reading, for the stall timer.
        """
        receivers: dict[str, list[ServerConnection]] = {name: [] for name in messages}
        for listener in [listener for listener in self._listeners if listener.sample_format in messages]:
            batch = messages[listener.sample_format]
            count = 1 if isinstance(batch, bytes) else len(batch)
            verdict = listener.lag.judge(listener.unsent_bytes, now_s)
            if verdict is Verdict.SEND:
                listener.messages_sent += count
                self.messages_sent += count
                self.tally.sent_bytes += len(batch) if isinstance(batch, bytes) else sum(map(len, batch))
                receivers[listener.sample_format].append(listener.connection)
                continue
            listener.messages_dropped += count
            self.messages_dropped += count
            self.tally.dropped_s += audio_s
            if verdict is Verdict.CLOSE:
                self.tally.closed_too_slow += 1
                self._close(listener, 1008, f"too slow: behind for over {self.policy.stall_close_s:g} s")
        everyone = [listener.connection for listener in self._listeners]  # events are small: not dropped
        for event in events:
            broadcast(everyone, event)
        for name, connections in receivers.items():
            if not connections:
                continue
            batch = messages[name]
            if isinstance(batch, bytes):
                broadcast(connections, batch)
            else:
                for connection in connections:
                    send_all(connection, batch)

    def health(self) -> tuple[OutputReport, ...]:
        return (self.tally.report(len(self._listeners)),)

    def close(self) -> None:
        """Listeners are closed by the WebSocket server with its close code."""

    def _close(self, listener: WebSocketReceiver, code: int, reason: str) -> None:
        self.discard(listener)
        self._closes_log.log(code, "closing a listener (%d %s)", code, reason)
        task = asyncio.get_running_loop().create_task(_close_or_abort(listener.connection, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class PcmListeners(WebSocketListeners):
    """``ws-pcm``: each block, framed in each listener's format (one frame a tick)."""

    def __init__(self, policy: BacklogPolicy, sample_rate: int = STREAM_RATE) -> None:
        super().__init__("ws-pcm", policy)
        self.sample_rate = sample_rate

    def write(self, block: Block) -> None:
        frames = {name: protocol.encode_frame(block.position, block.emitted_s, block.samples, name)
                  for name in self.formats() if name in protocol.SAMPLE_DTYPES}
        self.fan_out(block.events, frames, block.samples.size / self.sample_rate, time.monotonic())


class OpusListeners(WebSocketListeners):
    """``ws-opus``: the events of each block; the Opus packets as the encoder delivers them."""

    def __init__(self, policy: BacklogPolicy) -> None:
        super().__init__("ws-opus", policy)

    def write(self, block: Block) -> None:
        if block.events:
            self.fan_out(block.events, {}, 0.0, time.monotonic())

    def deliver(self, packets: list[Packet]) -> None:
        """The encoder's packets: one message each, in one write per listener."""
        emitted_s = time.time()
        messages = [protocol.encode_packet(packet.position, emitted_s, packet.data)
                    for packet in packets if packet.position >= 0]  # not the look-ahead before sample 0
        if messages:
            audio_s = len(messages) * OPUS_PACKET_SAMPLES / STREAM_RATE
            self.fan_out((), {protocol.OPUS: messages}, audio_s, time.monotonic())


async def _close_or_abort(connection: ServerConnection, code: int, reason: str, timeout_s: float = 1.0) -> None:
    """Close with a code and reason; a peer that does not read never sees it, so after
    ``timeout_s`` the socket is aborted (its unsent data would otherwise hold it open)."""
    try:
        await asyncio.wait_for(connection.close(code, reason), timeout_s)
    except asyncio.TimeoutError:
        if connection.transport is not None:
            connection.transport.abort()
