"""riffcast_client, sans network: jitter buffer, recording time line, stream URLs, status text."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile

from riffcast_client.cli import describe
from riffcast_client.jitter import JitterBuffer
from riffcast_client.output_file import OutputFileError
from riffcast_client.protocol import ProtocolError, hello
from riffcast_client.record import StreamRecorder, Timeline
from riffcast_client.sequence import FrameSequencer
from riffcast_client.stream import parse_hello, stream_url

RATE = 8000


def ramp(start: int, count: int, channels: int = 1) -> np.ndarray:
    """Distinct, position-keyed samples: (count, channels) float32 in (0, 1]."""
    values = (np.arange(start, start + count) % 1000 + 1) / 1000
    return np.repeat(values[:, None], channels, axis=1).astype(np.float32)


# --- jitter buffer ------------------------------------------------------------------------


def test_jitter_buffer_is_silent_until_prefilled_then_plays_in_order():
    buffer = JitterBuffer(channels=2, prefill=100, capacity=400)
    buffer.write(ramp(0, 60, 2))
    assert not buffer.playing
    assert np.array_equal(buffer.read(32), np.zeros((32, 2), np.float32))
    assert buffer.level == 60 and buffer.underruns == 0  # filling is not an underrun
    buffer.write(ramp(60, 60, 2))
    assert buffer.playing
    out = np.concatenate([buffer.read(50), buffer.read(50)])
    assert np.array_equal(out, ramp(0, 100, 2))
    assert buffer.level == 20


def test_jitter_buffer_underrun_fills_with_silence_counts_once_and_prefills_again():
    buffer = JitterBuffer(channels=1, prefill=50, capacity=200)
    buffer.write(ramp(0, 70))
    block = buffer.read(64)
    assert np.array_equal(block, ramp(0, 64))
    block = buffer.read(64)  # 6 left: those, then silence
    assert np.array_equal(block[:6], ramp(64, 6)) and not block[6:].any()
    assert buffer.underruns == 1 and not buffer.playing
    assert not buffer.read(64).any() and buffer.underruns == 1  # refilling, not another underrun
    buffer.write(ramp(70, 49))
    assert not buffer.read(10).any()  # still below prefill
    buffer.write(ramp(119, 1))
    assert np.array_equal(buffer.read(50), ramp(70, 50))
    assert buffer.underruns == 1


def test_jitter_buffer_drops_the_oldest_beyond_capacity():
    buffer = JitterBuffer(channels=1, prefill=10, capacity=100)
    for start in range(0, 250, 30):
        buffer.write(ramp(start, 30))
    assert buffer.level == 100 and buffer.dropped == 170
    assert np.array_equal(buffer.read(100), ramp(170, 100))
    buffer.write(ramp(0, 350))  # one write larger than the buffer keeps its newest frames
    assert buffer.level == 100 and buffer.dropped == 170 + 250
    assert np.array_equal(buffer.read(100), ramp(250, 100))


def test_jitter_buffer_hands_every_sample_across_threads_in_order():
    buffer = JitterBuffer(channels=1, prefill=64, capacity=100_000)
    total = 50_000
    stream = np.arange(1, total + 1, dtype=np.float32)[:, None]
    received: list[np.ndarray] = []

    def produce() -> None:
        for start in range(0, total, 37):
            buffer.write(stream[start : start + 37])

    producer = threading.Thread(target=produce)
    producer.start()
    out = np.empty((128, 1), np.float32)
    while sum(block.shape[0] for block in received) < total:
        copied = buffer.read_into(out)
        received.append(out[:copied].copy())
    producer.join()
    assert np.array_equal(np.concatenate(received), stream)
    assert buffer.dropped == 0


def test_jitter_buffer_refuses_wrong_shapes():
    with pytest.raises(ValueError):
        JitterBuffer(channels=1, prefill=10, capacity=5)
    buffer = JitterBuffer(channels=2, prefill=1, capacity=5)
    with pytest.raises(ValueError, match="2 channel"):
        buffer.write(np.zeros((3, 1), np.float32))


# --- recording time line ------------------------------------------------------------------


def test_timeline_fills_forward_jumps_and_continues_after_backward_ones():
    timeline = Timeline(sample_rate=1000, max_gap_s=1.0)
    assert (timeline.place(5000, 100).silence, timeline.length) == (0, 100)  # first frame: time zero
    assert timeline.place(5100, 100).silence == 0
    placement = timeline.place(5500, 100)  # 300 frames missing
    assert (placement.silence, placement.restarted, timeline.length) == (300, False, 600)
    placement = timeline.place(0, 100)  # a new stream, no server times: no silence
    assert (placement.silence, placement.restarted, timeline.length) == (0, True, 700)
    assert timeline.place(100, 100).silence == 0
    placement = timeline.place(100_000, 100)  # too far to fill
    assert (placement.silence, placement.restarted, timeline.length) == (0, True, 900)


def test_timeline_fills_the_time_a_restarted_station_was_away():
    timeline = Timeline(sample_rate=1000, max_gap_s=60.0)
    for position in range(0, 3000, 100):  # emitted at 1000 s + position / rate
        timeline.place(position, 100, 1000.0 + position / 1000)
    assert timeline.end_time == pytest.approx(1003.0)
    placement = timeline.place(200, 100, 1007.25)  # away from 1003.0 to 1007.25
    assert (placement.silence, placement.restarted, timeline.length) == (4250, True, 3000 + 4250 + 100)
    assert timeline.place(300, 100, 1007.35).silence == 0
    placement = timeline.place(0, 100, 900.0)  # a clock that went back: no negative silence
    assert (placement.silence, placement.restarted) == (0, True)
    placement = timeline.place(0, 100, 5000.0)  # at most max_gap_s
    assert placement.silence == 60_000


def test_timeline_sees_a_new_stream_by_its_origin_even_going_forward():
    timeline = Timeline(sample_rate=1000)
    timeline.place(0, 1000, 100.0)  # origin 100 s, ends at 101 s
    placement = timeline.place(3000, 100, 103.3)  # same origin (pre-roll stamped late): a gap
    assert (placement.silence, placement.restarted) == (2000, False)
    placement = timeline.place(9000, 100, 120.0)  # origin 111 s: a restarted station, 9 s in
    assert (placement.silence, placement.restarted) == (round((120.0 - 103.4) * 1000), True)


def test_timeline_stops_exactly_at_max_frames():
    timeline = Timeline(sample_rate=1000, max_frames=250)
    timeline.place(0, 100)
    assert timeline.place(130, 100).keep == 100  # 30 silence + 100
    placement = timeline.place(230, 100)
    assert (placement.silence, placement.keep, timeline.length, timeline.full) == (0, 20, 250, True)


def test_recording_puts_frames_at_their_positions_with_silence_in_gaps(tmp_path):
    path = tmp_path / "out.wav"
    messages: list[str] = []
    recorder = StreamRecorder(path, log=messages.append)
    frames = [(1000, 200), (1200, 200), (1700, 200), (1900, 200)]  # 300 missing at 400
    for position, count in frames:
        recorder.write(position, ramp(position, count), RATE)
    recorder.close()
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == RATE and audio.shape == (1100, 1)
    expected = np.concatenate([ramp(1000, 400), np.zeros((300, 1), np.float32), ramp(1700, 400)])
    assert np.max(np.abs(audio - expected)) <= 1 / 32767
    assert recorder.gaps_filled == 1 and "0.04 s missing at 0.05 s" in messages[0]


def test_recording_continues_a_restarted_stream_at_the_end_of_the_file(tmp_path):
    path = tmp_path / "out.wav"
    messages: list[str] = []
    with StreamRecorder(path, log=messages.append) as recorder:
        recorder.write(8000, ramp(8000, 400, 2), RATE, server_time=100.0)  # ends at 100.05 s
        recorder.write(0, ramp(0, 400, 2), RATE, server_time=100.1)  # positions from zero again
        recorder.write(400, ramp(400, 400, 2), RATE, server_time=100.15)
    audio, _ = soundfile.read(path, dtype="float32", always_2d=True)
    assert audio.shape == (1600, 2)
    expected = np.concatenate([ramp(8000, 400, 2), np.zeros((400, 2), np.float32), ramp(0, 800, 2)])
    assert np.max(np.abs(audio - expected)) <= 1 / 32767
    assert recorder.restarts == 1
    assert "new stream (position 0) continues the file at 0.10 s, after 0.05 s of silence" in messages[0]


def test_recording_refuses_to_overwrite_and_writes_nothing_before_audio(tmp_path):
    existing = tmp_path / "old.wav"
    existing.write_bytes(b"keep me")
    with pytest.raises(OutputFileError, match="--record .*old.wav: the file exists; pass --force"):
        StreamRecorder(existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(OutputFileError, match=r"unknown audio format '\.aac'; end the name in one of \.wav"):
        StreamRecorder(tmp_path / "out.aac")
    with pytest.raises(OutputFileError, match="no such folder"):
        StreamRecorder(tmp_path / "missing" / "out.wav")
    StreamRecorder(tmp_path / "never.wav").close()  # no audio, no file
    assert not (tmp_path / "never.wav").exists()
    with StreamRecorder(existing, force=True, max_seconds=0.01) as recorder:
        recorder.write(0, ramp(0, 500), RATE)
    assert soundfile.info(existing).frames == 80


def test_recording_refuses_a_change_of_sample_rate(tmp_path):
    with StreamRecorder(tmp_path / "out.wav") as recorder:
        recorder.write(0, ramp(0, 10), RATE)
        with pytest.raises(ValueError, match="cannot continue"):
            recorder.write(10, ramp(10, 10), RATE * 2)


# --- what of each frame is new ------------------------------------------------------------


def test_sequencer_drops_a_resend_and_keeps_its_new_part():
    sequencer = FrameSequencer(sample_rate=1000, history=10_000)
    for position in range(0, 1000, 100):
        assert sequencer.accept(position, ramp(position, 100)) is not None
    assert sequencer.accept(700, ramp(700, 150)) is None  # pre-roll: already delivered
    position, samples = sequencer.accept(850, ramp(850, 300))  # half new
    assert position == 1000 and np.array_equal(samples, ramp(1000, 150))
    assert (sequencer.duplicates, sequencer.gaps, sequencer.next_position) == (1, 0, 1150)


def test_sequencer_delivers_a_new_stream_that_goes_back_as_a_jump():
    sequencer = FrameSequencer(sample_rate=1000, history=10_000)
    sequencer.accept(0, ramp(0, 500))
    new_stream = ramp(0, 100) + 0.5  # the same positions, other samples
    position, samples = sequencer.accept(200, new_stream)
    assert position == 200 and np.array_equal(samples, new_stream)
    assert (sequencer.gaps, sequencer.duplicates, sequencer.next_position) == (1, 0, 300)
    assert sequencer.accept(300, ramp(300, 100) + 0.5) is not None and sequencer.gaps == 1
    position, _ = sequencer.accept(1000, ramp(1000, 100))  # forward
    assert position == 1000 and sequencer.gaps == 2


def test_sequencer_tells_a_resend_from_a_replay_by_the_origin_in_the_headers():
    sequencer = FrameSequencer(sample_rate=1000, history=10_000)
    for position in range(0, 2000, 100):  # emitted live: origin 500.0
        sequencer.accept(position, ramp(position, 100), 500.0 + position / 1000)
    # Pre-roll stamped when sent, 0.3 s after it was live: the same stream.
    assert sequencer.accept(1700, ramp(1700, 100), 502.0) is None
    assert sequencer.origin == pytest.approx(500.0)
    # A restarted deterministic station plays the same samples at the same positions, but
    # its stream began 60 s later: a new stream, delivered.
    position, samples = sequencer.accept(1800, ramp(1800, 100), 561.8)
    assert position == 1800 and np.array_equal(samples, ramp(1800, 100))
    assert (sequencer.duplicates, sequencer.gaps, sequencer.origin) == (1, 1, pytest.approx(560.0))


def test_sequencer_only_recognises_resends_within_its_history():
    sequencer = FrameSequencer(sample_rate=1000, history=300)
    for position in range(0, 1000, 100):
        sequencer.accept(position, ramp(position, 100))
    assert sequencer.accept(700, ramp(700, 100)) is None  # within the last 300
    assert sequencer.accept(100, ramp(100, 100)) is not None  # too old to tell: a jump
    assert sequencer.gaps == 1


# --- stream URLs and hello ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, sample_format, expected",
    [
        ("ws://h:8000/stream", None, ("ws://h:8000/stream", "s16le")),
        ("http://h:8000/", None, ("ws://h:8000/stream", "s16le")),
        ("https://h/radio/stream", "f32le", ("wss://h/radio/stream?format=f32le", "f32le")),
        ("h:8000", None, ("ws://h:8000/stream", "s16le")),
        ("ws://h:8000/stream?format=f32le", None, ("ws://h:8000/stream?format=f32le", "f32le")),
        ("ws://h:8000/stream?format=f32le&x=1", "s16le", ("ws://h:8000/stream?x=1", "s16le")),
    ],
)
def test_stream_url(url, sample_format, expected):
    assert stream_url(url, sample_format) == expected


@pytest.mark.parametrize("url", ["ftp://h/stream", "ws:///stream", "ws://h:port/stream", "ws://h/stream?format=mp3"])
def test_stream_url_refuses(url):
    with pytest.raises(ValueError):
        stream_url(url)


def test_hello_is_checked():
    good = hello(
        station="s", sample_rate=44100, channels=1, sample_format="s16le", frame_samples=4410, position=0, server_time=1.0
    )
    assert parse_hello(good, "u")["sample_rate"] == 44100
    for bad, match in [
        (b"\x00" * 20, "binary"),
        ("<html>", "not JSON"),
        ('{"type": "now_playing"}', "not a hello"),
        (good.replace("riffcast/1", "riffcast/2"), "riffcast/2"),
        (good.replace('"channels": 1', '"channels": 0'), "channels"),
        (good.replace('"s16le"', '"mp3"'), "mp3"),
    ]:
        with pytest.raises(ProtocolError, match=match):
            parse_hello(bad, "u")


def test_now_playing_in_a_few_words():
    assert describe(None) == "(nothing announced yet)"
    assert describe({"prompts": [{"text": "jazz", "weight": 1.0}]}) == "jazz"
    two = {"prompts": [{"text": "jazz", "weight": 0.75}, {"text": "rain", "weight": 0.25}]}
    assert describe(two) == "jazz ×0.75 + rain ×0.25"
