"""Weeks unattended: the producer survives impatient steers, steady steering, its own death;
the station says when it is not generating, and exits when it cannot recover."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.faults import FaultyGenerator, ProducerCrash, parse_faults
from riffcast.ops.health import HealthStatus, assess
from riffcast.pipeline import feed as feed_module
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.producer import ImageProducer
from riffcast.pipeline.producer_thread import ProducerThread
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator
from helpers import eventually


def test_a_steer_whose_caller_gave_up_during_a_stall_does_not_kill_the_producer():
    # The control socket waits 10 s for a steer to be taken, then stops waiting. On a stalled
    # generator that used to cancel the producer's future, which then died setting its result.
    generator = PatternGenerator({1: "hang"})
    published = []
    thread = ProducerThread(ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE), published.append,
                            lead_chunks=2)
    thread.start()
    try:
        assert eventually(lambda: len(generator.calls) == 2)  # chunk 1 hangs

        async def steer_and_give_up():
            future = thread.steer(Target.from_text("techno", seed=5))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(future), 0.1)
            return future

        futures = [asyncio.run(steer_and_give_up()) for _ in range(3)]  # steer again and again
        generator.release.set()  # the stall ends
        assert eventually(lambda: all(future.done() for future in futures))
        assert [future.result() for future in futures] == [2, 2, 2]
        thread.played(1)
        assert eventually(lambda: len(published) == 3)
        assert thread.is_alive() and thread.error is None
        assert published[2].step.end.prompts[0].text == "techno" and published[2].step.new_settings
    finally:
        thread.stop()


def test_steady_steering_coalesces_and_never_starves_generation():
    # A fader steering 20 times a second: every paint (0.2 s) used to be interrupted.
    generator = PatternGenerator({None: "slow"})
    published = []
    thread = ProducerThread(ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE),
                            lambda chunk: (published.append(chunk), thread.played(1)), lead_chunks=1)
    thread.start()
    stop = threading.Event()

    def fader():
        value = 0
        while not stop.is_set():
            value += 1
            thread.steer(Target.from_text(f"level {value}"))
            time.sleep(0.05)
        thread.steer(Target.from_text("final"))

    steering = threading.Thread(target=fader)
    steering.start()
    time.sleep(3.0)
    stop.set()
    steering.join()
    during = len(published)
    try:
        assert during >= 6, f"only {during} chunks in 3 s of steering (0.2 s each, at most one repaint each)"
        # Each chunk reflects a recent steer, and the last steer is heard.
        texts = [chunk.step.end.prompts[0].text for chunk in published]
        assert len(set(texts)) >= 5
        assert eventually(lambda: published[-1].step.end.prompts[0].text == "final")
        assert thread.producer.counters.interrupted <= during + 1
    finally:
        thread.stop()


def _feed(generator) -> Feed:
    producer = ImageProducer(generator, Walk(Target.from_text("jazz")), SEED_IMAGE)
    return Feed(producer, RIFFUSION_V1, lead_chunks=1)


def test_a_dead_producer_thread_is_restarted_where_it_stopped():
    feed = _feed(FaultyGenerator(PatternGenerator(), parse_faults("crash@1")))
    first_thread = feed.producer_thread
    feed.start()
    try:
        assert eventually(lambda: feed.end > 0, timeout_s=60)
        feed.move_playhead(1)  # chunk 0 plays: chunk 1 is painted, and crashes the thread
        assert eventually(lambda: feed.producer_restarts == 1, timeout_s=30)
        assert isinstance(first_thread.error, ProducerCrash) and feed.producer_thread is not first_thread
        assert eventually(lambda: len(feed.records()) >= 2, timeout_s=30)
        feed.move_playhead(feed.records()[-1].position + 1)
        assert eventually(lambda: len(feed.records()) >= 3, timeout_s=30)
        records = feed.records()
        assert not any(record.fallback for record in records)
        assert [record.step.alpha for record in records[:3]] == [0.25, 0.5, 0.75]  # the walk went on
        assert feed.generating() and feed.fatal is None
    finally:
        feed.stop()


def test_a_producer_that_keeps_dying_is_fatal_and_not_a_silent_loop():
    feed = _feed(FaultyGenerator(PatternGenerator(), parse_faults("crash@1-9")))
    feed.start()
    try:
        assert eventually(lambda: feed.end > 0, timeout_s=60)
        deadline = time.monotonic() + 60  # each death needs the next chunk wanted: keep playing them
        while feed.fatal is None and time.monotonic() < deadline:
            feed.move_playhead(feed.records()[-1].position + 1)
            eventually(lambda: feed.fatal is not None, timeout_s=0.5)
        assert feed.fatal is not None and "died 4 times" in feed.fatal
        assert not feed.generating()
    finally:
        feed.stop()


def test_a_paint_that_hangs_past_the_limit_means_not_generating(monkeypatch):
    generator = PatternGenerator({1: "hang"})
    feed = _feed(generator)
    feed.start()
    try:
        assert eventually(lambda: feed.end > 0, timeout_s=60)
        feed.move_playhead(1)
        assert eventually(lambda: feed.producer_thread.painting_since is not None)
        assert feed.generating()
        assert not feed.generating(time.monotonic() + feed_module.STALL_LIMIT_S + 1)
        generator.release.set()
        assert eventually(lambda: feed.producer_thread.painting_since is None)
        assert feed.generating(time.monotonic() + feed_module.STALL_LIMIT_S + 1)
    finally:
        feed.stop()


@pytest.mark.parametrize(
    ("playing", "generating", "problems", "status", "code"),
    [
        (False, True, (), HealthStatus.STARTING, 503),
        (True, True, (), HealthStatus.OK, 200),
        (True, True, ("recording stopped",), HealthStatus.DEGRADED, 200),
        (True, False, (), HealthStatus.NOT_GENERATING, 503),
        (True, False, ("state not saved",), HealthStatus.NOT_GENERATING, 503),
    ],
)
def test_health_status_and_its_http_code(playing, generating, problems, status, code):
    assessment = assess(playing=playing, generating=generating, problems=problems)
    assert assessment.status is status and assessment.status.http_status == code
    assert assessment.problems == problems


def test_the_listener_cap_fits_the_open_files_limit():
    from riffcast.ops.limits import MAX_HANDSHAKES, RESERVED_FILES, listener_cap

    room = 1024 - RESERVED_FILES - MAX_HANDSHAKES
    assert listener_cap(None, 1024).listeners == room  # the default is lowered silently
    assert listener_cap(None, 1024).lowered_from is None
    lowered = listener_cap(2000, 1024)
    assert (lowered.listeners, lowered.lowered_from, lowered.open_files) == (room, 2000, 1024)
    assert listener_cap(100, 1024).listeners == 100 and listener_cap(100, 1024).lowered_from is None
    assert listener_cap(None, 1 << 20).listeners == 10_000
    with pytest.raises(ValueError, match="open-files limit"):
        listener_cap(None, RESERVED_FILES + MAX_HANDSHAKES)


def test_the_open_files_soft_limit_is_raised_to_the_hard_one():
    import resource

    from riffcast.ops.limits import raise_open_files_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_open_files_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_handshakes_in_flight_are_bounded_and_the_oldest_is_dropped():
    from riffcast.ops.limits import HandshakeQueue

    queue: HandshakeQueue[str] = HandshakeQueue(capacity=3)
    assert [queue.admit(name) for name in "abc"] == [None, None, None]
    queue.finish("b")  # b finished its handshake
    assert queue.admit("d") is None
    assert queue.admit("e") == "a"  # full: the oldest waiting one goes
    assert queue.admit("f") == "c"
    assert len(queue) == 3 and queue.evicted == 2
    queue.finish("zzz")  # unknown: no effect
    assert len(queue) == 3
    with pytest.raises(ValueError):
        HandshakeQueue(capacity=0)


def test_a_generator_with_injected_faults_says_what_the_generator_it_wraps_says_of_itself():
    from riffcast.generation.faults import FaultyGenerator, parse_faults
    from riffcast.generation.synth import SynthGenerator
    from riffcast.pipeline.conducting import honours_controls

    wrapped = FaultyGenerator(SynthGenerator(), parse_faults("raise@2"))
    assert wrapped.lands_on_beats and honours_controls(wrapped)  # no conductor over the synth's own controls
    assert wrapped.name == "synth (with injected faults)"


def test_a_synth_with_injected_faults_paints_in_the_synths_window():
    import argparse

    from riffcast.generation.synth import SynthGenerator
    from riffcast.pipeline.layout_options import layout_from_args

    args = argparse.Namespace(window_columns=None, crossfade_columns=None)
    plain = layout_from_args(args, SynthGenerator())
    wrapped = layout_from_args(args, FaultyGenerator(SynthGenerator(), parse_faults("raise@2")))
    assert plain.window_columns == wrapped.window_columns == SynthGenerator.window_columns < 512
    assert layout_from_args(args, PatternGenerator()).window_columns == 512  # a model on the CPU: whole chunks
