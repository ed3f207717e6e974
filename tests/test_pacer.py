"""The station's pacing, sans I/O, with a fake clock: frame positions and due times, the start,
pre-roll, now_playing announcements and the keep-alive cadence (riffcast.station.pacer)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from riffcast.station.pacer import ANNOUNCED_MEMORY_S, Announcements, Cadence, Pacer, Preroll, Tick

RATE = 44100
FRAME = 4410  # 100 ms, the station's default
CHUNK = 512 * 441  # 5.12 s: where chunk records are placed
PACER = Pacer(frame_samples=FRAME, sample_rate=RATE, preroll_frames=3)


@dataclass(frozen=True)
class Record:
    position: int


# -- frames and their due times -----------------------------------------------------------------
@pytest.mark.parametrize("frame_samples", [4410, 441, 44100, 4409, 1])
def test_frame_n_holds_samples_n_f_to_n_plus_1_f_and_is_due_at_start_plus_n_f_over_rate(frame_samples):
    pacer = Pacer(frame_samples=frame_samples, sample_rate=RATE, preroll_frames=3)
    start_s = 12_345.678
    ticks = list(itertools.islice(pacer.ticks(start_s), 50_000))
    assert ticks[0] == Tick(0, 0, frame_samples, start_s)
    for index, tick in enumerate(ticks):
        assert tick.index == index and tick.position == index * frame_samples
        assert tick.end == tick.position + frame_samples
        assert tick.due_s == start_s + index * frame_samples / RATE  # computed from the start: no drift
    # Contiguous, and strictly later each time.
    assert all(b.position == a.end for a, b in zip(ticks, ticks[1:]))
    assert all(b.due_s > a.due_s for a, b in zip(ticks, ticks[1:]))
    assert pacer.tick(10**9, start_s) == Tick(10**9, 10**9 * frame_samples, (10**9 + 1) * frame_samples,
                                              start_s + 10**9 * frame_samples / RATE)


def test_real_time_pacing_audio_delivered_equals_wall_time():
    # From test_station's end-to-end pacing check: over 10 s (and 10 hours), samples due
    # match the time they are due in, exactly (the station only adds its sleep's jitter).
    start_s = 1_000.0
    for seconds in (10, 36_000):
        first, last = PACER.tick(5, start_s), PACER.tick(5 + seconds * RATE // FRAME, start_s)
        assert (last.position - first.position) / RATE == pytest.approx(last.due_s - first.due_s, abs=1e-9)
        assert last.due_s - first.due_s == pytest.approx(seconds, abs=1e-9)


def test_playback_starts_once_the_preroll_and_one_frame_more_are_stitched():
    assert not PACER.may_start(0)
    assert not PACER.may_start(4 * FRAME - 1)
    assert PACER.may_start(4 * FRAME) and PACER.may_start(CHUNK)
    without_preroll = Pacer(frame_samples=FRAME, sample_rate=RATE, preroll_frames=0)
    assert not without_preroll.may_start(FRAME - 1) and without_preroll.may_start(FRAME)


# -- pre-roll ----------------------------------------------------------------------------------
def test_preroll_at_the_start_of_the_stream_is_what_there_is():
    assert PACER.preroll(0, 0) == Preroll(0, 0, FRAME) and list(PACER.preroll(0, 0).positions) == []
    assert list(PACER.preroll(FRAME, 0).positions) == [0]
    assert list(PACER.preroll(2 * FRAME, 0).positions) == [0, FRAME]
    assert list(PACER.preroll(3 * FRAME, 0).positions) == [0, FRAME, 2 * FRAME]
    assert list(PACER.preroll(4 * FRAME, 0).positions) == [FRAME, 2 * FRAME, 3 * FRAME]


def test_preroll_later_is_the_last_preroll_frames_before_the_live_edge():
    for live_frames in (4, 10, 1_000, 10**7):
        live = live_frames * FRAME
        preroll = PACER.preroll(live, held_from=max(0, live - 40 * RATE))  # the ring holds 40 s
        assert preroll.first == live - 3 * FRAME and preroll.live == live
        assert list(preroll.positions) == [live - 3 * FRAME, live - 2 * FRAME, live - FRAME]
        # From test_station's late joiner: at most 3 frames behind the live edge, contiguous with it.
        assert live - 3 * FRAME <= preroll.first <= live
        assert preroll.positions[-1] + FRAME == live


def test_preroll_never_starts_before_the_oldest_sample_held_but_on_a_frame_boundary():
    live = 1_000 * FRAME
    assert PACER.preroll(live, held_from=live - FRAME).first == live - FRAME
    assert list(PACER.preroll(live, held_from=live - FRAME).positions) == [live - FRAME]
    inside_a_frame = live - 2 * FRAME + 7
    assert PACER.preroll(live, held_from=inside_a_frame).first == live - 2 * FRAME  # rounded down
    assert PACER.preroll(live, held_from=live).first == live and list(PACER.preroll(live, live).positions) == []
    longer = Pacer(frame_samples=FRAME, sample_rate=RATE, preroll_frames=10)
    assert list(longer.preroll(live, 0).positions) == [live - k * FRAME for k in range(10, 0, -1)]


def test_preroll_frames_are_stamped_with_the_time_they_were_first_due():
    epoch_s = 1_796_080_334.25
    assert PACER.first_due_s(epoch_s, 0) == epoch_s
    assert PACER.first_due_s(epoch_s, 44_100) == epoch_s + 1.0
    # The origin a listener computes (server_time − position / rate) is the epoch for every frame.
    for position in PACER.preroll(123_456 * FRAME, 0).positions:
        assert PACER.first_due_s(epoch_s, position) - position / RATE == pytest.approx(epoch_s, abs=1e-6)
    stamps = [PACER.first_due_s(epoch_s, p) for p in range(0, 10**6 * FRAME, 997 * FRAME)]
    assert stamps == sorted(stamps)


# -- now_playing announcements ------------------------------------------------------------------
def _announcements() -> Announcements:
    return Announcements(round(ANNOUNCED_MEMORY_S * RATE))


def test_each_record_is_announced_once_in_the_tick_whose_frame_holds_its_first_sample():
    announcements = _announcements()
    placed = [Record(k * CHUNK) for k in range(40)]  # 204.8 s of chunks, more than the memory
    announced: dict[int, list[Record]] = {}
    for tick in PACER.ticks(0.0):
        if tick.position >= placed[-1].position + CHUNK:
            break
        visible = [r for r in placed if r.position < tick.end + 2 * CHUNK][-8:]  # the feed keeps the last 8
        for record in announcements.new(visible, tick.position, tick.end):
            announced.setdefault(record.position, []).append(record)
            assert tick.position <= record.position < tick.end
    assert sorted(announced) == [r.position for r in placed]
    assert all(len(records) == 1 for records in announced.values())


def test_a_range_asked_twice_announces_nothing_twice_and_order_is_kept():
    announcements = _announcements()
    records = [Record(5), Record(3), Record(FRAME), Record(4_000)]
    assert announcements.new(records, 0, FRAME) == [Record(5), Record(3), Record(4_000)]
    assert announcements.new(records, 0, FRAME) == []
    assert announcements.new(records, FRAME, 2 * FRAME) == [Record(FRAME)]
    assert announcements.new(records, 0, 2 * FRAME) == []


def test_a_record_that_arrives_late_is_announced_once_if_its_frame_is_still_to_come():
    announcements = _announcements()
    ticks = PACER.ticks(0.0)
    late = Record(10 * FRAME + 123)
    seen = []
    for tick in ticks:
        visible = [late] if tick.index >= 10 else []  # placed just as its frame is emitted
        seen += announcements.new(visible, tick.position, tick.end)
        if tick.index == 50:
            break
    assert seen == [late]


def test_a_record_that_arrives_after_its_frame_was_emitted_is_not_announced():
    # Its first sample went out (as silence, the feed being starved) before the record was
    # placed: today's station never announces it afterwards (events are in the tick of their frame).
    announcements = _announcements()
    seen = []
    for tick in PACER.ticks(0.0):
        visible = [Record(10 * FRAME + 123)] if tick.index >= 11 else []
        seen += announcements.new(visible, tick.position, tick.end)
        if tick.index == 50:
            break
    assert seen == []


def test_announced_positions_are_forgotten_100_s_behind_the_tick_that_finds_something_new():
    memory = round(ANNOUNCED_MEMORY_S * RATE)
    old = Record(0)
    announcements = _announcements()
    assert announcements.new([old], 0, FRAME) == [old]
    # Nothing new: nothing is pruned, however far on.
    assert announcements.new([], memory + FRAME, memory + 2 * FRAME) == []
    assert announcements.new([old], 0, FRAME) == []
    # Something new exactly 100 s on: the old position is still remembered (kept when ≥ start − memory).
    assert announcements.new([Record(memory)], memory, memory + FRAME) == [Record(memory)]
    assert announcements.new([old], 0, FRAME) == []
    # Something new past it: the old one is forgotten (asked again, it would be announced again).
    assert announcements.new([Record(memory + FRAME)], memory + FRAME, memory + 2 * FRAME) == [Record(memory + FRAME)]
    assert announcements.new([old], 0, FRAME) == [old]
    assert announcements.new([Record(memory)], memory, memory + FRAME) == []  # the recent ones are not


# -- keep-alive --------------------------------------------------------------------------------
def test_the_cadence_reports_at_once_then_at_most_once_per_period():
    alive = Cadence(1.0)
    assert alive.due(-1e9) and alive.due(0.0)
    alive.reported(100.0)
    assert not alive.due(100.0) and not alive.due(100.999)
    assert alive.due(101.0) and alive.due(150.0)
    assert alive.due(150.0)  # due until reported (the station reports only while it generates)
    alive.reported(150.0)
    assert not alive.due(150.5)


def test_the_keep_alive_comes_about_once_a_second_from_frame_ticks():
    alive = Cadence(1.0)
    reports = []
    for tick in PACER.ticks(500.0):
        if tick.due_s > 600.0:
            break
        now_s = tick.due_s + 0.003 * (tick.index % 7)  # the tick runs a little after it is due
        if alive.due(now_s):
            alive.reported(now_s)
            reports.append(now_s)
    assert reports[0] == 500.0
    assert 95 <= len(reports) <= 101
    gaps = [b - a for a, b in zip(reports, reports[1:])]
    assert all(1.0 <= gap <= 1.0 + FRAME / RATE + 0.02 for gap in gaps)


# -- a whole run with a fake clock and a fake feed ----------------------------------------------
@dataclass
class FakeClock:
    now_s: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds

    def sleep_until(self, when_s: float) -> None:
        self.now_s = max(self.now_s, when_s)


@dataclass
class FakeFeed:
    """Chunks of CHUNK samples, one stitched every ``paint_s`` of fake time (a little faster
    than real time), the last 8 records kept, the last 40 s of PCM held."""

    clock: FakeClock
    paint_s: float
    ring_samples: int = 40 * RATE
    placed: list[Record] = field(default_factory=list)

    @property
    def end(self) -> int:
        return int(self.clock.now_s // self.paint_s) * CHUNK

    @property
    def held_from(self) -> int:
        return max(0, self.end - self.ring_samples)

    def records(self) -> list[Record]:
        return [Record(k * CHUNK) for k in range(self.end // CHUNK)][-8:]


def test_a_simulated_run_emits_contiguous_frames_each_exactly_when_due_and_announces_every_chunk_once():
    clock = FakeClock()
    feed = FakeFeed(clock, paint_s=5.0)
    announcements, alive = _announcements(), Cadence(1.0)
    while not PACER.may_start(feed.end):
        clock.sleep(0.02)
    assert 5.0 <= clock.now_s < 5.03  # the first chunk is stitched at 5 s
    start_s = epoch_s = clock.now_s  # one clock stands for both loop.time() and time.time()
    emitted: list[Tick] = []
    late_s: list[float] = []
    announced: list[tuple[int, int]] = []  # (record position, frame position)
    reports = 0
    joins: list[tuple[Preroll, int]] = []  # (pre-roll, next live position)
    for tick in PACER.ticks(start_s):
        if tick.position >= 60 * RATE:
            break
        clock.sleep_until(tick.due_s)
        late_s.append(clock.now_s - tick.due_s)
        assert feed.held_from <= tick.position and tick.end <= feed.end, "the fake feed keeps ahead"
        emitted.append(tick)
        announced += [(r.position, tick.position) for r in announcements.new(feed.records(), tick.position, tick.end)]
        if tick.index % 97 == 5:  # a listener joins between ticks
            joins.append((PACER.preroll(tick.end, feed.held_from), tick.end))
        if alive.due(clock.now_s):
            alive.reported(clock.now_s)
            reports += 1
        clock.sleep(0.004)  # the tick's own work
    positions = [tick.position for tick in emitted]
    assert positions == list(range(0, 60 * RATE, FRAME))
    assert all(tick.due_s == start_s + tick.index * FRAME / RATE for tick in emitted)
    assert max(late_s) == 0.0
    assert [position for position, _ in announced] == list(range(0, 60 * RATE, CHUNK))
    assert all(frame <= position < frame + FRAME for position, frame in announced)
    assert 59 <= reports <= 61
    for preroll, live in joins:
        assert preroll.live == live and len(preroll.positions) == min(3, live // FRAME)
        assert preroll.positions[-1] + FRAME == live  # no gap before the first live frame
        first_due = [PACER.first_due_s(epoch_s, p) for p in preroll.positions]
        assert first_due == [PACER.tick(p // FRAME, start_s).due_s for p in preroll.positions]
