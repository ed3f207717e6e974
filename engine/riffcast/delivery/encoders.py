"""Stream encoders, sans I/O: the station's PCM (float32 mono, 44.1 kHz, absolute positions) in,
compressed packets with the stream position of their first sample out (codecs and positions:
:mod:`riffcast.delivery.codecs`).

- Opus and Ogg Opus: libopus through libsndfile's Ogg Opus writer (soundfile's wheel bundles both;
  :mod:`riffcast.delivery.sndfile_opus`), fed at 48 kHz, resampled with soxr as the rest of riffcast
  resamples. Raw Opus packets (``/stream?format=opus``) are read back out of its Ogg pages
  (:mod:`riffcast.delivery.ogg`); libsndfile writes a page only every few packets, so a packet
  comes out about 60 ms of audio after its samples went in.
- MP3: LAME through lameenc (a small wheel bundling LAME), at LAME's default quality (3), as
  FFmpeg's libmp3lame leaves it: the same frames, byte for byte. LAME hands out bytes as it has
  them; a packet is handed on once its whole frame is there.
"""

from __future__ import annotations

import lameenc
import numpy as np
import soxr

from riffcast.delivery.codecs import (
    MP3_DELAY_SAMPLES,
    OPUS_RATE,
    SETTINGS,
    STREAM_RATE,
    Codec,
    Packet,
)
from riffcast.delivery.ogg import join_packets, read_pages
from riffcast.delivery.sndfile_opus import MIN_PAGE_LATENCY_MS, OggOpusWriter
from riffcast_client import protocol

OGG_PAGE_MS = 100.0  # Icecast's Ogg Opus: a page about every 100 ms
LAME_QUALITY = 3  # LAME's own default (FFmpeg's libmp3lame does not set one)
OPUS_HEADER_PACKETS = 2  # OpusHead, OpusTags
PRE_SKIP_AT = slice(10, 12)  # OpusHead's pre-skip (48 kHz samples, little-endian)

# MPEG-1 Layer III: kbit/s by the header's bitrate index, Hz by its sample-rate index.
_MP3_KBIT_PER_S = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_RATES_HZ = (44100, 48000, 32000)


def mp3_frame_bytes(header: bytes) -> int:
    """The length in bytes of the MPEG-1 Layer III frame whose 4-byte header is ``header``:
    ``144 · bitrate / sample rate`` plus the padding byte. ValueError if it is no such header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xFE != 0xFA:
        raise ValueError(f"not an MPEG-1 Layer III frame header: {header[:4].hex()}")
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if not 0 < bitrate_index < len(_MP3_KBIT_PER_S) or rate_index >= len(_MP3_RATES_HZ):
        raise ValueError(f"an MP3 frame header with a reserved bitrate or rate: {header[:4].hex()}")
    return 144 * _MP3_KBIT_PER_S[bitrate_index] * 1000 // _MP3_RATES_HZ[rate_index] + padding


class _OpusPackets:
    """Raw Opus packets at 48 kHz from libsndfile's pages; the first sample in is the encoder's."""

    def __init__(self, bit_rate: int) -> None:
        self._resampler = soxr.ResampleStream(STREAM_RATE, OPUS_RATE, 1, dtype="float32", quality="HQ")
        self._writer = OggOpusWriter(bit_rate, page_latency_ms=MIN_PAGE_LATENCY_MS)
        self._data = b""  # written, not a whole page yet
        self._carried = b""  # a packet's start whose end is in the next page
        self._headers: list[bytes] = []
        self.pre_skip = 0  # 48 kHz samples before the first sample in (OpusHead)

    def feed(self, samples: np.ndarray) -> list[bytes]:
        self._data += self._writer.write(self._resampler.resample_chunk(samples))
        pages, used = read_pages(self._data)
        self._data = self._data[used:]
        packets, self._carried = join_packets(pages, self._carried)
        while packets and len(self._headers) < OPUS_HEADER_PACKETS:
            self._headers.append(packets.pop(0))
            if len(self._headers) == 1:
                self.pre_skip = int.from_bytes(self._headers[0][PRE_SKIP_AT], "little")
        return packets

    def offset(self, index: int) -> int:
        """Packet ``index``'s first sample, in 44.1 kHz samples from the first sample in."""
        return round((index * SETTINGS[Codec.OPUS].frame_samples - self.pre_skip) * STREAM_RATE / OPUS_RATE)


class _Mp3Frames:
    """Whole MP3 frames from LAME, each as soon as its last byte is out."""

    def __init__(self, bit_rate: int) -> None:
        self._lame = lame = lameenc.Encoder()
        lame.set_bit_rate(bit_rate // 1000)
        lame.set_in_sample_rate(STREAM_RATE)
        lame.set_channels(1)
        lame.set_quality(LAME_QUALITY)
        self._data = b""  # LAME's output, not a whole frame yet

    def feed(self, samples: np.ndarray) -> list[bytes]:
        self._data += bytes(self._lame.encode(protocol.pcm_bytes(samples, "s16le")))  # the s16le listeners' values
        frames, start = [], 0
        while len(self._data) - start >= 4 and len(self._data) - start >= (size := mp3_frame_bytes(self._data[start : start + 4])):
            frames.append(self._data[start : start + size])
            start += size
        self._data = self._data[start:]
        return frames

    @staticmethod
    def offset(index: int) -> int:
        return index * SETTINGS[Codec.MP3].frame_samples - MP3_DELAY_SAMPLES


class StreamEncoder:
    """One codec's encoder (Opus or MP3) over consecutive blocks of the stream.

    ``encode(position, samples)`` takes the next block (float32 mono at 44.1 kHz; ``position``
    is its first sample's stream position, which must follow the previous block's end) and
    returns the packets completed.
    """

    def __init__(self, codec: Codec, *, bit_rate: int | None = None) -> None:
        if codec not in (Codec.OPUS, Codec.MP3):
            raise ValueError(f"StreamEncoder makes opus or mp3 packets, not {codec.value} (see encoder_for)")
        self.settings = SETTINGS[codec]
        self._bit_rate = bit_rate or self.settings.bit_rate
        self._packets = _OpusPackets(self._bit_rate) if codec is Codec.OPUS else _Mp3Frames(self._bit_rate)
        self._start: int | None = None  # stream position of the first sample given
        self._next: int | None = None  # stream position the next block must start at
        self._count = 0  # packets handed out

    @property
    def codec(self) -> Codec:
        return self.settings.codec

    @property
    def bit_rate(self) -> int:
        return self._bit_rate

    def encode(self, position: int, samples: np.ndarray) -> list[Packet]:
        if self._next is not None and position != self._next:
            raise ValueError(f"blocks must be contiguous: expected position {self._next}, got {position}")
        if self._start is None:
            self._start = position
        self._next = position + samples.size
        packets = []
        for data in self._packets.feed(np.asarray(samples, dtype=np.float32)):
            packets.append(Packet(self._start + self._packets.offset(self._count), data))
            self._count += 1
        return packets


class OggOpusEncoder:
    """Ogg Opus pages for Icecast (:attr:`Codec.OGG_OPUS`): libsndfile's writer, a page about every 100 ms.

    :meth:`retitle` ends the current Ogg stream and starts the next with the new title in its
    OpusTags (a chained stream: how Ogg carries a title change, and how a source that connects
    anew gets the headers Icecast needs first).
    """

    codec = Codec.OGG_OPUS

    def __init__(self, codec: Codec = Codec.OGG_OPUS, *, title: str = "") -> None:
        self.settings = SETTINGS[codec]
        self._title = title
        self._resampler = soxr.ResampleStream(STREAM_RATE, OPUS_RATE, 1, dtype="float32", quality="HQ")
        self._writer: OggOpusWriter | None = None
        self._written: list[bytes] = []
        self._starts = False

    def encode(self, position: int, samples: np.ndarray) -> list[Packet]:
        block = self._resampler.resample_chunk(np.asarray(samples, np.float32))
        if block.size:
            if self._writer is None:
                self._writer = OggOpusWriter(self.settings.bit_rate, page_latency_ms=OGG_PAGE_MS, title=self._title)
                self._starts = True
            self._written.append(self._writer.write(block))
        return self._take(position)

    def retitle(self, title: str, position: int) -> list[Packet]:
        """End this Ogg stream; the next samples start one titled ``title`` → the last pages."""
        self._title = title
        if self._writer is not None:
            self._written.append(self._writer.close())
            self._writer = None
        return self._take(position)

    def _take(self, position: int) -> list[Packet]:
        data = b"".join(self._written)
        self._written = []
        if not data:
            return []
        packet = Packet(position, data, starts_stream=self._starts)
        self._starts = False
        return [packet]


def encoder_for(codec: Codec) -> StreamEncoder | OggOpusEncoder:
    """A new encoder of ``codec``."""
    return OggOpusEncoder() if codec is Codec.OGG_OPUS else StreamEncoder(codec)
