"""The reliability fixes end to end, on a real ``riffcast serve`` (synth generator)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from riffcast_client import protocol

from helpers import eventually
from station import TOKEN, running_station, start_station

pytestmark = pytest.mark.system

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _health(running) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{running.http}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_steering_through_a_long_stall_leaves_a_working_producer(tmp_path):
    # The repro: a stall longer than the control side's 10 s wait, steered every 4 s.
    with running_station(tmp_path, "--inject-faults", "stall:14@1") as running:
        async def steer(request: dict) -> dict:
            async with connect(running.control_url, additional_headers=BEARER) as control:
                await control.send(json.dumps(request))
                return json.loads(await control.recv())

        async def scenario():
            replies = []
            for number in range(4):  # at 0, 4, 8, 12 s of the stall; each waits up to 10 s
                replies.append(asyncio.create_task(steer({"type": "steer", "id": number, "prompt": f"tune {number}"})))
                await asyncio.sleep(4)
            answers = [await reply for reply in replies]
            # After the stall: a steer is taken at once.
            return answers, await steer({"type": "steer", "id": "after", "prompt": "steel drums"})

        answers, ack = asyncio.run(scenario())
        assert ack["type"] == "ack", ack
        assert all(answer["type"] in ("ack", "error") for answer in answers)
        assert any(answer["type"] == "ack" for answer in answers)  # the stall ended: queued steers were taken
        code, health = _health(running)
        assert code == 200 and health["generator_ok"]  # the stall's fallback shows as dead air for a while
        assert health["status"] == "ok" or all(p.startswith("dead air") for p in health["problems"]), health
        assert health["producer_restarts"] == 0
        assert "InvalidStateError" not in running.log() and "producer stopped" not in running.log()


def test_a_dead_producer_is_restarted_and_the_stream_goes_on(tmp_path):
    with running_station(tmp_path, "--inject-faults", "crash@1") as running:
        assert eventually(lambda: _health(running)[1]["producer_restarts"] == 1, 30, poll_s=0.2)

        async def listen():
            frames = []
            async with connect(running.stream_url, compression=None) as ws:
                json.loads(await ws.recv())
                while len(frames) < 30:
                    message = await ws.recv()
                    if isinstance(message, bytes):
                        frames.append(protocol.decode_frame(message, "s16le"))
            return frames

        frames = asyncio.run(listen())
        assert np.all(np.diff([frame.position for frame in frames]) == 4410)
        code, health = _health(running)
        assert code == 200 and health["status"] == "ok" and health["generator_ok"]
        with urllib.request.urlopen(running.http + "/metrics", timeout=5) as response:
            assert "riffcast_producer_restarts 1.0" in response.read().decode()
        assert "restarting it where it stopped" in running.log()


def test_a_producer_that_keeps_dying_takes_the_station_down_for_its_supervisor(tmp_path):
    # The synth paints 0.64 s windows, 8 of them ahead: window 12 is painted about 2.5 s into playback,
    # after the listener below joined (crashes from window 1 could end it before playback began).
    running = start_station(tmp_path, "--inject-faults", "crash@12-30")
    try:
        async def listen():
            async with connect(running.stream_url, compression=None) as ws:
                try:
                    while True:
                        await ws.recv()
                except ConnectionClosed:
                    return ws.close_code, ws.close_reason

        close_code, reason = asyncio.run(asyncio.wait_for(listen(), 90))
        assert running.process.wait(30) == 1
    finally:
        running.stop(signal.SIGKILL)
    assert close_code == 1011 and "restarted" in reason
    errors = [line for line in running.log().splitlines() if line.startswith("riffcast serve: error:")]
    assert len(errors) == 1 and "died 4 times" in errors[0]


def test_an_unwritable_state_file_shows_in_health_and_metrics_and_clears(tmp_path):
    state = tmp_path / "state.json"
    with running_station(tmp_path, "--state", str(state)) as running:
        assert eventually(state.exists, 10, poll_s=0.2)
        state.unlink()
        state.mkdir()  # a folder where the state goes: each save's rename fails
        assert eventually(lambda: _health(running)[1]["status"] == "degraded", 15, poll_s=0.2)
        code, health = _health(running)
        assert code == 200 and len(health["problems"]) == 1 and "cannot save the state" in health["problems"][0]
        with urllib.request.urlopen(running.http + "/metrics", timeout=5) as response:
            assert "riffcast_problems 1.0" in response.read().decode()
        state.rmdir()
        assert eventually(lambda: _health(running)[1]["status"] == "ok", 15, poll_s=0.2)
    assert running.log().count("cannot save the state") == 1  # logged once, not every 5 s


def test_bad_state_paths_are_refused_at_start_up_and_nothing_is_renamed(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "state.json"
    folder.mkdir()
    cases = [
        (str(folder), "is a folder"),
        ("/sys/riffcast-state.json", "cannot write the state file there"),
        (str(tmp_path / "missing" / "state.json"), "no such folder"),
    ]
    for path, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--state", path],
            capture_output=True, text=True, timeout=60, env={**os.environ, "RIFFCAST_CONTROL_TOKEN": TOKEN},
        )
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert folder.is_dir() and not (tmp_path / "state.json.damaged").exists()


def _limit_open_files(limit: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


def test_idle_connections_beyond_the_open_files_limit_do_not_lock_listeners_out(tmp_path):
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))  # this test's own sockets
    with running_station(tmp_path, preexec_fn=_limit_open_files(1024)) as running:
        code, health = _health(running)
        assert health["open_files_limit"] == 1024 and health["max_listeners"] < 1024 - 256
        idle = []
        try:
            for _ in range(1100):  # never send a request: each holds a descriptor in the station
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                idle.append(sock)
            time.sleep(1.0)
            started = time.monotonic()
            code, health = _health(running)
            health_s = time.monotonic() - started
            assert code == 200 and health_s < 2.0

            async def join():
                async with connect(running.stream_url, compression=None, open_timeout=5) as ws:
                    hello = json.loads(await ws.recv())
                    while isinstance(frame := await ws.recv(), str):  # now_playing comes first
                        pass
                return hello, frame

            started = time.monotonic()
            hello, frame = asyncio.run(join())
            assert hello["type"] == "hello" and isinstance(frame, bytes)
            assert time.monotonic() - started < 3.0
            assert health["open_files"] < 1024 - 64
        finally:
            for sock in idle:
                sock.close()
    log = running.log()
    assert "out of system resource" not in log and "Traceback" not in log
