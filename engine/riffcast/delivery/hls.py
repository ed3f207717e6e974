"""HLS (RFC 8216), sans I/O: MP3 packets in, immutable segments and a live playlist out.

Segments are packed audio (RFC 8216 §3.4): whole MP3 frames from the station's one MP3 encoder,
about ``target_s`` (2 s) each, each starting with the ID3 tag that packed audio needs
(``com.apple.streaming.transportStreamTimestamp``: the segment's first sample as a 33-bit 90 kHz
timestamp). A segment's URL names the run and its sequence number, so its bytes never change:
HTTP caches (nginx ``proxy_cache``, a CDN) keep them for a day, while the playlist is
short-lived — every listener behind a cache costs the station nothing. The playlist lists the
whole rewind window (``--hls-window``: the segments on disk, :mod:`riffcast.delivery.segment_store`,
and the newest in memory) with each segment's wall clock, so players can seek back in it.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from riffcast.delivery.codecs import STREAM_RATE, Packet

TARGET_SEGMENT_S = 2.0
KEPT_SEGMENTS = 30  # in memory: a minute (the window beyond is on disk, riffcast.delivery.segment_store)
START_BEHIND_S = 6.0  # players start this far from the live end (EXT-X-START), as they would in a short playlist
PTS_RATE = 90_000


@dataclass(frozen=True)
class Segment:
    """``sequence``: its media sequence number; ``position``: the stream position of its first
    sample; ``data``: the ID3 tag and the MP3 frames."""

    sequence: int
    position: int
    duration_s: float
    data: bytes

    @property
    def entry(self) -> Entry:
        return Entry(self.sequence, self.position, self.duration_s)


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


@dataclass(frozen=True)
class Entry:
    """A segment as the playlist lists it: its sequence, first sample's position and duration."""

    sequence: int
    position: int
    duration_s: float


def contiguous_tail(entries: Iterable[Entry]) -> list[Entry]:
    """The newest run of ``entries`` with consecutive sequence numbers, oldest first (a playlist's
    numbering allows no hole: a segment lost to a failed write ends the window there)."""
    by_sequence = {entry.sequence: entry for entry in entries}
    if not by_sequence:
        return []
    sequence = max(by_sequence)
    run = []
    while sequence in by_sequence:
        run.append(by_sequence[sequence])
        sequence -= 1
    return run[::-1]


def playlist(entries: list[Entry], *, segment_url: str, epoch_s: float,
             start_offset_s: float = -START_BEHIND_S) -> str:
    """The live playlist of ``entries`` (consecutive sequences, oldest first): the whole window
    with each segment's wall clock, players starting ``start_offset_s`` from its end.

    segment_url: a format string with ``{sequence}`` (relative to the playlist's URL);
    epoch_s: the Unix time at which stream position 0 was due (for PROGRAM-DATE-TIME: the wall
    clock of the segment's first sample, as the as-run log dates positions).
    """
    target = math.ceil(max((entry.duration_s for entry in entries), default=TARGET_SEGMENT_S))
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
             f"#EXT-X-MEDIA-SEQUENCE:{entries[0].sequence if entries else 0}",
             f"#EXT-X-START:TIME-OFFSET={start_offset_s:.3f}"]
    for index, entry in enumerate(entries):
        if index and entry.position != entries[index - 1].position + round(entries[index - 1].duration_s * STREAM_RATE):
            lines.append("#EXT-X-DISCONTINUITY")  # the encoder restarted: the timestamps jump
        moment = datetime.fromtimestamp(epoch_s + entry.position / STREAM_RATE, tz=timezone.utc)
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}",
                  f"#EXTINF:{entry.duration_s:.3f},", segment_url.format(sequence=entry.sequence)]
    return "\n".join(lines) + "\n"
