"""End-to-end tests of the ``riffcast`` command line, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from riffcast.dsp.codec import image_from_mel, save_png
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.demo_music import render_demo_song

pytestmark = pytest.mark.system

SR = P.sample_rate
LONG_SONG_S = 12.0  # 48 kHz stereo → 529 200 samples at 44.1 kHz → 1200 columns → 3 images
LONG_SONG_IMAGES = ["OUT-000.png", "OUT-001.png", "OUT-002.png"]


# --------------------------------------------------------------------------- helpers


def riffcast(cwd: Path, *args: str, script: bool = False, flags: tuple[str, ...] = ()):
    """Run ``python -m riffcast.cli ARGS`` (or the ``riffcast`` console script) in ``cwd``."""
    if script:
        command = [str(Path(sys.executable).parent / "riffcast")]
    else:
        command = [sys.executable, *flags, "-m", "riffcast.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def assert_error(result: subprocess.CompletedProcess, command: str) -> str:
    """One line on stderr, ``riffcast COMMAND: error: …``, exit code 1; returns the line."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"riffcast {command}: error:"), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def write_song(path: Path, seconds: float, *, rate: int = 48000, stereo: bool = True) -> None:
    song = render_demo_song(seconds, sample_rate=rate)
    data = np.stack([song, 0.5 * song], axis=1) if stereo else song
    soundfile.write(path, data, rate)


def write_spectrogram(path: Path, columns: int = 512) -> None:
    """A valid riffcast spectrogram PNG of deterministic noise (no encode run needed)."""
    mel = np.random.default_rng(columns).gamma(0.5, 20.0, size=(P.n_mels, columns))
    save_png(image_from_mel(mel.astype(np.float32), P), path)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def new_files(folder: Path, before: dict[str, bytes]) -> list[str]:
    return sorted(set(snapshot(folder)) - set(before))


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` lines ("import time: self | cum | name")."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding song.wav (12 s, 48 kHz stereo) and its encoding OUT-*.png."""
    folder = tmp_path_factory.mktemp("encoded")
    write_song(folder / "song.wav", LONG_SONG_S)
    result = riffcast(folder, "encode", "song.wav", "-o", "OUT.png")
    assert_ok(result)
    assert "3 image(s)" in result.stdout
    return folder


@pytest.fixture(scope="module")
def decoded(encoded: Path) -> Path:
    assert_ok(riffcast(encoded, "decode", *LONG_SONG_IMAGES, "-o", "decoded.wav"))
    return encoded / "decoded.wav"


# --------------------------------------------------------------------------- encode / decode


def test_encode_long_audio_writes_numbered_images(encoded: Path) -> None:
    images = sorted(path.name for path in encoded.glob("*.png"))
    assert images == LONG_SONG_IMAGES
    for name in images:
        with Image.open(encoded / name) as image:
            assert image.size == (512, 512)
            assert image.mode == "RGB"
    with Image.open(encoded / "OUT-002.png") as last:
        assert last.info["riffcast:valid_columns"] == str(1200 - 2 * 512)


def test_decode_writes_stitched_mono_wav(decoded: Path) -> None:
    info = soundfile.info(decoded)
    assert (info.samplerate, info.channels) == (SR, 1)
    assert info.frames == 1200 * P.hop_samples
    samples, _ = soundfile.read(decoded, dtype="float32")
    assert np.max(np.abs(samples)) <= 0.9
    assert np.sqrt(np.mean(samples**2)) > 0.01  # not silent
    quarter = samples.size // 4
    for part in np.split(samples[: 4 * quarter], 4):  # sound throughout, not only in one image
        assert np.sqrt(np.mean(part**2)) > 0.005


def test_decode_is_deterministic(encoded: Path, decoded: Path) -> None:
    assert_ok(riffcast(encoded, "decode", *LONG_SONG_IMAGES, "-o", "again.wav"))
    assert (encoded / "again.wav").read_bytes() == decoded.read_bytes()


def test_console_script_encodes_short_audio_to_one_image(tmp_path: Path) -> None:
    write_song(tmp_path / "short.wav", 3.0, rate=SR, stereo=False)
    before = snapshot(tmp_path)
    assert_ok(riffcast(tmp_path, "encode", "short.wav", "-o", "OUT.png", script=True))
    assert new_files(tmp_path, before) == ["OUT.png"]
    with Image.open(tmp_path / "OUT.png") as image:
        assert image.size == (512, 512)
        assert image.info["riffcast:valid_columns"] == str(3 * SR // P.hop_samples)


def test_encode_exactly_one_chunk_of_audio_gives_one_image(tmp_path: Path) -> None:
    write_song(tmp_path / "exact.wav", P.chunk_seconds, rate=SR, stereo=False)
    before = snapshot(tmp_path)
    assert_ok(riffcast(tmp_path, "encode", "exact.wav", "-o", "OUT.png"))
    assert new_files(tmp_path, before) == ["OUT.png"]


def test_decode_force_overwrites(tmp_path: Path) -> None:
    write_spectrogram(tmp_path / "a.png", columns=100)
    (tmp_path / "out.wav").write_bytes(b"old")
    assert_ok(riffcast(tmp_path, "decode", "a.png", "-o", "out.wav", "--force"))
    assert soundfile.info(tmp_path / "out.wav").frames == 100 * P.hop_samples


# --------------------------------------------------------------------------- errors


def _text_wav(folder: Path) -> None:
    (folder / "notes.wav").write_text("this is not audio\n" * 20)


def _wrong_size_image(folder: Path) -> None:
    Image.new("RGB", (512, 256), "white").save(folder / "small.png")


def _spectrogram(folder: Path) -> None:
    write_spectrogram(folder / "a.png")


def _spectrogram_and_existing_wav(folder: Path) -> None:
    _spectrogram(folder)
    (folder / "out.wav").write_bytes(b"keep me")


def _song_and_existing_png(folder: Path) -> None:
    write_song(folder / "song.wav", 1.0, rate=SR, stereo=False)
    (folder / "out.png").write_bytes(b"keep me")


def _song(folder: Path) -> None:
    write_song(folder / "song.wav", 1.0, rate=SR, stereo=False)


ERROR_CASES = {
    # id: (set-up, arguments, text the error line must contain)
    "encode-missing-input": (None, ["encode", "missing.wav", "-o", "out.png"], "missing.wav"),
    "decode-missing-input": (None, ["decode", "missing.png", "-o", "out.wav"], "missing.png"),
    "decode-wrong-size": (_wrong_size_image, ["decode", "small.png", "-o", "out.wav"], "512"),
    "encode-unreadable-audio": (_text_wav, ["encode", "notes.wav", "-o", "out.png"], "notes.wav"),
    "decode-mp3-output": (_spectrogram, ["decode", "a.png", "-o", "out.mp3"], ".mp3"),
    "decode-output-exists": (_spectrogram_and_existing_wav, ["decode", "a.png", "-o", "out.wav"], "--force"),
    "encode-output-exists": (_song_and_existing_png, ["encode", "song.wav", "-o", "out.png"], "--force"),
    "encode-output-not-png": (_song, ["encode", "song.wav", "-o", "out.jpg"], ".png"),
}


@pytest.mark.parametrize("case", ERROR_CASES, ids=list(ERROR_CASES))
def test_errors_are_one_line_and_write_nothing(tmp_path: Path, case: str) -> None:
    setup, args, expected = ERROR_CASES[case]
    if setup is not None:
        setup(tmp_path)
    before = snapshot(tmp_path)
    result = riffcast(tmp_path, *args)
    line = assert_error(result, args[0])
    assert expected in line
    assert snapshot(tmp_path) == before  # nothing written, existing files unchanged
    assert result.stdout == ""


# --------------------------------------------------------------------------- start-up cost


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_encode_decode_do_not_import_torch_or_diffusers(tmp_path: Path, command: str) -> None:
    if command == "encode":
        _song(tmp_path)
        args = ["encode", "song.wav", "-o", "out.png"]
    else:
        write_spectrogram(tmp_path / "a.png", columns=50)
        args = ["decode", "a.png", "-o", "out.wav"]
    result = riffcast(tmp_path, *args, flags=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-2000:]
    modules = imported_modules(result.stderr)
    assert {"numpy", "riffcast.dsp.codec"} <= modules  # the importtime log was parsed
    heavy = sorted(name for name in modules if name.split(".")[0] in {"torch", "diffusers"})
    assert heavy == []
