"""Codecs of the encoded outputs and their packets: names and numbers only (no encoder library
here, so the station imports this at start-up for free; :mod:`riffcast.delivery.encoders` has the
encoders).

- :attr:`Codec.OPUS`: 20 ms packets, 48 kHz, 64 kbit/s VBR. Packet k of an encoder started at
  stream position P starts at ``P + 882·k − 287``: libopus's 312 samples of look-ahead (6.5 ms)
  come first, and 960 samples at 48 kHz are exactly 882 at 44.1 kHz.
- :attr:`Codec.MP3`: MPEG-1 Layer III, CBR 128 kbit/s, 44.1 kHz mono, 1152-sample frames; a
  packet is one whole frame, so any run of packets is a playable MP3 stream. Packet k starts at
  ``P + 1152·k − 1105``: LAME's 576 samples of encoder delay and the decoder's 529.
- :attr:`Codec.OGG_OPUS`: Opus at 96 kbit/s in Ogg pages of about 100 ms (for Icecast mounts); a
  "packet" is the pages written since the previous one, and a new title starts a new chained Ogg
  stream whose first pages carry it (``starts_stream``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

STREAM_RATE = 44100
OPUS_RATE = 48000
OPUS_FRAME_SAMPLES = 960  # 20 ms at 48 kHz
OPUS_PACKET_SAMPLES = OPUS_FRAME_SAMPLES * STREAM_RATE // OPUS_RATE  # 882 at 44.1 kHz
MP3_FRAME_SAMPLES = 1152
MP3_DELAY_SAMPLES = 576 + 529  # LAME's encoder delay + the MP3 decoder's delay, before packet 0's audio


class Codec(enum.Enum):
    OPUS = "opus"
    MP3 = "mp3"
    OGG_OPUS = "ogg-opus"


@dataclass(frozen=True)
class CodecSettings:
    """What an encoder makes: its codec, rate (Hz), bitrate (bit/s) and frame (samples at its rate)."""

    codec: Codec
    codec_rate: int
    bit_rate: int
    frame_samples: int


SETTINGS = {
    Codec.OPUS: CodecSettings(Codec.OPUS, OPUS_RATE, 64_000, OPUS_FRAME_SAMPLES),
    Codec.MP3: CodecSettings(Codec.MP3, STREAM_RATE, 128_000, MP3_FRAME_SAMPLES),
    Codec.OGG_OPUS: CodecSettings(Codec.OGG_OPUS, OPUS_RATE, 96_000, OPUS_FRAME_SAMPLES),
}


@dataclass(frozen=True)
class Packet:
    """One encoded packet: ``data`` decodes to audio from stream ``position`` (44.1 kHz samples) on."""

    position: int
    data: bytes
    starts_stream: bool = False  # Ogg: these bytes begin a (chained) stream with its headers
