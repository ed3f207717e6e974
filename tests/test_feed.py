"""The feed between producer and clock: positions, the underrun fallback, steer positions."""

from __future__ import annotations

import numpy as np

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.producer import ImageProducer
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator
from helpers import eventually

CHUNK = 512 * 441


def _feed(generator, **options) -> Feed:
    producer = ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE)
    return Feed(producer, RIFFUSION_V1, **options)


def test_a_late_generator_gets_the_seamless_fallback_and_an_underrun_is_counted():
    generator = PatternGenerator({1: "block"})  # the second chunk never comes until released
    feed = _feed(generator, lead_chunks=1, low_water_s=1.5)
    feed.start()
    try:
        assert eventually(lambda: feed.end > 0, timeout_s=60)
        assert feed.underruns == 0
        # Play up to 1 s before the end of what is stitched: the lead drops below low water.
        feed.move_playhead(feed.end - 44100)
        assert eventually(lambda: feed.underruns == 1, timeout_s=30)
        assert eventually(lambda: feed.end > CHUNK + 44100, timeout_s=30)
        records = feed.records()
        assert [r.position for r in records] == [0, CHUNK]
        assert records[1].fallback and not records[0].fallback
        # The fallback repeats the last chunk's picture, and the PCM runs on with no gap.
        assert records[1].png == records[0].png
        audio = feed.read(CHUNK - 44100, 88200)
        assert audio is not None and np.all(np.isfinite(audio)) and np.sqrt(np.mean(audio**2)) > 1e-3
        # The generator comes back: its chunk follows the fallback.
        generator.fail.clear()
        feed.producer_thread.steer(Target.from_text("techno"))  # also unblocks the stuck paint
        feed.move_playhead(feed.end - 3 * 44100)
        assert eventually(lambda: any(r.position == 2 * CHUNK and not r.fallback for r in feed.records()), 30)
    finally:
        feed.stop()


def test_a_steer_replaces_the_published_chunks_that_can_be_painted_again_in_time():
    # A low water of 0.5 s: the safety margin stays under 5 s even when a loaded machine stitches slowly.
    feed = _feed(PatternGenerator(), lead_chunks=2, low_water_s=0.5)
    feed.start()
    try:
        assert eventually(lambda: feed.producer_thread.published == 2 and feed.end > CHUNK, timeout_s=60)
        before = feed.read(CHUNK, 44100)
        # Chunk 0 is playing (playhead 0); chunk 1 starts 5 s ahead, more than the safety margin.
        assert CHUNK / 44100 > feed.rewind_safety_s(0.0) + 0.5
        number = feed.producer_thread.steer(Target.from_text("techno", seed=9)).result(timeout=10)
        assert number == 1 and feed.position_of_image(number) == CHUNK
        assert feed.rewinds == 1
        assert eventually(lambda: len(feed.records()) == 2 and feed.end > CHUNK + 44100, timeout_s=30)
        second = feed.records()[1]
        assert second.position == CHUNK and second.step.end.prompts[0].text == "techno"
        assert second.step.new_settings and not second.fallback
        assert not np.array_equal(feed.read(CHUNK, 44100), before)  # the samples were replaced
    finally:
        feed.stop()


def test_a_steer_too_close_to_the_playhead_is_placed_after_the_published_chunks():
    feed = _feed(PatternGenerator(), lead_chunks=2)
    feed.start()
    try:
        assert eventually(lambda: feed.producer_thread.published == 2 and feed.end > CHUNK, timeout_s=60)
        feed.move_playhead(CHUNK - 44100)  # chunk 1 starts in 1 s: too soon to paint it again
        number = feed.producer_thread.steer(Target.from_text("techno", seed=9)).result(timeout=10)
        assert number == 2 and feed.position_of_image(number) == 2 * CHUNK
        assert feed.rewinds == 0
        assert eventually(lambda: len(feed.records()) == 3, timeout_s=30)
        third = feed.records()[2]
        assert third.position == 2 * CHUNK and third.step.end.prompts[0].text == "techno"
        assert third.step.new_settings
    finally:
        feed.stop()


def test_a_chunk_the_producer_repeated_is_recorded_as_a_fallback():
    feed = _feed(PatternGenerator({1: "raise"}), lead_chunks=2)  # chunk 1 fails twice: the last good again
    feed.start()
    try:
        assert eventually(lambda: len(feed.records()) >= 2, timeout_s=60)
        first, second = feed.records()[:2]
        assert not first.fallback and second.fallback and second.announced
    finally:
        feed.stop()
