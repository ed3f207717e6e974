"""``riffcast listen --output -``: the stream as raw PCM on a pipe, for ffmpeg or Liquidsoap.

s16le (16-bit signed little-endian), the station's rate and channels (44 100 Hz mono for
riffcast), channels interleaved, no header. Gaps are filled with silence at their place in the
stream (as in a recording), so the reader's clock stays the stream's:

    riffcast listen ws://HOST:8000/stream --output - | ffmpeg -f s16le -ar 44100 -ac 1 -i - out.mp3
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from riffcast_client.protocol import pcm_bytes

RAW_FORMAT = "s16le"


class RawPcmWriter:
    """Write placed frames to ``out`` (a binary file object, e.g. ``sys.stdout.buffer``)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.frames_written = 0

    def write(self, silence_frames: int, samples: np.ndarray) -> None:
        """``silence_frames`` of silence, then ``samples`` ((frames, channels) float in [−1, 1])."""
        channels = samples.shape[1] if samples.ndim == 2 else 1
        if silence_frames:
            self.out.write(bytes(silence_frames * channels * 2))
        self.out.write(pcm_bytes(samples, RAW_FORMAT))
        self.out.flush()
        self.frames_written += silence_frames + samples.shape[0]
