"""Ogg Opus from libsndfile (soundfile's wheel bundles libsndfile with libopus and libogg), in memory.

:class:`OggOpusWriter` feeds 48 kHz float32 mono to libsndfile's Ogg Opus writer and hands back the
pages it wrote. What libsndfile 1.2.2's ``src/ogg_opus.c`` does, and what follows from it:

- the target bitrate comes from the compression level: ``int((1 − level) · 250000 + 6000)`` bit/s
  per channel (:func:`compression_level_for` inverts it exactly); Opus is VBR (libsndfile refuses
  ``SFC_SET_BITRATE_MODE`` for Opus), 20 ms frames, ``OPUS_APPLICATION_AUDIO``, complexity 10;
- OpusHead's pre-skip is libopus's look-ahead, 312 samples at 48 kHz;
- a frame is encoded when the next samples arrive after it is full, and a page is flushed when a
  packet is encoded and the page latency (default 1 s, at least 50 ms) has passed since the last
  flush: the pages lag the samples written by a few packets (3 on average at 50 ms);
- :meth:`OggOpusWriter.close` encodes what is left (padded) and ends the stream's last page.
"""

from __future__ import annotations

import numpy as np
import soundfile

from riffcast.delivery.codecs import OPUS_RATE

SFC_SET_OGG_PAGE_LATENCY = 0x1302  # libsndfile's sndfile.h
MIN_PAGE_LATENCY_MS = 50.0  # libsndfile clamps the page latency to 50–1600 ms
_BIT_RATE_SPAN = 250_000  # libsndfile: bitrate = (1 − level) · 250000 + 6000, per channel
_BIT_RATE_FLOOR = 6_000


def compression_level_for(bit_rate: int) -> float:
    """libsndfile's compression level (0–1) whose Opus target is ``bit_rate`` (bit/s, mono) exactly:
    half a bit/s above it, so that libsndfile's truncation to an int lands on it."""
    if not _BIT_RATE_FLOOR <= bit_rate <= _BIT_RATE_FLOOR + _BIT_RATE_SPAN:
        raise ValueError(f"an Opus bitrate must be from {_BIT_RATE_FLOOR} to {_BIT_RATE_FLOOR + _BIT_RATE_SPAN} bit/s, got {bit_rate}")
    return 1.0 - (bit_rate - _BIT_RATE_FLOOR + 0.5) / _BIT_RATE_SPAN


def set_page_latency(file: soundfile.SoundFile, latency_ms: float) -> None:
    """Set an Ogg writer's page latency (ms; libsndfile clamps it to 50–1600).

    soundfile has no call for ``SFC_SET_OGG_PAGE_LATENCY``, so this uses its private ``_snd`` (the
    cffi library) and ``_ffi``, and the file's private ``_file`` handle: the one place riffcast
    touches soundfile's internals (tests/test_encoders.py fails if it stops working).
    """
    latency = soundfile._ffi.new("double*", latency_ms)
    error = soundfile._snd.sf_command(file._file, SFC_SET_OGG_PAGE_LATENCY, latency, soundfile._ffi.sizeof(latency))
    if error:
        raise RuntimeError(f"libsndfile refused the Ogg page latency {latency_ms} ms (sf_command returned {error})")


class _Sink:
    """The file-like object libsndfile writes to: it keeps what is written; a seek only reports
    the position (an Ogg writer never goes back)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self._position = 0

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._position

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self.written = b"".join(self.written), []
        return data


class OggOpusWriter:
    """One Ogg Opus stream (48 kHz mono, ``bit_rate`` bit/s, ``title`` in its OpusTags)."""

    def __init__(self, bit_rate: int, *, page_latency_ms: float, title: str = "") -> None:
        self._sink = _Sink()
        self._file = soundfile.SoundFile(self._sink, "w", samplerate=OPUS_RATE, channels=1, format="OGG",
                                         subtype="OPUS", compression_level=compression_level_for(bit_rate))
        if title:
            self._file.title = title
        set_page_latency(self._file, page_latency_ms)

    def write(self, samples: np.ndarray) -> bytes:
        """Take float32 samples at 48 kHz → the pages written meanwhile (often none)."""
        self._file.write(samples)
        return self._sink.take()

    def close(self) -> bytes:
        """End the stream → its last pages."""
        self._file.close()
        return self._sink.take()

    def log(self) -> str:
        """libsndfile's log of this file (its target bitrate, the pre-skip)."""
        return self._file.extra_info
