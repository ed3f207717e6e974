"""A recording on a disk that fills up: one line saying so and where, the part so far readable,
and a new part by itself once space returns, with the gap logged. First a real full filesystem
(a small tmpfs in a mount namespace), then the pausing logic with injected errors."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast.delivery.archive import Archive, utc_stamp
from riffcast.delivery.disk import PausingArchive, diagnose
from riffcast_client.recording import AudioRecorder
from test_recording import FORMATS, LOSSLESS, PCM16_STEP, ffprobe, music

RATE = 44100
FRAME = 4410  # the station's 100 ms frame
DISK_MIB = 32  # the tmpfs: room for the 16 MiB a paused recording waits for, and the parts

# --- a real full disk ---------------------------------------------------------------------------

# Records into DISK through the station's sink, 100 ms frames as the clock emits them: 3 s, then
# fills DISK with a filler file, 3 s, removes the filler, 8 s. The sink counts time in frames, so
# its 5 s retry comes without waiting. Copies the parts to OUT (the tmpfs goes with the process).
RECORD_AS_THE_DISK_FILLS = textwrap.dedent("""
    import hashlib, json, logging, os, shutil, sys, time
    import numpy as np
    from pathlib import Path
    from riffcast.delivery.output import Block
    from riffcast.delivery.sinks import RecordingSink
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    disk, out = Path(sys.argv[1]), Path(sys.argv[2])
    audio = np.load(sys.argv[3])
    sink = RecordingSink(disk / sys.argv[4], 44100)
    pushed = 0

    def play(seconds):
        global pushed
        for _ in range(round(seconds * 10)):
            sink.write(Block(pushed, audio[pushed:pushed + 4410], 0.0))
            pushed += 4410
        deadline = time.monotonic() + 60
        while sink.frames_written + sink.frames_dropped < pushed:  # the recorder thread caught up
            assert time.monotonic() < deadline, "the recorder thread is stuck"
            time.sleep(0.005)

    play(3.0)
    filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(filler, bytes(1 << 16))
    except OSError as error:
        assert error.errno == 28, error
    os.close(filler)
    play(3.0)
    paused = {"failed": sink.failed, "free": shutil.disk_usage(disk).free, "frames_written": sink.frames_written,
              "first": hashlib.sha256(sink.parts[0].read_bytes()).hexdigest()}
    os.unlink(disk / "filler")
    play(8.0)
    sink.close()
    for part in sink.parts:
        shutil.copy(part, out / part.name)
    print(json.dumps({"paused": paused, "failed": sink.failed, "write_errors": sink.write_errors,
                      "frames_written": sink.frames_written, "frames_dropped": sink.frames_dropped,
                      "pushed": pushed, "parts": [part.name for part in sink.parts],
                      "first": hashlib.sha256(sink.parts[0].read_bytes()).hexdigest(),
                      "files": sorted(os.listdir(disk))}))
""")

MOUNT = 'mount -t tmpfs -o size={size}m riffcast-test "$1"'
WAYS_TO_MOUNT = (["unshare", "--user", "--map-root-user", "--mount"], ["unshare", "--mount"])


def _way_to_mount(folder: Path) -> list[str]:
    """A command prefix that runs a shell in a new mount namespace where a tmpfs can be mounted
    on ``folder`` (it vanishes with the process). Neither works: the test FAILS, never skips."""
    errors = []
    for way in WAYS_TO_MOUNT:
        try:
            result = subprocess.run([*way, "sh", "-c", MOUNT.format(size=1), "sh", str(folder)],
                                    capture_output=True, text=True, timeout=30)
        except OSError as error:
            errors.append(f"{' '.join(way)}: {error}")
            continue
        if result.returncode == 0:
            return way
        errors.append(f"{' '.join(way)}: {result.stderr.strip()}")
    pytest.fail("cannot mount a small tmpfs for a real full disk: " + "; ".join(errors))


def _on_a_small_disk(tmp_path: Path, name: str, audio: np.ndarray) -> tuple[dict, str, Path, Path]:
    """Run RECORD_AS_THE_DISK_FILLS on a DISK_MIB tmpfs → (its report, its log, the disk, the copies)."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    np.save(tmp_path / "audio.npy", audio)
    script = f'{MOUNT.format(size=DISK_MIB)} && shift && exec "$@"'
    result = subprocess.run(
        [*_way_to_mount(disk), "sh", "-c", script, "sh", str(disk),
         sys.executable, "-c", RECORD_AS_THE_DISK_FILLS, str(disk), str(out), str(tmp_path / "audio.npy"), name],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr, disk, out


@pytest.mark.system
@pytest.mark.parametrize("extension", list(FORMATS))
def test_a_full_disk_is_named_the_part_stays_readable_and_recording_resumes_in_a_new_part(tmp_path, extension):
    audio = music(14.0)
    state, stderr, disk, out = _on_a_small_disk(tmp_path, f"archive{extension}", audio)
    first, second = disk / f"archive{extension}", disk / f"archive.1{extension}"

    # One line, in words: the disk is full, which folder, how much is free, and what happens next.
    paused = [line for line in stderr.splitlines() if " paused: " in line or " stopped: " in line]
    assert paused == [(f"ERROR recording to {first} paused: the disk is full ({disk}: {state['paused']['free']} "
                       "bytes free); resumes by itself when space returns")], stderr
    assert state["paused"]["failed"].startswith(f"the disk is full ({disk}: ")  # /healthz names it too
    assert "System error" not in stderr and "Traceback" not in stderr

    # Space returned: a new part beside the old one, one line with the gap, /healthz clear again.
    resumed = [line for line in stderr.splitlines() if " resumed " in line]
    gap = state["frames_dropped"]
    assert resumed == [(f"WARNING recording to {second} resumed after a gap of {gap / RATE:.1f} s "
                        f"({gap} samples not recorded)")], stderr
    assert state["failed"] is None and state["write_errors"] == 1
    assert 5 * RATE <= gap <= 5 * RATE + 2 * FRAME  # the lost frame, then 5 s to the check that found room
    assert state["parts"] == [first.name, second.name]
    assert state["files"] == sorted(state["parts"]) and state["first"] == state["paused"]["first"]  # untouched
    assert state["frames_written"] + gap == state["pushed"] == audio.size

    # The part written before the disk filled: a valid file holding (nearly) the first 3 s.
    _, _, rate = FORMATS[extension]
    before, before_rate = soundfile.read(str(out / first.name), dtype="float32")
    assert before_rate == rate and 1.8 * rate <= before.size <= 3.6 * rate  # Opus: up to 1.2 s in its encoder
    assert 1.8 <= float(ffprobe(out / first.name)["format"]["duration"]) <= 3.8
    # The new part: the end of the stream, at its place in time.
    after, _ = soundfile.read(str(out / second.name), dtype="float32")
    written_after = state["frames_written"] - state["paused"]["frames_written"]
    assert written_after >= 4 * RATE and np.sqrt(np.mean(after**2)) > 0.05
    assert after.size == pytest.approx(written_after * rate / RATE, abs=0.03 * rate)
    assert float(ffprobe(out / second.name)["format"]["duration"]) == pytest.approx(after.size / rate, abs=0.06)
    if extension in LOSSLESS:
        assert np.abs(before - audio[: before.size]).max() <= PCM16_STEP
        assert after.size == written_after and np.abs(after - audio[-written_after:]).max() <= PCM16_STEP


# --- the pausing logic, with injected errors ------------------------------------------------------


class FlakyDisk:
    """Recorders whose disk breaks on command: while ``error`` is set (an errno), opening a part
    or writing to one raises OSError with it, and while ``full``, ``free_bytes`` says 0."""

    def __init__(self) -> None:
        self.error: int | None = None

    @property
    def full(self) -> bool:
        return self.error == errno.ENOSPC

    def free_bytes(self, folder: Path) -> int:
        return 0 if self.full else 1 << 30

    def recorder(self, path: Path, *args: object, **kwargs: object) -> AudioRecorder:
        self.check(path)
        disk = self

        class Flaky(AudioRecorder):
            def write(self, samples: np.ndarray) -> None:
                disk.check(self.path)
                super().write(samples)

        return Flaky(path, *args, **kwargs)

    def check(self, path: Path) -> None:
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error), str(path))


def _pausing(tmp_path: Path, disk: FlakyDisk, name: str = "archive.wav", **options: object) -> PausingArchive:
    archive_options = {key: options.pop(key) for key in ("split_s", "clock") if key in options}
    archive = Archive(tmp_path / name, RATE, recorder=disk.recorder, **archive_options)
    return PausingArchive(archive, free_bytes=disk.free_bytes, **options)


def _play(archive: PausingArchive, audio: np.ndarray, start_s: float, seconds: float) -> None:
    for position in range(round(start_s * RATE), round((start_s + seconds) * RATE), FRAME):
        archive.write(audio[position : position + FRAME])


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "riffcast.delivery.disk"]


def test_a_full_disk_pauses_with_one_line_and_resumes_in_a_new_part_at_the_first_check_with_room(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    disk, audio = FlakyDisk(), music(30.0)
    archive = _pausing(tmp_path, disk)
    _play(archive, audio, 0.0, 2.0)
    disk.error = errno.ENOSPC
    _play(archive, audio, 2.0, 12.0)  # the frame at 2 s is lost; checks at 7.1 s, 12.1 s find no room
    assert archive.failed == f"the disk is full ({tmp_path}: 0 bytes free); resumes by itself when space returns"
    assert archive.write_errors == 1 and archive.path == tmp_path / "archive.wav"
    disk.error = None
    _play(archive, audio, 14.0, 6.0)  # the check at 17.1 s finds room
    archive.close()

    gap = round(15.1 * RATE)  # 2 s … 17.1 s
    assert _lines(caplog) == [
        f"recording to {tmp_path / 'archive.wav'}",
        (f"recording to {tmp_path / 'archive.wav'} paused: the disk is full ({tmp_path}: 0 bytes free); "
         "resumes by itself when space returns"),
        f"recording to {tmp_path / 'archive.1.wav'} resumed after a gap of 15.1 s ({gap} samples not recorded)",
    ]
    assert archive.failed is None and archive.frames_dropped == gap and archive.frames_written + gap == 20 * RATE
    assert archive.archive.parts == [tmp_path / "archive.wav", tmp_path / "archive.1.wav"]
    assert archive.path == tmp_path / "archive.1.wav"
    before = soundfile.read(str(tmp_path / "archive.wav"), dtype="float32")[0]
    after = soundfile.read(str(tmp_path / "archive.1.wav"), dtype="float32")[0]
    assert np.abs(before - audio[: 2 * RATE]).max() <= PCM16_STEP
    assert np.abs(after - audio[2 * RATE + gap : 20 * RATE]).max() <= PCM16_STEP


def test_other_errors_are_one_clear_line_and_retried_less_and_less_often(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    disk, audio = FlakyDisk(), music(140.0)
    archive = _pausing(tmp_path, disk)
    _play(archive, audio, 0.0, 1.0)
    disk.error = errno.EACCES
    _play(archive, audio, 1.0, 80.0)  # tries (each losing its frame) 5, 10, 20, 40 s apart: 6.1 … 76.4 s
    failed = f"no permission to write in {tmp_path}; retries by itself, every 5 s at first"
    assert archive.write_errors == 5 and archive.failed == failed
    disk.error = None
    _play(archive, audio, 81.0, 59.0)  # the next try: 60 s (at most) later, at 136.5 s
    archive.close()
    gap = round(135.5 * RATE)
    assert _lines(caplog)[1:] == [
        f"recording to {tmp_path / 'archive.wav'} paused: {failed}",
        f"recording to {tmp_path / 'archive.1.wav'} resumed after a gap of 135.5 s ({gap} samples not recorded)",
    ]
    assert archive.failed is None and archive.write_errors == 5
    assert soundfile.info(str(tmp_path / "archive.1.wav")).frames == round(3.5 * RATE)


def test_a_new_kind_of_trouble_is_logged_and_a_paused_split_recording_resumes_at_the_split(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    start_s = 1_796_076_000.0  # 2026-11-30T22:00:00Z
    disk, audio = FlakyDisk(), music(25.0)
    archive = _pausing(tmp_path, disk, "archive.flac", split_s=10.0, clock=lambda: start_s, retry_every_s=60.0)
    _play(archive, audio, 0.0, 3.0)
    disk.error = errno.ENOSPC
    _play(archive, audio, 3.0, 2.0)
    disk.error = errno.EIO  # at 5 s: a new kind of trouble, found at the split (10 s)
    _play(archive, audio, 5.0, 7.0)
    disk.error = None  # at 12 s: the next try is the split at 20 s, not the timer (60 s)
    _play(archive, audio, 12.0, 13.0)
    archive.close()

    names = [f"archive.{utc_stamp(start_s + offset)}.flac" for offset in (0, 20)]
    assert [part.name for part in archive.archive.parts] == names
    assert _lines(caplog) == [
        f"recording to {tmp_path / names[0]}",
        (f"recording to {tmp_path / names[0]} paused: the disk is full ({tmp_path}: 0 bytes free); "
         "resumes by itself when space returns"),
        (f"recording to {tmp_path / names[0]} paused: the disk holding {tmp_path} reports an input/output error; "
         "retries by itself, every 60 s at first"),
        f"recording to {tmp_path / names[1]} resumed after a gap of 17.0 s ({17 * RATE} samples not recorded)",
    ]
    after = soundfile.read(str(tmp_path / names[1]), dtype="float32")[0]
    assert after.size == 5 * RATE and np.abs(after - audio[20 * RATE :]).max() <= PCM16_STEP
    assert soundfile.info(str(tmp_path / names[0])).frames == 3 * RATE


def test_a_gap_across_splits_keeps_the_split_times_and_names_the_new_part_by_its_first_sample(tmp_path):
    start_s = 1_796_075_999.25  # 21:59:59.25Z; splits every 2 s: 22:00:00, :02, :04 …
    with Archive(tmp_path / "archive.wav", RATE, split_s=2.0, clock=lambda: start_s) as archive:
        archive.write(music(0.5))
        archive.skip(round(3.5 * RATE))  # to 22:00:03.25
        assert archive.current is None and archive.next_split == round(4.75 * RATE)
        archive.write(music(2.0))
    assert [part.name for part in archive.parts] == [
        "archive.2026-11-30T21-59-59Z.wav", "archive.2026-11-30T22-00-03Z.wav", "archive.2026-11-30T22-00-04Z.wav",
    ]
    assert [soundfile.info(str(part)).frames for part in archive.parts] == [RATE // 2, round(0.75 * RATE),
                                                                             round(1.25 * RATE)]
    assert archive.position == 6 * RATE and archive.frames_written == round(2.5 * RATE)


@pytest.mark.parametrize(
    ("error", "free", "text", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 0, "the disk is full (F: 0 bytes free)", True),
        (OSError(errno.ENOSPC, "No space left on device"), None, "the disk is full (F)", True),
        (RuntimeError("System error."), 4096, "the disk is full (F: 4096 bytes free)", True),  # libsndfile's words
        (RuntimeError("System error."), 5 << 30, "System error.", False),
        (OSError(errno.EFBIG, "File too large"), 5 << 30,
         "the part reached the largest file size allowed (File too large)", False),
        (OSError(errno.EACCES, "Permission denied"), 5 << 30, "no permission to write in F", False),
        (OSError(errno.ENOENT, "No such file or directory"), None, "F no longer exists", False),
    ],
)
def test_a_failed_write_is_said_in_words(error, free, text, full):
    trouble = diagnose(error, Path("F"), free)
    assert (trouble.text, trouble.full) == (text, full)
