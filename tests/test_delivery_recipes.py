"""Delivery through real servers the tests start on 127.0.0.1 (Debian's icecast2 and nginx): the
station as an Icecast source (MP3 mount, titles after a steer, a restarted Icecast rejoined, wrong
password and busy mount said in one line), an Icecast relay tree, and HLS behind nginx's cache."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest
import soundfile

from servers import (
    SOURCE_PASSWORD,
    mount_title,
    running_icecast,
    running_nginx,
    start_icecast,
    stop_process,
    wait_for_mount,
)
from station import free_port, running_station, steer

pytestmark = pytest.mark.system


def _decode_seconds(url: str, seconds: float, out) -> np.ndarray:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rw_timeout", "15000000", "-t", str(seconds),
                    "-i", url, "-ac", "1", "-y", str(out)], check=True, timeout=90)
    audio, _ = soundfile.read(out)
    return audio


def _non_silent_seconds(audio: np.ndarray, rate: int = 44100) -> int:
    seconds = audio.size // rate
    rms = np.sqrt(np.mean(audio[: seconds * rate].reshape(seconds, rate) ** 2, axis=1))
    return int(np.sum(rms > 0.01))


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")



def test_icecast_mount_plays_follows_steers_and_survives_an_icecast_restart(tmp_path):
    port = free_port()
    icecast = start_icecast(tmp_path, port)
    url = f"icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{port}/live.mp3"
    try:
        with running_station(tmp_path, "--icecast", url, "--prompt", "calm piano") as station:
            wait_for_mount(port, "/live.mp3", 20)
            audio = _decode_seconds(f"http://127.0.0.1:{port}/live.mp3", 11, tmp_path / "mount.wav")
            assert audio.size >= 10 * 44100 and _non_silent_seconds(audio) >= 10
            _wait(lambda: mount_title(port, "/live.mp3") == "calm piano", 20, "the title is the prompt")
            assert asyncio.run(steer(station, "steel drums at dusk"))["type"] == "ack"
            _wait(lambda: "steel drums at dusk" in (mount_title(port, "/live.mp3") or ""), 40, "the title follows the steer")

            stop_process(icecast)  # Icecast goes away mid-stream, and comes back
            time.sleep(2)
            icecast = start_icecast(tmp_path, port)
            wait_for_mount(port, "/live.mp3", 30)
            again = _decode_seconds(f"http://127.0.0.1:{port}/live.mp3", 4, tmp_path / "again.wav")
            assert _non_silent_seconds(again) >= 3
            assert station.health()["status"] == "ok"
            assert "icecast icecast://source@127.0.0.1" in station.log() and "retrying in" in station.log()
            assert SOURCE_PASSWORD not in station.log()
    finally:
        stop_process(icecast)


def _ogg_title(url: str) -> str:
    """The title a listener joining now sees in the Ogg stream's tags (a Vorbis comment's name is
    case-insensitive: libsndfile writes ``TITLE``)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream_tags=title", "-of", "json", url],
                           capture_output=True, text=True, timeout=30)
    streams = json.loads(probe.stdout or "{}").get("streams") or [{}]
    return {name.lower(): value for name, value in streams[0].get("tags", {}).items()}.get("title", "")


def test_ogg_opus_mount_plays_and_carries_the_title_heard(tmp_path):
    with running_icecast(tmp_path) as port:
        url = f"icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{port}/live.opus"
        with running_station(tmp_path, "--icecast", url, "--prompt", "calm piano") as station:
            wait_for_mount(port, "/live.opus", 20)
            mount = f"http://127.0.0.1:{port}/live.opus"
            audio = _decode_seconds(mount, 11, tmp_path / "ogg.wav")
            assert audio.size >= 10 * 48000 and _non_silent_seconds(audio, 48000) >= 10
            assert _ogg_title(mount) == "calm piano"
            assert asyncio.run(steer(station, "steel drums at dusk"))["type"] == "ack"
            _wait(lambda: "steel drums at dusk" in _ogg_title(mount), 40, "a new listener sees the new title")


def test_icecast_refusals_are_one_line_and_the_station_plays_on(tmp_path):
    with running_icecast(tmp_path) as port:
        busy = f"icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{port}/busy.mp3"
        wrong = f"icecast://source:not-the-password@127.0.0.1:{port}/other.mp3"
        nowhere = f"icecast://source:x@127.0.0.1:{free_port()}/live.mp3"
        with running_station(tmp_path, "--icecast", busy):  # holds /busy.mp3
            wait_for_mount(port, "/busy.mp3", 20)
            with running_station(tmp_path, "--icecast", busy, "--icecast", wrong, "--icecast", nowhere) as second:
                lines = _wait(lambda: [line for line in second.log().splitlines() if "icecast" in line and "retrying" in line]
                              if all(said in second.log() for said in ("(401)", "(403)", "cannot reach")) else None,
                              30, "three refusals said")
                assert any("/other.mp3: the password was refused (401)" in line for line in lines), lines
                assert any("/busy.mp3: the mount is in use or not allowed (403)" in line for line in lines), lines
                assert any("cannot reach 127.0.0.1" in line for line in lines), lines
                assert "Traceback" not in second.log()
                health = second.health()  # plays on, degraded: each mount that is down is a problem
                assert health["status"] == "degraded" and health["playing"], health
                assert all(f"icecast:{mount}: down for " in "; ".join(health["problems"])
                           for mount in ("/busy.mp3", "/other.mp3", "/live.mp3")), health


def test_bad_icecast_urls_are_one_line_errors(tmp_path):
    for url, message in [("http://x/live.mp3", "must look like icecast://"),
                         ("icecast://source@127.0.0.1:8000/live.mp3", "needs a host and a password"),
                         ("icecast://source:pw@127.0.0.1:8000/live.wav", "must end in one of .mp3, .ogg, .opus")]:
        result = subprocess.run(["python", "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", "--icecast", url],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_relay_tree_master_then_relay_then_listener(tmp_path):
    with running_icecast(tmp_path) as master:
        url = f"icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{master}/live.mp3"
        with running_station(tmp_path, "--icecast", url):
            wait_for_mount(master, "/live.mp3", 20)
            with running_icecast(tmp_path, relay_from=master) as relay:
                wait_for_mount(relay, "/live.mp3", 30)
                audio = _decode_seconds(f"http://127.0.0.1:{relay}/live.mp3", 11, tmp_path / "relay.wav")
                assert audio.size >= 10 * 44100 and _non_silent_seconds(audio) >= 10


def test_hls_behind_nginx_costs_the_station_one_request_per_segment(tmp_path):
    with running_station(tmp_path) as station, running_nginx(tmp_path, station.port) as port:
        audio = _decode_seconds(f"http://127.0.0.1:{port}/hls/live.m3u8", 11, tmp_path / "hls.wav")
        assert audio.size >= 10 * 44100 and _non_silent_seconds(audio) >= 10

        def segment_requests() -> float:
            text = station.metrics()
            return float(re.search(r'riffcast_hls_requests_total\{kind="segment"\} (\S+)', text).group(1))

        listeners, fetched, stop = 40, [], threading.Event()

        def listener() -> None:  # an HLS player: the playlist every second, each new segment once
            seen: set[str] = set()
            while not stop.is_set():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hls/live.m3u8", timeout=10) as response:
                    names = [line for line in response.read().decode().splitlines() if line.endswith(".mp3")]
                for name in names[-3:]:
                    if name not in seen:
                        seen.add(name)
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hls/{name}", timeout=10) as response:
                            assert response.status == 200 and len(response.read()) > 10_000
                        fetched.append(name)
                stop.wait(1.0)

        before = segment_requests()
        threads = [threading.Thread(target=listener) for _ in range(listeners)]
        for thread in threads:
            thread.start()
        time.sleep(10)
        stop.set()
        for thread in threads:
            thread.join(30)
        distinct = len(set(fetched))
        upstream = segment_requests() - before
        assert len(fetched) >= listeners * 3  # every listener got its segments …
        assert upstream <= distinct + 1, (upstream, distinct, len(fetched))  # … the station served each once
