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
import time
from typing import Any, Protocol

import numpy as np
import soundfile
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from riffcast.delivery.hls import Entry, contiguous_tail, playlist
from riffcast.delivery.outputs import EncodedOutputs
from riffcast.delivery.segment_store import SegmentStore
from riffcast.delivery.window_index import Span
from riffcast.delivery.window_query import Clip, ClipFormat, OutsideWindow, check_start, clip_request, stream_start
from riffcast.dsp.params import SpectrogramParams
from riffcast.history.as_run import utc_iso
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.records import ChunkRecord
from riffcast.station import http
from riffcast.station.pacer import Pacer
from riffcast_client import protocol

CATCH_UP_BATCH_S = 1.0  # read from the store this much at a time


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

    def now_playing(self, record: ChunkRecord) -> str: ...


class RewindWindow:
    """The HLS playlist and segments, ``/window``, ``/clip`` and rewound listeners (see the
    module docstring). ``store``: the window on disk; ``segment_url``: the segments' URL with
    ``{sequence}``."""

    def __init__(self, station: Station, store: SegmentStore, segment_url: str) -> None:
        self.station = station
        self.store = store
        self.segment_url = segment_url
        station.outputs.on_segment = store.add_segment

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
        stored = [Entry(piece.number, piece.position, piece.duration_s) for piece in self.store.segments()]
        entries = contiguous_tail([*stored, *(segment.entry for segment in self.station.outputs.hls.segments)])
        text = playlist(entries, segment_url=self.segment_url, epoch_s=self.station.epoch_s)
        return http.response(200, text.encode(), "application/vnd.apple.mpegurl", cache="max-age=1")

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
        listener fell out of the window (it is closed with 1008)."""
        station, frame = self.station, self.station.config.frame_samples
        position = start - start % frame
        span = self.span()
        if span is not None and position < span.first:
            position += frame
        await connection.send(protocol.hello(
            station=station.config.name, sample_rate=self.sample_rate, channels=1, sample_format=sample_format,
            frame_samples=frame, position=position, server_time=time.time()))
        record = station.feed.record_at(position)
        if record is not None:
            await connection.send(station.now_playing(record))
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


def encode_clip(clip: Clip, samples: np.ndarray, sample_rate: int) -> bytes:
    """``samples`` (float32 mono) as a 16-bit WAV or a 128 kbit/s MP3 file (libsndfile)."""
    out = io.BytesIO()
    if clip.format is ClipFormat.WAV:
        soundfile.write(out, samples, sample_rate, format="WAV", subtype="PCM_16")
    else:
        soundfile.write(out, samples, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    return out.getvalue()
