"""The station end to end: a real ``riffcast serve`` subprocess, real sockets, real files."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import soundfile
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from receiving import receive_for
from riffcast_client import protocol

from station import TOKEN, running_station, start_station

pytestmark = pytest.mark.system

HELLO_FIELDS = {"type", "protocol", "station", "sample_rate", "channels", "format", "frame_samples", "position", "server_time"}


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    with running_station(tmp_path_factory.mktemp("station"), "--verbose", "--station", "test radio") as running:
        yield running


async def _collect(url: str, seconds: float, sample_format: str = "s16le"):
    """(hello, [(arrival_s, frame)], [events]) for ``seconds`` after the hello."""
    hello, messages = await receive_for(url if "?" in url else f"{url}?format={sample_format}", seconds)
    frames = [(at, protocol.decode_frame(message, hello["format"])) for at, message in messages if isinstance(message, bytes)]
    events = [json.loads(message) for _, message in messages if isinstance(message, str)]
    return hello, frames, events


def test_protocol_conformance_and_pacing(station):
    asked = time.time()
    hello, frames, events = asyncio.run(_collect(station.stream_url, 5.0))
    assert set(hello) == HELLO_FIELDS
    assert hello["protocol"] == "riffcast/1" and hello["station"] == "test radio"
    assert (hello["sample_rate"], hello["channels"], hello["format"], hello["frame_samples"]) == (44100, 1, "s16le", 4410)
    assert asked - 0.1 < hello["server_time"] < asked + 2
    # Contiguous positions from the hello's, whole frames of the announced size.
    positions = [frame.position for _, frame in frames]
    assert positions[0] == hello["position"]
    assert all(frame.samples.shape == (4410, 1) for _, frame in frames)
    assert np.all(np.diff(positions) == 4410)
    # Real-time pacing over 4 s: samples delivered vs wall time, after the pre-roll burst (the
    # due times themselves, over 10 s and hours, are test_pacer's, with a fake clock).
    live = [(arrival, frame) for arrival, frame in frames[5:]]
    wall_s = live[-1][0] - live[0][0]
    audio_s = (live[-1][1].position - live[0][1].position) / 44100
    assert wall_s > 4.0
    assert abs(audio_s / wall_s - 1) < 0.05
    # Music, not silence; server times increase.
    audio = np.concatenate([frame.samples[:, 0] for _, frame in frames])
    assert np.sqrt(np.mean(audio**2)) > 0.01
    assert all(np.diff([frame.server_time for _, frame in frames]) >= 0)
    # now_playing: the current chunk first (at or before the hello position), then chunk starts.
    assert events and events[0]["type"] == "now_playing" and events[0]["position"] <= hello["position"]
    assert {"type", "position", "prompts", "seed", "alpha", "image", "image_position", "bpm", "key",
            "next_downbeat"} == set(events[0])
    assert events[0]["image_position"] == events[0]["position"]  # the first image is a whole chunk
    announced = [event for event in events if event["type"] == "now_playing"]
    assert all(event["position"] % 225792 == 0 for event in announced)
    beats = [event for event in events if event["type"] == "beat"]  # the beat clock's (test_beat_clock.py)
    assert beats and all(set(beat) == {"type", "position", "bar", "beat", "bpm"} for beat in beats)
    with urllib.request.urlopen(station.http + announced[-1]["image"], timeout=5) as response:
        image = Image.open(io.BytesIO(response.read()))
    assert image.size == (512, 512)


def test_float_format_and_bad_format(station):
    hello, frames, _ = asyncio.run(_collect(station.stream_url + "?format=f32le", 1.0))
    assert hello["format"] == "f32le"
    assert frames and all(frame.samples.dtype == np.float32 and frame.samples.shape == (4410, 1) for _, frame in frames)

    async def bad():
        async with connect(station.stream_url + "?format=mp3"):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(bad())
    assert refused.value.response.status_code == 400


def test_late_joiner_starts_at_the_live_edge_at_once(station):
    async def scenario():
        async with connect(station.stream_url, compression=None) as early:
            await early.recv()
            await asyncio.sleep(0.5)  # past the early listener's own pre-roll (0.3 s)
            latest = 0
            while True:  # drain to the live edge
                try:
                    message = await asyncio.wait_for(early.recv(), 0.01)
                except asyncio.TimeoutError:
                    break
                if isinstance(message, bytes):
                    latest = protocol.decode_frame(message, "s16le").next_position
            asked = time.monotonic()
            async with connect(station.stream_url, compression=None) as late:
                hello = json.loads(await late.recv())
                while isinstance(message := await late.recv(), str):
                    pass
                first_frame_s = time.monotonic() - asked
                return latest, hello, protocol.decode_frame(message, "s16le"), first_frame_s

    latest, hello, first, first_frame_s = asyncio.run(scenario())
    assert first.position == hello["position"]
    # Pre-roll: at most 3 frames (0.3 s) behind the live edge seen by the early listener (the
    # pre-roll's range itself, at the ring's start and later, is test_pacer's).
    assert latest - 3 * 4410 <= hello["position"] <= latest + 2 * 4410
    assert first_frame_s < 0.5


def test_stalled_listener_is_dropped_and_others_unaffected(station):
    def metric(name: str) -> float:
        with urllib.request.urlopen(station.http + "/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name):
                    return float(line.split()[-1])
        return 0.0

    closed_before = metric('riffcast_listeners_closed_total{reason="too_slow"}')
    dropped_before_s = metric('riffcast_output_dropped_seconds_total{output="ws-pcm"}')
    # A listener that completes the handshake and then never reads, with a tiny receive buffer.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", station.port))
    stalled.sendall(
        b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        _, frames, _ = asyncio.run(_collect(station.stream_url, 14.0))  # no polling beside: it would delay reads
    finally:
        stalled.close()
    positions = np.array([frame.position for _, frame in frames])
    assert np.all(np.diff(positions) == 4410), "the listener that keeps up lost frames"
    arrivals = np.array([arrival for arrival, _ in frames[5:]])
    assert np.max(np.diff(arrivals)) < 0.5
    assert metric('riffcast_listeners_closed_total{reason="too_slow"}') >= closed_before + 1
    assert metric("riffcast_frames_dropped_total") > 0
    # behind for 5 s before the close: about 5 s of its audio dropped, counted for its output
    assert 4.0 <= metric('riffcast_output_dropped_seconds_total{output="ws-pcm"}') - dropped_before_s <= 7.0


def test_control_needs_the_token(station):
    async def attempt(url: str, headers=None):
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "status", "id": 1}))
            return json.loads(await ws.recv())

    for url, headers in [
        (station.control_url, None),
        (station.control_url + "?token=wrong-token-123", None),
        (station.control_url, {"Authorization": "Bearer wrong-token-123"}),
        (station.control_url, {"Authorization": f"Basic {TOKEN}"}),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(attempt(url, headers))
        assert refused.value.response.status_code == 401
    by_query = asyncio.run(attempt(f"{station.control_url}?token={TOKEN}"))
    by_header = asyncio.run(attempt(station.control_url, {"Authorization": f"Bearer {TOKEN}"}))
    for status in (by_query, by_header):
        assert status["type"] == "status" and status["id"] == 1
        assert {"prompts", "seed", "denoising", "guidance", "transition_chunks", "lead_s", "listeners",
                "underruns", "position"} <= set(status)
    assert TOKEN not in station.log(), "the token must never be logged"
    assert "GET /control" in station.log()  # requests are logged (--verbose), without the query


BAD_REQUESTS = [
    ("{not json", "not valid JSON"),
    ('{"type": "steer", "id": 7, "prompt": "x", "guidance": NaN}', "guidance must be in [0, 50], got nan"),
    ('{"type": "steer", "id": 7, "prompt": ""}', "must not be empty"),
    ('{"type": "steer", "id": 7, "prompts": [{"text": "a", "weight": -1}]}', "weight"),
    ('{"type": "steer", "id": 7, "prompts": [{"text": "a", "weight": 0}]}', "weight"),
    ('{"type": "steer", "id": 7, "prompt": "a", "seed": 1e400}', "seed"),
    ('{"type": "steer", "id": 7, "prompt": "a", "guidance": -Infinity}', "got -inf"),
    ('{"type": "steer", "id": 7, "prompt": "a", "guidance": 1e308}', "guidance"),
    ('{"type": "steer", "id": 7, "prompt": "a", "seed": 99999999999999999999}', "seed"),
    ('{"type": "steer", "id": 7, "prompt": "a", "seed": "12"}', "seed"),
    ('{"type": "steer", "id": 7, "prompt": "a", "denoising": 1.5}', "denoising"),
    ('{"type": "steer", "id": 7, "prompt": "a", "transition_chunks": 0}', "transition_chunks"),
    ('{"type": "steer", "id": 7, "prompt": "a", "volume": 11}', "unknown field"),
    ('{"type": "steer", "id": 7}', "prompt"),
    ('{"type": "dance", "id": 7}', "unknown request type"),
    ('[1, 2, 3]', "JSON object"),
    ('{"type": "steer", "id": 7, "prompt": "' + "a" * 5000 + '"}', "at most"),
    ('{"type": "steer", "id": 7, "prompts": [{"text": "a", "weight": 1, "extra": {}}]}', "prompts[0]"),
    ('{"type": "steer", "id": 7, "prompts": []}', "1 to 8"),
    ('{"type": "steer", "id": [7], "prompt": "a"}', "id must be"),
    ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
]


def _request_id(text: str):
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return request.get("id") if isinstance(request, dict) and isinstance(request.get("id"), int) else None


def test_bad_control_input_is_answered_and_the_stream_goes_on(station):
    async def scenario():
        replies = []
        async with connect(station.stream_url, compression=None) as listener:
            hello = json.loads(await listener.recv())
            async with connect(f"{station.control_url}?token={TOKEN}", max_size=None) as control:
                for text, _ in BAD_REQUESTS:
                    await control.send(text)
                    replies.append(json.loads(await control.recv()))
                await control.send(b"\x00binary")
                replies.append(json.loads(await control.recv()))
                await control.send(json.dumps({"type": "status", "id": "still-here"}))
                replies.append(json.loads(await control.recv()))
            positions = []
            while len(positions) < 30:
                message = await listener.recv()
                if isinstance(message, bytes):
                    positions.append(protocol.decode_frame(message, "s16le").position)
        return hello, replies, positions

    hello, replies, positions = asyncio.run(scenario())
    for (text, expected), reply in zip(BAD_REQUESTS, replies):
        assert reply["type"] == "error", text[:60]
        assert expected in reply["error"], (text[:60], reply)
        assert reply["id"] == _request_id(text)
    assert replies[-2]["type"] == "error" and "binary" in replies[-2]["error"]
    assert replies[-1] == {**replies[-1], "type": "status", "id": "still-here"}
    assert np.all(np.diff(positions) == 4410)


def test_steer_is_heard_at_the_acknowledged_position(station):
    async def scenario():
        async with connect(station.stream_url, compression=None) as listener:
            await listener.recv()
            async with connect(f"{station.control_url}?token={TOKEN}") as control:
                await control.send(json.dumps({
                    "type": "steer", "id": "s1", "prompts": [{"text": "steel drums", "weight": 2}, {"text": "rain", "weight": 1}],
                    "seed": 42, "transition_chunks": 2,
                }))
                ack = json.loads(await control.recv())
                acked_at = time.monotonic()
                await control.send(json.dumps({"type": "status"}))
                status = json.loads(await control.recv())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                message = await listener.recv()
                if isinstance(message, str):
                    event = json.loads(message)
                    if any(p["text"] == "steel drums" for p in event.get("prompts", [])):
                        return ack, status, event, time.monotonic() - acked_at
        raise AssertionError("the steer never reached now_playing")

    ack, status, event, latency_s = asyncio.run(scenario())
    assert ack["type"] == "ack" and ack["id"] == "s1"
    # The steer's first image; the synth's ack is the first beat at or after its start (≤ a beat later).
    assert 0 <= ack["position"] - event["position"] < 1.5 * 44100, (ack, event)
    assert status["prompts"] == [{"text": "steel drums", "weight": 2.0}, {"text": "rain", "weight": 1.0}]
    assert status["seed"] == 42 and status["transition_chunks"] == 2
    weights = {p["text"]: p["weight"] for p in event["prompts"]}
    assert weights["steel drums"] == pytest.approx(2 * weights["rain"], rel=1e-2)  # rounded to 4 decimals
    assert event["alpha"] == 1 / 16  # the first of 16 windows (64 columns) in a transition of 2 chunks
    # its picture: the newest window's, which starts at or before it (at most its own context earlier)
    assert event["position"] - (512 - 64) * 441 <= event["image_position"] <= event["position"]
    assert latency_s < 20


def test_http_routes(station):
    def get(path: str):
        try:
            with urllib.request.urlopen(station.http + path, timeout=5) as response:
                return response.status, response.headers.get("Content-Type"), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type"), error.read()

    status, kind, body = get("/")
    assert status == 200 and kind.startswith("text/html") and b"<html" in body.lower()
    health = json.loads(get("/healthz")[2])
    assert health["playing"] and health["generator_ok"] and health["status"] == "ok"
    assert health["lead_s"] > 0 and health["underruns"] == 0
    status, kind, body = get("/metrics")
    assert status == 200 and kind.startswith("text/plain")
    for name in ("riffcast_listeners", "riffcast_frames_sent_total", "riffcast_frames_dropped_total",
                 "riffcast_underruns_total", "riffcast_chunk_generation_seconds_count", "riffcast_lead_seconds"):
        assert f"\n{name} " in body.decode() or f"\n{name}{{" in body.decode(), name
    values = {line.split()[0]: float(line.split()[1]) for line in body.decode().splitlines() if line and line[0] != "#"}
    for output in ("ws-pcm", "ws-opus", "mp3", "hls"):  # every output from the start, by the one policy
        assert values[f'riffcast_output_dropped_seconds_total{{output="{output}"}}'] >= 0.0, output
    assert -30.0 <= values["riffcast_loudness_gain_db"] <= 30.0  # a number: the stage is running
    assert 0.0 <= values["riffcast_limiter_active_ratio"] <= 1.0
    assert get("/nothing-here")[0] == 404
    assert get("/static/../pyproject.toml")[0] == 404
    assert get("/chunks/123.png")[0] == 404


def test_sigterm_closes_listeners_with_1001_and_keeps_the_recording(tmp_path):
    recording = tmp_path / "archive.wav"
    running = start_station(tmp_path, "--record", str(recording))

    async def listen_until_closed():
        positions = []
        async with connect(running.stream_url, compression=None) as ws:
            await ws.recv()
            try:
                while True:
                    message = await ws.recv()
                    if isinstance(message, bytes):
                        positions.append(protocol.decode_frame(message, "s16le").next_position)
                        if len(positions) == 20:
                            stopping.append(time.monotonic())
                            running.process.send_signal(signal.SIGTERM)
            except ConnectionClosed as closed:
                return positions, closed.rcvd.code, closed.rcvd.reason

    stopping: list[float] = []
    positions, code, reason = asyncio.run(listen_until_closed())
    assert running.process.wait(5) == 0
    assert time.monotonic() - stopping[0] < 2.5
    assert code == 1001 and "shutting down" in reason
    info = soundfile.info(str(recording))
    assert info.samplerate == 44100 and info.channels == 1
    recorded, _ = soundfile.read(str(recording), dtype="float32")
    # The archive holds everything emitted: at least what this listener got.
    assert recorded.size >= positions[-1]
    assert np.sqrt(np.mean(recorded**2)) > 0.01


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--frame-ms", "5"], "--frame-ms must be from 10 to 1000"),
        (["--control-token", "short"], "at least 8"),
        (["--record", "out.aac"], "unknown audio format '.aac'; end the name in one of .wav"),
        (["--prompt", "a", "--playlist", "p.toml"], "not both"),
        (["--playlist", "missing.toml"], "missing.toml: cannot read the playlist"),
        (["--transition-chunks", "0"], "transition_chunks"),
        (["--loudness", "-60"], "--loudness: loudness target must be from -40 to -5 LUFS"),
        (["--hls-window", "25h"], "--hls-window: at most 24h"),
        (["--play"], "no sound output device"),  # this machine and CI have PortAudio but no device
        (["--play"], "leave out --play"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, arguments, message):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", *arguments],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == (2 if "--record" in arguments else 1)  # a bad file option: exit 2, as every command
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_floods_and_chatter_are_limited_and_the_stream_goes_on(station):
    async def scenario():
        async with connect(station.stream_url, compression=None) as listener:
            await listener.recv()
            async with connect(f"{station.control_url}?token={TOKEN}") as control:
                for _ in range(120):
                    await control.send('{"type": "status"}')
                replies = [json.loads(await control.recv()) for _ in range(120)]
            # A listener that talks: ignored at first, closed with 1008 when it keeps on.
            async with connect(station.stream_url, compression=None) as chatty:
                for _ in range(100):
                    await chatty.send("hello?")
                try:
                    while True:
                        await chatty.recv()
                except ConnectionClosed as closed:
                    chatty_close = (closed.rcvd.code, closed.rcvd.reason)
            # Oversized message (max_size): closed with 1009.
            async with connect(station.stream_url, compression=None) as big:
                await big.send(b"x" * 100_000)
                try:
                    while True:
                        await big.recv()
                except ConnectionClosed as closed:
                    big_close = closed.rcvd.code
            positions = []
            while len(positions) < 20:
                message = await listener.recv()
                if isinstance(message, bytes):
                    positions.append(protocol.decode_frame(message, "s16le").position)
        return replies, chatty_close, big_close, positions

    replies, chatty_close, big_close, positions = asyncio.run(scenario())
    kinds = [reply["type"] for reply in replies]
    assert kinds.count("status") >= 40 and "too many requests" in replies[-1]["error"]
    assert chatty_close == (1008, "listeners must not send data")
    assert big_close == 1009
    assert np.all(np.diff(positions) == 4410)


def test_max_listeners_closes_extra_listeners_with_a_reason(tmp_path):
    async def scenario(running):
        async with connect(running.stream_url) as first, connect(running.stream_url) as second:
            await first.recv()
            await second.recv()
            async with connect(running.stream_url) as third:
                try:
                    await third.recv()
                except ConnectionClosed as closed:
                    return closed.rcvd.code, closed.rcvd.reason
        return None

    with running_station(tmp_path, "--max-listeners", "2") as running:
        code, reason = asyncio.run(scenario(running))
    assert code == 1013 and "station full (2 listeners)" in reason


def test_a_restarted_station_resumes_its_playlist_position_and_seed(tmp_path):
    """Also: the playlist moves on after each entry's duration, to that entry's seed."""
    playlist = tmp_path / "programme.toml"
    playlist.write_text(
        '[[target]]\nprompt = "first programme"\nduration_s = 5\n\n'
        '[[target]]\nprompt = "second programme"\nduration_s = 3600\nseed = 11\n'
    )
    state = tmp_path / "state.json"

    async def status(running):
        async with connect(f"{running.control_url}?token={TOKEN}") as control:
            await control.send('{"type": "status"}')
            return json.loads(await control.recv())

    with running_station(tmp_path, "--playlist", str(playlist), "--state", str(state)) as running:
        assert asyncio.run(status(running))["prompts"] == [{"text": "first programme", "weight": 1.0}]
        deadline = time.monotonic() + 30
        while (now := asyncio.run(status(running)))["prompts"][0]["text"] != "second programme":
            assert time.monotonic() < deadline, now
            time.sleep(0.5)
        assert now["seed"] == 11  # the second entry's own seed
        before = asyncio.run(status(running))
    saved = json.loads(state.read_text())
    assert saved["playlist_index"] == 1 and saved["walk"]["end"]["seed"] == before["seed"]
    with running_station(tmp_path, "--playlist", str(playlist), "--state", str(state)) as running:
        after = asyncio.run(status(running))
        log = running.log()
    assert after["prompts"] == [{"text": "second programme", "weight": 1.0}]
    assert after["seed"] == before["seed"]
    assert "resuming from" in log
    # A damaged state file is kept aside, and the station starts fresh.
    state.write_text("{ half a file")
    with running_station(tmp_path, "--playlist", str(playlist), "--state", str(state)) as running:
        fresh = asyncio.run(status(running))
    assert fresh["prompts"] == [{"text": "first programme", "weight": 1.0}]
    assert (tmp_path / "state.json.damaged").read_text() == "{ half a file"


def _limit_file_size_to_300_kb() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_failing_recording_disk_is_logged_and_the_stream_goes_on(tmp_path):
    recording = tmp_path / "archive.wav"
    running = start_station(tmp_path, "--record", str(recording), preexec_fn=_limit_file_size_to_300_kb)
    try:
        _, frames, _ = asyncio.run(_collect(running.stream_url, 6.0))  # 300 kB of PCM16 ≈ 3.4 s
        health = running.health()
    finally:
        assert running.stop() == 0
    positions = [frame.position for _, frame in frames]
    assert np.all(np.diff(positions) == 4410) and len(frames) >= 55
    assert health["playing"] and health["starved_frames"] == 0
    # The failure is visible: /healthz degraded (still 200: the stream plays) with the reason.
    assert health["status"] == "degraded" and health["generator_ok"]
    assert len(health["problems"]) == 1 and f"recording to {recording} paused" in health["problems"][0]
    assert f"recording to {recording} paused" in running.log()
    info = soundfile.info(str(recording))  # what was written stays a valid file
    assert info.samplerate == 44100 and 2.0 < info.duration < 3.5


@pytest.mark.parametrize(
    ("name", "content", "option", "message"),
    [
        ("noise.png", bytes(range(256)) * 12, "--seed-image", "not a readable image"),
        ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00", "--seed-image", "not a readable image"),
        ("cut.wav", b"RIFF1234WAVEfmt ", "--seed-image", "not a readable audio file"),
        ("bad.toml", b"[[target]]\nprompt = 'x'\nduration_s = ", "--playlist", "not a valid TOML playlist"),
        ("latin1.toml", b"[[target]]\nprompt = '\xe9t\xe9'\nduration_s = 60", "--playlist", "not a valid TOML playlist"),
    ],
)
def test_corrupt_files_are_refused_at_start_up_naming_the_file(tmp_path, name, content, option, message):
    import subprocess
    import sys

    path = tmp_path / name
    path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--port", "0", option, str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr and message in result.stderr
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_connection_that_never_finishes_its_handshake_is_closed(station):
    with socket.create_connection(("127.0.0.1", station.port)) as half_open:
        half_open.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        half_open.settimeout(20)
        started = time.monotonic()
        assert half_open.recv(1024) == b""  # the server hung up
        assert time.monotonic() - started < 15


def test_control_fuzzing_over_the_socket_gets_an_answer_every_time(station):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from websockets.sync.client import connect as connect_sync

    from strategies import json_values, steer_like

    messages = st.one_of(
        steer_like.map(json.dumps), json_values.map(json.dumps), st.text(max_size=300), st.binary(max_size=300)
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(messages)
    def one_request(message):
        with connect_sync(f"{station.control_url}?token={TOKEN}") as control:
            control.send(message)
            reply = json.loads(control.recv(timeout=15))
            assert reply["type"] in ("error", "ack", "status")
            if reply["type"] == "error":
                assert isinstance(reply["error"], str) and reply["error"]

    one_request()
    health = station.health()
    assert health["playing"] and health["generator_ok"] and health["starved_frames"] == 0


def test_without_a_token_one_is_made_and_printed_once_with_the_player_url(tmp_path):
    import re

    with running_station(tmp_path, token=None) as running:
        log = running.log()
        urls = re.findall(r"http://127\.0\.0\.1:\d+/#token=(\S+)", log)
        assert len(urls) == 1 and len(urls[0]) >= 24
        status = asyncio.run(_status(running, urls[0]))
        assert status["type"] == "status"
        health = running.health()
        assert health["tasks"] >= 1 and health["open_files"] > 0
    assert log.count(urls[0]) == 1  # printed once, never logged again


async def _status(running, token: str) -> dict:
    async with connect(f"{running.control_url}?token={token}") as control:
        await control.send('{"type": "status"}')
        return json.loads(await control.recv())
