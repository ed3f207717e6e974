"""Stream assembly, sans I/O: painted images placed one after another in the stream and
stitched into PCM — the one path from pixels to samples for ``riffcast serve`` (the station's
feed) and ``riffcast render``, and the one place where positions in the stream are counted.

Image k (k = 0, 1, …) brings new music from stream column ``layout.start_column(k)`` on
(:mod:`riffcast.pipeline.layout`: 0, 512, 1024, … for whole chunks; 0, 512, 512 + N, … for windows of N
columns); one column is one hop of audio (``params.hop_samples``), so its first new sample is
that column × hop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import MelImage, mel_from_pixels
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.params import SpectrogramParams
from riffcast.dsp.phase_settings import DEFAULT_ITERATIONS
from riffcast.pipeline.layout import WHOLE_CHUNKS, StreamLayout
from riffcast.pipeline.stitcher import PcmBlock, Stitcher, StitcherCheckpoint


@dataclass(frozen=True)
class AssemblyMark:
    """The assembly just before stitching the image placed at ``slot``."""

    slot: int
    stitcher: StitcherCheckpoint

    @property
    def emitted_from(self) -> int:
        """The first sample that stitching this slot (and the ones after it) produced."""
        return self.stitcher.position


class StreamAssembly:
    """Place images (:meth:`place`) and stitch them (:meth:`stitch`) in that order.

    An image's position may be reserved before it is stitched (the feed acknowledges a steer
    with the position where it will be heard); images are stitched in placement order.
    :meth:`mark` and :meth:`rewind` let stitched images that have not been played be replaced.
    """

    def __init__(
        self, params: SpectrogramParams, *, layout: StreamLayout = WHOLE_CHUNKS,
        level: LevelSettings | None = LevelSettings(),
        bandwidth: BandwidthSettings | None = BandwidthSettings(),
        iterations: int = DEFAULT_ITERATIONS,
    ) -> None:
        if layout.chunk_columns != params.chunk_columns:
            raise ValueError(f"the layout's images must be {params.chunk_columns} columns wide")
        self.params = params
        self.layout = layout
        self.stitcher = Stitcher(params, crossfade_columns=layout.crossfade_columns, level=level, bandwidth=bandwidth,
                                 iterations=iterations)
        self.placed = 0  # images placed so far
        self.stitched = 0  # images stitched so far

    def start_sample(self, slot: int) -> int:
        """Stream position (samples) where the image placed at ``slot`` is heard from."""
        return self.layout.start_column(slot) * self.params.hop_samples

    @property
    def next_position(self) -> int:
        """Where the next image placed will be heard from."""
        return self.start_sample(self.placed)

    def place(self) -> int:
        """Reserve the next image's place → its stream position (samples)."""
        position = self.next_position
        self.placed += 1
        return position

    def stitch(self, image: np.ndarray) -> PcmBlock:
        """The next placed image, (512, 512) uint8 → the PCM it completes (float32 mono)."""
        part = self.layout.stitched_part(image, self.stitched)
        self.stitched += 1
        return self.stitcher.push(MelImage(mel_from_pixels(part, self.params), None))

    def mark(self) -> AssemblyMark:
        """The state before the next image is stitched, to come back to with :meth:`rewind`."""
        return AssemblyMark(self.stitched, self.stitcher.checkpoint())

    def rewind(self, mark: AssemblyMark) -> None:
        """Forget every image placed from ``mark``'s slot on: the next image placed takes that
        slot and stitching continues from there (samples from ``mark.emitted_from`` on are
        replaced)."""
        self.stitcher.restore(mark.stitcher)
        self.placed = self.stitched = mark.slot

    def flush(self) -> PcmBlock:
        """The end of the stream: the samples still held back for look-ahead."""
        return self.stitcher.flush()

    def images_for(self, samples: int) -> int:
        """How many images make at least ``samples`` samples of stream."""
        return self.layout.windows_for(math.ceil(samples / self.params.hop_samples))
