"""Playback without a sound card: a stand-in ``sounddevice`` module whose output stream pulls
blocks from the callback on a thread at the real rate, as PortAudio would."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from typing import Any

import numpy as np
import pytest

from riffcast_client.cli import run_listen
from riffcast_client.jitter import JitterBuffer
from riffcast_client.player import Player, check_output_device

from peer import FRAME, RATE, Peer, free_port, listen_args, send_frames, send_hello, signal_at

BLOCK = 160  # frames per callback (20 ms at 8 kHz)


class PortAudioError(Exception):
    pass


class FakeOutputStream:
    """Calls ``callback(outdata, frames, time, status)`` every BLOCK / samplerate seconds."""

    played: list[np.ndarray] = []
    fail_with: str | None = None

    def __init__(self, *, samplerate: int, channels: int, dtype: str, device: Any, latency: str, callback: Any) -> None:
        if FakeOutputStream.fail_with:
            raise PortAudioError(FakeOutputStream.fail_with)
        assert dtype == "float32"
        self.samplerate, self.channels, self.callback = samplerate, channels, callback
        self.closed = False
        self.latency = 0.05
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        period = BLOCK / self.samplerate
        next_at = time.monotonic()
        while not self._stop.is_set():
            out = np.full((BLOCK, self.channels), np.nan, dtype=np.float32)
            self.callback(out, BLOCK, None, types.SimpleNamespace(output_underflow=False))
            FakeOutputStream.played.append(out)
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def abort(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def sounddevice(monkeypatch):
    module = types.ModuleType("sounddevice")
    module.PortAudioError = PortAudioError
    module.OutputStream = FakeOutputStream
    devices = {"name": "Fake Speakers"}

    def query_devices(device: Any = None, kind: str | None = None) -> dict:
        if devices is None or device not in (None, 0, "Fake"):
            raise PortAudioError(f"Error querying device {device if device is not None else -1}")
        return devices

    module.query_devices = query_devices
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeOutputStream.played = []
    FakeOutputStream.fail_with = None
    yield module
    FakeOutputStream.fail_with = None


def test_the_callback_plays_the_buffer_then_silence(sounddevice):
    buffer = JitterBuffer(channels=1, prefill=BLOCK, capacity=RATE)
    buffer.write(signal_at(0, 5 * BLOCK)[:, None])
    with Player(buffer, sample_rate=RATE):
        time.sleep(0.3)  # 15 blocks: 5 of audio, then silence
    played = np.concatenate(FakeOutputStream.played)[:, 0]
    assert not np.isnan(played).any()  # every block filled completely
    assert np.array_equal(played[: 5 * BLOCK], signal_at(0, 5 * BLOCK))
    assert not played[5 * BLOCK :].any()
    assert buffer.underruns == 1  # ran dry once, then waits for the prefill: not counted again


def test_no_device_is_a_one_line_error(sounddevice):
    assert check_output_device("Fake") == "Fake Speakers"
    with pytest.raises(OSError, match=r"^no sound output device: Error querying device 7 \(use --no-play"):
        check_output_device(7)
    FakeOutputStream.fail_with = "Invalid sample rate"
    with pytest.raises(OSError, match="no sound output device: Invalid sample rate"):
        Player(JitterBuffer(channels=1, prefill=1, capacity=10), sample_rate=RATE)


def test_a_missing_portaudio_library_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails like a missing library
    import builtins

    real_import = builtins.__import__

    def no_portaudio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(OSError, match="no sound output: PortAudio library not found .* --no-play"):
        check_output_device()


def test_listen_plays_what_arrives_in_order(sounddevice, capsys):
    async def handler(websocket: Any, number: int) -> None:
        await send_hello(websocket)
        for start in range(0, 40 * FRAME, FRAME):  # 50 ms frames, twice as fast as they play
            await send_frames(websocket, start, 1)
            await asyncio.sleep(FRAME / RATE / 2)

    with Peer(handler) as peer:
        assert run_listen(listen_args(peer.url, "--duration", "1.2", "--format", "f32le")) == 0
    played = np.concatenate(FakeOutputStream.played)[:, 0]
    sound = played[np.flatnonzero(played)[0] :]  # from the end of the prefill
    heard = sound[: np.flatnonzero(sound)[-1] + 1]
    # All of --duration is played, none lost, repeated or moved: the buffer is played out.
    assert np.array_equal(heard, signal_at(0, round(1.2 * RATE)))
    err = capsys.readouterr().err
    assert "underruns 0" in err and "buffer" in err


def test_the_listen_command_checks_the_device_before_connecting(sounddevice):
    started = time.monotonic()
    with pytest.raises(OSError, match="no sound output device"):
        run_listen(listen_args(f"ws://127.0.0.1:{free_port()}/stream", "--device", "3"))
    assert time.monotonic() - started < 1
