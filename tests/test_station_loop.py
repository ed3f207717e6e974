"""The station's real clock loop in-process, on a manual clock: no sockets, no waiting for real time.

The feed's threads paint and stitch for real (the synth); the loop's frames fall due only when the
test moves the clock, so a minute of stream time passes in a second.
"""

from __future__ import annotations

import asyncio

import numpy as np

from riffcast.delivery.output import Block, OutputReport
from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.synth import SynthGenerator
from riffcast.history.log_file import AsRunLog
from riffcast.pipeline.feed import Feed
from riffcast.pipeline.producer import ImageProducer
from riffcast.station.clock import ManualClock
from riffcast.station.server import Station, StationConfig
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator

FRAME = 4410


class Recorder:
    """An output that keeps every block the clock writes to it."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def write(self, block: Block) -> None:
        self.blocks.append(block)

    def health(self) -> tuple[OutputReport, ...]:
        return (OutputReport("test", receivers=2),)

    def close(self) -> None:
        pass


def _station(generator, clock: ManualClock, **options) -> tuple[Station, Recorder]:
    producer = ImageProducer(generator, Walk(Target.from_text("jazz trio 100 bpm")), SEED_IMAGE)
    feed = Feed(producer, RIFFUSION_V1, lead_chunks=1, level=None, bandwidth=None)
    recorder = Recorder()
    station = Station(StationConfig(control_token="t" * 32), feed, generator_name=generator.name,
                      sinks=[recorder], clock=clock, **options)
    return station, recorder


async def _until_playing(station: Station, clock: ManualClock, timeout_s: float = 120.0) -> None:
    """Move the clock through the start polls until the pre-roll is stitched (real waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while station.position is None:
        assert loop.time() < deadline, "the feed never stitched the pre-roll"
        await clock.advance(0.02)
        await asyncio.sleep(0.02)


def _run(station: Station, scenario) -> None:
    async def main() -> None:
        station.feed.start()
        play = asyncio.create_task(station.play())
        try:
            await scenario(play)
        finally:
            play.cancel()
            station.feed.stop(timeout_s=2.0)
    asyncio.run(main())


def test_each_frame_falls_due_on_the_clock_contiguous_with_its_events_first():
    clock = ManualClock()
    station, recorder = _station(SynthGenerator(), clock)

    async def scenario(play) -> None:
        await _until_playing(station, clock)
        started_s = clock.now_s()
        assert [b.position for b in recorder.blocks] == [0]  # frame 0 is due at once
        await clock.advance(0.999 * FRAME / 44100 * 10)
        assert len(recorder.blocks) == 10  # frames 1…9 fell due, frame 10 not yet
        await clock.advance(0.002 * FRAME / 44100 * 10)
        assert len(recorder.blocks) == 11
        positions = [b.position for b in recorder.blocks]
        assert positions == list(range(0, 11 * FRAME, FRAME))
        assert all(b.samples.shape == (FRAME,) for b in recorder.blocks)
        # Each frame is stamped with the wall time it was emitted at: 0.1 s apart on the clock.
        stamps = np.array([b.emitted_s for b in recorder.blocks])
        assert np.allclose(np.diff(stamps), FRAME / 44100, atol=1e-6)
        assert stamps[0] == clock.wall_origin_s + started_s
        # The first image is announced in the first frame, before its samples.
        first = recorder.blocks[0]
        assert any('"now_playing"' in event and '"position":0' in event.replace(" ", "") for event in first.events)
        assert station.starved_frames == 0 and not play.done()

    _run(station, scenario)


def test_frames_past_what_is_stitched_are_silence_counted_and_dead_air_is_reported():
    clock = ManualClock()
    generator = PatternGenerator({index: "hang" for index in range(1, 10_000)})  # only image 0 is painted
    station, recorder = _station(generator, clock)

    async def scenario(play) -> None:
        await _until_playing(station, clock)
        await clock.advance(30.0)  # far past the one image stitched and what its repeats could add
        assert station.starved_frames > 0
        silent = [b for b in recorder.blocks if not np.any(b.samples)]
        assert len(silent) == station.starved_frames
        assert any(problem.startswith("dead air") for problem in station.problems())
        positions = [b.position for b in recorder.blocks]
        assert positions == list(range(0, len(positions) * FRAME, FRAME))  # never a gap, silence or not
        generator.release.set()

    _run(station, scenario)


def test_listener_counts_reach_the_as_run_log_once_a_minute_of_clock_time(tmp_path):
    clock = ManualClock()
    as_run = AsRunLog(tmp_path / "as-run.jsonl", generator="synth", model="")
    station, _ = _station(SynthGenerator(), clock, as_run=as_run)
    alive: list[float] = []
    station.on_alive = lambda: alive.append(clock.now_s())

    async def scenario(play) -> None:
        await _until_playing(station, clock)
        start_s = clock.now_s()
        await clock.advance(125.0)
        as_run.close()
        counts = [line for line in as_run.lines() if line["type"] == "listeners"]
        assert len(counts) == 3  # at 0, 60 and 120 s of stream time
        assert all(line["by_output"].get("test") == 2 for line in counts)
        # The watchdog's keep-alive: about once a second of clock time while the station generates.
        assert alive[0] == start_s and all(0.99 <= b - a <= 1.11 for a, b in zip(alive, alive[1:]))

    _run(station, scenario)
