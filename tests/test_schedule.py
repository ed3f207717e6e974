"""The stream schedule, driven by hand: no threads, no clock — fallbacks, rewinds, steers during a
stall, window announcements, the playhead."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.producer import ImageProducer, ProducedImage
from riffcast.pipeline.schedule import RewindRequest, Rewound, StreamSchedule
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator

CHUNK = 512 * 441


def _producer(layout: StreamLayout | None = None) -> ImageProducer:
    options = {} if layout is None else {"layout": layout}
    return ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE, **options)


def _schedule(layout: StreamLayout | None = None, low_water_s: float | None = 2.5, kept_images: int = 8) -> StreamSchedule:
    layout = layout or StreamLayout.windows(512)
    return StreamSchedule(RIFFUSION_V1, layout, ring_samples=40 * 44100, kept_images=kept_images,
                          low_water_s=low_water_s, level=None, bandwidth=None)


def _stitch(schedule: StreamSchedule, chunk: ProducedImage, position: int | None = None) -> None:
    """What the feed thread does with a published image (placing first, unless already placed)."""
    position = schedule.place(chunk.index) if position is None else position
    schedule.commit(schedule.stitch(position, chunk.image, chunk.step, chunk.fallback, chunk.beats, chunk.index))


def test_images_are_placed_end_to_end_and_their_pcm_is_held_for_the_clock():
    schedule, producer = _schedule(), _producer()
    for _ in range(3):
        _stitch(schedule, producer.next_image())
    records = schedule.ledger.records()
    assert [r.position for r in records] == [0, CHUNK, 2 * CHUNK]
    assert [r.index for r in records] == [0, 1, 2] and [r.serial for r in records] == [0, 1, 2]
    assert all(r.samples == CHUNK for r in records)
    # The stitcher holds back its look-ahead: less than three chunks are readable, all contiguous.
    assert 2 * CHUNK < schedule.ring.end < 3 * CHUNK
    assert schedule.read(0, 44100) is not None and schedule.read(schedule.ring.end - 10, 20) is None
    assert schedule.position_of(1) == CHUNK and schedule.position_of(7) == schedule.assembly.next_position


def test_the_playhead_counts_images_that_started_and_the_ledger_forgets_old_ones():
    schedule, producer = _schedule(kept_images=2), _producer()
    for _ in range(4):
        _stitch(schedule, producer.next_image())
    assert schedule.move_playhead(0) == 1  # image 0 starts at 0
    assert schedule.move_playhead(CHUNK - 1) == 0
    assert schedule.move_playhead(2 * CHUNK + 5) == 2  # images 1 and 2
    assert [r.index for r in schedule.ledger.records()] == [1, 2, 3]  # two played kept, and the unplayed
    assert schedule.lead_samples == schedule.ring.end - (2 * CHUNK + 5)


def test_the_fallback_is_due_below_the_low_water_and_repeats_the_last_image():
    schedule, producer = _schedule(low_water_s=2.5), _producer()
    assert not schedule.fallback_due()  # nothing stitched yet: nothing to repeat
    first = producer.next_image()
    _stitch(schedule, first)
    schedule.move_playhead(schedule.ring.end - round(3.0 * 44100))
    assert not schedule.fallback_due()  # 3 s ahead
    schedule.move_playhead(schedule.ring.end - round(2.0 * 44100))
    assert schedule.fallback_due()
    repeat = schedule.place_fallback()
    assert repeat.position == CHUNK and np.array_equal(repeat.image, first.image) and repeat.step == first.step
    assert schedule.underruns == 1
    schedule.commit(schedule.stitch(repeat.position, repeat.image, repeat.step, True))
    records = schedule.ledger.records()
    assert [(r.position, r.fallback, r.index) for r in records] == [(0, False, 0), (CHUNK, True, None)]
    assert records[1].announced  # a repeat is always announced
    assert not schedule.fallback_due()  # the lead is back above the low water


def test_a_fallback_never_takes_the_slot_of_an_image_placed_and_on_its_way():
    """An image is placed (its position acknowledged to a steer) but not stitched yet when the lead
    runs low: the repeat must wait for it, not stitch itself into its slot (which put records out of
    order, with the image's ack one slot off)."""
    schedule, producer = _schedule(low_water_s=60.0), _producer()  # the lead is always low
    _stitch(schedule, producer.next_image())
    on_its_way = producer.next_image()
    position = schedule.place(on_its_way.index)
    assert not schedule.fallback_due()
    _stitch(schedule, on_its_way, position)
    assert schedule.fallback_due()
    repeat = schedule.place_fallback()
    schedule.commit(schedule.stitch(repeat.position, repeat.image, repeat.step, True))
    assert [(r.position, r.fallback) for r in schedule.ledger.records()] == [
        (0, False), (CHUNK, False), (2 * CHUNK, True)]


def test_a_steer_replaces_the_stitched_images_that_can_be_painted_again_in_time():
    schedule, producer = _schedule(), _producer()
    for _ in range(3):
        _stitch(schedule, producer.next_image())
    end_before = schedule.ring.end
    # Playhead at 0; image 1 starts 5.12 s ahead, more than the safety margin (2.5 s + paint 1 s × 1.5 + 0.1).
    answer = schedule.rewind(RewindRequest(paint_s=1.0, oldest=0, next_index=3))
    assert answer == Rewound(index=1, discarded=2)
    assert schedule.rewinds == 1
    assert [r.index for r in schedule.ledger.records()] == [0]
    # The ring forgets from where image 1's stitching began (the crossfade before its start).
    assert schedule.ring.end < CHUNK and schedule.rewound_samples == end_before - schedule.ring.end
    assert schedule.assembly.next_position == CHUNK  # the new image 1 is heard where the old one was


def test_a_steer_too_close_to_the_playhead_replaces_nothing():
    schedule, producer = _schedule(), _producer()
    for _ in range(2):
        _stitch(schedule, producer.next_image())
    schedule.move_playhead(CHUNK - 44100)  # image 1 starts in 1 s: too soon to paint it again
    assert schedule.rewind(RewindRequest(paint_s=0.5, oldest=0, next_index=2)) == Rewound(2, 0)
    assert schedule.rewinds == 0 and [r.index for r in schedule.ledger.records()] == [0, 1]


def test_a_steer_during_a_stall_goes_after_the_repeats_and_never_replaces_them():
    """The generator is late (a repeat airs), a steer comes: the repeat is not the producer's to paint
    again, so the steer's image is placed after it."""
    schedule, producer = _schedule(low_water_s=60.0), _producer()
    _stitch(schedule, producer.next_image())
    repeat = schedule.place_fallback()
    schedule.commit(schedule.stitch(repeat.position, repeat.image, repeat.step, True))
    assert schedule.rewind(RewindRequest(paint_s=0.0, oldest=1, next_index=1)) == Rewound(1, 0)
    assert schedule.position_of(1) == 2 * CHUNK


def test_a_rewind_restores_what_the_fallback_would_repeat():
    schedule, producer = _schedule(), _producer()
    chunks = [producer.next_image() for _ in range(3)]
    for chunk in chunks:
        _stitch(schedule, chunk)
    assert schedule.rewind(RewindRequest(paint_s=0.0, oldest=0, next_index=3)).index == 1
    schedule.move_playhead(schedule.ring.end - 44100)  # the new image 1 is late: the lead runs low
    assert schedule.fallback_due()
    repeat = schedule.place_fallback()
    assert np.array_equal(repeat.image, chunks[0].image)  # not the replaced images 1 or 2


@pytest.mark.parametrize("new_settings_at", [None, 5])
def test_windows_are_announced_once_a_chunk_and_when_settings_change(new_settings_at):
    layout = StreamLayout.windows(128)
    schedule, producer = _schedule(layout, low_water_s=None), _producer(layout)
    for slot in range(9):
        if slot == new_settings_at:
            producer.walk.steer(Target.from_text("techno", seed=9))
        _stitch(schedule, producer.next_image())
    announced = [r.serial for r in schedule.ledger.records() if r.announced]
    expected = {0, 4, 8} | ({new_settings_at} if new_settings_at is not None else set())
    assert announced == sorted(expected)
    # Each window's picture starts 128 columns after the previous one's; its new audio at its end.
    records = schedule.ledger.records()
    assert [r.image_position for r in records[:3]] == [0, 128 * 441, 256 * 441]
    assert [r.position for r in records[:3]] == [0, 512 * 441, 640 * 441]


def test_the_window_low_water_follows_the_stitch_times():
    schedule = _schedule(StreamLayout.windows(128), low_water_s=None)
    assert schedule.low_water_s == pytest.approx(0.2)  # the floor, before any stitch was timed
    schedule.stitch_took(0.4)
    assert schedule.low_water_s == pytest.approx(2 * 0.4 + 0.05)
    assert schedule.rewind_safety_s(1.0) == pytest.approx(schedule.low_water_s + 1.5 * (1.0 + 0.4) + 0.1)


def test_a_steers_ack_waits_for_its_image_to_be_placed_so_a_fallback_first_cannot_misplace_it():
    """The producer applies a steer: its first image (index 1) is painted next. The generator is late
    and the fallback takes the next slot first: the ack must name where image 1 is actually heard."""
    schedule, producer = _schedule(low_water_s=60.0), _producer()
    _stitch(schedule, producer.next_image())
    assert schedule.when_placed(1, "steer") is None  # not placed yet: the token waits
    repeat = schedule.place_fallback()  # the generator is late
    assert schedule.placed_tokens(None) == [] and repeat.position == CHUNK
    schedule.commit(schedule.stitch(repeat.position, repeat.image, repeat.step, True))
    image = producer.next_image()
    position = schedule.place(image.index)
    assert schedule.placed_tokens(image.index) == ["steer"] and position == 2 * CHUNK
    assert schedule.placed_tokens(image.index) == []  # handed back once
    assert schedule.when_placed(1, "late") == 2 * CHUNK  # asked after the placement: answered at once
