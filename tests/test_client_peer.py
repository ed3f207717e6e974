"""riffcast_client against a scripted riffcast/1 peer: a real WebSocket server on 127.0.0.1
that sends exactly what a test tells it to (jumps, resends, restarts, silence, wrong hellos)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from http import HTTPStatus
from typing import Any

import numpy as np
import pytest
import soundfile
from websockets.asyncio.server import ServerConnection

from riffcast_client.cli import ListenSession, StatusLine, run_listen
from riffcast_client.output_file import OutputFileError
from riffcast_client.protocol import ProtocolError, now_playing
from riffcast_client.stream import Listener, backoff_delay

from peer import FRAME, RATE, T0, Peer, free_port, listen_args, send_frames, send_hello, signal_at


async def collect(listener: Listener, frames: int, timeout_s: float = 10.0) -> list[tuple[int, np.ndarray, list[dict]]]:
    """The first ``frames`` items of ``listener`` (fewer if it ends)."""

    async def run() -> list[tuple[int, np.ndarray, list[dict]]]:
        items = []
        async with listener:
            async for item in listener:
                items.append(item)
                if len(items) == frames:
                    break
        return items

    return await asyncio.wait_for(run(), timeout_s)


def assert_contiguous(items: list[tuple[int, np.ndarray, list[dict]]], start: int, stream: int = 0) -> None:
    """Positions follow each other from ``start`` and every sample is the stream's."""
    position = start
    for frame_position, samples, _ in items:
        assert frame_position == position
        assert samples.dtype == np.float32 and samples.shape[1] == 1
        assert np.array_equal(samples[:, 0], signal_at(frame_position, samples.shape[0], stream))
        position += samples.shape[0]


# --- the library iterator -----------------------------------------------------------------


def test_frames_arrive_with_their_positions_and_the_events_before_them():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket, position=4000)
        await websocket.send(now_playing(position=3600, prompts=[("jazz", 1.0)], seed=1, alpha=0.0, image="/c/3600.png"))
        await send_frames(websocket, 4000, 5)
        await websocket.send('{"type": "something_new", "x": 1}')
        await send_frames(websocket, 6000, 5)
        await websocket.close(1000)

    with Peer(handler) as peer:
        listener = Listener(peer.url, reconnect=False)
        items = asyncio.run(collect(listener, 100))
    assert len(items) == 10 and listener.frames == 10
    assert_contiguous(items, 4000)
    assert [event["type"] for event in items[0][2]] == ["hello", "now_playing"]
    assert items[0][2][1]["prompts"] == [{"text": "jazz", "weight": 1.0}]
    assert items[5][2] == [{"type": "something_new", "x": 1}]
    assert all(not events for _, _, events in items[1:5] + items[6:])
    assert (listener.gaps, listener.reconnects, listener.hello["station"]) == (0, 0, "peer")
    assert peer.connections == 1


def test_s16le_frames_are_scaled_to_float():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket, sample_format="s16le")
        await send_frames(websocket, 0, 3, sample_format="s16le")
        await websocket.close(1001)

    with Peer(handler) as peer:
        items = asyncio.run(collect(Listener(peer.url, reconnect=False), 100))
    samples = np.concatenate([samples for _, samples, _ in items])[:, 0]
    assert np.max(np.abs(samples - signal_at(0, 3 * FRAME))) <= 0.5 / 32767 + 1e-7


def test_a_jump_forward_is_counted_and_delivered_as_is():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 3)
        await send_frames(websocket, 2000, 3)  # frames 1200–2000 dropped
        await websocket.close()

    with Peer(handler) as peer:
        listener = Listener(peer.url, reconnect=False)
        items = asyncio.run(collect(listener, 100))
    assert [position for position, _, _ in items] == [0, 400, 800, 2000, 2400, 2800]
    assert listener.gaps == 1


def test_after_a_reconnection_audio_is_not_delivered_twice():
    async def handler(websocket: ServerConnection, number: int) -> None:
        if number == 0:
            await send_hello(websocket)
            await send_frames(websocket, 0, 10)  # up to 4000
            await websocket.close(1001, "restarting")
        else:  # pre-roll from 3000 in frames of 300, stamped when sent: 3000…3900 again,
            # 3900–4200 half new
            await send_hello(websocket, position=3000)
            await send_frames(websocket, 3000, 10, size=300, t0=T0 + 5)
            await send_frames(websocket, 6000, 5)

    with Peer(handler) as peer:
        listener = Listener(peer.url, backoff_s=0.01)
        items = asyncio.run(collect(listener, 10 + 7 + 5))
    assert_contiguous(items, 0)
    assert items[10][0] == 4000 and items[10][1].shape[0] == 200  # the new half of [3900, 4200)
    assert [event["type"] for event in items[10][2]] == ["hello"]
    assert (listener.duplicates, listener.gaps, listener.reconnects) == (3, 0, 1)


def test_a_restarted_stream_goes_back_in_position_and_counts_as_a_gap():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        if number == 0:
            await send_frames(websocket, 0, 10)
            await websocket.close(1001)
        else:  # a new process: another stream, positions from zero
            await send_frames(websocket, 0, 10, t0=T0 + 60, stream=1)

    with Peer(handler) as peer:
        listener = Listener(peer.url, backoff_s=0.01)
        items = asyncio.run(collect(listener, 20))
    assert_contiguous(items[:10], 0)
    assert_contiguous(items[10:], 0, stream=1)
    assert (listener.gaps, listener.duplicates, listener.reconnects) == (1, 0, 1)


def test_a_stalled_connection_is_dropped_and_made_again():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        if number == 0:
            await send_frames(websocket, 0, 2)
            await asyncio.wait_for(websocket.wait_closed(), 30)  # open, but silent
        else:
            await send_frames(websocket, 800, 2)

    with Peer(handler) as peer:
        listener = Listener(peer.url, backoff_s=0.01, stall_s=0.3)
        started = time.monotonic()
        items = asyncio.run(collect(listener, 4))
        assert time.monotonic() - started < 3
    assert_contiguous(items, 0)
    assert listener.reconnects == 1 and listener.gaps == 0


def test_retries_with_backoff_until_the_server_is_there():
    port = free_port()

    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 3)

    async def main() -> tuple[list, list[str]]:
        listener = Listener(f"127.0.0.1:{port}", backoff_s=0.05, backoff_max_s=0.2)
        task = asyncio.create_task(collect(listener, 3))
        seen: list[str] = []
        for _ in range(10):  # 1 s with nobody listening on the port
            await asyncio.sleep(0.1)
            seen.append(f"{listener.state}: {listener.last_error}")
        with Peer(handler, port=port):
            items = await task
        return items, seen

    items, seen = asyncio.run(main())
    assert_contiguous(items, 0)
    assert "waiting: connection refused" in seen


def test_a_station_that_holds_its_hello_back_is_tried_again():
    async def handler(websocket: ServerConnection, number: int) -> None:
        if number == 0:  # still starting: accepts, says nothing
            await asyncio.wait_for(websocket.wait_closed(), 10)
            return
        await send_hello(websocket)
        await send_frames(websocket, 0, 2)

    with Peer(handler) as peer:
        listener = Listener(peer.url, backoff_s=0.01, open_timeout_s=0.3)
        items = asyncio.run(collect(listener, 2))
        assert peer.connections == 2
    assert_contiguous(items, 0)


def test_stopping_early_closes_at_once_even_with_frames_queued():
    closed: list[int | None] = []

    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 200)  # far more than the client's queue holds
        await websocket.wait_closed()
        closed.append(websocket.close_code)

    with Peer(handler) as peer:
        started = time.monotonic()
        items = asyncio.run(collect(Listener(peer.url), 3))
        assert time.monotonic() - started < 1.0
        deadline = time.monotonic() + 2
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(items) == 3 and closed == [1000]


def test_a_cancelled_listener_does_not_wait_long_for_a_frozen_server():
    """Ctrl-C and SIGTERM cancel the iteration: the close handshake then waits 0.5 s, not the
    2 s of a normal close, for a server that has stopped reading."""

    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 2)
        websocket.transport.pause_reading()  # frozen: the client's close frame is not read
        await asyncio.sleep(2)
        websocket.transport.resume_reading()
        await asyncio.wait_for(websocket.wait_closed(), 5)

    async def cancel_after_two_frames(url: str) -> float:
        listener = Listener(url)
        task = asyncio.create_task(collect(listener, 1000))
        while listener.frames < 2:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return time.monotonic() - started

    with Peer(handler) as peer:
        assert asyncio.run(cancel_after_two_frames(peer.url)) < 1.5


def test_backoff_doubles_up_to_its_limit_with_jitter():
    for failures, base in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0), (1000, 10.0)]:
        delays = [backoff_delay(failures, 0.5, 10.0) for _ in range(200)]
        assert all(base / 2 <= delay <= base for delay in delays)
        assert max(delays) - min(delays) > base / 10  # not all in step


def test_a_server_that_does_not_speak_riffcast_is_an_error_not_a_reconnect_loop():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await websocket.send('{"type": "welcome", "protocol": "chat/2"}')
        await asyncio.wait_for(websocket.wait_closed(), 5)

    with Peer(handler) as peer:
        started = time.monotonic()
        with pytest.raises(ProtocolError, match="not a hello"):
            asyncio.run(collect(Listener(peer.url, backoff_s=0.01), 1))
        assert time.monotonic() - started < 3 and peer.connections == 1


def test_a_refused_upgrade_is_an_error_not_a_reconnect_loop():
    def not_found(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(HTTPStatus.NOT_FOUND, "no such thing\n")

    with Peer(lambda websocket, number: asyncio.sleep(0), process_request=not_found) as peer:
        with pytest.raises(ProtocolError, match="HTTP 404"):
            asyncio.run(collect(Listener(peer.url.replace("/stream", "/nothing"), backoff_s=0.01), 1))


@contextlib.contextmanager
def raw_tcp_server(port: int, reply: bytes, connections: int = 1):
    """Answers the first ``connections`` TCP connections on ``port`` with ``reply``, then
    closes them and stops listening."""
    server = socket.create_server(("127.0.0.1", port))

    def serve_some() -> None:
        with server:
            for _ in range(connections):
                client, _ = server.accept()
                with client:
                    client.recv(4096)
                    client.sendall(reply)

    thread = threading.Thread(target=serve_some, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(10)


def test_a_server_that_is_not_http_is_an_error():
    port = free_port()
    with raw_tcp_server(port, b"SSH-2.0-OpenSSH_9.6\r\n"):
        with pytest.raises(ProtocolError, match="does not speak WebSocket"):
            asyncio.run(collect(Listener(f"ws://127.0.0.1:{port}/stream", backoff_s=0.01), 1))


def test_a_connection_closed_during_the_handshake_is_tried_again():
    port = free_port()

    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 2)

    async def main() -> tuple[list, str | None]:
        listener = Listener(f"ws://127.0.0.1:{port}/stream", backoff_s=0.05, backoff_max_s=0.1)
        task = asyncio.create_task(collect(listener, 2))
        with raw_tcp_server(port, b""):  # a server going away: accepts, then closes
            while listener.last_error is None:
                await asyncio.sleep(0.01)
        first_error = listener.last_error
        with Peer(handler, port=port):
            return await task, first_error

    items, first_error = asyncio.run(main())
    assert first_error == "connection closed during the handshake"
    assert_contiguous(items, 0)


def test_without_reconnect_an_abnormal_close_is_an_error():
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 1)
        await websocket.close(1011, "producer crashed")

    with Peer(handler) as peer:
        with pytest.raises(ConnectionError, match="1011: producer crashed"):
            asyncio.run(collect(Listener(peer.url, reconnect=False), 100))


# --- the command, in process --------------------------------------------------------------


def test_listen_records_exactly_the_duration_with_gaps_and_a_reconnection_on_its_time_line(tmp_path, capsys):
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        if number == 0:
            await websocket.send(now_playing(position=0, prompts=[("rain", 1.0)], seed=1, alpha=0.0, image="/c/0.png"))
            await send_frames(websocket, 0, 5)  # 0–2000
            await send_frames(websocket, 2400, 4)  # 2000–2400 dropped; up to 4000
            await websocket.close(1001)
        else:  # the same stream, 1000 samples later
            await send_frames(websocket, 5000, 20)

    out = tmp_path / "out.wav"
    with Peer(handler) as peer:
        code = run_listen(listen_args(peer.url, "--no-play", "--record", str(out), "--duration", "1.0", "--format", "f32le"))
    assert code == 0
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == RATE and audio.shape == (8000,)
    expected = signal_at(0, 8000)
    expected[2000:2400] = 0.0
    expected[4000:5000] = 0.0
    assert np.max(np.abs(audio - expected)) <= 1 / 32767
    err = capsys.readouterr().err
    assert "connected to peer" in err and err.count("filled with silence") == 2
    assert "recorded 1.00 s" in err and "gaps 2, reconnects 1" in err


def test_listen_fills_the_time_a_restarted_station_was_away(tmp_path, capsys):
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        if number == 0:
            await send_frames(websocket, 0, 5)  # 0–2000, emitted until T0 + 0.25 s
            await websocket.close(1001, "shutting down")
        else:  # restarted 0.25 s later: a new stream from zero
            await send_frames(websocket, 0, 20, t0=T0 + 0.5, stream=1)

    out = tmp_path / "out.wav"
    with Peer(handler) as peer:
        assert run_listen(listen_args(peer.url, "--no-play", "--record", str(out), "--duration", "1", "--format", "f32le")) == 0
    audio, _ = soundfile.read(out, dtype="float32")
    expected = np.concatenate([signal_at(0, 2000), np.zeros(2000, np.float32), signal_at(0, 4000, stream=1)])
    assert np.max(np.abs(audio - expected)) <= 1 / 32767
    err = capsys.readouterr().err
    assert "connection lost: closed by the server (code 1001: shutting down)" in err
    assert "a new stream (position 0) continues the file at 0.50 s, after 0.25 s of silence" in err


def test_listen_gives_up_after_the_duration_when_nothing_arrives(tmp_path):
    out = tmp_path / "out.wav"
    started = time.monotonic()
    with pytest.raises(OSError, match="no audio from .* in 0.5 s: connection refused"):
        url = f"ws://127.0.0.1:{free_port()}/stream"
        run_listen(listen_args(url, "--no-play", "--record", str(out), "--duration", "0.5", "--quiet"))
    assert time.monotonic() - started < 3
    assert not out.exists()


def test_a_name_lookup_that_hangs_does_not_hold_ctrl_c(monkeypatch):
    """Ctrl-C cancels the session's task; asyncio.run then returns at once, though the loop's
    lookup of the station's name still hangs (a DNS server that does not answer): it was 17 s."""
    looking_up, release = threading.Event(), threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def hanging_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "station.invalid":
            return real_getaddrinfo(host, *args, **kwargs)
        looking_up.set()
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    session = ListenSession(
        Listener("ws://station.invalid:8000/stream"), recorder=None, play=False, device=None,
        status=StatusLine(io.StringIO(), quiet=True), duration_s=None,
    )

    async def interrupted() -> None:
        task = asyncio.create_task(session.run())
        while not looking_up.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # what Ctrl-C does to asyncio.run's task
        await asyncio.gather(task, return_exceptions=True)

    started = time.monotonic()
    try:
        asyncio.run(interrupted())
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_listen_writes_raw_pcm_to_stdout_with_gaps_as_silence(capsysbinary):
    async def handler(websocket: ServerConnection, number: int) -> None:
        await send_hello(websocket)
        await send_frames(websocket, 0, 5)  # 0–2000
        await send_frames(websocket, 2400, 20)  # 2000–2400 dropped

    with Peer(handler) as peer:
        code = run_listen(listen_args(peer.url, "--output", "-", "--duration", "0.5", "--format", "f32le"))
    assert code == 0  # no sound card needed: --output - does not play
    captured = capsysbinary.readouterr()
    pcm = np.frombuffer(captured.out, dtype="<i2")
    expected = signal_at(0, 4000)
    expected[2000:2400] = 0.0
    assert pcm.shape == (4000,) and np.max(np.abs(pcm / 32767 - expected)) <= 1 / 32767
    assert b"received 0.50 s" in captured.err and b"gaps 1" in captured.err


def test_listen_refuses_play_and_no_play_together():
    with pytest.raises(ValueError, match="not both"):
        run_listen(listen_args(f"ws://127.0.0.1:{free_port()}/stream", "--play", "--no-play"))


def test_listen_refuses_an_existing_recording_before_connecting(tmp_path):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    with pytest.raises(OutputFileError, match="--force"):
        run_listen(listen_args(f"ws://127.0.0.1:{free_port()}/stream", "--no-play", "--record", str(out)))
    assert out.read_bytes() == b"precious"


def test_status_line_redraws_in_place_on_a_terminal_and_prints_lines_otherwise():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    status = StatusLine(terminal)
    status.show("▶ jazz │ buffer 200 ms")
    status.log("connected")
    status.show("▶ jazz │ buffer 180 ms")
    status.finish()
    assert terminal.getvalue() == (
        "\r\x1b[K▶ jazz │ buffer 200 ms" "\r\x1b[Kconnected\n▶ jazz │ buffer 200 ms" "\r\x1b[K▶ jazz │ buffer 180 ms\n"
    )
    log = io.StringIO()
    status = StatusLine(log)
    for level in range(5):
        status.show(f"buffer {level}")  # within 5 s: only the first is printed
    status.log("lost")
    assert log.getvalue() == "buffer 0\nlost\n"
    quiet = io.StringIO()
    StatusLine(quiet, quiet=True).show("x")
    assert quiet.getvalue() == ""
