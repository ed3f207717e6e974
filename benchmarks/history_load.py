"""``/history`` under load: many requests a second while listeners are attached — their gaps, and
the latency of ``/history`` against ``/healthz`` asked in the same moments (the peer).

A synth station starts with ``--as-run`` beside an earlier part of ``--earlier-hours`` of as-run
lines (a station that has aired that long: its memory holds them and every ``/history`` merges
them; 3 h fills it), a steer every minute with a 4-image transition. ``--listeners`` WebSocket
listeners connect from their own process (``fanout_clients.py``: frames and gaps by position)
before the window; then, for ``--seconds``, this process asks the player's question
(``/history?since=<an hour ago>&limit=60``) ``--rate`` times a second, open loop on a fixed
schedule, a new connection each, and ``/healthz`` a tenth as often. Latency runs from the moment a
request was due to the last byte of its answer (a late request counts its lateness: no
coordinated omission), so the client's own delays count against riffcast, and against the peer
just the same.

Run: ``python benchmarks/history_load.py`` (200 listeners, 200 requests/s, 30 s, about a minute);
``--quick`` (20 listeners, 100 requests/s, 8 s: CI's run, tests/test_history_load_benchmark.py).
Goal (issue 24): 0 gaps, ``/history`` p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import numpy as np

from fanout_clients import CONNECT_TIMEOUT_S, TAIL_S, clients_process
from harness import table
from harness.endpoints import prometheus_value
from harness.machine import host_description, raise_open_files_limit
from harness.procfs import cpu_seconds, machine_busy_seconds, runqueue_seconds
from harness.station import Station, random_token
from harness.stats import percentile

GOAL_P99_MS = 50.0
HISTORY_QUERY_S = 3600.0  # the player's list: the last hour, 60 segments (clients/web/history.js)
HISTORY_LIMIT = 60
PEER_EVERY = 10  # /healthz once per this many /history requests
IMAGE_SAMPLES = 28_224  # the synth's 0.64 s image
SAMPLE_RATE = 44_100
STEER_EVERY_IMAGES = 94  # about a minute
TRANSITION_IMAGES = 4
REQUEST_TIMEOUT_S = 10.0
SETTLE_S = 2.0
DROPPED_HANDSHAKE = '{reason="handshake_backlog"}'


def earlier_part(path: Path, hours: float, end_s: float) -> int:
    """Write an earlier run's as-run part to ``path``: ``hours`` of image lines ending at ``end_s``
    (Unix seconds), a new prompt every minute reached in a short transition → the lines written."""
    count = round(hours * 3600 * SAMPLE_RATE / IMAGE_SAMPLES)
    start_s = end_s - count * IMAGE_SAMPLES / SAMPLE_RATE
    with path.open("w") as file:
        for index in range(count):
            steer, into = divmod(index, STEER_EVERY_IMAGES)
            alpha = min(1.0, (into + 1) / TRANSITION_IMAGES)
            prompts = [{"text": f"prompt {steer}", "weight": round(alpha, 4)}]
            if alpha < 1.0 and steer > 0:
                prompts.insert(0, {"text": f"prompt {steer - 1}", "weight": round(1 - alpha, 4)})
            utc_s = start_s + index * IMAGE_SAMPLES / SAMPLE_RATE
            line = {"type": "image", "utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(utc_s)) +
                    f".{int(utc_s % 1 * 1000):03d}Z", "position": index * IMAGE_SAMPLES, "samples": IMAGE_SAMPLES,
                    "prompts": prompts, "seed": steer, "negative_prompt": "", "denoising": 0.75, "guidance": 7.0,
                    "bpm": None, "key": None, "brightness": None, "drums": "auto", "bass": "auto",
                    "alpha": round(alpha, 4), "generator": "synth", "model": "", "fallback": False, "steer": None,
                    "index": index}
            file.write(json.dumps(line, separators=(",", ":")) + "\n")
    return count


@dataclass
class Answers:
    """One endpoint's answers over the window."""

    latencies_ms: list[float]
    statuses: dict[int | str, int]  # HTTP status, or why there was no answer
    body_bytes: list[int]

    def ok(self) -> int:
        return self.statuses.get(200, 0)


async def ask(host: str, port: int, path: str, due_s: float, answers: Answers) -> None:
    """GET ``path`` on a new connection at ``due_s`` (monotonic); the latency from ``due_s`` to its last byte."""
    await asyncio.sleep(max(0.0, due_s - time.monotonic()))
    status = 0
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                body = await (reader.readexactly(length) if length is not None else reader.read())
                answers.body_bytes.append(len(body))
            finally:
                writer.close()
        answers.latencies_ms.append((time.monotonic() - due_s) * 1000.0)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
        status = status or type(error).__name__  # no answer (counted; its latency is not)
    answers.statuses[status] = answers.statuses.get(status, 0) + 1


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far: the station (all threads, its loop thread, the loop's wait for a core), the
    listeners' process, this process (the requests), the whole machine."""

    at_s: float
    station: float
    loop: float
    loop_waiting: float
    listeners: float
    requests: float
    machine: float

    @classmethod
    def take(cls, station_pid: int, listeners_pid: int) -> Cpu:
        return cls(time.monotonic(), cpu_seconds(station_pid), cpu_seconds(station_pid, station_pid),
                   runqueue_seconds(station_pid, station_pid), cpu_seconds(listeners_pid), cpu_seconds(os.getpid()),
                   machine_busy_seconds())

    def percent(self, later: Cpu) -> dict[str, float]:
        """% of one core between this sample and ``later``, by field."""
        elapsed = later.at_s - self.at_s
        return {name: 100.0 * (getattr(later, name) - getattr(self, name)) / elapsed
                for name in ("station", "loop", "loop_waiting", "listeners", "requests", "machine")}


async def load(host: str, port: int, rate: float, seconds: float, start_s: float,
               sample: Callable[[], Cpu]) -> tuple[Answers, Answers, dict[str, float]]:
    """``rate`` /history requests a second and a tenth as many /healthz, from ``start_s`` (monotonic) for
    ``seconds``; the CPU used meanwhile (``sample()`` at its start and end)."""
    history, peer = Answers([], {}, []), Answers([], {}, [])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - HISTORY_QUERY_S))
    path = f"/history?since={quote(since)}&limit={HISTORY_LIMIT}"
    tasks = []
    for index in range(round(rate * seconds)):
        due_s = start_s + index / rate
        tasks.append(asyncio.create_task(ask(host, port, path, due_s, history)))
        if index % PEER_EVERY == 0:
            tasks.append(asyncio.create_task(ask(host, port, "/healthz", due_s, peer)))
    await asyncio.sleep(max(0.0, start_s - time.monotonic()))
    before = sample()
    await asyncio.sleep(max(0.0, start_s + seconds - time.monotonic()))
    after = sample()
    await asyncio.gather(*tasks)
    return history, peer, before.percent(after)


@dataclass(frozen=True)
class Result:
    history: Answers
    peer: Answers
    listeners: int
    connected: int
    frames: int
    expected_frames: int
    gaps: int
    lost: int
    underruns: int
    memory_lines: int
    cpu: dict[str, float]
    listen_overflows: int
    handshakes_dropped: int  # riffcast's bound on connections that have not sent a request yet


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listening socket's accept queue was full
    (the whole machine's; Linux ``/proc/net/netstat``, 0 elsewhere)."""
    try:
        with open("/proc/net/netstat") as netstat:
            names, values = (line.split() for line in netstat.read().splitlines()[:2])
    except OSError:
        return 0
    return int(values[names.index("ListenOverflows")]) if "ListenOverflows" in names else 0


def measure(*, listeners: int, rate: float, seconds: float, earlier_hours: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="riffcast-history-load-") as folder:
        as_run = Path(folder) / "as-run.jsonl"
        memory_lines = earlier_part(as_run, earlier_hours, time.time() - 60) if earlier_hours > 0 else 0
        station = Station("--as-run", str(as_run), "--max-listeners", str(listeners + 50), token=random_token(),
                          name="riffcast")
        try:
            station.wait_playing(180)
            with clients_process("127.0.0.1", station.port, listeners, False) as (client, control):
                if not control.poll(CONNECT_TIMEOUT_S + listeners * 0.2):
                    raise RuntimeError(f"{listeners} listeners did not connect in time")
                _, connected, failures, failed, *_ = control.recv()
                if failed:
                    print(f"  {failed} of {listeners} listeners failed to connect, e.g. {failures}", flush=True)
                underruns_before, overflows_before = station.health().get("underruns", 0), listen_overflows()
                t0 = time.time() + SETTLE_S
                control.send((station.health()["epoch_s"], t0, t0 + seconds))
                history, peer, cpu = asyncio.run(load("127.0.0.1", station.port, rate, seconds,
                                                      time.monotonic() + (t0 - time.time()),
                                                      lambda: Cpu.take(station.pid, client.pid)))
                underruns = station.health().get("underruns", 0) - underruns_before
                overflows = listen_overflows() - overflows_before
                dropped = int(prometheus_value(station.metrics(), "riffcast_http_refused_total", DROPPED_HANDSHAKE))
                if not control.poll(TAIL_S + 60):
                    raise RuntimeError("the listeners' process sent no results")
                results = control.recv()
        finally:
            station.stop()
    frames = results["frames"]
    return Result(history=history, peer=peer, listeners=listeners, connected=connected, frames=int(frames.sum()),
                  expected_frames=int(results["due_per_listener"]) * len(frames),
                  gaps=int(results["gaps"].sum()), lost=int(results["lost"].sum()), underruns=underruns,
                  memory_lines=memory_lines, cpu=cpu,
                  listen_overflows=overflows, handshakes_dropped=dropped)


def report(result: Result, rate: float, seconds: float) -> None:
    history = np.array(result.history.latencies_ms)
    peer = np.array(result.peer.latencies_ms)
    print(f"\n## /history under load ({host_description()})\n")
    print(f"{result.memory_lines} earlier as-run lines in the station's memory; {seconds:g} s window; "
          "latency from the moment a request was due to its last byte, a new connection each\n")
    print(table.header(["endpoint", "asked /s", "answered 200", "other", "p50 ms", "p99 ms", "max ms",
                        "body bytes", "p99 vs peer"], "llrrrrrrr"))
    for name, answers, values, asked in (
            (f"/history?since=1h&limit={HISTORY_LIMIT}", result.history, history, rate),
            ("/healthz (peer)", result.peer, peer, rate / PEER_EVERY)):
        others = {status: count for status, count in answers.statuses.items() if status != 200}
        print(table.row([name, f"{asked:g}", str(answers.ok()), ", ".join(f"{c}×{s}" for s, c in others.items()) or "0",
                         f"{percentile(values, 50):.1f}", f"{percentile(values, 99):.1f}",
                         f"{values.max() if values.size else float('nan'):.1f}",
                         f"{int(np.median(answers.body_bytes)) if answers.body_bytes else 0}",
                         table.ratio(percentile(values, 99), percentile(peer, 99)) if answers is result.history
                         else "1.00× (peer)"]))
    print(f"\nlisteners: {result.connected} of {result.listeners} connected, frames {result.frames} / "
          f"{result.expected_frames}, gaps: {result.gaps}, lost: {result.lost}, underruns: {result.underruns}")
    cpu = result.cpu
    print(f"CPU over the window, % of one core ({os.cpu_count()} cores): station {cpu['station']:.0f} (its loop thread "
          f"{cpu['loop']:.0f}, waiting for a core {cpu['loop_waiting']:.0f}), listeners' process {cpu['listeners']:.0f}, "
          f"requests (this process) {cpu['requests']:.0f}, rest of the machine "
          f"{max(cpu['machine'] - cpu['station'] - cpu['listeners'] - cpu['requests'], 0.0):.0f}")
    print(f"connections dropped for a full accept queue (the kernel's ListenOverflows, whole machine): "
          f"{result.listen_overflows}; dropped by the station's bound on connections yet to send a request "
          f"(riffcast.ops.limits, the oldest first): {result.handshakes_dropped}")
    p99 = percentile(history, 99)
    met = result.gaps == 0 and result.lost == 0 and p99 <= GOAL_P99_MS and result.history.ok() == history.size > 0
    print(f"goal: 0 gaps, /history p99 ≤ {GOAL_P99_MS:g} ms → {'met' if met else 'not met'} (p99 {p99:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="/history requests a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--earlier-hours", type=float, default=3.0, help="as-run lines already aired (3 h fills the memory)")
    parser.add_argument("--quick", action="store_true", help="20 listeners, 100 requests/s, 8 s, 1 h earlier")
    args = parser.parse_args()
    if args.quick:
        args.listeners, args.rate, args.seconds, args.earlier_hours = 20, 100.0, 8.0, 1.0
    raise_open_files_limit()
    result = measure(listeners=args.listeners, rate=args.rate, seconds=args.seconds, earlier_hours=args.earlier_hours)
    report(result, args.rate, args.seconds)


if __name__ == "__main__":
    main()
