"""The station's HLS and rewind window (``--hls-window``): the playlist over the whole window,
its segments (newest from memory, older from the on-disk store), ``/window``, ``/clip``, and the
catch-up of a ``/stream?from=`` (or ``?since=``) listener.

A rewound PCM listener gets the hello (its ``position`` is the first frame's: the frame that holds
the asked position), the ``now_playing`` of that position if the station still holds the chunk,
then the stored frames from there as fast as its connection takes them (websockets' flow control:
the station holds little of it unsent), and once it has every frame up to the live position it
joins the live listeners with no await in between — so positions run on with no gap and no repeat.
The samples are the 16-bit store's (:mod:`riffcast.delivery.window_index`): what ``s16le``
listeners got at those positions, exactly.
"""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import soundfile
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from riffcast.delivery.codecs import OPUS_PACKET_SAMPLES, Codec
from riffcast.delivery.hls import Entry, contiguous_tail, playlist
from riffcast.delivery.outputs import EncodedOutputs
from riffcast.delivery.segment_store import SegmentStore
from riffcast.delivery.websocket import write
from riffcast.delivery.window_index import Kind, Span
from riffcast.delivery.window_query import Clip, ClipFormat, OutsideWindow, check_start, clip_request, stream_start
from riffcast.dsp.params import SpectrogramParams
from riffcast.history.as_run import utc_iso
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.records import ImageRecord
from riffcast.station import http
from riffcast.station.joins import OPUS_READY_TIMEOUT_S, greeting
from riffcast.station.pacer import Pacer
from riffcast_client import protocol

if TYPE_CHECKING:
    from riffcast.delivery.encoders import StreamEncoder

CATCH_UP_BATCH_S = 1.0  # read from the store this much at a time
OPUS_LOOKAHEAD_SAMPLES = 287  # an Opus encoder's packet k starts at its first sample + 882·k − 287 (codecs.py)


class Station(Protocol):
    """What the rewind side reads of the station (riffcast.station.server.Station)."""

    config: Any  # StationConfig: name, frame_samples
    params: SpectrogramParams
    feed: Feed
    pacer: Pacer
    outputs: EncodedOutputs
    metrics: Any  # StationMetrics
    playing: asyncio.Event
    position: int | None
    epoch_s: float | None

    def now_playing(self, record: ImageRecord) -> str: ...


class RewindWindow:
    """The HLS playlist and segments, ``/window``, ``/clip`` and rewound listeners (see the
    module docstring). ``store``: the window on disk; ``segment_url``: the segments' URL with
    ``{sequence}``."""

    def __init__(self, station: Station, store: SegmentStore, segment_url: str) -> None:
        self.station = station
        self.store = store
        self.segment_url = segment_url
        station.outputs.on_segment = store.add_segment
        self._playlist: tuple[tuple, bytes] | None = None  # what the playlist was made of, and its text

    @property
    def sample_rate(self) -> int:
        return self.station.params.sample_rate

    # -- HLS -------------------------------------------------------------------------------
    async def hls_playlist(self) -> Response:
        """``GET /hls/live.m3u8``: the whole window (short-lived; its segments are immutable)."""
        self.station.metrics.hls_requests.labels("playlist").inc()
        await self.station.playing.wait()
        if not await self.station.outputs.hls_ready():
            return http.text_response(503, "the HLS stream is starting; try again", headers=(("Retry-After", "2"),))
        in_memory = self.station.outputs.hls.segments
        held = (self.store.index.numbers(Kind.MP3), in_memory[-1].sequence)  # the text changes with these only
        if self._playlist is None or self._playlist[0] != held:  # a 2 h window's text takes 20 ms to make
            stored = [Entry(piece.number, piece.position, piece.duration_s) for piece in self.store.segments()]
            entries = contiguous_tail([*stored, *(segment.entry for segment in in_memory)])
            self._playlist = held, playlist(entries, segment_url=self.segment_url, epoch_s=self.station.epoch_s).encode()
        return http.response(200, self._playlist[1], "application/vnd.apple.mpegurl", cache="max-age=1")

    def hls_segment(self, sequence: int) -> bytes | None:
        """A segment's bytes, from memory (the newest minute) or the store; None if gone."""
        segment = self.station.outputs.hls.segment(sequence)
        data = segment.data if segment is not None else self.store.read_segment(sequence)
        if data is not None:
            self.station.outputs.hls_tally.sent_bytes += len(data)
        return data

    # -- the window ------------------------------------------------------------------------
    def span(self) -> Span | None:
        """What ``?from=`` and ``/clip`` may ask for now: stored PCM, ending at the live position."""
        window = self.store.window()
        if window is None or self.station.position is None:
            return None
        return Span(window.first, min(window.end, self.station.position))

    def window(self) -> dict:
        """``GET /window``: the window's ends as positions and UTC times (null before playback)."""
        span, epoch_s = self.span(), self.station.epoch_s
        first = None if span is None else span.first
        end = None if span is None else span.end
        return {"window_s": self.store.window_s, "sample_rate": self.sample_rate, "first": first, "end": end,
                "first_utc": None if first is None else utc_iso(epoch_s + first / self.sample_rate),
                "end_utc": None if end is None else utc_iso(epoch_s + end / self.sample_rate)}

    def stream_refusal(self, query: str) -> Response | None:
        """At ``/stream``'s handshake: a 400 or 416 for a ``from=``/``since=`` the window cannot serve."""
        try:
            start = stream_start(query, epoch_s=self.station.epoch_s or 0.0, sample_rate=self.sample_rate)
            if start is not None:
                check_start(start, self.span(), sample_rate=self.sample_rate)
        except OutsideWindow as error:
            return http.text_response(416, str(error))
        except ValueError as error:
            return http.text_response(400, str(error))
        return None

    def stream_start(self, query: str) -> int | None:
        """The position a handshaken listener asked for, clamped into the window (it may have
        moved since the handshake); None: live."""
        start = stream_start(query, epoch_s=self.station.epoch_s, sample_rate=self.sample_rate)
        span = self.span()
        if start is None or span is None:
            return None
        return min(max(start, span.first), span.end)

    async def catch_up_pcm(self, connection: ServerConnection, sample_format: str, start: int) -> bool:
        """Send the hello and every frame from the one holding ``start`` to the live position →
        True once caught up (then add the listener at once, without awaiting); False if the
        listener left or fell out of the window (it is closed with 1008)."""
        try:
            return await self._catch_up_pcm(connection, sample_format, start)
        except ConnectionClosed:
            return False

    async def catch_up_opus(self, connection: ServerConnection, start: int) -> bool:
        """As :meth:`catch_up_pcm` for an Opus listener: the stored PCM from ``start`` through an
        encoder of its own, started on the live encoder's packet grid, until its packets meet the
        live encoder's → True (add the listener at once); False: it left, or it is closed."""
        try:
            return await self._catch_up_opus(connection, start)
        except ConnectionClosed:
            return False

    async def _catch_up_pcm(self, connection: ServerConnection, sample_format: str, start: int) -> bool:
        station, frame = self.station, self.station.config.frame_samples
        position = start - start % frame
        span = self.span()
        if span is not None and position < span.first:
            position += frame
        for message in greeting(station, sample_format, frame, position):
            await connection.send(message)
        while position < station.position:
            end = min(station.position, position + round(CATCH_UP_BATCH_S * self.sample_rate) // frame * frame)
            samples = self.store.read_pcm(Span(position, end))
            for first in range(position, end, frame):
                part = samples[first - position:first - position + frame] if samples is not None else \
                    self.store.read_pcm(Span(first, first + frame))
                if part is None:
                    part = station.feed.read(first, frame)  # the newest, if the disk failed
                if part is None:
                    continue  # a hole in the store: the next frame shows the jump
                emitted_s = station.pacer.first_due_s(station.epoch_s, first)
                await connection.send(protocol.encode_frame(first, emitted_s, part, sample_format))
            position = end
            window = self.span()
            if window is None or position < window.first:
                await connection.close(1008, "too slow: fell out of the rewind window")
                return False
        return True

    async def _catch_up_opus(self, connection: ServerConnection, start: int) -> bool:
        station, grid = self.station, OPUS_PACKET_SAMPLES
        worker = station.outputs.worker(Codec.OPUS)
        try:
            await asyncio.wait_for(worker.ready.wait(), OPUS_READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            await connection.close(1011, "the Opus encoder produced nothing; try format=s16le")
            return False
        phase = (worker.recent()[-1].position + OPUS_LOOKAHEAD_SAMPLES) % grid  # where the live encoder started, mod grid
        span = self.span()
        # This encoder's start: its packets fall on the live ones' positions, its first whole one
        # (after the look-ahead's) holds ``start``.
        first = start - (start - phase) % grid - grid
        if span is not None and first < span.first:
            first += grid
        encoder = await asyncio.to_thread(_opus_encoder)
        position, next_packet = first, None  # the next sample to encode, the next packet to send
        while True:
            live = worker.recent()
            if next_packet is not None and live and live[0].position <= next_packet <= live[-1].position + grid:
                for packet in [packet for packet in live if packet.position >= next_packet]:
                    write(connection, protocol.encode_packet(
                        packet.position, station.pacer.first_due_s(station.epoch_s, packet.position), packet.data))
                return True  # the listener joins the live packets from the next one on, with no await
            end = min(station.position, live[-1].position if live else position)  # never ahead of the live packets
            samples = self.store.read_pcm(Span(position, end)) if end - position >= grid else None
            if samples is None:
                window = self.span()
                if window is None or position < window.first:
                    await connection.close(1008, "too slow: fell out of the rewind window")
                    return False
                await asyncio.sleep(0.02)  # the live encoder is about to catch up with this one
                continue
            packets = [packet for packet in await asyncio.to_thread(encoder.encode, position, samples)
                       if packet.position >= first]  # not the look-ahead before the first sample
            position = end
            if packets and next_packet is None:
                for message in greeting(station, protocol.OPUS, grid, packets[0].position):
                    await connection.send(message)
            for packet in packets:
                emitted_s = station.pacer.first_due_s(station.epoch_s, packet.position)
                await connection.send(protocol.encode_packet(packet.position, emitted_s, packet.data))
                next_packet = packet.position + grid

    # -- /clip -----------------------------------------------------------------------------
    async def clip(self, query: str) -> Response:
        """``GET /clip?from=ISO&to=ISO&format=wav|mp3``: that range of the window, exact to the sample."""
        if self.station.epoch_s is None:
            return http.json_response({"error": "the station is not playing yet"}, 503)
        try:
            clip = clip_request(query, self.span(), epoch_s=self.station.epoch_s, sample_rate=self.sample_rate)
        except OutsideWindow as error:
            return http.json_response({"error": str(error)}, 416)
        except ValueError as error:
            return http.json_response({"error": str(error)}, 400)
        samples = self.store.read_pcm(clip.span)
        if samples is None:
            return http.json_response({"error": "that range was not stored whole (see /healthz)"}, 410)
        data = await asyncio.to_thread(encode_clip, clip, samples, self.sample_rate)
        name = f"riffcast-{clip.span.first}-{clip.span.end}.{clip.format.value}"
        return http.response(200, data, clip.format.content_type, cache="no-cache",
                             headers=(("Content-Disposition", f'attachment; filename="{name}"'),))


def _opus_encoder() -> StreamEncoder:
    """A new Opus encoder (its libraries are imported here, off the event loop, as the encoder worker does)."""
    from riffcast.delivery.encoders import StreamEncoder

    return StreamEncoder(Codec.OPUS)


def encode_clip(clip: Clip, samples: np.ndarray, sample_rate: int) -> bytes:
    """``samples`` (float32 mono) as a 16-bit WAV — the values ``s16le`` listeners got, exactly — or
    a 128 kbit/s MP3 file (libsndfile)."""
    out = io.BytesIO()
    if clip.format is ClipFormat.WAV:
        pcm = np.frombuffer(protocol.pcm_bytes(samples, "s16le"), dtype="<i2")
        soundfile.write(out, pcm, sample_rate, format="WAV", subtype="PCM_16")
    else:
        soundfile.write(out, samples, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    return out.getvalue()
