"""Faults of the Icecast source client (issue 20, items 2 and 3).

Fake Icecast servers on 127.0.0.1 (ephemeral ports, on the test's own event loop) that never
read, close at once, trickle or flood their answer head, send an over-long line, garbage, or
data back non-stop: each is said in one log line per change of state, retried with a growing
back-off, its socket aborted, and shown in the source's state (``/healthz``, ``/metrics``). The
policy (back-off, log decisions, the not-reading rule, the answer reader) is tested with numbers
only. Most tests shrink the limits (``FAST``); one meets a server that stops reading at the real
defaults, and one runs a station whose ``/healthz`` and ``/metrics`` show each mount.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
from typing import Callable

import pytest

from riffcast.delivery.backlog import BacklogPolicy, Lag, Verdict
from riffcast.delivery.codecs import Codec, Packet
from riffcast.delivery.icecast import IcecastTarget, Reply, ReplyReader
from riffcast.delivery.icecast_link import BACKLOG, LinkLimits, LinkStatus, stopped_reading
from riffcast.delivery.icecast_source import IcecastSource
from riffcast.delivery.outputs import EncodedOutputs
from riffcast.ops.backoff import Backoff
from riffcast.ops.metrics import ListenerCounts, StationMetrics

FAST = LinkLimits(retry_first_s=0.05, retry_max_s=0.8, stable_s=2.0, connect_timeout_s=1.0,
                  answer_timeout_s=0.3, write_every_s=0.05, backlog=BacklogPolicy(backlog_s=4.0, stall_close_s=0.2))
OK_HEAD = b"HTTP/1.0 200 OK\r\n\r\n"
LOGGER = "riffcast.icecast"


# -- the policy, sans I/O ------------------------------------------------------------------------
def test_backoff_doubles_to_its_cap_and_restarts_only_after_a_stable_connection():
    backoff = Backoff(first_s=1.0, max_s=60.0, stable_s=30.0)
    assert [backoff.delay_s(streamed_s=0.0) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay_s(streamed_s=29.9) == 60  # a connection that dropped early resets nothing
    assert backoff.delay_s(streamed_s=30.0) == 1  # one that streamed for 30 s does
    assert backoff.delay_s(streamed_s=0.0) == 2


def test_a_failure_is_said_once_while_it_lasts_and_a_change_is_said_at_once():
    status = LinkStatus("icecast:/live.mp3")
    assert status.state(0.0).problem_line() is None  # the first try under way: not a problem yet
    said = [status.failed("refused (401)", 1.0), status.failed("refused (401)", 2.0), status.failed("refused (401)", 4.0)]
    assert said == [True, False, False]
    state = status.state(13.0)
    assert (state.up, state.reconnects, state.down_for_s) == (False, 3, 12.0)
    assert state.problem_line() == "icecast:/live.mp3: down for 12 s (refused (401))"
    assert status.failed("cannot reach", 20.0) is True  # another reason
    assert status.connected(21.0) is True and status.streamed_s(31.0) == 10.0
    status.sent(1000)
    state = status.state(31.0)
    assert (state.up, state.problem, state.down_for_s, state.bytes_sent, state.problem_line()) == (True, None, 0.0, 1000, None)
    assert status.failed("Icecast closed the connection", 32.0) is True  # up → down is a change
    assert status.state(33.0).down_for_s == 1.0 and status.streamed_s(33.0) == 0.0


def test_a_mount_is_behind_past_four_seconds_of_its_audio_unacknowledged_and_given_up_two_seconds_later():
    lag = Lag(BACKLOG, 16_000)  # an MP3 mount's bytes per second
    assert lag.judge(64_000, 0.0) is Verdict.SEND
    assert [lag.judge(64_001, now_s) for now_s in (1.0, 2.0, 3.0)] == [Verdict.DROP] * 3
    assert lag.judge(64_001, 3.01) is Verdict.CLOSE
    assert lag.judge(10, 3.5) is Verdict.SEND and lag.judge(64_001, 4.0) is Verdict.DROP  # caught up: a new start
    assert "stopped reading" in stopped_reading(BACKLOG)


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_answer_reader_accepts_icecast_answers_however_they_arrive(chunk):
    for answer in (b"HTTP/1.1 100 Continue\r\nServer: Icecast 2.4.4\r\nContent-Length: 0\r\n\r\n", OK_HEAD):
        reader = ReplyReader()
        states = [reader.receive(answer[i : i + chunk]) for i in range(0, len(answer), chunk)]
        assert states[-1] is Reply.ACCEPTED and set(states[:-1]) <= {Reply.WAITING}
        assert reader.receive(b"HTTP/1.0 200 OK\r\n\r\n") is Reply.ACCEPTED  # a little after it is tolerated


@pytest.mark.parametrize("answer, words", [
    (b"HTTP/1.0 401 Authentication Required\r\n", "the password was refused (401)"),
    (b"HTTP/1.0 403 Forbidden\r\n", "the mount is in use or not allowed (403)"),
    (b"HTTP/1.0 500 Internal Server Error\r\n", "Icecast answered 'HTTP/1.0 500 Internal Server Error'"),
    (b"SSH-2.0-OpenSSH_9.2p1\r\n", "the answer is not HTTP: 'SSH-2.0-OpenSSH_9.2p1\\r\\n'"),
    (b"\x16\x03\x01\x02\x00", "the answer is not HTTP"),  # no line end needed to know
    (b"HTTP/1.0 200 OK\r\nX-Long: " + b"a" * 70_000, "an answer line over 8192 bytes"),
    (b"HTTP/1.0 200 " + b"O" * 9_000 + b"\r\n\r\n", "an answer line over 8192 bytes"),
    (b"HTTP/1.0 200 OK\r\n" + b"X-More: 1\r\n" * 200, "an answer head of over 100 lines"),
    (OK_HEAD + b"\0" * 5000, "over 4096 bytes after its answer"),
])
def test_the_answer_reader_fails_at_once_and_in_words(answer, words):
    reader = ReplyReader()
    assert reader.receive(answer) is Reply.FAILED and words in reader.problem


# -- fake Icecast servers ------------------------------------------------------------------------
class _FakeConnection(asyncio.Protocol):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.head = b""
        self.answered = False
        self.received = 0  # bytes after the request head

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.answered:
            self.received += len(data)
            return
        self.head += data
        if b"\r\n\r\n" in self.head:
            self.answered = True
            if self.head.startswith(b"GET /admin/metadata"):  # an MP3 mount's title
                self.transport.write(OK_HEAD)
                self.transport.close()
                return
            self.fake.arrivals.append(time.monotonic())
            self.fake.connections.append(self)
            self.fake.behave(self)


class Fake:
    """A fake Icecast on 127.0.0.1 answering each source connection with ``behave(connection)``."""

    def __init__(self, behave: Callable[[_FakeConnection], None]) -> None:
        self.behave = behave
        self.arrivals: list[float] = []  # monotonic times of the sources' requests
        self.connections: list[_FakeConnection] = []
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Fake:
        self.server = await asyncio.get_running_loop().create_server(lambda: _FakeConnection(self), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.tasks:
            task.cancel()
        for connection in self.connections:
            connection.transport.abort()
        self.server.close()


def never_reads(connection: _FakeConnection) -> None:
    connection.transport.write(OK_HEAD)
    connection.transport.pause_reading()


def closes_at_once(connection: _FakeConnection) -> None:
    connection.transport.write(OK_HEAD)
    connection.transport.close()


def sends_garbage(connection: _FakeConnection) -> None:
    connection.transport.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")


def sends_an_over_long_line(connection: _FakeConnection) -> None:
    connection.transport.write(b"HTTP/1.0 200 OK\r\nX-Padding: " + b"a" * 70_000 + b"\r\n\r\n")


def sends_header_lines_without_end(connection: _FakeConnection) -> None:
    connection.transport.write(b"HTTP/1.0 200 OK\r\n" + b"X-More: 1\r\n" * 5_000)


def trickles_header_lines(connection: _FakeConnection) -> None:
    async def trickle() -> None:
        connection.transport.write(b"HTTP/1.0 200 OK\r\n")
        while not connection.transport.is_closing():
            await asyncio.sleep(0.1)
            connection.transport.write(b"X-Slow: 1\r\n")
    connection.fake.tasks.append(asyncio.get_running_loop().create_task(trickle()))


def floods_data_back(connection: _FakeConnection) -> None:
    async def flood() -> None:
        connection.transport.write(OK_HEAD)
        while not connection.transport.is_closing():
            connection.transport.write(b"\0" * 65_536)
            await asyncio.sleep(0)
    connection.fake.tasks.append(asyncio.get_running_loop().create_task(flood()))


def reads_everything(connection: _FakeConnection) -> None:
    connection.transport.write(OK_HEAD)


def _target(port: int, mount: str = "/live.mp3") -> IcecastTarget:
    return IcecastTarget("127.0.0.1", port, mount, "source", "hackme", Codec.MP3)


async def _feed(source: IcecastSource, bytes_per_s: float) -> None:
    """Packets at ``bytes_per_s``, one every 0.05 s (each may begin a stream, for a source that asks
    for a new one on connecting)."""
    loop = asyncio.get_running_loop()
    start_s, sent = loop.time(), 0
    while True:
        await asyncio.sleep(0.05)
        due = int((loop.time() - start_s) * bytes_per_s)
        source.feed([Packet(sent, b"\xff" * (due - sent), starts_stream=True)], "calm piano")
        sent = due


async def _run_against(behave, seconds: float, *, limits: LinkLimits = FAST, bytes_per_s: float = 400_000,
                       on_connect=None) -> tuple[Fake, IcecastSource]:
    """A source fed ``bytes_per_s`` against a fake Icecast for ``seconds``."""
    async with Fake(behave) as fake:
        source = IcecastSource(_target(fake.port), station="test", limits=limits, on_connect=on_connect)
        source.start()
        feeder = asyncio.get_running_loop().create_task(_feed(source, bytes_per_s))
        await asyncio.sleep(seconds)
        feeder.cancel()
        await source.stop()
        return fake, source


def _lines(caplog, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= level]


def _gaps(arrivals: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(arrivals)]


@pytest.mark.parametrize("behave, words", [
    (sends_garbage, "the answer is not HTTP: 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n' (is this an Icecast server?)"),
    (sends_an_over_long_line, "Icecast sent an answer line over 8192 bytes"),
    (sends_header_lines_without_end, "Icecast sent an answer head of over 100 lines"),
    (trickles_header_lines, "no whole answer from Icecast within 0.3 s"),
])
def test_a_bad_answer_is_said_once_and_retried_with_a_growing_backoff(caplog, behave, words):
    caplog.set_level(logging.INFO, LOGGER)
    fake, source = asyncio.run(_run_against(behave, 2.0))
    assert len(fake.arrivals) >= 4  # retried, and not stuck …
    assert _gaps(fake.arrivals)[-1] - _gaps(fake.arrivals)[0] > 0.25  # … less and less often
    assert _lines(caplog) == [f"icecast {_target(fake.port).shown}: {words}; retrying in 0.05 s, then up to every 0.8 s"]
    state = source.state
    assert not state.up and words in state.problem
    assert len(fake.arrivals) - 1 <= state.reconnects <= len(fake.arrivals)  # the last try may be under way
    assert state.bytes_sent == 0


def test_a_server_that_closes_at_once_is_retried_less_and_less_often(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    fake, source = asyncio.run(_run_against(closes_at_once, 2.0))
    gaps = _gaps(fake.arrivals)
    assert 4 <= len(fake.arrivals) <= 8, gaps  # 0.05, 0.1, 0.2, 0.4, 0.8 s …: not every 0.05 s
    assert gaps[-1] > 4 * gaps[0], gaps
    lines = _lines(caplog)
    assert len(lines) <= 2 * len(fake.arrivals)  # connected / closed: one line per change of state
    assert any("Icecast closed the connection; retrying" in line for line in lines), lines
    assert len(fake.arrivals) - 1 <= source.state.reconnects <= len(fake.arrivals)


def test_a_server_that_stops_reading_is_dropped_at_once_and_retried(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    fake, source = asyncio.run(_run_against(never_reads, 2.0))
    assert len(fake.arrivals) >= 3, fake.arrivals  # each connection given up within a second, none waited on
    assert _gaps(fake.arrivals)[0] < 1.0
    lines = _lines(caplog, logging.WARNING)
    assert lines and all("Icecast stopped reading (over 4 s of audio unacknowledged for over 0.2 s); retrying" in line for line in lines)
    state = source.state
    assert state.reconnects >= 2 and state.bytes_sent > 0


def test_data_sent_back_non_stop_ends_the_link_without_a_busy_loop(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    cpu_s, wall_s = time.process_time(), time.monotonic()
    fake, _ = asyncio.run(_run_against(floods_data_back, 2.0))
    cpu_s, wall_s = time.process_time() - cpu_s, time.monotonic() - wall_s
    assert cpu_s < 0.5 * wall_s, (cpu_s, wall_s)  # the fake server's flood included
    assert 3 <= len(fake.arrivals) <= 8
    assert any("Icecast sent over 4096 bytes after its answer" in line for line in _lines(caplog, logging.WARNING))


def test_an_unexpected_error_is_said_once_with_its_traceback_and_retried(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    calls = []

    def on_connect() -> None:
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("the encoder is gone")

    fake, source = asyncio.run(_run_against(reads_everything, 1.5, on_connect=on_connect))
    failures = [r for r in caplog.records if r.name == LOGGER and "unexpected error" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "(RuntimeError: the encoder is gone)" in failures[0].getMessage()
    assert len(calls) >= 4 and source.state.bytes_sent > 0
    assert sum(connection.received for connection in fake.connections) > 0  # streaming once the error cleared


def test_a_server_that_stops_reading_is_found_within_20_s_at_the_real_defaults(caplog):
    """128 kbit/s fed in real time, the real limits: the server's receive buffer fills, then 4 s."""
    caplog.set_level(logging.INFO, LOGGER)

    async def scenario() -> tuple[float, IcecastSource]:
        async with Fake(never_reads) as fake:
            source = IcecastSource(_target(fake.port), station="test")
            source.start()
            feeder = asyncio.get_running_loop().create_task(_feed(source, _target(fake.port).bytes_per_s))
            while not fake.arrivals:
                await asyncio.sleep(0.01)
            while source.state.up or source.state.problem is None:
                if time.monotonic() > fake.arrivals[0] + 22:
                    break
                await asyncio.sleep(0.1)
            found_after_s = time.monotonic() - fake.arrivals[0]
            feeder.cancel()
            await source.stop()
            return found_after_s, source

    found_after_s, source = asyncio.run(scenario())
    assert found_after_s < 20.0 and "Icecast stopped reading" in source.state.problem, (found_after_s, source.state)
    assert len(_lines(caplog, logging.WARNING)) == 1


# -- what /healthz and /metrics show -------------------------------------------------------------
def test_each_mounts_state_is_a_problem_line_and_labelled_metrics():
    async def scenario() -> tuple[tuple[str, ...], bytes]:
        async with Fake(reads_everything) as good, Fake(sends_garbage) as bad:
            outputs = EncodedOutputs("test", BacklogPolicy(1.0, 5.0))
            metrics = StationMetrics()
            metrics.watch_outputs(outputs.health, lambda: ListenerCounts(0, 0, {}), outputs.encoder_cpu_s, lambda: 0)
            sources = [IcecastSource(_target(good.port), station="test", limits=FAST, output="icecast:/live.mp3"),
                       IcecastSource(_target(bad.port, "/b.mp3"), station="test", limits=FAST, output="icecast:/b.mp3")]
            outputs.icecast.extend(sources)
            for source in sources:
                source.start()
            feeder = asyncio.get_running_loop().create_task(_feed(sources[0], 16_000))
            await asyncio.sleep(1.5)
            problems, text = outputs.problems(), metrics.render()
            feeder.cancel()
            for source in sources:
                await source.stop()
            return problems, text

    problems, text = asyncio.run(scenario())
    assert len(problems) == 1 and re.fullmatch(r"icecast:/b\.mp3: down for [12] s \(the answer is not HTTP: .*\)", problems[0])
    text = text.decode()
    assert 'riffcast_output_up{output="icecast:/live.mp3"} 1.0' in text
    assert 'riffcast_output_up{output="icecast:/b.mp3"} 0.0' in text
    assert 'riffcast_output_reconnects_total{output="icecast:/live.mp3"} 0.0' in text
    assert float(re.search(r'riffcast_output_reconnects_total\{output="icecast:/b.mp3"\} (\S+)', text).group(1)) >= 3
    assert float(re.search(r'riffcast_output_sent_bytes_total\{output="icecast:/live.mp3"\} (\S+)', text).group(1)) > 10_000


@pytest.mark.system  # starts a station
def test_a_station_shows_each_mount_in_healthz_and_metrics(tmp_path):
    from station import free_port, running_station

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    held: dict = {}

    async def serve() -> None:
        async with Fake(reads_everything) as fake:
            held["fake"], held["stop"] = fake, asyncio.Event()
            ready.set()
            await held["stop"].wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    port = held["fake"].port
    up = f"icecast://source:hackme@127.0.0.1:{port}/live.mp3"
    down = f"icecast://source:x@127.0.0.1:{free_port()}/away.mp3"
    try:
        with running_station(tmp_path, "--icecast", up, "--icecast", down) as station:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                health, metrics = station.health(), station.metrics()
                sent = re.search(r'riffcast_output_sent_bytes_total\{output="icecast:/live.mp3"\} [1-9]', metrics)
                if sent and health["problems"]:
                    break
                time.sleep(0.25)
            assert health["status"] == "degraded", health
            assert len(health["problems"]) == 1 and health["problems"][0].startswith("icecast:/away.mp3: down for ")
            assert "cannot reach 127.0.0.1" in health["problems"][0] and "/live.mp3" not in health["problems"][0]
            assert 'riffcast_output_up{output="icecast:/live.mp3"} 1.0' in metrics
            assert 'riffcast_output_up{output="icecast:/away.mp3"} 0.0' in metrics
            assert sent and held["fake"].connections[0].received > 0
            assert "riffcast_problems 1.0" in metrics
    finally:
        loop.call_soon_threadsafe(held["stop"].set)
        thread.join(5)
        loop.close()
