"""The stitched images that have not been played yet, and what it takes to replace them.
Sans I/O: the feed thread keeps one, the clock's playhead is passed in.

A steer is heard soonest when the images already stitched for the old target, but not yet
played, are painted again for the new one. Image ``p`` can be replaced when the first sample
its stitching produced (``mark.emitted_from``) is still far enough ahead of the playhead for
a new image to be painted and stitched before the playhead gets there (the ``earliest``
sample the caller passes: the playhead plus that safety margin).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from riffcast.pipeline.assembly import AssemblyMark
from riffcast.steering.walk import Step

# Windows: a fallback window is stitched below 2 × the longest recent stitch + the feed's poll
# (50 ms), at least 0.2 s.
WINDOW_LOW_WATER_MIN_S = 0.2
LOW_WATER_STITCH_FACTOR = 2.0
FEED_POLL_S = 0.05
# A steer replaces images whose samples start at least this far ahead of the playhead:
# the low water + REWIND_WORK_FACTOR × (paint + stitch time, the longest of the last few) + margin.
REWIND_WORK_FACTOR = 1.5
REWIND_MARGIN_S = 0.1


@dataclass(frozen=True)
class Placement:
    """An image stitched into the stream at ``slot``, heard from sample ``position``.

    chunk_index: the producer's number for the image, None for the feed's fallback repeat.
    mark: the assembly just before it was stitched (to come back to).
    before: the image and step stitched before it (the fallback after a rewind to here).
    """

    slot: int
    position: int
    chunk_index: int | None
    mark: AssemblyMark
    before: tuple[np.ndarray, Step] | None


class Timeline:
    """Stitched placements that may still be replaced, oldest first."""

    def __init__(self) -> None:
        self._placements: deque[Placement] = deque()

    def __len__(self) -> int:
        return len(self._placements)

    def stitched(self, placement: Placement, playhead: int) -> None:
        """Add the placement just stitched; forget those the playhead has reached."""
        while self._placements and self._placements[0].mark.emitted_from < playhead:
            self._placements.popleft()
        self._placements.append(placement)

    def rewind_point(self, earliest: int, oldest_index: int = 0) -> Placement | None:
        """The oldest placement of a painted image (the producer's index ``oldest_index`` or
        later) whose samples all lie at or after sample ``earliest``: where a steer can start
        replacing the stream (None: nowhere)."""
        for placement in self._placements:
            index = placement.chunk_index
            if index is not None and index >= oldest_index and placement.mark.emitted_from >= earliest:
                return placement
        return None

    def drop_from(self, slot: int) -> list[Placement]:
        """Forget the placements from ``slot`` on → them, oldest first."""
        dropped = []
        while self._placements and self._placements[-1].slot >= slot:
            dropped.append(self._placements.pop())
        return dropped[::-1]


def window_low_water_s(stitch_s: float) -> float:
    """The lead (seconds) below which a window's fallback is stitched, given the longest recent
    stitch: time to stitch it, twice over, before the lead runs out."""
    return max(WINDOW_LOW_WATER_MIN_S, LOW_WATER_STITCH_FACTOR * stitch_s + FEED_POLL_S)


def rewind_safety_s(paint_s: float, stitch_s: float, low_water_s: float) -> float:
    """How far ahead of the playhead (seconds) the samples of an image must start for a steer to
    replace it: painting (``paint_s``) and stitching (``stitch_s``) one image again, with room,
    must leave the lead above the low water (else the fallback would play the old image)."""
    return low_water_s + REWIND_WORK_FACTOR * (paint_s + stitch_s) + REWIND_MARGIN_S
