"""The archive: formats by extension, crash safety, RF64 past 4 GiB, parts beside an existing
file, rotation, start-up checks, the station's sink — with real files and real processes."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast.delivery.archive import Archive, check_record_path, parse_duration, part_path, utc_stamp
from riffcast.delivery.output import Block
from riffcast.delivery.sinks import RecordingSink
from riffcast_client.output_file import OutputFileError
from riffcast_client.recording import AudioRecorder, record_format

from station import running_station

RATE = 44100
FRAME = 4410  # the station's 100 ms frame
FORMATS = {  # extension → (soundfile format, subtype, file sample rate)
    ".wav": ("WAVEX", "PCM_16", 44100),
    ".flac": ("FLAC", "PCM_16", 44100),
    ".ogg": ("OGG", "VORBIS", 44100),
    ".opus": ("OGG", "OPUS", 48000),
    ".mp3": ("MP3", "MPEG_LAYER_III", 44100),
}
LOSSLESS = (".wav", ".flac")
PCM16_STEP = 1 / 32768


def music(seconds: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """A chord with a slow tremolo over quiet noise: float32 mono, peak < 0.9."""
    t = np.arange(round(seconds * rate)) / rate
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0, 659.3))
    noise = 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    return ((1 + 0.5 * np.sin(2 * np.pi * 0.5 * t)) * chord / 1.5 + noise).astype(np.float32)


def band_energy(audio: np.ndarray, rate: int) -> np.ndarray:
    """Energy in 100 Hz bands up to 2 kHz, normalised: a codec-delay-proof fingerprint."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / rate)
    bands = np.array([spectrum[(freqs >= lo) & (freqs < lo + 100)].sum() for lo in range(0, 2000, 100)])
    return bands / bands.sum()


def ffprobe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name,sample_rate",
         "-of", "json", str(path)], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- formats --------------------------------------------------------------------------------


def test_the_extension_picks_the_format_and_others_are_a_one_line_error():
    assert record_format("a.WAV") is record_format("b.wav")
    for bad in ("archive.aac", "archive", "archive.wav.tmp", "line\nbreak.m4a"):
        with pytest.raises(ValueError) as caught:
            record_format(bad)
        message = str(caught.value)
        assert "\n" not in message and ".wav, .flac, .ogg, .opus, .mp3" in message


@pytest.mark.system
@pytest.mark.parametrize("extension", list(FORMATS))
def test_each_format_writes_a_file_soundfile_and_ffprobe_read_back(tmp_path, extension):
    path = tmp_path / f"out{extension}"
    audio = music(3.0)
    with AudioRecorder(path, RATE) as recorder:
        for start in range(0, audio.size, FRAME):
            recorder.write(audio[start : start + FRAME])
    assert recorder.frames_written == audio.size
    container, subtype, rate = FORMATS[extension]
    info = soundfile.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (container, subtype, rate, 1)
    decoded, _ = soundfile.read(str(path), dtype="float32")
    # Whole length (Opus: resampled to 48 kHz, the resampler flushed at close).
    assert decoded.size == pytest.approx(audio.size * rate / RATE, abs=rate * 0.03)
    if extension in LOSSLESS:
        assert decoded.size == audio.size and np.abs(decoded - audio).max() <= PCM16_STEP
    else:
        middle = slice(rate // 2, rate * 5 // 2)
        reference = band_energy(audio[RATE // 2 : RATE * 5 // 2], RATE)
        assert np.abs(band_energy(decoded[middle], rate) - reference).sum() < 0.1
        assert np.sqrt(np.mean(decoded[middle] ** 2)) == pytest.approx(np.sqrt(np.mean(audio**2)), rel=0.15)
    probed = ffprobe(path)  # .ci/run installs ffmpeg
    assert float(probed["format"]["duration"]) == pytest.approx(3.0, abs=0.06)
    assert int(probed["streams"][0]["sample_rate"]) == rate


@pytest.mark.system
def test_a_small_wav_is_a_plain_riff_wave_file(tmp_path):
    """Written as RF64 with auto-downgrade, a file under 4 GiB is RIFF/WAVE (the fmt chunk is
    WAVE_FORMAT_EXTENSIBLE, a JUNK chunk holds the room for ds64): any WAV reader takes it."""
    path = tmp_path / "small.wav"
    with AudioRecorder(path, RATE) as recorder:
        recorder.write(music(1.0))
    head = path.read_bytes()[:16]
    assert head[:4] == b"RIFF" and head[8:16] == b"WAVEJUNK"
    assert struct.unpack("<I", head[4:8])[0] == path.stat().st_size - 8
    assert soundfile.info(str(path)).frames == RATE
    assert ffprobe(path)["format"]["format_name"] == "wav"


def test_the_listener_recorder_writes_a_plain_wav_and_replaces_a_file_it_was_told_to(tmp_path):
    path = tmp_path / "heard.wav"
    path.write_bytes(b"old contents")
    with AudioRecorder(path, RATE, 1, sync_every_s=1.0, exclusive=False, rf64=False) as recorder:
        recorder.write(music(0.5))
        recorder.write_silence(RATE // 2)
    data, rate = soundfile.read(str(path), dtype="float32")
    assert rate == RATE and data.size == RATE and not data[RATE // 2 :].any()
    assert soundfile.info(str(path)).format == "WAV" and path.stat().st_size == 44 + 2 * RATE  # plain WAV


def test_a_long_gap_is_filled_with_one_sync_not_one_a_second(tmp_path):
    """riffcast listen fills the time a station was away at once, in its event loop: ten
    minutes of silence took 600 fsyncs (2.2 s here), during which even Ctrl-C waited."""
    path = tmp_path / "gap.wav"
    with AudioRecorder(path, RATE, 1, sync_every_s=1.0, exclusive=False, rf64=False) as recorder:
        recorder.write(music(0.5))
        syncs = []
        sync = recorder.sync
        recorder.sync = lambda: (syncs.append(recorder.frames_written), sync())[1]
        recorder.write_silence(30 * RATE)
        assert syncs == [RATE // 2 + 30 * RATE]  # once, covering the whole gap
        assert soundfile.info(str(path)).frames == RATE // 2 + 30 * RATE
    data, _ = soundfile.read(str(path), dtype="float32")
    assert data.shape[0] == RATE // 2 + 30 * RATE and not data[RATE // 2 :].any()


# --- RF64 past 4 GiB ------------------------------------------------------------------------

WAV_LIMIT = 0xFFFFFFFF  # libsndfile (rf64.c): RIFF while the file is shorter than this


@pytest.mark.system
def test_the_wav_header_turns_rf64_exactly_when_the_file_reaches_4_gib(tmp_path):
    """What decides WAV vs RF64, measured on the real code path without writing 4 GiB.

    The recorder's sync (SFC_UPDATE_HEADER_NOW) makes libsndfile size the file with fstat.
    A sparse hole (ftruncate, no disk blocks) stands in for 13.5 hours of audio: the file is
    grown to 2 bytes under the limit, then by one 16-bit frame across it. Proved: at
    2³² − 2 bytes the file is still a RIFF WAV whose size fields are right; at 2³² the header
    is RF64 with a ds64 chunk giving the 64-bit sizes; soundfile (and ffprobe) read RF64's
    length and find the samples written before and after the hole at their offsets. What a
    hole cannot show (libsndfile's own count of frames is behind the file's, so every write
    is followed by a sync here) was measured once by writing 4.35 GB for real: RIFF until
    the file passed 2³² bytes, RF64 after, all 2 175 012 000 frames read back.
    """
    path = tmp_path / "long.wav"
    before, after = music(1.0, seed=1), music(1.0, seed=2)
    recorder = AudioRecorder(path, RATE)
    recorder.write(before)
    recorder.sync()
    data_offset = path.stat().st_size - 2 * RATE
    assert path.read_bytes()[:4] == b"RIFF"

    os.ftruncate(recorder._fd, WAV_LIMIT - 1 - 2 * (after.size - 1))  # the hole: zeros, no blocks
    os.lseek(recorder._fd, 0, os.SEEK_END)
    recorder.write(after[:-1])
    recorder.sync()
    assert path.stat().st_size == WAV_LIMIT - 1 and path.stat().st_blocks * 512 < 10_000_000
    with open(path, "rb") as file:
        riff, riff_size, wave = struct.unpack("<4sI4s", file.read(12))
        file.seek(data_offset - 8)
        data, data_size = struct.unpack("<4sI", file.read(8))
    assert (riff, wave, data) == (b"RIFF", b"WAVE", b"data")
    assert riff_size == WAV_LIMIT - 1 - 8 and data_size == WAV_LIMIT - 1 - data_offset

    recorder.write(after[-1:])
    recorder.sync()
    recorder.close()
    size = path.stat().st_size
    assert size == WAV_LIMIT + 1
    with open(path, "rb") as file:
        rf64, marker, wave, ds64 = struct.unpack("<4sI4s4s", file.read(16))
        _, riff_size64, data_size64, frames64 = struct.unpack("<IQQQ", file.read(28))
    assert (rf64, marker, wave, ds64) == (b"RF64", 0xFFFFFFFF, b"WAVE", b"ds64")
    frames = (size - data_offset) // 2
    assert (riff_size64, data_size64, frames64) == (size - 8, size - data_offset, frames)

    with soundfile.SoundFile(str(path)) as file:
        assert (file.format, file.frames) == ("RF64", frames)
        assert np.abs(file.read(RATE, dtype="float32") - before).max() <= PCM16_STEP
        file.seek(frames - after.size)
        assert np.abs(file.read(dtype="float32") - after).max() <= PCM16_STEP
    assert float(ffprobe(path)["format"]["duration"]) == pytest.approx(frames / RATE, abs=0.01)


# --- a killed writer ------------------------------------------------------------------------

KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from riffcast_client.recording import AudioRecorder
    audio = np.load(sys.argv[2])
    recorder = AudioRecorder(sys.argv[1], 44100)
    for start in range(0, audio.size, 4410):
        recorder.write(audio[start:start + 4410])
    print("written", flush=True)
    time.sleep(60)
""")


@pytest.mark.system
@pytest.mark.parametrize("extension", list(FORMATS))
def test_a_sigkilled_writer_leaves_a_file_that_reads_to_near_the_kill(tmp_path, extension):
    """5.3 s written in 100 ms frames, then SIGKILL (no close, no atexit). Measured losses:
    WAV, FLAC, MP3 up to the last sync (1 s; ffmpeg decodes FLAC and MP3 further), Vorbis
    ~0.2 s and Opus ≤ 1 s (the Ogg page being filled)."""
    audio = music(5.3)
    np.save(tmp_path / "audio.npy", audio)
    path = tmp_path / f"killed{extension}"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(tmp_path / "audio.npy")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    _, _, rate = FORMATS[extension]
    decoded, decoded_rate = soundfile.read(str(path), dtype="float32")
    assert decoded_rate == rate
    seconds = decoded.size / rate
    assert 5.3 - 1.2 <= seconds <= 5.3 + 0.1, f"{extension}: {seconds:.3f} s read of 5.3 s"
    if extension in LOSSLESS:
        assert np.abs(decoded - audio[: decoded.size]).max() <= PCM16_STEP


# --- parts: never overwrite, rotation --------------------------------------------------------


def test_an_existing_recording_is_never_touched_the_next_part_goes_beside_it(tmp_path):
    path = tmp_path / "archive.wav"
    first = music(1.0, seed=1)
    with Archive(path, RATE) as archive:
        archive.write(first)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    names = []
    for seed in (2, 3):
        with Archive(path, RATE) as archive:
            archive.write(music(0.5, seed=seed))
        names.append(archive.parts[-1].name)
    assert names == ["archive.1.wav", "archive.2.wav"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    (tmp_path / "archive.1.wav").unlink()
    with Archive(path, RATE) as archive:  # the first free number
        archive.write(music(0.5, seed=4))
    assert archive.parts == [tmp_path / "archive.1.wav"]
    assert soundfile.info(str(tmp_path / "archive.2.wav")).frames == RATE // 2


@pytest.mark.parametrize("extension", LOSSLESS)
def test_split_parts_are_complete_files_that_add_up_to_every_sample(tmp_path, extension):
    start_s = 1_796_075_999.25  # 2026-11-30T21:59:59.25Z: the first part is 0.75 s long
    audio = music(4.6)
    with Archive(tmp_path / f"archive{extension}", RATE, split_s=1.0, clock=lambda: start_s) as archive:
        position = 0
        for size in [1234, FRAME, 7, FRAME * 3 + 11] * 20:  # boundaries fall inside frames
            archive.write(audio[position : position + size])
            position += size
            if position >= audio.size:
                break
    assert archive.frames_written == audio.size
    assert [part.name for part in archive.parts] == [
        f"archive.2026-11-30T21-59-59Z{extension}", f"archive.2026-11-30T22-00-00Z{extension}",
        f"archive.2026-11-30T22-00-01Z{extension}", f"archive.2026-11-30T22-00-02Z{extension}",
        f"archive.2026-11-30T22-00-03Z{extension}",
    ]
    parts = [soundfile.read(str(part), dtype="float32")[0] for part in archive.parts]
    assert [part.size for part in parts] == [round(0.75 * RATE), RATE, RATE, RATE, audio.size - round(3.75 * RATE)]
    for part_file, part in zip(archive.parts, parts):
        assert soundfile.info(str(part_file)).frames == part.size  # each a complete file
    assert np.abs(np.concatenate(parts) - audio).max() <= PCM16_STEP


def test_a_split_part_whose_name_is_taken_gets_the_next_number(tmp_path):
    start_s = 1_796_076_000.0
    path = tmp_path / "archive.ogg"
    taken = part_path(path, start_s)
    taken.write_bytes(b"someone else's")
    with Archive(path, RATE, split_s=3600, clock=lambda: start_s) as archive:
        archive.write(music(0.5))
    assert archive.parts == [tmp_path / "archive.2026-11-30T22-00-00Z.1.ogg"]
    assert taken.read_bytes() == b"someone else's"
    assert utc_stamp(start_s + 0.999) == "2026-11-30T22-00-00Z"


def test_durations_parse_and_bad_ones_are_one_line_errors():
    assert [parse_duration(text) for text in ("90s", "30m", "1h", "1d", "1h30m", "1.5h")] == [
        90, 1800, 3600, 86400, 5400, 5400,
    ]
    for bad in ("", "10", "10x", "h", "-1h", "0s", "0.5s", "1h 30", "1e3s", "1h\n2m"):
        with pytest.raises(ValueError) as caught:
            parse_duration(bad)
        assert "--record-split" in str(caught.value) and "\n" not in str(caught.value)


# --- start-up checks --------------------------------------------------------------------------


def test_start_up_checks_refuse_what_cannot_be_recorded_with_one_line(tmp_path):
    (tmp_path / "existing.wav").write_bytes(b"kept")
    check_record_path(tmp_path / "existing.wav")  # fine: the next part goes beside it
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder.wav").mkdir()
    cases = {
        tmp_path / "x.aac": "end the name in one of .wav",
        tmp_path / "folder.wav": "is a folder",
        tmp_path / "missing" / "x.wav": "no such folder",
        tmp_path / "a-file" / "x.wav": "not a folder",
    }
    for path, text in cases.items():
        with pytest.raises(OutputFileError) as caught:
            check_record_path(path)
        message = str(caught.value)
        assert message.startswith(f"--record {path}: ") and text in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "existing.wav", "folder.wav"]


def test_a_folder_that_cannot_be_written_is_refused_with_the_reason(tmp_path):
    if os.geteuid() == 0:
        folder = Path("/sys")  # root may write anywhere a mode allows; sysfs refuses new files even to root
        if not folder.is_dir():
            pytest.skip("running as root with no /sys: no folder root cannot write")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
    with pytest.raises(OutputFileError) as caught:
        check_record_path(folder / "archive.wav")
    assert str(caught.value) == (f"--record {folder}/archive.wav: cannot write in {folder} (Permission denied); "
                                 "choose a folder you may write to")


@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        (["--record", "out.aac"], "--record out.aac: unknown audio format '.aac'; end the name in one of "
         ".wav, .flac, .ogg, .opus, .mp3", 2),
        (["--record", "missing/out.wav"], "--record missing/out.wav: no such folder missing", 2),
        (["--record", "out.flac", "--record-split", "10x"], "--record-split: '10x' is not a duration", 1),
        (["--record-split", "1h"], "--record-split needs --record", 1),
    ],
)
@pytest.mark.system
def test_serve_refuses_bad_record_options_with_one_line_and_writes_nothing(tmp_path, arguments, message, code):
    result = subprocess.run(
        [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", *arguments],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == code and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert len(lines) == 1 and lines[0].startswith("riffcast serve: error: "), result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.system
def test_serve_has_no_force_option_any_more(tmp_path):
    result = subprocess.run([sys.executable, "-m", "riffcast", "serve", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--record-split" in result.stdout and "--force" not in result.stdout


# --- the station's sink ------------------------------------------------------------------------

SINK_ON_A_FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    import numpy as np
    from pathlib import Path
    from riffcast.delivery.output import Block
    from riffcast.delivery.sinks import RecordingSink
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
    sink = RecordingSink(Path(sys.argv[1]), 44100)
    for position in range(0, 60 * 4410, 4410):  # 6 s: 529 kB of PCM16
        sink.write(Block(position, np.full(4410, 0.25, np.float32), 0.0))
    sink.close()
    print(json.dumps({"failed": sink.failed, "write_errors": sink.write_errors, "path": str(sink.path),
                      "frames_written": sink.frames_written, "frames_dropped": sink.frames_dropped}))
""")


@pytest.mark.system
def test_the_sink_counts_what_it_wrote_and_a_full_disk_is_one_error_and_a_valid_file(tmp_path):
    path = tmp_path / "archive.flac"
    sink = RecordingSink(path, RATE)
    for position in range(0, 20 * FRAME, FRAME):
        sink.write(Block(position, music(0.1, seed=position), 0.0))
    sink.close()
    assert (sink.failed, sink.write_errors, sink.frames_written, sink.frames_dropped) == (None, 0, 20 * FRAME, 0)
    assert sink.parts == [path] and sink.path == path and soundfile.info(str(path)).frames == 20 * FRAME

    full = tmp_path / "full.wav"
    result = subprocess.run([sys.executable, "-c", SINK_ON_A_FULL_DISK, str(full)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["failed"] and "\n" not in state["failed"] and state["write_errors"] == 1
    assert state["path"] == str(full)
    assert state["frames_written"] + state["frames_dropped"] == 60 * FRAME
    assert result.stderr.count(f"recording to {full} paused") == 1
    info = soundfile.info(str(full))  # what was written stays a valid file
    assert info.frames * 2 < 300_000 and 2.5 < info.duration < 3.5
    assert abs(info.frames - state["frames_written"]) <= FRAME  # and it holds what the sink counted


# --- end to end --------------------------------------------------------------------------------


def _played(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32")
    assert rate == RATE
    return audio


@pytest.mark.system
def test_a_restarted_station_keeps_its_recording_and_starts_the_next_part_beside_it(tmp_path):
    path = tmp_path / "archive.wav"
    with running_station(tmp_path, "--record", str(path)) as station:
        time.sleep(2.0)
    assert station.process.returncode == 0
    first = path.read_bytes()
    assert _played(path).size > RATE and np.sqrt(np.mean(_played(path) ** 2)) > 0.01

    with running_station(tmp_path, "--record", str(path)) as station:
        time.sleep(2.0)
    assert station.process.returncode == 0, station.log()
    assert path.read_bytes() == first  # part 1 intact, byte for byte
    second = tmp_path / "archive.1.wav"
    assert f"recording to {second}" in station.log()
    audio = _played(second)
    assert audio.size > RATE and np.sqrt(np.mean(audio**2)) > 0.01
    assert sorted(p.name for p in tmp_path.glob("archive*")) == ["archive.1.wav", "archive.wav"]


@pytest.mark.system
def test_a_station_splits_its_recording_into_parts_named_by_their_utc_start(tmp_path):
    path = tmp_path / "archive.flac"
    started = time.time()
    with running_station(tmp_path, "--record", str(path), "--record-split", "2s") as station:
        time.sleep(5.0)
    assert station.process.returncode == 0, station.log()
    parts = sorted(tmp_path.glob("archive.*.flac"))
    assert len(parts) >= 3 and not path.exists()
    stamps = [part.name.removeprefix("archive.").removesuffix(".flac") for part in parts]
    stamp_times = [calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H-%M-%SZ")) for stamp in stamps]
    assert all(started - 1 <= t <= time.time() for t in stamp_times)
    assert all(t % 2 == 0 for t in stamp_times[1:])  # later parts start on even UTC seconds
    sizes = [soundfile.info(str(part)).frames for part in parts]
    assert all(size == 2 * RATE for size in sizes[1:-1]), sizes
    assert 0 < sizes[0] <= 2 * RATE and 0 < sizes[-1] <= 2 * RATE
