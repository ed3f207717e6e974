"""Window mode's arithmetic (riffcast.pipeline.layout), the walk's fractional steps, and the feed's
timeline of replaceable images."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.pipeline.assembly import AssemblyMark
from riffcast.pipeline.layout import WHOLE_CHUNKS, StreamLayout
from riffcast.pipeline.stitcher import StitcherCheckpoint
from riffcast.pipeline.timeline import Placement, Timeline, rewind_safety_s, window_low_water_s
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk


def test_whole_chunks_tile_the_stream_chunk_after_chunk():
    assert [WHOLE_CHUNKS.start_column(k) for k in range(4)] == [0, 512, 1024, 1536]
    assert [WHOLE_CHUNKS.keep_columns(k) for k in range(3)] == [0, 0, 0]
    assert WHOLE_CHUNKS.windows_for(1024) == 2 and WHOLE_CHUNKS.windows_for(1025) == 3


def test_windows_keep_their_context_and_bring_n_new_columns_each():
    layout = StreamLayout(512, 64, 16)
    assert [layout.start_column(k) for k in range(4)] == [0, 512, 576, 640]
    assert [layout.image_start_column(k) for k in range(3)] == [0, 64, 128]
    assert layout.keep_columns(0) == 0 and layout.keep_columns(5) == 512 - 64 - 16
    image = np.arange(512)[None, :].repeat(3, axis=0)
    assert layout.stitched_part(image, 0).shape == (3, 512)
    assert list(layout.stitched_part(image, 1)[0, [0, -1]]) == [432, 511]  # 16 crossfaded + 64 new
    # window k's image covers stream columns [k·64, k·64 + 512): its new columns end the stream so far
    assert layout.image_start_column(3) + 512 == layout.start_column(3) + 64
    assert layout.windows_for(512) == 1 and layout.windows_for(513) == 2 and layout.windows_for(640) == 3
    assert layout.windows_per_chunk == 8 and not layout.whole_chunks


@pytest.mark.parametrize(("window", "crossfade", "message"), [
    (100, 16, "window columns must be a multiple of 8 that divides 512, got 100"),
    (96, 16, "window columns must be a multiple of 8 that divides 512, got 96"),
    (1024, 0, "window columns must be a multiple of 8 that divides 512, got 1024"),
    (64, 12, "crossfade columns must be a multiple of 8"),
    (256, 264, "crossfade columns must be a multiple of 8 from 0 to 256"),
    (512, 16, "none in whole-chunk mode"),
    (64, 0, "window mode needs crossfade columns"),
])
def test_impossible_layouts_are_refused_in_one_line(window, crossfade, message):
    with pytest.raises(ValueError, match=message):
        StreamLayout(512, window, crossfade)


def test_a_transition_takes_as_long_in_windows_as_in_chunks():
    walk = Walk(Target.from_text("jazz", seed=1), transition_chunks=2, steps_per_chunk=4)
    steps = [walk.advance() for _ in range(10)]
    assert [s.alpha for s in steps[:8]] == [k / 8 for k in range(1, 9)]
    assert [(s.start.seed, s.end.seed) for s in steps] == [(1, 2)] * 8 + [(2, 3)] * 2
    assert walk.position.taken == 0.5  # of the next transition, in chunks
    with pytest.raises(ValueError, match="power of two"):
        Walk(Target.from_text("jazz"), steps_per_chunk=3)


def _placement(slot: int, emitted_from: int, chunk_index: int | None = None) -> Placement:
    mark = AssemblyMark(slot, StitcherCheckpoint({}, emitted_from))
    return Placement(slot, emitted_from + 1000, slot if chunk_index is None else chunk_index, mark, None)


def test_the_timeline_offers_the_oldest_image_that_can_be_painted_again_in_time():
    timeline = Timeline()
    for slot in range(4):
        timeline.stitched(_placement(slot, slot * 10_000), playhead=0)
    assert timeline.rewind_point(15_000).slot == 2
    assert timeline.rewind_point(0, oldest_index=3).slot == 3  # the producer remembers no earlier image
    assert timeline.rewind_point(40_000) is None
    timeline.stitched(Placement(4, 41_000, None, AssemblyMark(4, StitcherCheckpoint({}, 40_000)), None), playhead=0)
    assert timeline.rewind_point(35_000) is None  # a fallback repeat is not the producer's to paint again
    assert [p.slot for p in timeline.drop_from(2)] == [2, 3, 4] and len(timeline) == 2
    timeline.stitched(_placement(2, 20_000), playhead=15_000)  # what the playhead passed is forgotten
    assert len(timeline) == 1


def test_the_rewind_margin_covers_painting_and_stitching_again():
    assert window_low_water_s(0.0) == 0.2 and window_low_water_s(0.2) == pytest.approx(0.45)
    assert rewind_safety_s(0.1, 0.1, 0.3) == pytest.approx(0.3 + 1.5 * 0.2 + 0.1)
