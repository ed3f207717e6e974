"""HTTP and control-socket hardening of a real ``riffcast serve``: garbage on the port, methods,
security headers, origins, the token in a subprotocol, auth failures, ping floods, chunk URLs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from riffcast.ops.ratelimit import LogLimiter
from riffcast.station.http import HeadChecker, Refusal, content_security_policy, normalize_origin
from riffcast_client import protocol

from station import TOKEN, running_station

pytestmark = pytest.mark.system

ALLOWED_ORIGIN = "https://radio.example"
LOG_EVERY_S = 1.0  # routes.LOG_EVERY_S
CLIENT_HELLO = bytes.fromhex("16030100f4010000f00303") + bytes(range(32)) + b"\x20" + b"\x11" * 32 + b"\x00" * 150
GARBAGE = {  # kind → (what is sent, the status it gets)
    "bad target": (b"GET //[ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "bad target with a token": (b"GET //[?token=" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "POST": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    "PUT with a body": (b"PUT /control HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
    "HTTP/2.0": (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "HTTP/0.9": (b"GET /\r\n\r\n", 400),
    "oversized header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", 431),
    "too many headers": (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
    "request line too long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    "TLS ClientHello": (CLIENT_HELLO, 400),
    "random bytes": (b"\x00" + random.Random(7).randbytes(1023), 400),
}


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    """A station with the access log on (``--verbose``) and one more allowed origin."""
    with running_station(tmp_path_factory.mktemp("hardening"), "--verbose", "--allow-origin", ALLOWED_ORIGIN) as running:
        yield running


@pytest.fixture(scope="module")
def quiet_station(tmp_path_factory):
    """Another run, without --verbose: what an operator's log gets."""
    with running_station(tmp_path_factory.mktemp("quiet")) as running:
        yield running


def exchange(port: int, data: bytes, timeout_s: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the station hangs up → (status, lower-case headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip()) for name, value in (line.split(":", 1) for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def metric(station, name: str) -> float:
    with urllib.request.urlopen(station.http + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def handshake(port: int, path: str, extra: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_close(sock: socket.socket, timeout_s: float = 10.0) -> tuple[int, str] | None:
    """Read the station's (unmasked) frames until its close frame → (code, reason); None at EOF."""
    sock.settimeout(timeout_s)
    buffer = b""

    def need(n: int) -> bool:
        nonlocal buffer
        while len(buffer) < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return False
            buffer += chunk
        return True

    while need(2):
        opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
        start = 2 + {126: 2, 127: 8}.get(length, 0)
        if not need(start):
            return None
        if length == 126:
            length = struct.unpack(">H", buffer[2:4])[0]
        elif length == 127:
            length = struct.unpack(">Q", buffer[2:10])[0]
        if not need(start + length):
            return None
        payload, buffer = buffer[start : start + length], buffer[start + length :]
        if opcode == 0x8:
            return struct.unpack(">H", payload[:2])[0], payload[2:].decode()
    return None


def flood_pings(sock: socket.socket, count: int) -> None:
    """Send ``count`` masked, empty pings as fast as the socket takes them."""
    ping = b"\x89\x80\x00\x00\x00\x00"
    try:
        for _ in range(count // 10_000):
            sock.sendall(ping * 10_000)
    except OSError:
        pass  # the station closed the connection: what it should do


def test_the_head_check_passes_a_request_fed_byte_by_byte_and_stops_garbage_at_once():
    checker = HeadChecker()
    request = b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"
    results = [checker.feed(request[i : i + 1]) for i in range(len(request))]
    assert all(not r.done for r in results[:-1]) and results[-1].done and results[-1].refusal is None
    assert HeadChecker().feed(CLIENT_HELLO[:1]).refusal is Refusal.NOT_HTTP  # refused at byte one
    assert HeadChecker().feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 40_000).refusal is Refusal.HEADERS_TOO_LARGE
    assert HeadChecker().feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n").refusal is Refusal.MALFORMED


def test_log_limiter_writes_one_line_a_second_per_kind_with_the_count_left_out(caplog):
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("test.limiter"), 1.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="test.limiter"):
        written = [limiter.log("a", "event %d", i) for i in range(100)]
        limiter.log("b", "other")
        now[0] = 1.5
        limiter.log("a", "event %d", 100)
    assert written.count(True) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "event 0", "other", "event 100 (and 99 more like it since the previous such line, 2 s ago)"]


def test_origins_are_normalised_and_the_policy_names_the_host():
    assert normalize_origin("HTTPS://Radio.Example:443/") == "https://radio.example"
    assert normalize_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("null", "ftp://x", "https://x/path", "https://user@x", "x.org"):
        with pytest.raises(ValueError):
            normalize_origin(bad)
    assert "connect-src 'self' ws://a:1 wss://a:1;" in content_security_policy("a:1")
    assert "connect-src 'self';" in content_security_policy("a b\r\nX: y")  # odd Host: 'self' only


def test_garbage_gets_a_4xx_at_once_and_at_most_a_line_a_second_per_kind(quiet_station):
    for kind, (data, status) in GARBAGE.items():
        lines_before = len(quiet_station.log().splitlines())
        started = time.monotonic()
        for _ in range(200):
            got, headers, body = exchange(quiet_station.port, data)
            assert got == status, (kind, got, body)
        elapsed_s = time.monotonic() - started
        assert elapsed_s < 30, (kind, elapsed_s)  # no request waited for the handshake timeout
        assert headers["x-content-type-options"] == "nosniff" and int(headers["content-length"]) == len(body)
        if status == 405:
            assert headers["allow"] == "GET, HEAD" and b"<html" not in body
        time.sleep(0.2)  # let the station write what it writes
        new_lines = quiet_station.log().splitlines()[lines_before:]
        assert len(new_lines) <= 1 + int(elapsed_s / LOG_EVERY_S), (kind, elapsed_s, new_lines)
    log = quiet_station.log()
    assert "Traceback" not in log and "ERROR" not in log and TOKEN not in log
    assert metric(quiet_station, 'riffcast_http_refused_total{reason="not_http"}') == 400
    assert quiet_station.health()["playing"]


def test_head_gets_headers_without_a_body_and_other_methods_get_405(station):
    for path in ("/", "/healthz", "/metrics", "/static/player.js", "/nothing-here"):
        get_status, get_headers, get_body = exchange(station.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, headers, body = exchange(station.port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert (status, body) == (get_status, b""), path
        assert headers["content-type"] == get_headers["content-type"], path
        if path in ("/", "/static/player.js"):  # fixed content: the same length
            assert int(headers["content-length"]) == len(get_body), path
    status, headers, body = exchange(station.port, b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body, headers["upgrade"]) == (426, b"", "websocket")
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"):
        for path in ("/", "/stream", "/control"):
            status, headers, body = exchange(station.port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert (status, headers["allow"]) == (405, "GET, HEAD"), (method, path)
            assert b"<html" not in body


def test_every_response_says_nosniff_and_the_page_has_its_policy(station):
    for path in ("/", "/healthz", "/metrics", "/static/player.js", "/nothing-here", "/control", "/stream"):
        _, headers, _ = exchange(station.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{station.port}\r\n\r\n".encode())
        assert headers["x-content-type-options"] == "nosniff", path

    async def upgraded() -> Headers:
        async with connect(station.stream_url) as ws:
            return ws.response.headers

    assert asyncio.run(upgraded())["X-Content-Type-Options"] == "nosniff"
    _, headers, _ = exchange(station.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{station.port}\r\n\r\n".encode())
    directives = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    host = f"127.0.0.1:{station.port}"
    assert directives == {
        "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self'", "media-src": "'self'",
        "connect-src": f"'self' ws://{host} wss://{host}", "base-uri": "'none'", "form-action": "'none'",
        "frame-ancestors": "'none'",
    }


async def _status(url: str, **kwargs) -> tuple[dict, str | None, Headers]:
    async with connect(url, **kwargs) as control:
        await control.send(json.dumps({"type": "status", "id": 1}))
        return json.loads(await control.recv()), control.subprotocol, control.response.headers


def test_control_refuses_foreign_origins_with_403_and_accepts_its_own(station):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    refused_before = metric(station, 'riffcast_http_refused_total{reason="origin"}')
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{station.port + 1}", "http://localhost"):
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(_status(station.control_url, origin=origin, additional_headers=bearer))
        response = refused.value.response
        assert response.status_code == 403, origin
        assert response.body.decode().startswith("this origin may not steer the station: "), response.body
        assert "--allow-origin may" in response.body.decode()
        assert len(response.body.decode().strip().splitlines()) == 1
    for origin in (None, f"http://127.0.0.1:{station.port}", f"https://127.0.0.1:{station.port}", ALLOWED_ORIGIN):
        status, _, _ = asyncio.run(_status(station.control_url, origin=origin, additional_headers=bearer))
        assert status["type"] == "status", origin
    assert metric(station, 'riffcast_http_refused_total{reason="origin"}') == refused_before + 4


def test_the_token_in_a_subprotocol_opens_control_and_riffcast_control_is_chosen(station):
    status, chosen, headers = asyncio.run(
        _status(station.control_url, subprotocols=["riffcast-control", f"bearer.{TOKEN}"],
                origin=f"http://127.0.0.1:{station.port}")
    )
    assert status["type"] == "status" and chosen == "riffcast-control"
    assert headers["Sec-WebSocket-Protocol"] == "riffcast-control"  # the token is never echoed
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(_status(station.control_url, subprotocols=["riffcast-control", "bearer.wrong-token-123"]))
    assert refused.value.response.status_code == 401
    # A listener that offers subprotocols is served as before, with none chosen.
    async def listener() -> str | None:
        async with connect(station.stream_url, subprotocols=["riffcast-control"]) as ws:
            await ws.recv()
            return ws.subprotocol

    assert asyncio.run(listener()) is None


def test_auth_failures_are_counted_and_logged_at_a_limited_rate_without_the_token(station):
    wrong_before = metric(station, 'riffcast_control_auth_failures_total{reason="wrong"}')
    missing_before = metric(station, 'riffcast_control_auth_failures_total{reason="missing"}')
    lines_before = len(re.findall("control: refused", station.log()))
    wrong_tokens = [f"wrong-{i:04d}-{TOKEN}" for i in range(30)]
    time.sleep(LOG_EVERY_S)  # earlier tests' refusals are out of the limiter's window
    started = time.monotonic()
    for i, wrong in enumerate(wrong_tokens):
        how = [{"subprotocols": ["riffcast-control", f"bearer.{wrong}"]},
               {"additional_headers": {"Authorization": f"Bearer {wrong}"}}][i % 2]
        with pytest.raises(InvalidStatus):
            asyncio.run(_status(station.control_url, **how))
    for _ in range(10):
        with pytest.raises(InvalidStatus):
            asyncio.run(_status(station.control_url))
    elapsed_s = time.monotonic() - started
    assert metric(station, 'riffcast_control_auth_failures_total{reason="wrong"}') == wrong_before + 30
    assert metric(station, 'riffcast_control_auth_failures_total{reason="missing"}') == missing_before + 10
    time.sleep(0.2)
    log = station.log()
    lines = len(re.findall("control: refused", log)) - lines_before
    assert 1 <= lines <= 2 * (1 + int(elapsed_s / LOG_EVERY_S)), (lines, elapsed_s)  # two kinds
    assert TOKEN not in log and not any(wrong in log for wrong in wrong_tokens)


def test_a_ping_flood_is_closed_with_1008_and_the_stream_goes_on(station):
    floods_before = metric(station, "riffcast_ping_floods_total")

    def flood(path: str, extra: str = "") -> tuple[int, str] | None:
        sock = handshake(station.port, path, extra)
        sender = threading.Thread(target=flood_pings, args=(sock, 300_000), daemon=True)
        sender.start()
        try:
            return read_close(sock)
        finally:
            sock.close()
            sender.join(5)

    async def scenario():
        async with connect(station.stream_url, compression=None) as listener:
            await listener.recv()
            positions: list[int] = []

            async def listen() -> None:
                while len(positions) < 40:
                    message = await listener.recv()
                    if isinstance(message, bytes):
                        positions.append(protocol.decode_frame(message, "s16le").position)

            listening = asyncio.create_task(listen())
            stream_close = await asyncio.to_thread(flood, "/stream")
            control_close = await asyncio.to_thread(flood, "/control", f"Authorization: Bearer {TOKEN}\r\n")
            for _ in range(15):  # keep-alive pings at a few a second are fine
                await asyncio.wait_for(await listener.ping(), 5)
                await asyncio.sleep(0.2)
            await asyncio.wait_for(listening, 20)
        return stream_close, control_close, positions

    stream_close, control_close, positions = asyncio.run(scenario())
    assert stream_close == (1008, "too many pings")
    assert control_close == (1008, "too many pings")
    assert np.all(np.diff(positions) == 4410)
    assert metric(station, "riffcast_ping_floods_total") == floods_before + 2
    assert station.health()["playing"]
    assert "socket.send() raised" not in station.log()


def _now_playing(station) -> dict:
    async def first_event() -> dict:
        async with connect(station.stream_url, compression=None) as listener:
            while True:
                message = await listener.recv()
                if isinstance(message, str) and json.loads(message)["type"] == "now_playing":
                    return json.loads(message)

    return asyncio.run(first_event())


def test_chunk_urls_are_unique_per_run_and_old_ones_are_gone(station, quiet_station):
    paths = [_now_playing(running)["image"] for running in (station, quiet_station)]
    matches = [re.fullmatch(r"/chunks/([0-9a-z]+)/(\d+)\.png", path) for path in paths]
    assert all(matches), paths
    assert matches[0].group(1) != matches[1].group(1), paths  # two runs, two prefixes
    status, headers, body = exchange(station.port, f"GET {paths[0]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")
    assert "max-age=3600" in headers["cache-control"]
    position = matches[0].group(2)
    other_run = f"/chunks/{matches[1].group(1)}/{position}.png"
    for old in (other_run, f"/chunks/{position}.png"):
        assert exchange(station.port, f"GET {old} HTTP/1.1\r\nHost: x\r\n\r\n".encode())[0] == 404, old


def test_the_access_log_has_one_line_per_request_with_the_client_and_never_the_query(station, quiet_station):
    secret = "secret-in-the-query-123"
    for running in (station, quiet_station):
        with urllib.request.urlopen(f"{running.http}/healthz?token={secret}&x=1", timeout=5) as response:
            assert response.status == 200
    time.sleep(0.2)
    lines = [line for line in station.log().splitlines() if "GET /healthz 200" in line]
    assert lines and all(re.search(r"127\.0\.0\.1:\d+ GET /healthz 200$", line) for line in lines), lines[-3:]
    assert secret not in station.log()
    assert "GET /healthz" not in quiet_station.log()  # without --verbose: no access log


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--control-token", token], "at least 8 characters among")
     for token in ("has space 12345", "slash/and=equals1", "ünïcödé-token-1", "short")],
)
def test_tokens_that_cannot_travel_in_a_subprotocol_are_refused_at_start_up(tmp_path, arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", *arguments],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "RIFFCAST_CONTROL_TOKEN"},
    )
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert arguments[1] not in result.stderr  # the token is not echoed


def test_a_bad_allow_origin_is_refused_at_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", "--allow-origin", "ftp://x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "--allow-origin" in result.stderr and "not an origin" in result.stderr
