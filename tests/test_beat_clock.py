"""The beat clock: the arithmetic of beat grids, the beats read from the images' records, and a real
station's ``beat`` events, ``next_downbeat`` and the beats heard in its audio (librosa's onsets)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect

from riffcast.generation.beats import BeatGrid, beats_between, next_downbeat
from riffcast.generation.seeds import bed_beats
from riffcast.pipeline.beat_clock import beats_heard, next_downbeat_heard
from riffcast.pipeline.records import ImageRecord
from riffcast.steering.targets import Target
from riffcast.steering.walk import Step
from riffcast_client import protocol

from station import TOKEN, running_station, steer

RATE = 44100


def test_beats_follow_each_grid_from_its_own_bar_line():
    fast, slow = BeatGrid(0, 0, 120.0), BeatGrid(66150, 1, 90.0)  # 90 bpm takes over at 1.5 s, as bar 1
    beats = beats_between([fast, slow], 0, 4 * RATE, RATE)
    assert [(b.position, b.bar, b.beat, b.bpm) for b in beats] == [
        (0, 0, 1, 120.0), (22050, 0, 2, 120.0), (44100, 0, 3, 120.0),
        (66150, 1, 1, 90.0), (95550, 1, 2, 90.0), (124950, 1, 3, 90.0), (154350, 1, 4, 90.0),
    ]
    assert beats_between([fast], 1, 22050, RATE) == []  # [start, stop): neither end's neighbours
    assert [b.position for b in beats_between([fast], 22050, 22051, RATE)] == [22050]


def test_a_grid_reaches_back_before_its_bar_line_and_counts_bars_there():
    grid = BeatGrid(10 * RATE, 20, 60.0, beats_per_bar=3)
    beats = beats_between([grid], 6 * RATE, 8 * RATE + 1, RATE)
    assert [(b.position, b.bar, b.beat) for b in beats] == [(6 * RATE, 18, 3), (7 * RATE, 19, 1), (8 * RATE, 19, 2)]


@pytest.mark.parametrize("bpm", [40.0, 93.75, 128.0, 140.625, 239.0])
def test_next_downbeat_is_the_first_bar_line_at_or_after(bpm):
    grid = BeatGrid(12345, 7, bpm, 4)
    bar = 4 * 60.0 / bpm * RATE
    for position in (0, 12344, 12345, 12346, 999_999, 5_000_000):
        downbeat = next_downbeat([grid], position, RATE)
        assert downbeat >= position and downbeat - position < bar + 1
        bars = (downbeat - 12345) / bar
        assert abs(bars - round(bars)) * bar <= 0.5 + 1e-6  # on the grid, to the sample


def record(position: int, samples: int, beats: tuple[BeatGrid, ...]) -> ImageRecord:
    target = Target.from_text("techno")
    return ImageRecord(position, Step(target, target, 1.0, False), np.zeros((512, 512), np.uint8), False, position, 0,
                       True, samples, beats)


def test_beats_heard_across_images_and_none_where_an_image_keeps_no_beat():
    grid = BeatGrid(0, 0, 120.0)
    records = [record(0, 44100, (grid,)), record(44100, 44100, ()), record(88200, 44100, (grid,))]
    heard = beats_heard(records, 0, 3 * 44100, RATE)
    assert [b.position for b in heard] == [0, 22050, 88200, 110250]  # the fallback in the middle has none
    assert next_downbeat_heard(records, 1, RATE) is None  # the image after is off the grid: unknown
    assert next_downbeat_heard(records[2:], 88201, RATE) == 176400  # past the last image: its grid goes on
    assert next_downbeat_heard(records, 44100, RATE) is None


def test_a_built_in_bed_with_a_beat_gives_its_grid_and_others_none():
    assert bed_beats("boom-bap-94") == BeatGrid(0, 0, 93.75, 4)
    assert bed_beats("waltz-105") == BeatGrid(0, 0, 105.46875, 3)
    assert bed_beats("ambient-pad") is None
    assert bed_beats("my-loop.wav") is None


def test_the_beat_event_is_the_protocols():
    event = json.loads(protocol.beat(position=22050, bar=3, beat=2, bpm=120.0))
    assert event == {"type": "beat", "position": 22050, "bar": 3, "beat": 2, "bpm": 120.0}
    with pytest.raises(protocol.ProtocolError):
        protocol.beat(position=0, bar=0, beat=0, bpm=120.0)


async def listen(station, seconds: float) -> tuple[list[dict], dict[int, np.ndarray], list[tuple[str, int]]]:
    """(events, frames by position, the order of arrival as (kind, position)) for ``seconds``."""
    events, frames, order = [], {}, []
    async with connect(f"{station.stream_url}?format=s16le", max_size=None) as socket:
        hello = json.loads(await socket.recv())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            message = await socket.recv()
            if isinstance(message, str):
                event = json.loads(message)
                events.append(event)
                order.append((event["type"], event["position"]))
            else:
                decoded = protocol.decode_frame(message, hello["format"])
                position, samples = decoded.position, decoded.samples[:, 0]
                frames[position] = samples
                order.append(("frame", position))
    return events, frames, order


@pytest.mark.system
def test_a_station_sends_a_beat_before_the_frame_that_holds_it_on_the_beats_of_its_audio(tmp_path):
    import librosa

    async def listen_and_steer(station):
        async def steer_later() -> dict:
            await asyncio.sleep(6.0)
            return await steer(station, "deep house, warm organ")
        return await asyncio.gather(listen(station, 14.0), steer_later())

    with running_station(tmp_path, "--prompt", "techno", "--bpm", "120", "--key", "A minor") as station:
        (events, frames, order), ack = asyncio.run(listen_and_steer(station))
        status = asyncio.run(control_status(station))
    beats = [e for e in events if e["type"] == "beat"]
    assert len(beats) >= 20, events[:5]
    positions = np.array([b["position"] for b in beats])
    assert set(np.diff(positions)) <= {22050}, np.diff(positions)  # 120 bpm: every 0.5 s to the sample
    assert all(b["bpm"] == 120.0 for b in beats)
    numbers = [b["beat"] for b in beats]
    assert all(b == a % 4 + 1 for a, b in zip(numbers, numbers[1:])), numbers
    bars = [b["bar"] for b in beats if b["beat"] == 1]
    assert bars == list(range(bars[0], bars[0] + len(bars)))

    # The steer is acknowledged on a beat: heard from the first beat at or after where it can start.
    assert ack["type"] == "ack" and ack["position"] in set(positions.tolist()), (ack, positions)

    # Each beat arrives before the frame that holds it.
    frame = len(next(iter(frames.values())))
    for i, (kind, position) in enumerate(order):
        if kind == "beat":
            holding = position - position % frame
            later = [p for k, p in order[i + 1:] if k == "frame"]
            assert holding not in [p for k, p in order[:i] if k == "frame"] and (not later or holding in later)

    bar, downbeat = 4 * 22050, next(b["position"] for b in beats if b["beat"] == 1)
    announced = [e for e in events if e["type"] == "now_playing"]
    assert announced
    for event in announced:  # the first downbeat at or after the image's position, on the beats sent
        assert 0 <= event["next_downbeat"] - event["position"] < bar and (event["next_downbeat"] - downbeat) % bar == 0
    assert status["next_downbeat"] > positions[-1] and (status["next_downbeat"] - downbeat) % bar == 0

    # The beats are where the audio's onsets are (librosa, not the station's own arithmetic).
    start = min(frames)
    audio = np.concatenate([frames[p] for p in sorted(frames)]).astype(np.float32)
    onsets_s = librosa.onset.onset_detect(y=audio, sr=RATE, units="time", backtrack=False)
    heard = [(p - start) / RATE for p in positions if RATE <= p - start < len(audio) - RATE]
    near = [min(abs(onsets_s - t)) <= 0.03 for t in heard]
    assert sum(near) >= 0.9 * len(near), (sum(near), len(near))


async def control_status(station) -> dict:
    async with connect(f"{station.control_url}?token={TOKEN}") as control:
        await control.send(json.dumps({"type": "status", "id": "s"}))
        while True:
            reply = json.loads(await control.recv())
            if reply.get("type") == "status":
                return reply


def test_an_image_keeps_the_beds_beats_or_the_conductors_when_a_tempo_is_asked():
    from riffcast.pipeline.producer import ImageProducer
    from riffcast.steering.walk import Walk

    from fakes import SEED_IMAGE, PatternGenerator

    bed = bed_beats("boom-bap-94")
    free = ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE, bed_beats=bed)
    assert free.next_image().beats == (bed,)  # a generator without a grid: the bed it starts from
    asked = ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz", bpm=100.0)), SEED_IMAGE, bed_beats=bed)
    chunk = asked.next_image()
    grid = asked._conductor.state.grid
    assert chunk.beats == (BeatGrid(round(grid.origin_column * 441), 0, 100.0),)  # the conductor's grid at 100 bpm


def test_the_conductors_grid_is_what_an_image_keeps_even_where_the_generator_reports_one():
    """Riffusion reports the grid of the bed it painted from at the asked tempo; the conductor
    then warps the image onto its own grid, which is the one heard."""
    from dataclasses import replace

    from riffcast.pipeline.producer import ImageProducer
    from riffcast.steering.walk import Walk

    from fakes import SEED_IMAGE, PatternGenerator

    class ReportingGenerator(PatternGenerator):
        def paint(self, request, should_stop=lambda: False):
            return replace(super().paint(request, should_stop), beats=(BeatGrid(0, 0, 77.0),))

    free = ImageProducer(ReportingGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE)
    assert free.next_image().beats == (BeatGrid(0, 0, 77.0),)  # no tempo asked: the generator's own
    asked = ImageProducer(ReportingGenerator(), Walk(Target.from_text("jazz", bpm=100.0)), SEED_IMAGE)
    chunk = asked.next_image()
    grid = asked._conductor.state.grid
    assert chunk.beats == (BeatGrid(round(grid.origin_column * 441), 0, 100.0),)
