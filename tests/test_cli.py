"""End-to-end tests of the ``riffcast`` command line, run as a real subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile
from PIL import Image

from riffcast.dsp.codec import image_from_mel, save_png
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.demo_music import render_demo_song
from riffcast.pipeline.stitcher import COMPILE_NOTE

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
    """Exit 0 and nothing on stderr but, once per machine, the kernels' compile note (which command
    compiles them first depends on the order the tests run in, in parallel)."""
    assert result.returncode == 0, result.stderr
    assert result.stderr in ("", COMPILE_NOTE + "\n"), result.stderr


def assert_error(result: subprocess.CompletedProcess, command: str, code: int = 1) -> str:
    """One line on stderr, ``riffcast COMMAND: error: …``, exit code ``code`` (2: an output file it
    cannot write, riffcast_client.output_file); returns the line."""
    assert result.returncode == code, result.stderr
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
    # id: (set-up, arguments, text the error line must contain); exit code 2 for an audio file that cannot
    # be written (tests/test_recording_formats.py), 1 otherwise
    "encode-missing-input": (None, ["encode", "missing.wav", "-o", "out.png"], "missing.wav"),
    "decode-missing-input": (None, ["decode", "missing.png", "-o", "out.wav"], "missing.png"),
    "decode-wrong-size": (_wrong_size_image, ["decode", "small.png", "-o", "out.wav"], "512"),
    "encode-unreadable-audio": (_text_wav, ["encode", "notes.wav", "-o", "out.png"], "notes.wav"),
    "decode-aac-output": (_spectrogram, ["decode", "a.png", "-o", "out.aac"], "-o out.aac: unknown audio format"),
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
    line = assert_error(result, args[0], 2 if args[0] == "decode" and "output" in case else 1)
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


# --------------------------------------------------------------------------- a newcomer's mistakes (issue 23)
# Each: the bad input → one line in the user's words (the option, the value, the fix; no errno text, no
# field path, no traceback) and the exit code.


def test_serve_on_a_port_in_use_names_the_port_before_starting_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = riffcast(tmp_path, "serve", "--generator", "synth", "--port", str(port))
    line = assert_error(result, "serve")
    assert f"--port {port}: already in use" in line and "choose another --port" in line and "Errno" not in line


def test_serve_on_a_host_that_is_no_address_names_the_host(tmp_path: Path) -> None:
    line = assert_error(riffcast(tmp_path, "serve", "--generator", "synth", "--host", "256.1.1.1"), "serve")
    assert "--host 256.1.1.1: not an address" in line and "0.0.0.0" in line and "Errno" not in line


@pytest.mark.parametrize("command", ["serve", "render"])
def test_an_empty_prompt_names_the_option_not_the_field(tmp_path: Path, command: str) -> None:
    extra = ["-o", "out.wav"] if command == "render" else []
    line = assert_error(riffcast(tmp_path, command, "--generator", "synth", "--prompt", "", *extra), command)
    assert "--prompt must not be empty" in line and "prompts[0]" not in line


def test_a_seed_out_of_range_gives_the_range_in_digits(tmp_path: Path) -> None:
    line = assert_error(riffcast(tmp_path, "render", "-o", "out.wav", "--seed", "-1"), "render")
    assert line.endswith("--seed must be an integer from 0 to 4294967295, got -1")


def test_osc_seed_that_is_not_an_integer_gives_the_range_in_digits() -> None:
    from riffcast.steering.osc import OscMessage, steer_from_osc
    from riffcast.steering.targets import Target

    with pytest.raises(ValueError) as refused:
        steer_from_osc(OscMessage("/riffcast/seed", (2.5,)), Target.from_text("rain"))
    assert "seed must be an integer from 0 to 4294967295, got 2.5" in str(refused.value)


def test_a_mistyped_serve_option_prints_serves_usage_and_the_option_meant(tmp_path: Path) -> None:
    result = riffcast(tmp_path, "serve", "--prot", "8000")
    assert result.returncode == 2 and result.stderr.startswith("usage: riffcast serve "), result.stderr[:200]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("riffcast serve: error: unrecognized arguments: --prot 8000") and "--port" in last


def _interrupted(tmp_path: Path, args: list[str], after: Callable[[Path], bool]) -> tuple[int, str]:
    """Start ``riffcast ARGS``, send SIGINT (as Ctrl-C does) once ``after(stderr file)`` holds → (status, stderr)."""
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "riffcast", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                   stderr=sink, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not after(err) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(30), err.read_text()
    except subprocess.TimeoutExpired:
        process.kill()  # never leave a station running behind a failed test
        process.wait()
        raise


@pytest.mark.parametrize("delay_s", [0.1, 0.3, 0.5])
def test_ctrl_c_while_serve_starts_prints_no_traceback(tmp_path: Path, delay_s: float) -> None:
    started = time.monotonic()
    status, stderr = _interrupted(tmp_path, ["serve", "--generator", "synth", "--port", "0"],
                                  lambda _: time.monotonic() - started >= delay_s)
    # 130 (or 0 once it plays and stops as asked); -SIGINT before Python itself is up, which prints nothing.
    # Python's own start-up (its site module, pip's editable-install finder) may still be importing
    # when the signal comes: a traceback there is the interpreter's; none may pass through riffcast's code.
    frames = [line for line in stderr.splitlines() if line.startswith('  File "')]
    assert [frame for frame in frames if "riffcast" in frame and "__editable__" not in frame] == [], stderr
    if not frames:  # else a traceback wholly in the interpreter's start-up (<frozen runpy/site/importlib>)
        assert status in (0, 130, -signal.SIGINT) and "KeyboardInterrupt" not in stderr, stderr


def test_ctrl_c_during_render_says_nothing_was_written(tmp_path: Path) -> None:
    status, stderr = _interrupted(tmp_path, ["render", "--generator", "synth", "--duration", "600", "-o", "out.wav"],
                                  lambda err: "render:" in err.read_text())
    assert status == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("riffcast render: interrupted")
    assert "nothing written to out.wav" in stderr and not (tmp_path / "out.wav").exists()


def test_riffusion_without_torch_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['torch'] = None; from riffcast.cli import main; "  # torch not installed
            "sys.exit(main(['serve', '--generator', 'riffusion', '--model', 'tiny-random', '--port', '0']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    line = assert_error(result, "serve")
    assert "pip install 'riffcast[riffusion]'" in line and "torch" in line


def test_riffusion_without_local_weights_says_so_at_once_without_the_hub_or_torch(tmp_path: Path) -> None:
    started = time.monotonic()
    result = riffcast(tmp_path, "serve", "--generator", "riffusion", "--model", "nobody/no-such-model", "--port", "0",
                      flags=("-X", "importtime"))
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert result.returncode == 1 and len(lines) == 1, result.stderr[-2000:]
    assert "the weights of nobody/no-such-model are not on this machine" in lines[0]
    assert "riffcast download nobody/no-such-model" in lines[0]
    assert not {m for m in imported_modules(result.stderr) if m.split(".")[0] in {"torch", "huggingface_hub"}}
    assert time.monotonic() - started < 30  # (a loaded CI machine; the hub took 33 s)
