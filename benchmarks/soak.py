"""Soak: a station with listeners joining and leaving at random for a long time — memory, underruns, gaps, leaks.

What runs. ``riffcast serve --generator synth`` on 127.0.0.1 (port 0, the bound port read from its
log), and one client process (this file, run with ``--client-process``) that keeps ``--listeners``
listeners connected on average. Each listener slot loops: connect to ``/stream`` (websockets client,
``compression=None``), read the ``hello``, read frames for a random lifetime (exponential, mean
``--mean-lifetime-s``, at least 0.2 s), then leave in one of four ways, and a replacement joins at once:

- ``clean``: the WebSocket close handshake;
- ``rst``: the TCP connection reset (``SO_LINGER`` 0, then abort) — no close frame;
- ``fin``: the TCP connection half-closed (FIN) with no close frame, then aborted once the station
  has closed its end (or after 10 s);
- ``stall``: stops reading for 15 s (the station should skip it, then close it as too slow
  after about 5 s behind), then reads again until its connection ends (at most 5 s more). Its
  close code is usually 1006: the station's 1008 close frame sits behind the unsent backlog it
  drops when it gives up on the connection; ``/metrics`` counts the too-slow closes.

``--abrupt-fraction`` of the leaves are ``rst`` or ``fin`` (half each), ``--stall-fraction`` are
``stall``, the rest ``clean``. All of them leave at a random moment of the stream, so the station
sees connections vanish in the middle of its frame writes.

Gaps "for listeners that keep up". Every listener checks that each frame's position is the
previous frame's next position (the first one: the ``hello`` position). Read lag = the time the
client read a frame − the server time in its header (when the station emitted it). The station
skips a listener only when more than 1 s of audio (its backlog) is unsent in the station's
process *on top of* full kernel socket buffers, so the oldest unread frame was then more than
1 s old: a listener whose read lag stayed under 1 s cannot have been skipped legitimately, and
any gap it saw is a defect. Those listeners "kept up"; the others "fell behind" (the client
process, on a shared machine, did not read in time) and their gaps are shown apart. Stalled
listeners are counted on their own (their gaps are the point).

Server side, every ``--sample-every-s`` (10 s by default): ``/proc/<pid>`` — resident memory
(``VmRSS``), open file descriptors (entries of ``fd/``), threads, CPU time — plus ``/healthz``
(listeners, underruns, starved frames, lead, and ``tasks``, the asyncio tasks on the station's
loop, when the station reports it) and ``/metrics`` (frames sent and skipped, listeners closed as
too slow); resident memory alone is read every second. After the run every listener closes
cleanly, the benchmark waits until ``/healthz`` counts none and then 3 s more, and samples again
(and reads RSS for 15 s more).

Memory. The synth generator's RSS jumped by up to ~130 MiB for a second or two at every chunk (about 40–60 MiB since the STFT works in smaller blocks)
(5.12 s) and glibc sometimes keeps such a peak for ten seconds or more, so a single reading says
little. "RSS at t" is the lowest once-a-second reading in the 60 s before t (shorter in short
runs: half the warm-up at most); the peak is shown apart. Growth after warm-up = (RSS at the end
− RSS after ``--warmup-s``) / RSS after warm-up, both with listeners connected; for runs of 10
minutes or more after the warm-up, the least-squares slope of those windowed RSS values (MiB per
hour) is printed too. Goals: growth < 5 %, zero underruns and starved frames, zero gaps for
listeners that kept up, and no leak (after the disconnect: descriptors and tasks within ±3 of the
start, the listeners gauge at 0, threads as at the start).

Peer, measured in the same run: the same station with no listeners (``--no-peer`` leaves it out),
started at the same moment and sampled at the same moments. Its RSS after the same warm-up and at
the end give its own growth; "RSS end / after warm-up" of both stations side by side says how much
of any growth is the station's own (generator, allocator) and how much comes with the listeners.
Both stations and the clients share this machine's cores: the rest of the machine's CPU is shown,
and the lead (audio ready ahead of the playhead) of both, to tell a starved machine from a slow
station. Station log lines that look like errors and each station's exit code after SIGTERM at the
end are reported too.

Run: ``python benchmarks/soak.py`` (30 minutes of soak + about a minute to start and stop);
``python benchmarks/soak.py --seconds 180`` for a 3-minute version (warm-up, lifetimes and the
sampling interval scale down with ``--seconds`` unless given). CI runs a short version through
``tests/test_soak.py`` (40 listeners, 25 s, under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import queue
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

SAMPLE_RATE = 44100
HEADER = struct.Struct("<Qd")  # riffcast/1 frame header: position, server time
KEPT_UP_LAG_S = 1.0  # the station's backlog: a listener reading within this cannot be skipped
RSS_GROWTH_GOAL = 0.05
RSS_EVERY_S = 1.0  # resident memory is read this often (cheap), the rest every --sample-every-s
SLOPE_MIN_SPAN_S = 600.0  # the RSS slope (MiB/h) is shown only for at least this long after the warm-up
RSS_WINDOW_S = 60.0  # "RSS at t" = the lowest reading in the RSS_WINDOW_S before t (shorter for short runs)
FD_TOLERANCE = 3
MIN_LIFETIME_S = 0.2
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
FIN_WAIT_S = 10.0  # a half-closed listener waits this long for the station to close its end
STALL_HOLD_S = 15.0  # a stalled listener reads nothing for this long
STALL_DRAIN_S = 5.0  # then reads until its connection ends, for at most this long
RETRY_AFTER_FAILURE_S = 1.0
LAG_BIN_S = 0.01
LAG_BINS = 3000  # 10 ms bins up to 30 s; later reads fall in the last bin
BASELINE_SETTLE_S = 3.0  # after the station plays, before the start sample (RSS read each second)
DISCONNECT_WAIT_S = 15.0  # for /healthz to count no listener after the clients close
AFTER_DISCONNECT_S = 3.0
AFTER_DISCONNECT_RSS_S = 15.0  # RSS is read this much longer after the last sample, for its floor
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOG_PROBLEM = re.compile(r"Traceback|Error|Exception|exception|never retrieved|destroyed but it is pending")
PORT_LINE = re.compile(r" on http://127\.0\.0\.1:(\d+)/")


# =============================================================================================
# The stations: ``riffcast serve`` in subprocesses, read from /proc and HTTP.
# =============================================================================================

def get_text(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.read().decode()


def prometheus_value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


class StationProcess:
    """``riffcast serve --generator synth`` on 127.0.0.1 (port 0); its log is kept in memory."""

    def __init__(self, name: str) -> None:
        self.name = name
        command = [sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--host", "127.0.0.1",
                   "--port", "0", f"--control-token={secrets.token_urlsafe(16)}", "--max-listeners", "5000",
                   "--station", name]
        env = {k: v for k, v in os.environ.items() if k != "RIFFCAST_CONTROL_TOKEN"}
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env=env)
        self.pid = self.process.pid
        self.port: int | None = None
        self.log_tail: deque[str] = deque(maxlen=40)
        self.problems: list[str] = []  # log lines that look like errors (first 20), marked if after SIGTERM
        self.problem_count = 0
        self.stopping = False
        self.exit_code: int | None = None
        self._port_found = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:  # keep reading the log so the station never blocks on a full pipe
        for line in self.process.stderr:
            self.log_tail.append(line)
            if self.port is None and (match := PORT_LINE.search(line)):
                self.port = int(match.group(1))
                self._port_found.set()
            if LOG_PROBLEM.search(line) or line.startswith("terminate called"):
                self.problem_count += 1
                if len(self.problems) < 20:
                    self.problems.append(("[while stopping] " if self.stopping else "") + line.rstrip())

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict:
        return json.loads(get_text(f"{self.http}/healthz"))

    def metrics(self) -> str:
        return get_text(f"{self.http}/metrics")

    def wait_playing(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._port_found.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)  # the log's last lines
                raise RuntimeError(f"{self.name}: riffcast serve did not start:\n{''.join(self.log_tail)}")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: riffcast serve exited:\n{''.join(self.log_tail)}")
            with contextlib.suppress(OSError, ValueError):
                if self.health().get("playing"):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: riffcast serve did not play in {timeout_s:g} s:\n{''.join(self.log_tail)}")

    def stop(self) -> None:
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        time.sleep(0.2)  # the log's last lines


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (proc(5) fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores)."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class ProcSample:
    rss_kib: int
    fds: int
    threads: int
    cpu_s: float

    @classmethod
    def take(cls, pid: int) -> ProcSample:
        status = {}
        with open(f"/proc/{pid}/status") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                status[key] = value.split()
        return cls(int(status["VmRSS"][0]), len(os.listdir(f"/proc/{pid}/fd")), int(status["Threads"][0]),
                   cpu_seconds(pid))


@dataclass
class StationSample:
    """One station at one moment: /proc, /healthz, /metrics."""

    proc: ProcSample
    listeners: int
    underruns: int
    starved_frames: int
    tasks: int | None  # /healthz "tasks", if the station reports it
    lead_s: float  # audio stitched ahead of the playhead
    frames_sent: float
    frames_dropped: float
    too_slow: float  # listeners closed by the station as too slow

    @classmethod
    def take(cls, station: StationProcess) -> StationSample:
        proc = ProcSample.take(station.pid)  # before the HTTP requests, which open a socket in the station
        health = station.health()
        metrics = station.metrics()
        return cls(proc, int(health["listeners"]), int(health["underruns"]), int(health["starved_frames"]),
                   health.get("tasks"), float(health["lead_s"]),
                   prometheus_value(metrics, "riffcast_frames_sent_total"),
                   prometheus_value(metrics, "riffcast_frames_dropped_total"),
                   prometheus_value(metrics, "riffcast_listeners_closed_total", '{reason="too_slow"}'))


@dataclass
class Sample:
    at_s: float  # seconds since the listeners started joining (negative: before)
    station: StationSample
    idle: StationSample | None  # the peer: the same station with no listener


# =============================================================================================
# The client process: a population of listeners joining and leaving.
# =============================================================================================

LEAVE_MODES = ("clean", "rst", "fin", "stall")


@dataclass
class ClientConfig:
    url: str
    listeners: int
    mean_lifetime_s: float
    abrupt_fraction: float
    stall_fraction: float
    ramp_s: float
    seed: int


@dataclass
class Ear:
    """One listener's connection: what it read."""

    expected: int  # the next position it should read
    frames: int = 0
    gaps: int = 0
    max_lag_s: float = 0.0
    bad: int = 0  # messages that are not riffcast/1
    stalled: bool = False  # reading again after a stall: its lags are left out


@dataclass
class Totals:
    """Everything the client process saw, aggregated over all listeners (JSON-able)."""

    joins: int = 0
    connect_failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    client_errors: int = 0  # exceptions in this benchmark's own listener code
    client_error_examples: list[str] = field(default_factory=list)
    leaves: dict[str, int] = field(default_factory=lambda: {mode: 0 for mode in (*LEAVE_MODES, "final")})
    frames: int = 0
    bad_messages: int = 0
    kept_up: int = 0
    kept_up_with_gaps: int = 0
    kept_up_gaps: int = 0
    fell_behind: int = 0
    fell_behind_with_gaps: int = 0
    fell_behind_gaps: int = 0
    max_lag_s: float = 0.0  # over listeners not stalled on purpose
    lost: dict[str, int] = field(default_factory=dict)  # close code → listeners closed by the station mid-listen
    fin_closed_by_station: int = 0
    fin_not_closed: int = 0
    stalls_closed_by_station: dict[str, int] = field(default_factory=dict)  # close code → count
    stalls_not_closed: int = 0  # still receiving after the hold: the station never closed them
    stalls_interrupted: int = 0  # the run ended during the hold
    stall_gaps: int = 0
    lag_bins: list[int] = field(default_factory=lambda: [0] * LAG_BINS)
    population: list[int] = field(default_factory=list)  # listeners connected, once a second

    def failure(self, error: BaseException) -> None:
        self.connect_failures += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(f"{type(error).__name__}: {error}")

    def add(self, ear: Ear, stalled: bool) -> None:
        self.frames += ear.frames
        self.bad_messages += ear.bad
        if stalled:
            self.stall_gaps += ear.gaps
        elif ear.max_lag_s < KEPT_UP_LAG_S:
            self.kept_up += 1
            self.kept_up_gaps += ear.gaps
            self.kept_up_with_gaps += ear.gaps > 0
        else:
            self.fell_behind += 1
            self.fell_behind_gaps += ear.gaps
            self.fell_behind_with_gaps += ear.gaps > 0
        if not stalled:
            self.max_lag_s = max(self.max_lag_s, ear.max_lag_s)


class Population:
    """Keeps ``config.listeners`` listeners connected, each for a random lifetime (module docstring)."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.totals = Totals()
        self.active = 0
        self.stopping: asyncio.Event | None = None

    async def run(self, stop_requested: asyncio.Event) -> Totals:
        self.stopping = stop_requested
        slots = [asyncio.create_task(self._slot(index)) for index in range(self.config.listeners)]
        sampler = asyncio.create_task(self._count_population())
        await self.stopping.wait()
        await asyncio.wait(slots, timeout=STALL_DRAIN_S + FIN_WAIT_S + 2 * CLOSE_TIMEOUT_S)
        for task in (*slots, sampler):
            task.cancel()
        await asyncio.gather(*slots, sampler, return_exceptions=True)
        return self.totals

    async def _count_population(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.totals.population.append(self.active)

    async def _slot(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1_000_003 + index)
        await self._wait_or_stop(index * self.config.ramp_s / self.config.listeners)
        while not self.stopping.is_set():
            try:
                await self._listen_once(rng)
            except Exception as error:  # noqa: BLE001 — a client bug must show, not shrink the population
                self.totals.client_errors += 1
                if len(self.totals.client_error_examples) < 5:
                    self.totals.client_error_examples.append(f"{type(error).__name__}: {error}")

    async def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until the run stops → whether it stopped."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()

    def _pick_mode(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < self.config.stall_fraction:
            return "stall"
        if draw < self.config.stall_fraction + self.config.abrupt_fraction:
            return rng.choice(("rst", "fin"))
        return "clean"

    async def _listen_once(self, rng: random.Random) -> None:
        from websockets.asyncio.client import connect

        lifetime = max(rng.expovariate(1.0 / self.config.mean_lifetime_s), MIN_LIFETIME_S)
        mode = self._pick_mode(rng)
        try:
            ws = await connect(self.config.url, compression=None, proxy=None, ping_interval=None,
                               open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S, max_size=2**20)
        except Exception as error:  # noqa: BLE001 — any failure to connect is counted and shown
            self.totals.failure(error)
            await self._wait_or_stop(RETRY_AFTER_FAILURE_S)
            return
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
            if hello.get("type") != "hello" or hello.get("protocol") != "riffcast/1":
                raise ValueError(f"first message is not a riffcast/1 hello: {hello!r:.200}")
        except Exception as error:  # noqa: BLE001
            self.totals.failure(error)
            ws.transport.abort()
            await self._wait_or_stop(RETRY_AFTER_FAILURE_S)
            return
        ear = Ear(expected=int(hello["position"]))
        self.totals.joins += 1
        self.active += 1
        try:
            await self._live(ws, ear, lifetime, mode)
        finally:
            self.active -= 1
            ws.transport.abort()  # a no-op once closed; never leaves a socket behind

    async def _live(self, ws, ear: Ear, lifetime: float, mode: str) -> None:
        reader = asyncio.create_task(self._read(ws, ear))
        stopped = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({reader, stopped}, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if reader.done():  # the connection ended while the listener meant to stay
            code = reader.result()
            self.totals.lost[str(code)] = self.totals.lost.get(str(code), 0) + 1
            self.totals.add(ear, stalled=False)
            return
        reader.cancel()  # recv() is safe to cancel: no message is lost
        await asyncio.gather(reader, return_exceptions=True)
        if self.stopping.is_set():
            self.totals.leaves["final"] += 1
            with contextlib.suppress(Exception):
                await ws.close()
            self.totals.add(ear, stalled=False)
            return
        self.totals.leaves[mode] += 1
        if mode == "clean":
            with contextlib.suppress(Exception):
                await ws.close()
        elif mode == "rst":
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
        elif mode == "fin":
            ws.transport.write_eof()  # FIN, no close frame; keep reading until the station closes its end
            ended = await self._read_until_closed(ws, ear, FIN_WAIT_S)
            if ended is None:
                self.totals.fin_not_closed += 1
            else:
                self.totals.fin_closed_by_station += 1
        else:
            await self._stall(ws, ear)
        self.totals.add(ear, stalled=mode == "stall")

    async def _stall(self, ws, ear: Ear) -> None:
        """Read nothing for STALL_HOLD_S (the websockets queue fills, then the kernel buffers), then drain."""
        if await self._wait_or_stop(STALL_HOLD_S):
            self.totals.stalls_interrupted += 1
            return
        ear.stalled = True
        code = await self._read_until_closed(ws, ear, STALL_DRAIN_S)
        if code is None:
            self.totals.stalls_not_closed += 1
            with contextlib.suppress(Exception):
                await ws.close()
        else:
            closed = self.totals.stalls_closed_by_station
            closed[str(code)] = closed.get(str(code), 0) + 1

    async def _read_until_closed(self, ws, ear: Ear, timeout_s: float) -> int | None:
        """Read frames until the connection ends → its close code (1006: no close frame), or None."""
        reader = asyncio.create_task(self._read(ws, ear))
        done, _ = await asyncio.wait({reader}, timeout=timeout_s)
        if done:
            return reader.result()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return None

    async def _read(self, ws, ear: Ear) -> int:
        """Read and check messages until the connection ends → the close code it ended with."""
        from websockets.exceptions import ConnectionClosed

        bins = self.totals.lag_bins
        try:
            while True:
                message = await ws.recv()
                now = time.time()
                if isinstance(message, str):
                    with contextlib.suppress(ValueError):
                        if isinstance(json.loads(message).get("type"), str):
                            continue
                    ear.bad += 1
                    continue
                if len(message) < HEADER.size or (len(message) - HEADER.size) % 2:
                    ear.bad += 1
                    continue
                position, server_time = HEADER.unpack_from(message)
                if position != ear.expected:
                    ear.gaps += 1
                ear.expected = position + (len(message) - HEADER.size) // 2
                ear.frames += 1
                if ear.stalled:
                    continue
                lag = now - server_time
                if lag > ear.max_lag_s:
                    ear.max_lag_s = lag
                bins[min(max(int(lag / LAG_BIN_S), 0), LAG_BINS - 1)] += 1
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return frame.code if frame is not None else 1006


def client_process_main(config_json: str) -> None:
    """Entry of the client process: reads ``stop`` (or EOF) on stdin, writes JSON lines on stdout."""
    config = ClientConfig(**json.loads(config_json))

    async def main() -> Totals:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def watch_stdin() -> None:
            for line in sys.stdin:
                if line.strip() == "stop":
                    break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
        print(json.dumps({"event": "started"}), flush=True)
        return await Population(config).run(stop)

    totals = asyncio.run(main())
    print(json.dumps({"event": "result", "totals": asdict(totals)}), flush=True)


class ClientProcess:
    """This file run with ``--client-process``: stdin takes ``stop``, stdout gives JSON lines."""

    def __init__(self, config: ClientConfig) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--client-process", json.dumps(asdict(config))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.pid = self.process.pid
        self._lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self._lines.put(json.loads(line))
        self._lines.put(None)

    def wait_for(self, event: str, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise RuntimeError(f"the client process exited ({self.process.poll()}) before {event!r}")
            if message.get("event") == event:
                return message
        raise RuntimeError(f"the client process sent no {event!r} in {timeout_s:g} s")

    def stop(self) -> Totals:
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        totals = Totals(**self.wait_for("result", 60.0)["totals"])
        self.process.wait(10)
        return totals

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# =============================================================================================
# One soak run.
# =============================================================================================

@dataclass
class SoakResult:
    settings: dict
    started_utc: str
    host: str
    start: Sample  # the station playing, before any listener
    samples: list[Sample]  # during the run (the last one is the end, listeners still connected)
    warm: Sample  # after the warm-up
    after: Sample  # all listeners gone, AFTER_DISCONNECT_S later
    clients: Totals
    rss_trace: list[tuple[float, int, int | None]]  # (s since the first join, station KiB, peer KiB), every second
    rss_window_s: float
    seconds: float  # from the first join to the end sample
    station_cpu: float  # % of one core over the run
    idle_cpu: float | None
    client_cpu: float
    machine_cpu: float  # all processes, % of one core
    log_problems: list[str]
    log_problem_count: int
    idle_log_problems: list[str] | None
    exit_code: int | None  # the station's, after SIGTERM at the end (0: a clean stop)
    idle_exit_code: int | None
    log_tail: list[str]  # the station's last log lines
    wall_s: float = 0.0

    def underrun_times(self, idle: bool = False) -> list[float]:
        """Sample times at which the underrun counter had gone up since the previous sample."""
        seen, times = None, []
        for sample in [self.start, *self.samples]:
            station = sample.idle if idle else sample.station
            if seen is not None and station.underruns > seen:
                times.append(sample.at_s)
            seen = station.underruns
        return times

    def min_lead_s(self, idle: bool = False) -> float:
        return min((s.idle if idle else s.station).lead_s for s in self.samples)

    @property
    def end(self) -> Sample:
        return self.samples[-1]

    def _rss_in(self, first_s: float, last_s: float, idle: bool) -> list[int]:
        column = 2 if idle else 1
        return [point[column] for point in self.rss_trace if first_s <= point[0] <= last_s and point[column]]

    def rss_floor_kib(self, at_s: float, idle: bool = False, window_s: float | None = None) -> int:
        """The lowest RSS reading in the ``window_s`` (default rss_window_s) up to ``at_s``: the synth
        generator's short per-chunk peaks (about 1.5 s in every 5.12 s, up to +120 MiB) left out."""
        return min(self._rss_in(at_s - (window_s or self.rss_window_s), at_s + 0.5, idle))

    def rss_points_kib(self, idle: bool = False) -> tuple[int, int, int, int]:
        """RSS floors at the start (before any listener), after the warm-up, at the end, after the disconnect."""
        return (self.rss_floor_kib(self.start.at_s, idle, BASELINE_SETTLE_S),
                self.rss_floor_kib(self.warm.at_s, idle), self.rss_floor_kib(self.end.at_s, idle),
                self.rss_after_kib(idle))

    def rss_after_kib(self, idle: bool = False) -> int:
        """The lowest RSS reading from the listeners' departure to ``after_rss_s`` after the last sample."""
        last_s = self.after.at_s + self.settings["after_rss_s"] + 0.5
        return min(self._rss_in(self.after.at_s - AFTER_DISCONNECT_S, last_s, idle))

    def rss_peak_kib(self, idle: bool = False) -> int:
        """The highest RSS reading from the warm-up to the end sample."""
        return max(self._rss_in(self.warm.at_s, self.end.at_s + 0.5, idle))

    def rss_growth(self, idle: bool = False) -> float:
        warm, end = self.rss_floor_kib(self.warm.at_s, idle), self.rss_floor_kib(self.end.at_s, idle)
        return (end - warm) / warm

    def rss_slope_mib_per_hour(self, idle: bool = False) -> float:
        """Least-squares slope of the RSS floors of consecutive windows from the warm-up to the end."""
        points = []
        at = self.warm.at_s
        while at <= self.end.at_s + 0.5:
            points.append((at, self.rss_floor_kib(at, idle) / 1024.0))
            at += self.rss_window_s
        if len(points) < 3:
            return math.nan
        mean_t = sum(t for t, _ in points) / len(points)
        mean_m = sum(m for _, m in points) / len(points)
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        return 3600.0 * sum((t - mean_t) * (m - mean_m) for t, m in points) / spread

    @property
    def underruns(self) -> int:
        return self.end.station.underruns - self.start.station.underruns

    @property
    def starved_frames(self) -> int:
        return self.end.station.starved_frames - self.start.station.starved_frames

    @property
    def listeners_gauge_mean(self) -> float:
        steady = [s.station.listeners for s in self.samples if s.at_s >= self.settings["ramp_s"]]
        return sum(steady) / len(steady) if steady else math.nan

    @property
    def population_mean(self) -> float:
        counts = self.clients.population[math.ceil(self.settings["ramp_s"]):]
        return sum(counts) / len(counts) if counts else math.nan

    def lag_percentile_s(self, fraction: float) -> float:
        """Read lag percentile (upper edge of its 10 ms bin) over every frame of listeners not stalled."""
        bins = self.clients.lag_bins
        total = sum(bins)
        if total == 0:
            return math.nan
        running = 0
        for index, count in enumerate(bins):
            running += count
            if running >= fraction * total:
                return (index + 1) * LAG_BIN_S
        return LAG_BINS * LAG_BIN_S

    def fd_overhead(self) -> tuple[int, int]:
        """min and max of (open fds − listeners) over the samples after the warm-up."""
        values = [s.station.proc.fds - s.station.listeners for s in self.samples if s.at_s >= self.warm.at_s]
        return min(values), max(values)


def default_settings(seconds: float) -> dict:
    """Warm-up, lifetime, sampling and ramp for a run of ``seconds`` (shorter runs scale down)."""
    return {
        "warmup_s": min(120.0, seconds / 3.0),
        "mean_lifetime_s": min(60.0, seconds / 6.0),
        "sample_every_s": min(10.0, max(1.0, seconds / 30.0)),
        "ramp_s": min(10.0, seconds / 10.0),
    }


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as lines:
        for line in lines:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak(*, seconds: float = 1800.0, listeners: int = 200, warmup_s: float | None = None,
         mean_lifetime_s: float | None = None, sample_every_s: float | None = None, ramp_s: float | None = None,
         abrupt_fraction: float = 0.3, stall_fraction: float = 0.02, peer: bool = True, seed: int = 1,
         after_rss_s: float = AFTER_DISCONNECT_RSS_S, progress=lambda line: None) -> SoakResult:
    """Run one soak (module docstring) and return every number; ``progress`` gets a line per sample."""
    defaults = default_settings(seconds)
    settings = {
        "seconds": seconds, "listeners": listeners,
        "warmup_s": defaults["warmup_s"] if warmup_s is None else warmup_s,
        "mean_lifetime_s": defaults["mean_lifetime_s"] if mean_lifetime_s is None else mean_lifetime_s,
        "sample_every_s": defaults["sample_every_s"] if sample_every_s is None else sample_every_s,
        "ramp_s": defaults["ramp_s"] if ramp_s is None else ramp_s,
        "abrupt_fraction": abrupt_fraction, "stall_fraction": stall_fraction, "peer": peer, "seed": seed,
        "after_rss_s": after_rss_s,
    }
    warmup = settings["warmup_s"]
    if not 0 < warmup < seconds:
        raise ValueError("the warm-up must be shorter than the run")
    if abrupt_fraction + stall_fraction > 1:
        raise ValueError("--abrupt-fraction + --stall-fraction must be at most 1")
    window_s = min(RSS_WINDOW_S, warmup / 2.0, (seconds - warmup) / 2.0)
    started_utc = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    host = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at start")
    wall_start = time.monotonic()
    station = StationProcess("soak")
    idle = StationProcess("soak-idle") if peer else None
    clients = None
    trace: list[tuple[float, int, int | None]] = []  # (monotonic s, KiB, KiB); shifted to the first join below
    next_rss = time.monotonic()

    def read_rss() -> None:
        trace.append((time.monotonic(), rss_kib(station.pid), rss_kib(idle.pid) if idle else None))

    def wait_until(when: float) -> None:
        """Sleep until the monotonic time ``when``, reading RSS every RSS_EVERY_S meanwhile."""
        nonlocal next_rss
        while (now := time.monotonic()) < when:
            if now >= next_rss:
                read_rss()
                next_rss = max(next_rss + RSS_EVERY_S, now)
            time.sleep(max(min(when, next_rss) - time.monotonic(), 0.0))

    try:
        station.wait_playing()
        if idle is not None:
            idle.wait_playing()
        baseline_at = time.monotonic()
        wait_until(baseline_at + BASELINE_SETTLE_S)

        def take(at_s: float) -> Sample:
            sample = Sample(at_s, StationSample.take(station), StationSample.take(idle) if idle else None)
            s = sample.station
            progress(f"  t={at_s:7.1f} s  listeners {s.listeners:4d}  RSS {s.proc.rss_kib / 1024:7.1f} MiB  "
                     f"fds {s.proc.fds:4d}  threads {s.proc.threads:2d}  underruns {s.underruns}  "
                     f"starved {s.starved_frames}  lead {s.lead_s:4.1f} s  skipped {s.frames_dropped:g}"
                     + (f"  | peer RSS {sample.idle.proc.rss_kib / 1024:7.1f} MiB  lead {sample.idle.lead_s:4.1f} s"
                        if sample.idle else ""))
            return sample

        start = take(-0.0)
        read_rss()
        clients = ClientProcess(ClientConfig(
            url=f"ws://127.0.0.1:{station.port}/stream", listeners=listeners,
            mean_lifetime_s=settings["mean_lifetime_s"], abrupt_fraction=abrupt_fraction,
            stall_fraction=stall_fraction, ramp_s=settings["ramp_s"], seed=seed,
        ))
        clients.wait_for("started", 60.0)
        t0 = time.monotonic()
        cpu0 = (cpu_seconds(station.pid), cpu_seconds(idle.pid) if idle else 0.0, cpu_seconds(clients.pid),
                machine_busy_seconds())
        every = settings["sample_every_s"]
        moments = sorted({round(k * every, 6) for k in range(1, int(seconds / every) + 1) if k * every < seconds}
                         | {warmup, seconds})
        samples: list[Sample] = []
        warm = None
        for moment in moments:
            wait_until(t0 + moment)
            if clients.process.poll() is not None:
                raise RuntimeError(f"the client process exited early ({clients.process.returncode})")
            samples.append(take(time.monotonic() - t0))
            read_rss()
            if moment == warmup:
                warm = samples[-1]
        elapsed = time.monotonic() - t0
        cpu1 = (cpu_seconds(station.pid), cpu_seconds(idle.pid) if idle else 0.0, cpu_seconds(clients.pid),
                machine_busy_seconds())
        totals = clients.stop()
        deadline = time.monotonic() + DISCONNECT_WAIT_S
        while time.monotonic() < deadline and station.health()["listeners"] > 0:
            wait_until(time.monotonic() + 0.2)
        wait_until(time.monotonic() + AFTER_DISCONNECT_S)
        after = take(time.monotonic() - t0)
        read_rss()
        wait_until(time.monotonic() + after_rss_s)
    finally:
        if clients is not None:
            clients.kill()
        station.stop()
        if idle is not None:
            idle.stop()

    def percent(index: int) -> float:
        return 100.0 * (cpu1[index] - cpu0[index]) / elapsed

    start.at_s = baseline_at + BASELINE_SETTLE_S - t0
    return SoakResult(
        settings=settings, started_utc=started_utc, host=host, start=start, samples=samples, warm=warm,
        after=after, clients=totals, rss_trace=[(t - t0, a, b) for t, a, b in trace], rss_window_s=window_s,
        seconds=elapsed, station_cpu=percent(0), idle_cpu=percent(1) if idle else None, client_cpu=percent(2),
        machine_cpu=percent(3), log_problems=station.problems, log_problem_count=station.problem_count,
        idle_log_problems=idle.problems if idle else None, exit_code=station.exit_code,
        idle_exit_code=idle.exit_code if idle else None, log_tail=list(station.log_tail),
        wall_s=time.monotonic() - wall_start,
    )


# =============================================================================================
# Verdicts and the report.
# =============================================================================================

@dataclass
class Verdict:
    goal: str
    met: bool
    detail: str


def verdicts(result: SoakResult) -> list[Verdict]:
    c = result.clients
    growth = result.rss_growth()
    _, warm_kib, end_kib, _ = result.rss_points_kib()
    short = result.seconds < 1200
    memory = Verdict(
        f"flat memory (< {100 * RSS_GROWTH_GOAL:g} % RSS growth after warm-up)", growth < RSS_GROWTH_GOAL,
        f"{100 * growth:+.2f} % from {warm_kib / 1024:.1f} MiB at {result.warm.at_s:.0f} s to "
        f"{end_kib / 1024:.1f} MiB at {result.end.at_s:.0f} s (lowest reading in the {result.rss_window_s:g} s "
        f"before each)"
        + (f"; slope {result.rss_slope_mib_per_hour():+.1f} MiB/h"
           if result.end.at_s - result.warm.at_s >= SLOPE_MIN_SPAN_S else "")
        + (" (a short run: the goal is for the 30-minute soak)" if short else ""),
    )
    detail = f"{result.underruns} underruns, {result.starved_frames} starved frames during the run"
    if result.underruns:
        detail += (f" (the counter rose by the samples at {', '.join(f'{t:.0f}' for t in result.underrun_times())} s; "
                   f"lowest lead {result.min_lead_s():.1f} s)")
    if result.start.idle is not None:
        idle_underruns = result.end.idle.underruns - result.start.idle.underruns
        detail += f"; the peer with no listener: {idle_underruns}"
        if idle_underruns:
            detail += (f" (by {', '.join(f'{t:.0f}' for t in result.underrun_times(idle=True))} s; lowest lead "
                       f"{result.min_lead_s(idle=True):.1f} s) — the generator was late without any listener too, "
                       "so the machine's load, not the listeners, starved it")
    underruns = Verdict("zero underruns", result.underruns == 0 and result.starved_frames == 0, detail)
    lost = sum(c.lost.values())
    gaps = Verdict(
        "zero gaps for listeners that kept up", c.kept_up_gaps == 0 and lost == 0 and c.bad_messages == 0,
        f"{c.kept_up_gaps} gaps in {c.kept_up_with_gaps} of {c.kept_up} listeners that kept up "
        f"(read lag < {KEPT_UP_LAG_S:g} s); {lost} listeners closed by the station while listening"
        f"{' ' + str(c.lost) if c.lost else ''}; {c.bad_messages} malformed messages; "
        f"{c.fell_behind} listeners fell behind ({c.fell_behind_gaps} gaps), not judged",
    )
    fds_back = abs(result.after.station.proc.fds - result.start.station.proc.fds) <= FD_TOLERANCE
    threads_back = result.after.station.proc.threads == result.start.station.proc.threads
    stalls = c.stalls_not_closed == 0 and c.fin_not_closed == 0
    tasks = ""
    tasks_back = True
    if result.start.station.tasks is not None and result.after.station.tasks is not None:
        tasks_back = abs(result.after.station.tasks - result.start.station.tasks) <= FD_TOLERANCE
        tasks = f", tasks {result.start.station.tasks} → {result.after.station.tasks}"
    leaks = Verdict(
        "no leaks", fds_back and threads_back and result.after.station.listeners == 0 and stalls and tasks_back,
        f"fds {result.start.station.proc.fds} at start → {result.after.station.proc.fds} after the disconnect "
        f"(±{FD_TOLERANCE} allowed), listeners gauge {result.after.station.listeners}, threads "
        f"{result.start.station.proc.threads} → {result.after.station.proc.threads}{tasks}; "
        f"half-closed listeners the station never closed: {c.fin_not_closed}; stalled listeners it never "
        f"closed: {c.stalls_not_closed}",
    )
    return [memory, underruns, gaps, leaks]


def print_report(result: SoakResult) -> None:
    c, s = result.clients, result.settings
    st, end, after = result.start.station, result.end.station, result.after.station
    idle = result.start.idle is not None

    def mib(kib: float) -> str:
        return f"{kib / 1024:.1f}"

    joins_per_s = c.joins / result.seconds
    print(f"\n# Soak — started {result.started_utc}; {result.host}")
    print(f"{s['listeners']} listeners on average, lifetimes exponential with mean {s['mean_lifetime_s']:g} s, "
          f"leaves {100 * (1 - s['abrupt_fraction'] - s['stall_fraction']):.0f} % clean / "
          f"{100 * s['abrupt_fraction']:.0f} % abrupt (RST or FIN, no close frame) / "
          f"{100 * s['stall_fraction']:.0f} % stalled; warm-up {s['warmup_s']:g} s; "
          f"samples every {s['sample_every_s']:g} s; seed {s['seed']}.\n")

    print("| measure | riffcast with listeners |" + (" same station, no listener (peer) |" if idle else ""))
    print("|---|---:|" + ("---:|" if idle else ""))

    def row(name: str, ours: str, peer: str = "") -> None:
        print(f"| {name} | {ours} |" + (f" {peer} |" if idle else ""))

    row("duration (first join → end sample)", f"{result.seconds:.0f} s", "same window")
    row("listeners: mean (/healthz) / mean (clients)",
        f"{result.listeners_gauge_mean:.1f} / {result.population_mean:.1f}", "0")
    row("joins / leaves", f"{c.joins} ({joins_per_s:.2f}/s) / {sum(c.leaves.values()) + sum(c.lost.values())}", "—")
    row("leaves: clean / rst / fin / stalled / at the end",
        " / ".join(str(c.leaves[mode]) for mode in (*LEAVE_MODES, "final")), "—")
    example = f" (e.g. {c.failure_examples[0]})" if c.failure_examples else ""
    row("connect failures", f"{c.connect_failures}{example}", "—")
    if c.client_errors:
        row("errors in the benchmark's own client code", f"{c.client_errors} (e.g. {c.client_error_examples[0]})",
            "—")
    row("frames received", f"{c.frames}", "—")
    row("read lag p50 / p99 / max (read − emitted)",
        f"{1000 * result.lag_percentile_s(0.5):.0f} / {1000 * result.lag_percentile_s(0.99):.0f} / "
        f"{1000 * c.max_lag_s:.0f} ms", "—")
    row("gaps, listeners that kept up", f"{c.kept_up_gaps} in {c.kept_up_with_gaps} of {c.kept_up} listeners", "—")
    row("gaps, listeners that fell behind (not judged)",
        f"{c.fell_behind_gaps} in {c.fell_behind_with_gaps} of {c.fell_behind} listeners", "—")
    row("closed by the station while listening", f"{sum(c.lost.values())}" + (f" {c.lost}" if c.lost else ""), "—")
    row("half-closed (FIN): closed by the station / not in 10 s", f"{c.fin_closed_by_station} / {c.fin_not_closed}",
        "—")
    row("stalled: closed by the station (codes) / not / run ended first",
        f"{sum(c.stalls_closed_by_station.values())} {c.stalls_closed_by_station or ''} / {c.stalls_not_closed} / "
        f"{c.stalls_interrupted}", "—")
    row("frames sent / skipped (/metrics); too-slow closes",
        f"{end.frames_sent - st.frames_sent:g} / {end.frames_dropped - st.frames_dropped:g}; "
        f"{after.too_slow - st.too_slow:g}", "—")
    peer_underruns = (f"{result.end.idle.underruns - result.start.idle.underruns} / "
                      f"{result.end.idle.starved_frames - result.start.idle.starved_frames}") if idle else ""
    row("underruns / starved frames", f"{result.underruns} / {result.starved_frames}", peer_underruns)

    def rss_cells(peer: bool) -> str:
        return " / ".join(mib(kib) for kib in result.rss_points_kib(peer))

    row(f"RSS MiB: start / after warm-up / end / after disconnect (lowest in the {result.rss_window_s:g} s before; "
        f"after disconnect: in the {AFTER_DISCONNECT_S + s['after_rss_s']:g} s after)",
        rss_cells(False), rss_cells(True) if idle else "")
    growth = result.rss_growth()
    idle_growth = result.rss_growth(idle=True) if idle else math.nan
    row("RSS growth after warm-up (end / after warm-up)", f"{100 * growth:+.2f} % ({1 + growth:.4f}×)",
        f"{100 * idle_growth:+.2f} % ({1 + idle_growth:.4f}×)" if idle else "")
    row("RSS peak from warm-up to end (per-chunk generator peaks)", f"{mib(result.rss_peak_kib())}",
        f"{mib(result.rss_peak_kib(idle=True))}" if idle else "")
    if result.end.at_s - result.warm.at_s >= SLOPE_MIN_SPAN_S:
        row("RSS slope after warm-up (floors of consecutive windows)", f"{result.rss_slope_mib_per_hour():+.1f} MiB/h",
            f"{result.rss_slope_mib_per_hour(idle=True):+.1f} MiB/h" if idle else "")
    lo, hi = result.fd_overhead()
    row("open fds: start / end / after disconnect",
        f"{st.proc.fds} / {end.proc.fds} / {after.proc.fds}",
        f"{result.start.idle.proc.fds} / {result.end.idle.proc.fds} / {result.after.idle.proc.fds}" if idle else "")
    row("open fds − listeners after warm-up (min / max)", f"{lo} / {hi}", "—")
    row("threads: start / end / after disconnect", f"{st.proc.threads} / {end.proc.threads} / {after.proc.threads}",
        f"{result.start.idle.proc.threads} / {result.end.idle.proc.threads} / {result.after.idle.proc.threads}"
        if idle else "")
    per_listener = (f" ({(end.tasks - st.tasks) / end.listeners:.2f} per listener at the end)"
                    if st.tasks is not None and end.tasks is not None and end.listeners else "")
    row("asyncio tasks: start / end / after disconnect",
        f"{st.tasks} / {end.tasks} / {after.tasks}{per_listener}" if st.tasks is not None
        else "not reported by /healthz",
        f"{result.start.idle.tasks} / {result.end.idle.tasks} / {result.after.idle.tasks}" if idle else "")
    row("CPU % of one core (server / clients)", f"{result.station_cpu:.0f} / {result.client_cpu:.0f}",
        f"{result.idle_cpu:.0f} / —" if idle else "")
    others = result.machine_cpu - result.station_cpu - result.client_cpu - (result.idle_cpu or 0.0)
    row("rest of the machine, CPU % of one core", f"{max(others, 0.0):.0f} (of {100 * (os.cpu_count() or 1)})", "")
    row("lowest lead (audio ready ahead of the playhead) at the samples", f"{result.min_lead_s():.1f} s",
        f"{result.min_lead_s(idle=True):.1f} s" if idle else "")
    row("station log lines that look like errors", f"{result.log_problem_count}",
        f"{len(result.idle_log_problems)}" if idle else "")
    row("station exit code after SIGTERM at the end", f"{result.exit_code}", f"{result.idle_exit_code}" if idle else "")
    if idle:
        print(f"\nPeer ratio (RSS end / after warm-up): riffcast with listeners {1 + growth:.4f}×, "
              f"same station with no listener {1 + idle_growth:.4f}× — the listeners account for "
              f"{100 * (growth - idle_growth):+.2f} percentage points of growth.")
    for line in result.log_problems[:5]:
        print(f"  station log: {line}")
    for line in (result.idle_log_problems or [])[:5]:
        print(f"  peer log: {line}")
    if result.exit_code != 0:
        print(f"  the station's last log lines (exit code {result.exit_code}):")
        for line in result.log_tail[-8:]:
            print(f"    {line.rstrip()}")

    print(f"\n## Over time (RSS in MiB: the lowest reading in the {result.rss_window_s:g} s before the sample)\n")
    print("| t s | listeners | RSS | fds | threads | underruns | lead s |"
          + (" peer RSS | peer underruns | peer lead s |" if idle else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if idle else ""))
    step = max(1, len(result.samples) // 12)
    shown = [result.start, *result.samples[step - 1::step]]
    if shown[-1] is not result.end:
        shown.append(result.end)
    def rss_at(sample: Sample, peer: bool) -> str:
        if sample is result.after:
            return mib(result.rss_after_kib(peer))
        return mib(result.rss_floor_kib(sample.at_s, peer, BASELINE_SETTLE_S if sample is result.start else None))

    for sample in [*shown, result.after]:
        x = sample.station
        label = {id(result.start): "start", id(result.after): f"{sample.at_s:.0f} (after disconnect)"}.get(
            id(sample), f"{sample.at_s:.0f}")
        print(f"| {label} | {x.listeners} | {rss_at(sample, False)} | {x.proc.fds} | {x.proc.threads} "
              f"| {x.underruns} | {x.lead_s:.1f} |"
              + (f" {rss_at(sample, True)} | {sample.idle.underruns} | {sample.idle.lead_s:.1f} |" if idle else ""))

    print("\n## Verdict\n")
    for verdict in verdicts(result):
        print(f"- {verdict.goal}: {'MET' if verdict.met else 'NOT MET'} — {verdict.detail}")
    print(f"\n(wall time {result.wall_s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1800.0, help="length of the soak (default 1800)")
    parser.add_argument("--listeners", type=int, default=200, help="listeners kept connected on average")
    parser.add_argument("--warmup-s", type=float, help="RSS growth is measured from here (default min(120, seconds/3))")
    parser.add_argument("--mean-lifetime-s", type=float, help="mean listener lifetime (default min(60, seconds/6))")
    parser.add_argument("--sample-every-s", type=float, help="server sampling interval (default min(10, seconds/30))")
    parser.add_argument("--abrupt-fraction", type=float, default=0.3, help="leaves by RST or FIN, no close frame")
    parser.add_argument("--stall-fraction", type=float, default=0.02, help="leaves by stopping to read")
    parser.add_argument("--no-peer", action="store_true", help="leave out the idle station measured alongside")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_process:
        client_process_main(args.client_process)
        return
    print(f"soak: {args.seconds:g} s with {args.listeners} listeners — samples as they come:", flush=True)
    result = soak(seconds=args.seconds, listeners=args.listeners, warmup_s=args.warmup_s,
                  mean_lifetime_s=args.mean_lifetime_s, sample_every_s=args.sample_every_s,
                  abrupt_fraction=args.abrupt_fraction, stall_fraction=args.stall_fraction,
                  peer=not args.no_peer, seed=args.seed, progress=lambda line: print(line, flush=True))
    print_report(result)


if __name__ == "__main__":
    main()
