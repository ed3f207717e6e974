"""The walk through targets, and the producer's fault handling, lead and steering."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.producer import ImageProducer, image_problem
from riffcast.pipeline.producer_thread import ProducerThread
from riffcast.pipeline.schedule import RewindRequest, Rewound
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator
from helpers import eventually


def test_walk_alpha_steps_and_seed_walking():
    walk = Walk(Target.from_text("jazz", seed=10), transition_chunks=4)
    steps = [walk.advance() for _ in range(8)]
    assert [s.alpha for s in steps] == [0.25, 0.5, 0.75, 1.0] * 2
    assert [(s.start.seed, s.end.seed) for s in steps] == [(10, 11)] * 4 + [(11, 12)] * 4
    assert [s.new_settings for s in steps] == [True] + [False] * 7


def test_steer_starts_from_where_the_walk_was_heading():
    walk = Walk(Target.from_text("jazz", seed=10), transition_chunks=4)
    walk.advance()
    walk.steer(Target.from_text("techno", seed=3), transition_chunks=2)
    first, second = walk.advance(), walk.advance()
    assert (first.start.prompts[0].text, first.end.prompts[0].text) == ("jazz", "techno")
    assert first.start.seed == 11 and first.new_settings and first.alpha == 0.5
    assert second.alpha == 1.0 and not second.new_settings


@pytest.mark.parametrize("chunks", [0, 65, 2.5])
def test_bad_transition_length_is_refused(chunks):
    with pytest.raises(ValueError, match="transition_chunks"):
        Walk(Target.from_text("jazz"), transition_chunks=chunks)


def test_peek_does_not_advance():
    walk = Walk(Target.from_text("jazz"), transition_chunks=4)
    assert walk.peek() == walk.peek() == walk.advance()
    assert walk.peek().alpha == 0.5


def test_a_failure_is_retried_once_then_the_stream_goes_on():
    generator = PatternGenerator({1: "raise-once"})
    producer = ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE)
    chunks = [producer.next_image() for _ in range(3)]
    assert [c.fallback for c in chunks] == [False, False, False]
    assert producer.counters.retries == 1 and producer.counters.fallbacks == 0
    assert [c.index for c in chunks] == [0, 1, 2]


@pytest.mark.parametrize("mode", ["raise", "blank"])
def test_a_lasting_fault_falls_back_to_the_last_good_chunk(mode):
    generator = PatternGenerator({1: mode})
    producer = ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE)
    good, failed, after = (producer.next_image() for _ in range(3))
    assert failed.fallback and np.array_equal(failed.image, good.image)
    assert not after.fallback and after.image[0, 0] == 2  # painting resumed
    assert producer.counters.fallbacks == 1 and producer.counters.retries == 1
    assert len([c for c in generator.calls if c.index == 1]) == 2


def test_image_problems_are_named():
    assert image_problem(np.zeros((512, 512), np.float32), (512, 512)) is not None
    assert "shape" in image_problem(np.zeros((512, 256), np.uint8), (512, 512))
    assert "blank" in image_problem(np.full((512, 512), 7, np.uint8), (512, 512))
    assert image_problem(SEED_IMAGE, (512, 512)) is None


def test_thread_keeps_its_lead_and_stops_cleanly():
    published = []
    thread = ProducerThread(
        ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE), published.append, lead_chunks=3
    )
    thread.start()
    thread.played(0)
    assert eventually(lambda: len(published) == 3)
    assert not eventually(lambda: len(published) > 3, timeout_s=0.3)  # waits for playback
    thread.played(2)
    assert eventually(lambda: len(published) == 5)
    thread.stop()
    assert not thread.is_alive() and thread.error is None


def test_steering_interrupts_a_stale_chunk_and_applies_at_the_next():
    generator = PatternGenerator({0: "block"})
    published = []
    thread = ProducerThread(ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE), published.append)
    thread.start()
    assert eventually(lambda: len(generator.calls) == 1)
    generator.fail.clear()
    thread.steer(Target.from_text("techno", seed=7), transition_chunks=2)
    assert eventually(lambda: len(published) >= 1)
    thread.stop()
    first = published[0]
    assert first.index == 0 and first.step.end.prompts[0].text == "techno" and first.step.new_settings
    assert thread.producer.counters.interrupted == 1


def test_window_mode_paints_each_image_from_the_previous_one_moved_left():
    generator = PatternGenerator()
    bed = np.tile(np.arange(512, dtype=np.uint16)[None, :] % 251, (512, 1)).astype(np.uint8)
    layout = StreamLayout(512, 128, 16)
    producer = ImageProducer(generator, Walk(Target.from_text("jazz")), bed, layout=layout)
    first, second, third = (producer.next_image() for _ in range(3))
    requests = generator.calls
    assert requests[0].keep_columns == 0 and np.array_equal(requests[0].init_image, bed)
    assert [r.keep_columns for r in requests[1:]] == [512 - 128 - 16] * 2
    assert [r.start_column for r in requests] == [0, 128, 256]
    # context: the previous image moved left by the window; the bed at its loop phase after it
    assert np.array_equal(requests[1].init_image[:, :384], first.image[:, 128:])
    assert np.array_equal(requests[1].init_image[:, 384:], np.roll(bed, -128, axis=1)[:, 384:])
    assert np.array_equal(requests[2].init_image[:, :384], second.image[:, 128:])
    assert [layout.start_column(n) for n in (0, 1, 3)] == [0, 512, 512 + 2 * 128]
    # a transition of 4 chunks takes 16 windows: alpha moves a sixteenth at a time
    assert [round(c.step.alpha, 4) for c in (first, second, third)] == [0.0625, 0.125, 0.1875]


def test_rewind_paints_the_same_images_again_from_where_the_walk_was():
    generator = PatternGenerator()
    layout = StreamLayout(512, 64, 16)
    producer = ImageProducer(generator, Walk(Target.from_text("jazz", seed=1)), SEED_IMAGE, layout=layout)
    painted = [producer.next_image() for _ in range(5)]
    producer.rewind(2)
    assert producer.images_made == 2 and producer.counters.rewound == 3
    again = [producer.next_image() for _ in range(3)]
    assert [c.index for c in again] == [2, 3, 4]
    assert all(np.array_equal(a.image, b.image) and a.step == b.step for a, b in zip(again, painted[2:]))
    assert np.array_equal(generator.calls[5].init_image, generator.calls[2].init_image)
    producer.rewind(5)  # the next image: nothing to do
    with pytest.raises(ValueError, match="cannot go back to image 7"):
        producer.rewind(7)


def test_ten_thousand_steers_queued_behind_a_slow_rewind_all_resolve_without_recursion(caplog):
    """A fader during a stall: every steer that piles up resolves, with the index of the steer
    that replaced it, and nothing is logged (chained callbacks once recursed 10 000 deep)."""
    release = threading.Event()

    def slow_rewind(request: RewindRequest) -> Rewound:
        release.wait(10)
        return Rewound(request.next_index, 0)

    thread = ProducerThread(ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE),
                            lambda chunk: None, rewind=slow_rewind)
    thread.start()
    first = thread.steer(Target.from_text("techno"))
    assert eventually(lambda: thread.latest_target().prompts[0].text == "techno" and thread._pending is None)
    queued = [thread.steer(Target.from_text("fader", seed=seed)) for seed in range(10_000)]
    release.set()
    with caplog.at_level(logging.DEBUG):
        indices = {future.result(timeout=10) for future in queued}
    thread.stop()
    assert first.result(timeout=1) <= min(indices)
    assert len(indices) == 1 and thread.error is None
    assert thread.producer.walk.heading_to.seed == 9_999
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
