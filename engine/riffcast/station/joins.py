"""What a listener gets first, at once, when it joins ``/stream``: the hello, what is playing,
and a pre-roll — the last frames (PCM) or the last 0.3 s of packets (Opus) — so it starts
playing without waiting for the clock; the station then adds it to its output, with no await in
between, so no frame can slip in between the pre-roll and the live ones."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import numpy as np
from websockets.asyncio.server import ServerConnection

from riffcast.delivery.codecs import Codec
from riffcast.delivery.outputs import EncodedOutputs
from riffcast.delivery.websocket import PcmListeners, WebSocketReceiver, write
from riffcast.dsp.params import SpectrogramParams
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.records import ImageRecord
from riffcast.station.pacer import Pacer
from riffcast_client import protocol


class Station(Protocol):
    """What a join reads of the station (riffcast.station.server.Station)."""

    config: Any  # StationConfig (riffcast.station.server): name, frame_samples, preroll_frames
    params: SpectrogramParams
    feed: Feed
    pacer: Pacer
    listeners: PcmListeners
    outputs: EncodedOutputs
    position: int | None
    epoch_s: float | None

    def now_playing(self, record: ImageRecord) -> str: ...

OPUS_READY_TIMEOUT_S = 5.0


def greeting(station: Station, sample_format: str, frame_samples: int, position: int) -> list[str]:
    """What a listener gets before its first frame or packet at ``position``: the hello, then the
    ``now_playing`` of the image heard there if the station still holds it."""
    messages = [protocol.hello(
        station=station.config.name, sample_rate=station.params.sample_rate, channels=1,
        sample_format=sample_format, frame_samples=frame_samples, position=position, server_time=time.time(),
    )]
    record = station.feed.record_at(position)
    if record is not None:
        messages.append(station.now_playing(record))
    return messages


def join_pcm(station: Station, connection: ServerConnection, sample_format: str) -> WebSocketReceiver:
    """hello, now playing and the pre-roll to a PCM listener, at once → the listener to add."""
    frame = station.config.frame_samples
    preroll = station.pacer.preroll(station.position, station.feed.held_from)
    listener = station.listeners.listener(connection, sample_format)
    # From here to add(): no await, so no tick can slip between the pre-roll and the live frames.
    for message in greeting(station, sample_format, frame, preroll.first):
        write(connection, message)
    for position in preroll.positions:
        samples = station.feed.read(position, frame)
        if samples is None:
            samples = np.zeros(frame, dtype=np.float32)
        emitted_s = station.pacer.first_due_s(station.epoch_s, position)  # when it was first sent, ±jitter
        write(connection, protocol.encode_frame(position, emitted_s, samples, sample_format))
    return listener

async def join_opus(station: Station, connection: ServerConnection) -> WebSocketReceiver | None:
    """Start the Opus encoder if needed; hello, now playing and the last 0.3 s of packets →
    the listener to add (None: the encoder produced nothing, the connection is closed)."""
    worker = station.outputs.worker(Codec.OPUS)

    async def caught_up() -> None:  # a new encoder first works through the last second
        await worker.ready.wait()
        while worker.recent()[-1].position < station.position - 2 * station.config.frame_samples:
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(caught_up(), OPUS_READY_TIMEOUT_S)
    except asyncio.TimeoutError:
        await connection.close(1011, "the Opus encoder produced nothing; try format=s16le")
        return None
    preroll_samples = station.config.preroll_frames * station.config.frame_samples
    recent = [packet for packet in worker.recent() if packet.position >= 0]
    if not recent:
        await connection.close(1011, "the Opus encoder produced nothing; try format=s16le")
        return None
    packets = [packet for packet in recent if packet.position >= recent[-1].position - preroll_samples]
    for message in greeting(station, protocol.OPUS, protocol.OPUS_PACKET_SAMPLES, packets[0].position):
        write(connection, message)
    for packet in packets:
        emitted_s = station.pacer.first_due_s(station.epoch_s, packet.position)
        write(connection, protocol.encode_packet(packet.position, emitted_s, packet.data))
    return station.outputs.opus_listeners.listener(connection, protocol.OPUS)
