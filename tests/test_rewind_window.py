"""The rewind window in process: the index's bound, the store on disk (reads, eviction, a failed
write), the playlist over the window, and what ``/stream?from=`` and ``/clip`` may ask."""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
from datetime import datetime, timezone

import numpy as np
import pytest
import soundfile

from riffcast.delivery.codecs import Codec
from riffcast.delivery.encoders import StreamEncoder
from riffcast.delivery.hls import Entry, HlsSegmenter, contiguous_tail, playlist
from riffcast.delivery.output import Block
from riffcast.delivery.segment_store import SegmentStore, check_folder
from riffcast.delivery.window_index import CHUNK_SAMPLES, Kind, Piece, Span, WindowIndex, bound_bytes
from riffcast.delivery.window_query import Clip, ClipFormat, OutsideWindow, check_start, clip_request, stream_start
from riffcast.station.rewind import encode_clip

RATE = 44100
FRAME = 4410
EPOCH_S = 1_796_630_400.0  # 2026-12-07T08:00:00Z
MP3_SEGMENT_BYTES = 36_937  # 88 frames of 128 kbit/s CBR at 44.1 kHz (417.96 bytes each) with the ID3 tag
SEGMENT_SAMPLES = 88 * 1152


def _iso(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_two_hour_window_stays_within_its_computed_size():
    """Three hours of blocks and segments through the index of a 2 h window: the bytes held never
    pass the bound, and once full they hold the whole window."""
    window_s = 7200.0
    index = WindowIndex(round(window_s * RATE))
    bound = bound_bytes(window_s, mp3_bit_rate=128_000, sample_rate=RATE, segment_s=SEGMENT_SAMPLES / RATE)
    most, sequence = 0, 0
    for position in range(0, 3 * 3600 * RATE, 10 * FRAME):  # a second at a time, for speed
        number = position // CHUNK_SAMPLES
        held = index.get(Kind.PCM, number)
        if held is None:
            index.add(Piece(Kind.PCM, number, position, 10 * FRAME, 20 * FRAME))
        else:
            index.grow(number, 10 * FRAME, 20 * FRAME)
        while (sequence + 1) * SEGMENT_SAMPLES <= position:
            index.add(Piece(Kind.MP3, sequence, sequence * SEGMENT_SAMPLES, SEGMENT_SAMPLES, MP3_SEGMENT_BYTES))
            sequence += 1
        most = max(most, index.size_bytes)
    assert most <= bound, (most, bound)
    assert bound < 1.02 * window_s * (128_000 / 8 + 2 * RATE) + 2e6  # the bound is not slack either
    window = index.pcm_window()
    assert window.samples >= window_s * RATE and window.end == 3 * 3600 * RATE - 10 * FRAME + 10 * FRAME
    segments = index.pieces(Kind.MP3)  # the window, but for the segment the encoder is on and the next
    assert segments[-1].end - segments[0].position >= window_s * RATE - 2 * SEGMENT_SAMPLES


def _blocks(store: SegmentStore, audio: np.ndarray, first: int = 0) -> None:
    for position in range(first, audio.size - FRAME + 1, FRAME):
        store.write(Block(position, audio[position:position + FRAME], 0.0))


def test_the_store_reads_back_what_was_written_and_deletes_what_leaves_the_window(tmp_path):
    audio = (0.5 * np.sin(np.arange(30 * RATE) * 0.01)).astype(np.float32)
    store = SegmentStore(10.0, RATE, tmp_path / "window")
    _blocks(store, audio)
    window = store.window()
    assert window.end == 30 * RATE and 10 * RATE <= window.samples <= 10 * RATE + CHUNK_SAMPLES
    span = Span(window.first + 1234, window.first + 1234 + 3 * RATE)
    back = store.read_pcm(span)
    assert np.max(np.abs(back - audio[span.first:span.end])) <= 0.5 / 32767 + 1e-7  # 16-bit, rounded
    assert store.read_pcm(Span(window.first - 1, window.first + 10)) is None  # before the window
    files = sorted(path.name for path in (tmp_path / "window").iterdir())
    assert files == sorted(f"{piece.number}.s16" for piece in store.index.pieces(Kind.PCM))
    on_disk = sum(path.stat().st_size for path in (tmp_path / "window").iterdir())
    assert on_disk == store.index.size_bytes <= bound_bytes(10.0, mp3_bit_rate=128_000, sample_rate=RATE, segment_s=2.011)
    store.close()
    assert list((tmp_path / "window").iterdir()) == []


def test_a_temporary_store_is_made_at_the_first_write_and_removed_at_close(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale, other = tmp_path / "riffcast-window-999999999-abc", tmp_path / f"riffcast-window-{os.getppid()}-abc"
    for folder in (stale, other):
        folder.mkdir()
        (folder / "0.s16").write_bytes(b"\0\0")
    store = SegmentStore(5.0, RATE)
    store.write(Block(0, np.zeros(FRAME, np.float32), 0.0))
    folder = store.folder
    assert folder.is_dir() and folder.name.startswith(f"riffcast-window-{os.getpid()}-")
    assert not stale.exists() and other.exists()  # a killed station's folder goes; a running one's stays
    store.close()
    assert not folder.exists()


def test_a_failed_write_is_a_problem_line_a_hole_and_the_store_recovers(tmp_path, monkeypatch):
    audio = (0.1 * np.random.default_rng(1).standard_normal(12 * RATE)).astype(np.float32)
    store = SegmentStore(60.0, RATE, tmp_path)
    _blocks(store, audio[:3 * RATE])
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    store._close_open()  # the next write opens its piece again, and finds the disk full
    monkeypatch.setattr("builtins.open", full_disk)
    for position in range(3 * RATE, 5 * RATE, FRAME):
        store.write(Block(position, audio[position:position + FRAME], 0.0))
    (report,) = store.health()
    assert re.fullmatch(r"the rewind window cannot be stored: the disk is full \(.+\)", report.problem), report
    monkeypatch.setattr("builtins.open", real_open)
    for position in range(5 * RATE, 12 * RATE - FRAME + 1, FRAME):
        store.write(Block(position, audio[position:position + FRAME], 0.0))
    assert store.health()[0].problem is None
    window = store.window()  # what comes after the hole, on a piece boundary
    assert window.end == 12 * RATE - 12 * RATE % FRAME and window.first % CHUNK_SAMPLES == 0 and window.first > 5 * RATE - CHUNK_SAMPLES
    assert store.read_pcm(Span(window.first - FRAME, window.first)) is None
    assert store.read_pcm(Span(0, FRAME)) is not None  # before the hole: still there
    store.close()


def _segments(seconds: float) -> list:
    """Real HLS segments: a tone through the station's MP3 encoder and segmenter."""
    encoder, segmenter = StreamEncoder(Codec.MP3), HlsSegmenter()
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(round(seconds * RATE)) / RATE)).astype(np.float32)
    done = []
    for position in range(0, tone.size - FRAME + 1, FRAME):
        done += segmenter.feed(encoder.encode(position, tone[position:position + FRAME]))
    return done


def test_stored_segments_come_back_byte_for_byte(tmp_path):
    store = SegmentStore(60.0, RATE, tmp_path)
    segments = _segments(8.0)
    for segment in segments:
        store.add_segment(segment)
    assert [piece.number for piece in store.segments()] == [segment.sequence for segment in segments]
    assert all(store.read_segment(segment.sequence) == segment.data for segment in segments)
    assert store.read_segment(len(segments)) is None
    store.close()


def test_the_playlist_lists_the_whole_window_with_each_segments_wall_clock():
    entries = [Entry(sequence, sequence * SEGMENT_SAMPLES, SEGMENT_SAMPLES / RATE) for sequence in range(100, 3700)]
    text = playlist(entries, segment_url="run/{sequence}.mp3", epoch_s=EPOCH_S)
    lines = text.splitlines()
    assert lines[:5] == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:3", "#EXT-X-MEDIA-SEQUENCE:100",
                         "#EXT-X-START:TIME-OFFSET=-6.000"]
    dates = [line.split(":", 1)[1] for line in lines if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
    urls = [line for line in lines if line.endswith(".mp3")]
    assert len(dates) == len(urls) == 3600 and urls[0] == "run/100.mp3" and urls[-1] == "run/3699.mp3"
    for entry, date in zip(entries[::500], dates[::500]):
        assert date == _iso(EPOCH_S + entry.position / RATE)
    assert "#EXT-X-DISCONTINUITY" not in text and "#EXT-X-ENDLIST" not in text


def test_a_lost_segment_ends_the_window_and_an_encoder_restart_is_a_discontinuity():
    entries = [Entry(sequence, sequence * SEGMENT_SAMPLES, SEGMENT_SAMPLES / RATE) for sequence in range(10)]
    assert contiguous_tail(entries[:4] + entries[5:]) == entries[5:]
    jumped = entries[:3] + [Entry(3, 3 * SEGMENT_SAMPLES + 4410, SEGMENT_SAMPLES / RATE)]
    assert playlist(jumped, segment_url="{sequence}.mp3", epoch_s=EPOCH_S).count("#EXT-X-DISCONTINUITY") == 1


def test_where_a_listener_starts():
    assert stream_start("format=s16le", epoch_s=EPOCH_S, sample_rate=RATE) is None
    assert stream_start("format=opus&from=123456", epoch_s=EPOCH_S, sample_rate=RATE) == 123456
    assert stream_start(f"since={_iso(EPOCH_S + 61.5)}", epoch_s=EPOCH_S, sample_rate=RATE) == round(61.5 * RATE)
    for query, message in [("from=-5", "from must be a stream position"), ("from=1e6", "from must be"),
                           ("from=1&since=2026-12-07T08:00:00Z", "not both"), ("since=yesterday", "since must be an ISO")]:
        with pytest.raises(ValueError, match=message):
            stream_start(query, epoch_s=EPOCH_S, sample_rate=RATE)
    check_start(100, Span(100, 500), sample_rate=RATE)
    check_start(500, Span(100, 500), sample_rate=RATE)  # the live position: joins live
    for position in (99, 501):
        with pytest.raises(OutsideWindow, match=r"outside the rewind window: it holds 100 to 500"):
            check_start(position, Span(100, 500), sample_rate=RATE)
    with pytest.raises(OutsideWindow, match="holds nothing yet"):
        check_start(0, None, sample_rate=RATE)


def test_what_a_clip_may_ask():
    window = Span(10 * RATE, 700 * RATE)
    clip = clip_request(f"from={_iso(EPOCH_S + 20.0)}&to={_iso(EPOCH_S + 80.5)}&format=mp3", window,
                        epoch_s=EPOCH_S, sample_rate=RATE)
    assert clip == Clip(Span(20 * RATE, round(80.5 * RATE)), ClipFormat.MP3)
    assert clip_request(f"from={_iso(EPOCH_S + 20)}&to={_iso(EPOCH_S + 21)}", window, epoch_s=EPOCH_S,
                        sample_rate=RATE).format is ClipFormat.WAV
    wrong = [("from=2026-12-07T08:00:20Z", ValueError, "needs from=ISO and to=ISO"),
             (f"from={_iso(EPOCH_S + 30)}&to={_iso(EPOCH_S + 20)}", ValueError, "later than from"),
             (f"from={_iso(EPOCH_S + 20)}&to={_iso(EPOCH_S + 700)}", ValueError, "at most 600 s"),
             (f"from={_iso(EPOCH_S + 20)}&to={_iso(EPOCH_S + 30)}&format=ogg", ValueError, "one of wav, mp3"),
             (f"from={_iso(EPOCH_S + 20)}&to={_iso(EPOCH_S + 30)}&x=1", ValueError, "unknown parameter 'x'"),
             (f"from={_iso(EPOCH_S + 5)}&to={_iso(EPOCH_S + 30)}", OutsideWindow, "outside the rewind window"),
             (f"from={_iso(EPOCH_S + 690)}&to={_iso(EPOCH_S + 701)}", OutsideWindow, "outside the rewind window")]
    for query, kind, message in wrong:
        with pytest.raises(kind, match=message):
            clip_request(query, window, epoch_s=EPOCH_S, sample_rate=RATE)


def test_a_wav_clip_holds_the_samples_exactly_and_an_mp3_clip_decodes():
    samples = np.round(0.3 * np.sin(np.arange(3 * RATE) * 0.02) * 32767).astype(np.float32) / 32767
    wav = encode_clip(Clip(Span(0, samples.size), ClipFormat.WAV), samples, RATE)
    back, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert rate == RATE and np.array_equal(back, np.round(samples * 32767).astype(np.int16))
    mp3 = encode_clip(Clip(Span(0, samples.size), ClipFormat.MP3), samples, RATE)
    decoded, rate = soundfile.read(io.BytesIO(mp3), dtype="float32")
    assert rate == RATE and abs(decoded.size - samples.size) < 2 * 1152 and len(mp3) < len(wav) / 5


def test_a_window_folder_that_cannot_be_used_is_one_line_before_anything_runs(tmp_path):
    (tmp_path / "file").write_text("")
    check_folder(tmp_path / "new")  # made at start
    check_folder(tmp_path)
    for folder, message in [(tmp_path / "file", "is not a folder"), (tmp_path / "no" / "such", "cannot be made there")]:
        with pytest.raises(ValueError, match=f"^--hls-window-dir: .*{message}$"):
            check_folder(folder)
    assert not (tmp_path / "new").exists()
