"""HLS (RFC 8216), sans I/O: MP3 packets in, immutable segments and a live playlist out.

Segments are packed audio (RFC 8216 §3.4): whole MP3 frames from the station's one MP3 encoder,
about ``target_s`` (2 s) each, each starting with the ID3 tag that packed audio needs
(``com.apple.streaming.transportStreamTimestamp``: the segment's first sample as a 33-bit 90 kHz
timestamp). A segment's URL names the run and its sequence number, so its bytes never change:
HTTP caches (nginx ``proxy_cache``, a CDN) keep them for a day, while the playlist is
short-lived — every listener behind a cache costs the station nothing.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

from riffcast.delivery.codecs import STREAM_RATE, Packet

TARGET_SEGMENT_S = 2.0
PLAYLIST_SEGMENTS = 6  # in the playlist: 12 s, enough for players that start 3 segments back
KEPT_SEGMENTS = 30  # fetchable: a minute, for caches and slow players
PTS_RATE = 90_000


@dataclass(frozen=True)
class Segment:
    """``sequence``: its media sequence number; ``position``: the stream position of its first
    sample; ``data``: the ID3 tag and the MP3 frames."""

    sequence: int
    position: int
    duration_s: float
    data: bytes


def id3_timestamp(position: int) -> bytes:
    """The ID3v2.4 tag with the PRIV frame that dates a packed-audio segment (33-bit, 90 kHz)."""
    pts = (position * PTS_RATE // STREAM_RATE) % (1 << 33)
    frame_body = b"com.apple.streaming.transportStreamTimestamp\x00" + struct.pack(">Q", pts)
    frame = b"PRIV" + _syncsafe(len(frame_body)) + b"\x00\x00" + frame_body
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def _syncsafe(value: int) -> bytes:
    """A 28-bit integer in 4 bytes of 7 bits (ID3v2 sizes)."""
    return bytes(((value >> shift) & 0x7F) for shift in (21, 14, 7, 0))


class HlsSegmenter:
    """Cut MP3 packets into segments of about ``target_s`` and keep the last ``KEPT_SEGMENTS``."""

    def __init__(self, *, target_s: float = TARGET_SEGMENT_S, frame_samples: int = 1152) -> None:
        self.frames_per_segment = max(1, round(target_s * STREAM_RATE / frame_samples))
        self.frame_samples = frame_samples
        self.segments: deque[Segment] = deque(maxlen=KEPT_SEGMENTS)
        self._pending: list[Packet] = []
        self._sequence = 0

    def feed(self, packets: list[Packet]) -> list[Segment]:
        """Add packets (in stream order) → the segments they completed."""
        done = []
        for packet in packets:
            if self._pending and packet.position != self._pending[-1].position + self.frame_samples:
                self._pending = []  # the encoder restarted: a segment never spans a jump
            if packet.position < 0:
                continue  # the encoder's priming before the stream's first sample
            self._pending.append(packet)
            if len(self._pending) == self.frames_per_segment:
                done.append(self._cut())
        return done

    def _cut(self) -> Segment:
        first = self._pending[0].position
        data = id3_timestamp(first) + b"".join(packet.data for packet in self._pending)
        segment = Segment(self._sequence, first, len(self._pending) * self.frame_samples / STREAM_RATE, data)
        self.segments.append(segment)
        self._sequence += 1
        self._pending = []
        return segment

    def segment(self, sequence: int) -> Segment | None:
        return next((segment for segment in self.segments if segment.sequence == sequence), None)


def playlist(segments: list[Segment], *, segment_url: str, epoch_s: float) -> str:
    """The live playlist of the last ``PLAYLIST_SEGMENTS`` of ``segments``.

    segment_url: a format string with ``{sequence}`` (relative to the playlist's URL);
    epoch_s: the Unix time at which stream position 0 was due (for PROGRAM-DATE-TIME).
    """
    shown = segments[-PLAYLIST_SEGMENTS:]
    target = math.ceil(max((segment.duration_s for segment in shown), default=TARGET_SEGMENT_S))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
             f"#EXT-X-MEDIA-SEQUENCE:{shown[0].sequence if shown else 0}"]
    for segment in shown:
        moment = datetime.fromtimestamp(epoch_s + segment.position / STREAM_RATE, tz=timezone.utc)
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}",
                  f"#EXTINF:{segment.duration_s:.3f},", segment_url.format(sequence=segment.sequence)]
    return "\n".join(lines) + "\n"
