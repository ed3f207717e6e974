"""One set of formats and one overwrite rule for every audio file riffcast writes (issue 23, item 7;
riffcast_client.output_file): ``listen --record``, ``render -o`` and ``decode -o`` take .wav, .flac,
.ogg, .opus and .mp3 by extension and refuse an existing file unless --force; a file option that
cannot be written is one line naming the option, the value and the fix, exit code 2, nothing
written. ``serve --record``'s side (same formats, never overwrites: the next part goes beside) is
in tests/test_recording.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast.dsp.codec import image_from_mel, save_png
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast_client import output_file
from riffcast_client.output_file import EXTENSIONS, OutputFileError, check_output_file, write_file
from riffcast_client.record import StreamRecorder

from station import free_port

RATE = P.sample_rate
FORMATS = {  # extension → (libsndfile's format, the file's sample rate)
    ".wav": ("WAV", RATE), ".flac": ("FLAC", RATE), ".ogg": ("OGG", RATE), ".opus": ("OGG", 48000),
    ".mp3": ("MP3", RATE),
}


def tone(seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    mono = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def one_bad_line(result: subprocess.CompletedProcess, prefix: str) -> str:
    """Exit code 2, one line on stderr starting ``prefix``, no traceback; returns the line."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if not line.startswith("riffcast: compiling")]
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr[-2000:]
    return lines[0]


def test_one_format_list_and_every_check_names_the_option_the_value_and_the_fix(tmp_path):
    assert EXTENSIONS == ".wav, .flac, .ogg, .opus, .mp3" and set(FORMATS) == set(output_file.FORMATS)
    (tmp_path / "old.wav").write_bytes(b"keep")
    (tmp_path / "a-file").write_text("")
    cases = {
        "x.aac": "-o {p}: unknown audio format '.aac'; end the name in one of .wav, .flac, .ogg, .opus, .mp3",
        "x": "-o {p}: unknown audio format (no extension); end the name in one of",
        "old.wav": "-o {p}: the file exists; pass --force to replace it, or choose another name",
        "missing/x.wav": "-o {p}: no such folder {d}; create it first",
        "a-file/x.wav": "-o {p}: {d} is not a folder",
    }
    for name, expected in cases.items():
        path = tmp_path / name
        with pytest.raises(OutputFileError) as caught:
            check_output_file(path, "-o")
        assert str(caught.value).startswith(expected.format(p=path, d=path.parent)), caught.value
    assert check_output_file(tmp_path / "old.wav", "-o", force=True) == tmp_path / "old.wav"
    assert check_output_file(tmp_path / "old.wav", "--record", archive=True) == tmp_path / "old.wav"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "old.wav"]


@pytest.mark.parametrize("extension", list(FORMATS))
def test_a_whole_file_in_every_format_replaces_only_with_force(tmp_path, extension):
    path = tmp_path / f"out{extension}"
    write_file(path, tone(1.0), RATE, option="-o")
    info = soundfile.info(str(path))
    container, rate = FORMATS[extension]
    assert (info.format, info.samplerate, info.channels) == (container, rate, 1)
    assert abs(info.frames - rate) <= rate // 20  # encoders pad a little
    with pytest.raises(OutputFileError, match="--force"):
        write_file(path, tone(2.0), RATE, option="-o")
    write_file(path, tone(2.0), RATE, option="-o", force=True)
    assert abs(soundfile.info(str(path)).frames - 2 * rate) <= rate // 20
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left beside it


def test_a_whole_file_that_fails_leaves_the_old_one_untouched(tmp_path, monkeypatch):
    path = tmp_path / "out.flac"
    path.write_bytes(b"the old render")

    def full_disk(self, samples):
        raise OSError(28, "No space left on device", str(self.path))

    monkeypatch.setattr(output_file.AudioRecorder, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_file(path, tone(1.0), RATE, option="-o", force=True)
    assert path.read_bytes() == b"the old render" and [p.name for p in tmp_path.iterdir()] == ["out.flac"]


# --------------------------------------------------------------------------- riffcast listen --record


@pytest.mark.parametrize("extension", list(FORMATS))
def test_listen_records_every_format(tmp_path, extension):
    path = tmp_path / f"heard{extension}"
    with StreamRecorder(path, max_seconds=1.0) as recorder:
        for index in range(10):
            recorder.write(index * 4410, tone(0.1, channels=2), RATE)
    info = soundfile.info(str(path))
    container, rate = FORMATS[extension]
    assert (info.format, info.samplerate, info.channels) == (container, rate, 2)
    assert abs(info.frames - rate) <= rate // 20


@pytest.mark.system
@pytest.mark.parametrize("program", [["-m", "riffcast", "listen"], ["-m", "riffcast_client"]])
def test_listen_refuses_a_bad_record_file_with_exit_2_before_connecting(tmp_path, program):
    url = f"ws://127.0.0.1:{free_port()}/stream"
    (tmp_path / "old.wav").write_bytes(b"keep")
    prefix = "riffcast listen: error: " if "riffcast" in program else "python -m riffcast_client: error: "
    line = one_bad_line(run(tmp_path, *program, url, "--no-play", "--record", "x.aac"), prefix)
    assert "--record x.aac: unknown audio format '.aac'; end the name in one of .wav" in line
    line = one_bad_line(run(tmp_path, *program, url, "--no-play", "--record", "old.wav"), prefix)
    assert "--record old.wav: the file exists; pass --force" in line
    assert sorted(os.listdir(tmp_path)) == ["old.wav"] and (tmp_path / "old.wav").read_bytes() == b"keep"


# --------------------------------------------------------------------------- riffcast decode -o, render -o


@pytest.mark.system
def test_decode_writes_mp3_and_refuses_bad_output_with_exit_2(tmp_path):
    mel = np.full((P.n_mels, 200), 0.5, dtype=np.float32)
    mel[40:44, :] = 1.0
    save_png(image_from_mel(mel, P), tmp_path / "a.png")
    result = run(tmp_path, "-m", "riffcast", "decode", "a.png", "-o", "out.mp3")
    assert result.returncode == 0, result.stderr[-2000:]
    assert soundfile.info(str(tmp_path / "out.mp3")).format == "MP3"
    before = (tmp_path / "out.mp3").read_bytes()
    line = one_bad_line(run(tmp_path, "-m", "riffcast", "decode", "a.png", "-o", "out.mp3"), "riffcast decode: error: ")
    assert "-o out.mp3: the file exists; pass --force to replace it" in line
    line = one_bad_line(run(tmp_path, "-m", "riffcast", "decode", "a.png", "-o", "out.m4a"), "riffcast decode: error: ")
    assert "-o out.m4a: unknown audio format '.m4a'" in line
    assert sorted(os.listdir(tmp_path)) == ["a.png", "out.mp3"] and (tmp_path / "out.mp3").read_bytes() == before


@pytest.mark.system
def test_render_writes_opus_and_refuses_bad_output_with_exit_2(tmp_path):
    render = ["-m", "riffcast", "render", "--generator", "synth", "--prompt", "calm piano", "--duration", "2", "--quiet"]
    result = run(tmp_path, *render, "-o", "out.opus")
    assert result.returncode == 0, result.stderr[-2000:]
    info = soundfile.info(str(tmp_path / "out.opus"))
    assert (info.format, info.subtype, info.samplerate) == ("OGG", "OPUS", 48000)
    (tmp_path / "old.wav").write_bytes(b"keep")
    line = one_bad_line(run(tmp_path, *render, "-o", "old.wav"), "riffcast render: error: ")
    assert "-o old.wav: the file exists; pass --force to replace it" in line
    line = one_bad_line(run(tmp_path, *render, "-o", "nowhere/out.wav"), "riffcast render: error: ")
    assert "-o nowhere/out.wav: no such folder nowhere; create it first" in line
    assert sorted(os.listdir(tmp_path)) == ["old.wav", "out.opus"] and (tmp_path / "old.wav").read_bytes() == b"keep"
