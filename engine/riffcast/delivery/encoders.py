"""Stream encoders, sans I/O: the station's PCM (float32 mono, 44.1 kHz, absolute positions) in,
compressed packets with the stream position of their first sample out (codecs and positions:
:mod:`riffcast.delivery.codecs`).

FFmpeg's encoders through PyAV (its wheels carry libopus, LAME and FFmpeg's AAC): the codecs every
player has, in the implementations everyone ships. Opus is fed at 48 kHz, resampled with soxr as
the rest of riffcast resamples.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
import soxr

from riffcast.delivery.codecs import OPUS_FRAME_SAMPLES, OPUS_RATE, SETTINGS, STREAM_RATE, Codec, Packet


class StreamEncoder:
    """One codec's encoder over consecutive blocks of the stream.

    ``encode(position, samples)`` takes the next block (float32 mono at 44.1 kHz; ``position``
    is its first sample's stream position, which must follow the previous block's end) and
    returns the packets completed.
    """

    def __init__(self, codec: Codec, *, bit_rate: int | None = None) -> None:
        self.settings = settings = SETTINGS[codec]
        context = av.CodecContext.create(settings.av_name, "w")
        context.sample_rate = settings.codec_rate
        context.layout = "mono"
        context.format = settings.sample_format
        context.bit_rate = bit_rate or settings.bit_rate
        context.time_base = fractions.Fraction(1, settings.codec_rate)
        context.options = dict(settings.options)
        context.open()
        self._context = context
        self._resampler = (soxr.ResampleStream(STREAM_RATE, settings.codec_rate, 1, dtype="float32", quality="HQ")
                           if settings.codec_rate != STREAM_RATE else None)
        self._pending = np.zeros(0, dtype=np.float32)  # samples at the codec's rate, not a whole frame yet
        self._start: int | None = None  # stream position of the first sample given
        self._next: int | None = None  # stream position the next block must start at
        self._frames_in = 0  # codec-rate samples handed to the encoder

    @property
    def codec(self) -> Codec:
        return self.settings.codec

    @property
    def bit_rate(self) -> int:
        return int(self._context.bit_rate)

    def encode(self, position: int, samples: np.ndarray) -> list[Packet]:
        if self._next is not None and position != self._next:
            raise ValueError(f"blocks must be contiguous: expected position {self._next}, got {position}")
        if self._start is None:
            self._start = position
        self._next = position + samples.size
        block = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        self._pending = np.concatenate([self._pending, block])
        whole = self._pending.size - self._pending.size % self.settings.frame_samples
        packets = []
        for start in range(0, whole, self.settings.frame_samples):
            packets += self._encode_frame(self._pending[start : start + self.settings.frame_samples])
        self._pending = self._pending[whole:]
        return packets

    def _encode_frame(self, frame_samples: np.ndarray) -> list[Packet]:
        if self.settings.sample_format == "s16p":
            data = np.clip(np.round(frame_samples * 32767.0), -32768, 32767).astype(np.int16)
        else:
            data = frame_samples
        frame = av.AudioFrame.from_ndarray(data[None, :], format=self.settings.sample_format, layout="mono")
        frame.sample_rate = self.settings.codec_rate
        frame.pts = self._frames_in
        self._frames_in += frame_samples.size
        return [self._packet(packet) for packet in self._context.encode(frame)]

    def _packet(self, packet: av.Packet) -> Packet:
        """A packet whose pts counts codec-rate samples from the first one given."""
        offset = round(int(packet.pts) * STREAM_RATE / self.settings.codec_rate)
        return Packet(self._start + offset, bytes(packet))


class OggOpusEncoder:
    """Ogg Opus pages for Icecast (:attr:`Codec.OGG_OPUS`): FFmpeg's Ogg muxer, a page every 100 ms.

    :meth:`retitle` ends the current Ogg stream and starts the next with the new title in its
    OpusTags (a chained stream: how Ogg carries a title change, and how a source that connects
    anew gets the headers Icecast needs first).
    """

    codec = Codec.OGG_OPUS

    def __init__(self, codec: Codec = Codec.OGG_OPUS, *, title: str = "") -> None:
        self.settings = SETTINGS[codec]
        self._title = title
        self._resampler = soxr.ResampleStream(STREAM_RATE, OPUS_RATE, 1, dtype="float32", quality="HQ")
        self._pending = np.zeros(0, dtype=np.float32)
        self._written: list[bytes] = []
        self._container = None
        self._stream = None
        self._frames_in = 0
        self._starts = False

    def write(self, data: bytes) -> int:  # the muxer's output
        self._written.append(bytes(data))
        return len(data)

    def encode(self, position: int, samples: np.ndarray) -> list[Packet]:
        self._pending = np.concatenate([self._pending, self._resampler.resample_chunk(np.asarray(samples, np.float32))])
        whole = self._pending.size - self._pending.size % OPUS_FRAME_SAMPLES
        for start in range(0, whole, OPUS_FRAME_SAMPLES):
            if self._container is None:
                self._open()
            frame = av.AudioFrame.from_ndarray(self._pending[None, start : start + OPUS_FRAME_SAMPLES], format="flt", layout="mono")
            frame.sample_rate, frame.pts = OPUS_RATE, self._frames_in
            self._frames_in += OPUS_FRAME_SAMPLES
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self._pending = self._pending[whole:]
        return self._take(position)

    def retitle(self, title: str, position: int) -> list[Packet]:
        """End this Ogg stream; the next samples start one titled ``title`` → the last pages."""
        self._title = title
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
        return self._take(position)

    def _open(self) -> None:
        self._container = av.open(self, "w", format="ogg", options={"page_duration": "100000"})
        self._stream = self._container.add_stream(self.settings.av_name, rate=OPUS_RATE)
        self._stream.layout = "mono"
        self._stream.bit_rate = self.settings.bit_rate
        self._stream.options = dict(self.settings.options)
        self._stream.metadata["title"] = self._title
        self._frames_in = 0
        self._starts = True

    def _take(self, position: int) -> list[Packet]:
        if not self._written:
            return []
        packet = Packet(position, b"".join(self._written), starts_stream=self._starts)
        self._written, self._starts = [], False
        return [packet]


def encoder_for(codec: Codec) -> StreamEncoder | OggOpusEncoder:
    """A new encoder of ``codec``."""
    return OggOpusEncoder() if codec is Codec.OGG_OPUS else StreamEncoder(codec)
