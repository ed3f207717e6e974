"""Stream assembly, sans I/O: painted chunks placed one after another in the stream and
stitched into PCM — the one path from pixels to samples for ``riffcast serve`` (the station's
feed) and ``riffcast render``, and the one place where chunk positions are counted.

Chunk k (k = 0, 1, …) of images ``width`` columns wide, painted in overlap mode with K columns
repeated from the previous chunk, brings new music from stream column
``chunk_start_column(k)`` = 0, width, width + (width − K), … on; one column is one hop of
audio (``params.hop_samples``), so its first new sample is that column × hop.
"""

from __future__ import annotations

import math

import numpy as np

from riffcast.codec import SpectrogramChunk, mel_from_pixels
from riffcast.dsp.level_settings import LevelSettings
from riffcast.params import SpectrogramParams
from riffcast.stitcher import PcmBlock, Stitcher


def chunk_start_column(index: int, width: int, overlap_columns: int = 0) -> int:
    """Stream column where chunk ``index`` starts bringing new music (= the columns of stream
    the first ``index`` chunks make, overlaps counted once)."""
    return 0 if index <= 0 else width + (index - 1) * (width - overlap_columns)


class StreamAssembly:
    """Place chunks (:meth:`place`) and stitch their images (:meth:`stitch`) in that order.

    A chunk's position may be reserved before its image is stitched (the feed acknowledges a
    steer with the position where it will be heard); images are stitched in placement order.
    """

    def __init__(
        self, params: SpectrogramParams, *, overlap_columns: int = 0, level: LevelSettings | None = LevelSettings()
    ) -> None:
        self.params = params
        self.overlap_columns = overlap_columns
        self.stitcher = Stitcher(params, overlap_columns=overlap_columns, level=level)
        self.placed = 0  # chunks placed so far

    def start_sample(self, index: int) -> int:
        """Stream position (samples) where chunk ``index`` is heard from."""
        return chunk_start_column(index, self.params.chunk_columns, self.overlap_columns) * self.params.hop_samples

    @property
    def next_position(self) -> int:
        """Where the next chunk placed will be heard from."""
        return self.start_sample(self.placed)

    def place(self) -> int:
        """Reserve the next chunk's place → its stream position (samples)."""
        position = self.next_position
        self.placed += 1
        return position

    def stitch(self, image: np.ndarray) -> PcmBlock:
        """A placed chunk's (512, 512) uint8 image → the PCM it completes (float32 mono)."""
        return self.stitcher.push(SpectrogramChunk(mel_from_pixels(image, self.params), None))

    def flush(self) -> PcmBlock:
        """The end of the stream: the samples still held back for look-ahead."""
        return self.stitcher.flush()

    def chunks_for(self, samples: int) -> int:
        """How many chunks make at least ``samples`` samples of stream."""
        columns = math.ceil(samples / self.params.hop_samples)
        chunks = 1
        while chunk_start_column(chunks, self.params.chunk_columns, self.overlap_columns) < columns:
            chunks += 1
        return chunks
