"""--tls-cert/--tls-key: the station's one port speaks HTTPS and WSS — the player from another machine
is then a secure context and plays the full path (AudioWorklet, Opus), and /live.mp3 works too; and
``riffcast listen`` hears such a self-signed station with ``--cacert`` (or ``--insecure``), and says in
one line why it cannot without them."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect

from test_browser import headless_chromium, stats, wait_for

from station import running_station

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=radio.test",
                    "-addext", "subjectAltName=DNS:radio.test,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def tls_station(tmp_path_factory, certificate):
    cert, key = certificate
    with running_station(tmp_path_factory.mktemp("tls-station"), "--tls-cert", str(cert), "--tls-key", str(key)) as station:
        yield station


def test_wss_https_and_the_player_from_another_machine(tmp_path, certificate, tls_station):
    cert, _ = certificate
    station = tls_station
    assert station.http.startswith("https://") and station.health()["playing"]
    assert f"on https://127.0.0.1:{station.port}/" in station.log()

    async def listen():
        trusted = ssl.create_default_context(cafile=str(cert))
        async with connect(station.stream_url, ssl=trusted) as ws:
            hello = json.loads(await ws.recv())
            frames = [message for message in [await ws.recv() for _ in range(12)] if isinstance(message, bytes)]
            return hello, frames

    hello, frames = asyncio.run(listen())
    assert hello["type"] == "hello" and len(frames) >= 8

    out = tmp_path / "live.wav"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-tls_verify", "0", "-t", "3",
                    "-i", f"{station.http}/live.mp3", "-y", str(out)], check=True, timeout=60)
    assert out.stat().st_size > 3 * 44100

    with headless_chromium("--host-resolver-rules=MAP radio.test 127.0.0.1", "--ignore-certificate-errors") as browser:
        page = browser.new_page()
        page.goto(f"https://radio.test:{station.port}/")
        assert page.evaluate("window.isSecureContext") is True
        page.click("#play")
        wait_for(page, "window.riffcast.stats.state === 'playing'", timeout=15_000)
        page.wait_for_timeout(1500)
        heard = stats(page)
        assert heard["format"] == "opus" and heard["playedSamples"] > 44100 and heard["gaps"] == 0, heard


@pytest.mark.parametrize(("arguments", "message"), [
    (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "missing.pem", "--tls-key", "missing.pem"], "--tls-cert/--tls-key: cannot load missing.pem"),
])
def test_bad_tls_options_are_one_line_errors(tmp_path, arguments, message):
    result = subprocess.run([sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", *arguments],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def _listen(station, *options: str, seconds: float = 2.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "riffcast", "listen", station.stream_url, "--no-play", "--quiet",
                           "--duration", f"{seconds:g}", *options], capture_output=True, text=True, timeout=60)


def test_listen_trusts_a_self_signed_station_with_cacert(tmp_path, certificate, tls_station):
    cert, _ = certificate
    out = tmp_path / "heard.wav"
    result = _listen(tls_station, "--cacert", str(cert), "--record", str(out))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert out.stat().st_size >= 2 * 2 * 44100  # two seconds of 16-bit mono


def test_listen_without_cacert_is_one_line_and_exit_1_not_endless_reconnects(tls_station):
    result = _listen(tls_station, seconds=30)  # would reconnect until --duration ran out without audio
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("riffcast listen: error: ") and "certificate is not trusted" in lines[0]
    assert "--cacert FILE" in lines[0] and "--insecure" in lines[0] and "Traceback" not in result.stderr


def test_listen_insecure_hears_a_test_station_and_says_it_does_not_check(tls_station):
    result = _listen(tls_station, "--insecure", seconds=1)
    assert result.returncode == 0, result.stderr
    assert "not checking the station's certificate (--insecure)" in result.stderr
