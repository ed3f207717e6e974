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

from riffcast.delivery.codecs import SETTINGS, STREAM_RATE, Codec, Packet

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
