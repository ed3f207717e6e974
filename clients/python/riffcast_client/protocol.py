"""Wire protocol ``riffcast/1`` for listeners, sans I/O: messages as bytes and text.

See docs/protocol.md. A listener receives, in order: one text ``hello`` (JSON),
then binary audio frames — a 16-byte little-endian header (``uint64`` position of the
frame's first sample, ``float64`` server time in Unix seconds when it was emitted) followed
by interleaved PCM in the announced format, or with ``format=opus`` exactly one raw Opus
packet of 20 ms (48 kHz, mono; 882 stream samples) — with text JSON events such as
``now_playing`` between them. The next frame's position is this one's plus its samples; a
jump means frames were dropped for that listener.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

PROTOCOL = "riffcast/1"
HEADER = struct.Struct("<Qd")  # position (samples since the stream started), server time (s)
SAMPLE_DTYPES = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
OPUS = "opus"  # frames carry one Opus packet each, not PCM
STREAM_FORMATS = (*SAMPLE_DTYPES, OPUS)
OPUS_SAMPLE_RATE = 48000
OPUS_PACKET_SAMPLES = 882  # stream samples (44.1 kHz) per 20 ms packet
DEFAULT_FORMAT = "s16le"
_INT16_SCALE = 32767.0


class ProtocolError(ValueError):
    """Bytes or text that are not valid ``riffcast/1``."""


@dataclass(frozen=True)
class EncodedFrame:
    """One binary message of an encoded stream: ``data`` (one packet) decodes to audio from
    ``position`` on."""

    position: int
    server_time: float
    data: bytes


@dataclass(frozen=True)
class AudioFrame:
    """One binary message: ``samples`` (frames × channels, float32) starting at ``position``."""

    position: int
    server_time: float
    samples: np.ndarray

    @property
    def next_position(self) -> int:
        return self.position + int(self.samples.shape[0])


def check_format(name: str) -> str:
    """The stream format named in ``?format=``; ProtocolError for anything else."""
    if name not in STREAM_FORMATS:
        raise ProtocolError(f"unknown format {name!r}: use one of {', '.join(STREAM_FORMATS)}")
    return name


def check_pcm_format(name: str) -> str:
    """A PCM format (``s16le``, ``f32le``); ProtocolError otherwise (``opus`` included)."""
    if check_format(name) not in SAMPLE_DTYPES:
        raise ProtocolError(f"{name} frames carry encoded packets, not PCM: use one of {', '.join(SAMPLE_DTYPES)}")
    return name


def _pcm_dtype(name: str) -> np.dtype:
    return SAMPLE_DTYPES[check_pcm_format(name)]


def hello(
    *, station: str, sample_rate: int, channels: int, sample_format: str, frame_samples: int,
    position: int, server_time: float,
) -> str:
    """The first message to a listener, JSON text with exactly the fields of docs/protocol.md
    (and ``codec_sample_rate`` for ``opus``)."""
    codec = {"codec_sample_rate": OPUS_SAMPLE_RATE} if sample_format == OPUS else {}
    return json.dumps(
        {
            "type": "hello",
            "protocol": PROTOCOL,
            "station": station,
            "sample_rate": sample_rate,
            "channels": channels,
            "format": check_format(sample_format),
            "frame_samples": frame_samples,
            "position": position,
            "server_time": server_time,
            **codec,
        }
    )


def now_playing(*, position: int, prompts: list[tuple[str, float]], seed: int, alpha: float, image: str,
                image_position: int | None = None, bpm: float | None = None, key: str | None = None,
                next_downbeat: int | None = None) -> str:
    """The event sent when an image (a chunk, or a window) starts being heard at ``position``.

    prompts: (text, weight) pairs; image: URL path of its spectrogram PNG; image_position: the
    sample position of the picture's first column (earlier than ``position`` for a window,
    whose picture begins with its context; default ``position``); bpm, key: the musical controls
    asked for what is heard (None: free); next_downbeat: the stream position of the first
    downbeat at or after ``position`` (None: the music keeps no known beat).
    """
    return json.dumps(
        {
            "type": "now_playing",
            "position": position,
            "prompts": [{"text": text, "weight": weight} for text, weight in prompts],
            "seed": seed,
            "alpha": alpha,
            "image": image,
            "image_position": position if image_position is None else image_position,
            "bpm": bpm,
            "key": key,
            "next_downbeat": next_downbeat,
        }
    )


def beat(*, position: int, bar: int, beat: int, bpm: float) -> str:
    """The event sent on ``/stream`` before the frame that holds a beat: beat ``beat`` (1 = the
    downbeat) of bar ``bar`` is heard at stream sample ``position``, at ``bpm``."""
    if position < 0 or beat < 1:
        raise ProtocolError(f"a beat needs a position ≥ 0 and a beat number ≥ 1, got {position}, {beat}")
    return json.dumps({"type": "beat", "position": position, "bar": bar, "beat": beat, "bpm": round(bpm, 3)})


def encode_frame(position: int, server_time: float, samples: np.ndarray, sample_format: str) -> bytes:
    """Header + PCM. samples: (frames,) or (frames, channels) float in [−1, 1]; s16le clips
    and rounds to the nearest integer step."""
    if position < 0:
        raise ProtocolError("a frame position cannot be negative")
    return HEADER.pack(position, server_time) + pcm_bytes(samples, sample_format)


def pcm_bytes(samples: np.ndarray, sample_format: str) -> bytes:
    """Raw PCM in ``sample_format`` (channels interleaved). samples: (frames,) or (frames,
    channels) float in [−1, 1]; s16le clips and rounds to the nearest integer step."""
    dtype = _pcm_dtype(sample_format)
    values = np.asarray(samples, dtype=np.float32)
    if dtype.kind == "i":
        values = np.round(np.clip(values, -1.0, 1.0) * _INT16_SCALE)
    return values.astype(dtype).tobytes()


def decode_frame(message: bytes, sample_format: str, channels: int = 1) -> AudioFrame:
    """Parse a binary message; samples come back as float32 (frames, channels)."""
    dtype = _pcm_dtype(sample_format)
    if len(message) < HEADER.size or (len(message) - HEADER.size) % (dtype.itemsize * channels):
        raise ProtocolError(f"a {sample_format} frame needs a 16-byte header and whole samples, got {len(message)} bytes")
    position, server_time = HEADER.unpack_from(message)
    values = np.frombuffer(message, dtype=dtype, offset=HEADER.size).astype(np.float32)
    if dtype.kind == "i":
        values /= _INT16_SCALE
    return AudioFrame(position, server_time, values.reshape(-1, channels))


def encode_packet(position: int, server_time: float, packet: bytes) -> bytes:
    """Header + one encoded packet (``format=opus``)."""
    if position < 0:
        raise ProtocolError("a frame position cannot be negative")
    return HEADER.pack(position, server_time) + packet


def decode_packet(message: bytes) -> EncodedFrame:
    """Parse a binary message of an encoded stream."""
    if len(message) <= HEADER.size:
        raise ProtocolError(f"an encoded frame needs a 16-byte header and a packet, got {len(message)} bytes")
    position, server_time = HEADER.unpack_from(message)
    return EncodedFrame(position, server_time, bytes(message[HEADER.size :]))
