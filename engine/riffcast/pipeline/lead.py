"""How much audio the feed keeps ahead of the playhead, and how far ahead a steer may replace it.

A steer is heard soonest when the images already stitched for the old target, but not yet
played, are painted again for the new one. An image can be replaced when the first sample
its stitching produced is still far enough ahead of the playhead for a new image to be
painted and stitched before the playhead gets there (:func:`rewind_safety_s`); the feed
stitches the last image again when its lead falls below the low water (:func:`window_low_water_s`
for windows).
"""

from __future__ import annotations

# Windows: a fallback window is stitched below 2 × the longest recent stitch + the feed's poll
# (50 ms), at least 0.2 s.
WINDOW_LOW_WATER_MIN_S = 0.2
LOW_WATER_STITCH_FACTOR = 2.0
FEED_POLL_S = 0.05
# A steer replaces images whose samples start at least this far ahead of the playhead:
# the low water + REWIND_WORK_FACTOR × (paint + stitch time, the longest of the last few) + margin.
REWIND_WORK_FACTOR = 1.5
REWIND_MARGIN_S = 0.1


def window_low_water_s(stitch_s: float) -> float:
    """The lead (seconds) below which a window's fallback is stitched, given the longest recent
    stitch: time to stitch it, twice over, before the lead runs out."""
    return max(WINDOW_LOW_WATER_MIN_S, LOW_WATER_STITCH_FACTOR * stitch_s + FEED_POLL_S)


def rewind_safety_s(paint_s: float, stitch_s: float, low_water_s: float) -> float:
    """How far ahead of the playhead (seconds) the samples of an image must start for a steer to
    replace it: painting (``paint_s``) and stitching (``stitch_s``) one image again, with room,
    must leave the lead above the low water (else the fallback would play the old image)."""
    return low_water_s + REWIND_WORK_FACTOR * (paint_s + stitch_s) + REWIND_MARGIN_S
