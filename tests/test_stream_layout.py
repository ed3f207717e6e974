"""Window mode's arithmetic (riffcast.pipeline.layout), the walk's fractional steps, and the feed's
lead margins (riffcast.pipeline.lead)."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.pipeline.layout import WHOLE_CHUNKS, StreamLayout
from riffcast.pipeline.lead import rewind_safety_s, window_low_water_s
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


def test_the_rewind_margin_covers_painting_and_stitching_again():
    assert window_low_water_s(0.0) == 0.2 and window_low_water_s(0.2) == pytest.approx(0.45)
    assert rewind_safety_s(0.1, 0.1, 0.3) == pytest.approx(0.3 + 1.5 * 0.2 + 0.1)
