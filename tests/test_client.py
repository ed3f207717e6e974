"""``riffcast listen`` and riffcast_client end to end, against a real ``riffcast serve``.

The scripted-peer tests (exact jumps, resends, wrong hellos) are in test_client_peer.py; the
pure parts in test_client_units.py.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast_client import Listener

from station import free_port, running_station, start_station

pytestmark = pytest.mark.system

PROMPT = "client test: slow organ drone"
RIFFCAST = [sys.executable, "-m", "riffcast"]
# Ctrl-C ends listen in about 0.1 s in every state (0.6 s at most, for a station that stopped
# reading); a liveness bound, with room for a loaded machine.
CTRL_C_S = 3.0


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    with running_station(tmp_path_factory.mktemp("client-station"), "--prompt", PROMPT) as running:
        yield running


def listen(*args: str, stderr: Path | None = None) -> subprocess.Popen:
    """``riffcast listen ARGS`` in the background (stderr to a file, stdout captured), with
    SIGINT as a terminal's Ctrl-C finds it (see ``_sigint_as_in_a_terminal``)."""
    err = open(stderr, "wb") if stderr else subprocess.PIPE
    try:
        return subprocess.Popen(
            [*RIFFCAST, "listen", *args], stdout=subprocess.PIPE, stderr=err, preexec_fn=_sigint_as_in_a_terminal
        )
    finally:
        if stderr:
            err.close()


def _sigint_as_in_a_terminal() -> None:
    """In the child, before it runs listen: SIGINT at its default. A test run a script starts
    in the background (``pytest &``) ignores SIGINT, every program it starts inherits that, and
    Python then leaves SIGINT ignored (as a program should): Ctrl-C could not be tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(process: subprocess.Popen, log: Path) -> None:
    """Ctrl-C: SIGINT, then listen must exit with status 130 within ``CTRL_C_S``."""
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(CTRL_C_S) == 130
    except subprocess.TimeoutExpired:
        raise AssertionError(f"listen did not exit {CTRL_C_S:g} s after SIGINT; its log:\n{log.read_text()}") from None


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def rms_per_second(audio: np.ndarray, rate: int) -> np.ndarray:
    seconds = audio.shape[0] // rate
    return np.sqrt(np.mean(audio[: seconds * rate].reshape(seconds, rate) ** 2, axis=1))


def zero_runs(audio: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of exact zeros, in samples."""
    silent = np.concatenate([[False], audio == 0, [False]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    return [(int(start), int(end - start)) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def test_listen_help_does_not_import_torch_or_numba():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "riffcast", "listen", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--record FILE" in result.stdout and ".wav, .flac, .ogg, .opus, .mp3" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "riffcast" in imported  # the log is really there
    assert not imported & {"torch", "numba", "diffusers", "transformers", "sounddevice"}


def test_playing_without_a_sound_device_is_a_one_line_error(tmp_path):
    probe = subprocess.run(
        [sys.executable, "-c", "import sounddevice; sounddevice.query_devices(kind='output')"], capture_output=True
    )
    if probe.returncode == 0:
        pytest.skip("this machine has a sound output device")
    out = tmp_path / "out.wav"
    result = subprocess.run(
        [*RIFFCAST, "listen", f"ws://127.0.0.1:{free_port()}/stream", "--record", str(out), "--duration", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riffcast listen: error: no sound output") and "--no-play" in lines[0]
    assert not out.exists()


def test_listen_records_the_stream_headless(station, tmp_path):
    out = tmp_path / "out.wav"
    started = time.monotonic()
    result = subprocess.run(
        [*RIFFCAST, "listen", station.stream_url, "--no-play", "--record", str(out), "--duration", "6"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    info = soundfile.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
    assert info.frames == 6 * 44100  # exactly --duration
    audio, rate = soundfile.read(out, dtype="float32")
    assert np.all(rms_per_second(audio, rate) > 1e-3), "a silent second in the recording"
    assert "connected to" in result.stderr and PROMPT in result.stderr
    assert "recorded 6.00 s" in result.stderr and "gaps 0, reconnects 0" in result.stderr


def test_the_library_gets_contiguous_frames_in_both_formats(station):
    async def take(sample_format: str, seconds: float) -> tuple[Listener, list]:
        items = []
        async with Listener(station.stream_url, sample_format, reconnect=False) as listener:
            async for item in listener:
                items.append(item)
                if sum(samples.shape[0] for _, samples, _ in items) >= seconds * 44100:
                    break
        return listener, items

    async def both() -> list:
        return await asyncio.gather(take("s16le", 3.0), take("f32le", 3.0))

    (s16, s16_items), (f32, f32_items) = asyncio.run(both())
    for listener, items in [(s16, s16_items), (f32, f32_items)]:
        position = items[0][0]
        for frame_position, samples, _ in items:
            assert frame_position == position
            assert samples.dtype == np.float32 and samples.shape == (4410, 1)
            position += samples.shape[0]
        assert (listener.gaps, listener.duplicates, listener.reconnects) == (0, 0, 0)
        events = items[0][2]
        assert events[0]["type"] == "hello" and events[0]["protocol"] == "riffcast/1"
        assert events[0]["position"] == items[0][0]
        now_playing = [event for event in events if event["type"] == "now_playing"]
        assert now_playing and now_playing[0]["position"] <= items[0][0]
        assert now_playing[0]["prompts"][0]["text"] == PROMPT
    assert (s16.hello["format"], f32.hello["format"]) == ("s16le", "f32le")
    # Where both listeners got the same positions, they got the same audio.
    s16_audio = {position: samples for position, samples, _ in s16_items}
    common = [(s16_audio[position], samples) for position, samples, _ in f32_items if position in s16_audio]
    assert len(common) >= 10
    assert max(float(np.max(np.abs(a - b))) for a, b in common) <= 0.5 / 32767 + 1e-6
    assert max(float(np.max(np.abs(b))) for _, b in common) > 0.01


def _recorded_frames(path) -> int:
    """Frames in a WAV being written (0 while it has no complete header yet)."""
    try:
        return soundfile.info(path).frames
    except (OSError, RuntimeError):  # not there yet, or its header is still being written
        return 0


def test_sigterm_stops_listen_cleanly(station, tmp_path):
    out, err = tmp_path / "out.wav", tmp_path / "listen.err"
    process = listen(station.stream_url, "--no-play", "--record", str(out), stderr=err)
    wait_for(lambda: _recorded_frames(out) >= 44100, 15, "a second of recording")
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    log = err.read_text()
    recorded = float(log.split("recorded ")[1].split(" s")[0])
    assert soundfile.info(out).frames == pytest.approx(recorded * 44100, abs=1)
    assert out.stat().st_size == 44 + 2 * soundfile.info(out).frames  # header covers every sample


def test_listen_keeps_recording_across_a_station_restart(station, tmp_path):
    """SIGTERM the station, start it again on the same port: the client reconnects by itself,
    the file stays one valid WAV on the wall clock's time line (silence while the station was
    away), and Ctrl-C still finalises it."""
    out, err = tmp_path / "out.wav", tmp_path / "listen.err"
    process = listen(station.stream_url, "--no-play", "--record", str(out), stderr=err)
    try:
        wait_for(lambda: "connected to" in err.read_text(), 15, "the first connection")
        connected_at = time.monotonic()
        time.sleep(2.5)
        stopping_at = time.monotonic()
        assert station.stop() == 0
        stopped_at = time.monotonic()
        restarted = start_station(tmp_path, "--prompt", PROMPT, port=station.port)
        try:  # the client's back-off may wait up to 10 s more
            wait_for(lambda: err.read_text().count("connected to") == 2, 30, "the reconnection")
            reconnected_at = time.monotonic()
            time.sleep(2.5)
            interrupt(process, err)
            stopped_listening_at = time.monotonic()
        finally:
            restarted.stop()
    finally:
        if process.poll() is None:
            process.kill()
    log = err.read_text()
    assert "connection lost: closed by the server (code 1001" in log, log
    assert "a new stream" in log and "Traceback" not in log
    info = soundfile.info(out)
    assert out.stat().st_size == 44 + 2 * info.frames  # finalised after Ctrl-C
    audio, rate = soundfile.read(out, dtype="float32")
    # One stretch of silence: the time the client had no station (from the SIGTERM to the
    # reconnection), with music on both sides.
    start, length = max(zero_runs(audio), key=lambda run: run[1])
    assert (reconnected_at - stopped_at - 1.0) * rate <= length <= (reconnected_at - stopping_at + 0.5) * rate
    assert start >= 2.0 * rate and audio.shape[0] - (start + length) >= 1.5 * rate
    assert np.all(rms_per_second(audio[:start], rate) > 1e-3)
    assert np.all(rms_per_second(audio[start + length :], rate) > 1e-3)
    # The file's time line follows the wall clock, give or take the pre-roll and polling.
    assert audio.shape[0] / rate == pytest.approx(stopped_listening_at - connected_at, abs=1.5)


def test_ctrl_c_stops_listen_at_once_while_it_waits_to_reconnect(tmp_path):
    """The station is gone for good and listen waits between tries, seconds apart by then:
    Ctrl-C ends it within ``CTRL_C_S`` all the same, with the recording finalised."""
    out, err = tmp_path / "out.wav", tmp_path / "listen.err"
    with running_station(tmp_path, "--prompt", PROMPT) as station:
        process = listen(station.stream_url, "--no-play", "--record", str(out), stderr=err)
        try:
            wait_for(lambda: _recorded_frames(out) >= 44100, 15, "a second of recording")
            assert station.stop() == 0
            stopped_at = time.monotonic()
            wait_for(lambda: "reconnecting in" in err.read_text(), 15, "the status line of the back-off")
            # Tries 0.5, 1, 2, 4, 8 s apart (each × 0.5…1): 5 s on, listen waits 2–8 s between tries.
            time.sleep(max(0.0, stopped_at + 5.0 - time.monotonic()))
            interrupt(process, err)
        finally:
            if process.poll() is None:
                process.kill()
    log = err.read_text()
    assert "connection lost: closed by the server (code 1001" in log and "Traceback" not in log
    info = soundfile.info(out)
    assert info.frames >= 44100 and out.stat().st_size == 44 + 2 * info.frames  # finalised after Ctrl-C
