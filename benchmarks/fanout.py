"""Fan-out: many listeners on loopback — frame delivery, lag and server CPU, riffcast and its peer.

For each listener count (default 100, 500, 1000) and each server, a fresh server is started in
its own process, N listeners connect from one client process (``fanout_clients.py``, in batches,
before the measured window), plus one deliberately stalled listener that completes the handshake
and never reads again. Over the window (default 20 s) every listener records, for the frames
*due* in it:

- frames delivered, and gaps (a frame whose position is not the previous frame's next position);
- lag = arrival − due time, where the frame at position p is due at ``epoch_s + p / 44100``
  (``/healthz``) and arrival is the kernel's receive timestamp on the listener's socket; the lag
  to the moment the (busy, shared) client process read it is printed too. The first frames after
  ``hello`` (the pre-roll burst) are left out.

The parent reads CPU time from ``/proc`` (Linux): the server process, its event-loop (main)
thread and how long that thread waited for a core, the client process, and the rest of the
machine. "CPU per listener" is the loop thread's CPU above its idle level (measured before any
listener connects) divided by N: the fan-out runs on that thread; riffcast's generator threads
are left out of it (they are in "server CPU %"). The stalled listener is followed through
``/healthz`` (polled once a second), ``/metrics`` (riffcast) and ``/proc/net/tcp``.

The peer, measured with the same clients in the same run: a broadcast server written the way
websockets' documentation shows it ("Broadcasting": one ``asyncio.Queue`` and one relay task per
client doing ``await websocket.send(message)``), serving the same riffcast/1 frames (hello, then
16-byte header + s16le PCM of a sine) at the same 100 ms pace. It is ``fanout_peer.py``, and
"peer" in the tables.

Server and clients share the machine's cores (and with anything else running): the client CPU
and the rest of the machine's CPU are printed so that is visible.

Run: ``python benchmarks/fanout.py`` (about 3 minutes: 3 counts × 2 servers × ~30 s);
``python benchmarks/fanout.py --quick`` (20 listeners, 8 s per server, under a minute);
``--before COMMIT`` adds a row for an earlier commit's station (a git worktree), measured beside this one's;
``--listeners 100,2000 --seconds 30 --servers riffcast`` to choose.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from fanout_clients import CONNECT_TIMEOUT_S, FRAME_SAMPLES, SAMPLE_RATE, TAIL_S, clients_process
from fanout_peer import PeerServer
from harness import table
from harness.endpoints import prometheus_value
from harness.machine import host_description, raise_open_files_limit
from harness.peer import peer_checkout
from harness.procfs import cpu_seconds, machine_busy_seconds, runqueue_seconds, tcp_connection
from harness.station import Station, random_token
from harness.stats import percentile

LAG_GOAL_MS = 100.0
GOAL_LISTENERS = 1000
MAX_LISTENERS = 5000  # riffcast's --max-listeners
TOO_SLOW = '{reason="too_slow"}'
POLL_S = 1.0  # the parent polls /healthz this often to see when the stalled listener is dropped


# =============================================================================================
# The servers (riffcast through the harness' launcher, the peer in fanout_peer.py) and CPU.
# =============================================================================================

def start_server(name: str, before_env: dict[str, str] | None = None) -> Station | PeerServer:
    """``riffcast serve --generator synth`` on 127.0.0.1, port 0 (the bound port read from its log) — this
    checkout's, or for ``before`` the ``--before`` commit's (``before_env``) — or the peer."""
    if name == "riffcast":
        return Station("--max-listeners", str(MAX_LISTENERS), token=random_token(), name="riffcast")
    if name.startswith("before"):
        return Station("--max-listeners", str(MAX_LISTENERS), token=random_token(), name="before", env=before_env)
    return PeerServer()


@dataclass
class CpuSample:
    at_s: float
    server: float
    loop: float
    loop_waiting: float
    clients: float
    machine: float

    @classmethod
    def take(cls, server_pid: int, client_pid: int) -> CpuSample:
        return cls(time.monotonic(), cpu_seconds(server_pid), cpu_seconds(server_pid, server_pid),
                   runqueue_seconds(server_pid, server_pid), cpu_seconds(client_pid), machine_busy_seconds())


# =============================================================================================
# One measurement: a fresh server, N listeners + the stalled one, one window.
# =============================================================================================

@dataclass
class Stall:
    """What became of the stalled listener by the end of the window."""

    dropped_after_s: float | None  # /healthz stopped counting it this long after it connected (± POLL_S)
    tcp: tuple[str, int] | None  # the server's end at the end of the window: state, unsent bytes in the kernel
    too_slow: float | None  # riffcast: riffcast_listeners_closed_total{reason="too_slow"}
    frames_skipped: float | None  # riffcast: riffcast_frames_dropped_total
    longest_queue: int | None  # peer: the longest per-listener queue, in frames

    def __str__(self) -> str:
        parts = ["still a listener at the end" if self.dropped_after_s is None
                 else f"dropped by the server {self.dropped_after_s:.0f} s after connecting"]
        if self.too_slow is not None:
            parts.append(f"too_slow closes {self.too_slow:g}, frames skipped {self.frames_skipped:g}")
        if self.longest_queue is not None:
            parts.append(f"its queue {self.longest_queue} frames")
        if self.tcp is not None:
            parts.append(f"server socket {self.tcp[0]} with {self.tcp[1] / 1024:.0f} KiB unsent")
        return "; ".join(parts)


@dataclass
class Row:
    server: str
    listeners: int
    connected: int
    connect_s: float
    seconds: float
    expected: int
    frames: int
    listeners_with_gaps: int
    gaps: int
    missing: int
    lost: int
    close_codes: list[int]
    bad: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    read_p99_ms: float  # lag to the moment the client process read the frame (includes the clients' own delay)
    kernel_stamped: float  # share of lags measured from kernel receive timestamps
    clock_p50_ms: float  # how late the server's tick fired (header server time − due)
    clock_p99_ms: float
    server_cpu: float  # % of one core over the window
    loop_cpu: float
    loop_idle_cpu: float
    loop_waiting: float  # % of the window the loop thread was runnable but had no core
    client_cpu: float
    others_cpu: float  # the rest of the machine
    stall: Stall | None

    @property
    def cpu_per_listener(self) -> float:
        """The loop thread's % of a core above idle, per listener."""
        return max(self.loop_cpu - self.loop_idle_cpu, 0.0) / max(self.connected, 1)

    @property
    def keeps_up(self) -> bool:
        return (self.connected == self.listeners and self.listeners_with_gaps == 0 and self.missing == 0
                and self.lost == 0)


def measure(server_name: str, count: int, *, seconds: float, idle_s: float, settle_s: float,
            stalled: bool, before_env: dict[str, str] | None = None) -> Row:
    server = start_server(server_name, before_env)
    try:
        server.wait_playing(180)
        idle_start = (time.monotonic(), cpu_seconds(server.pid, server.pid))
        time.sleep(idle_s)
        loop_idle = 100.0 * (cpu_seconds(server.pid, server.pid) - idle_start[1]) / (time.monotonic() - idle_start[0])

        with clients_process("127.0.0.1", server.port, count, stalled) as (client, control):
            if not control.poll(CONNECT_TIMEOUT_S + count * 0.2):
                raise RuntimeError(f"{count} listeners did not connect to {server_name} in time")
            _, connected, failures, failed, connect_s, stall_port, stall_opened_s = control.recv()
            if failed:
                print(f"  {failed} of {count} listeners failed to connect to {server_name}, e.g. {failures}", flush=True)

            epoch_s = server.health()["epoch_s"]
            t0 = time.time() + settle_s
            t1 = t0 + seconds
            control.send((epoch_s, t0, t1))
            stall_dropped_s = None

            def watch_until(deadline: float) -> None:
                nonlocal stall_dropped_s
                while (left := deadline - time.time()) > 0:
                    time.sleep(min(POLL_S, left))
                    if stall_port and stall_dropped_s is None and server.health()["listeners"] <= connected:
                        stall_dropped_s = time.time() - stall_opened_s

            watch_until(t0)
            before = CpuSample.take(server.pid, client.pid)
            watch_until(t1)
            after = CpuSample.take(server.pid, client.pid)
            health = server.health()
            metrics = server.metrics() if server_name == "riffcast" else ""
            stall_tcp = tcp_connection(server.port, stall_port) if stall_port else None
            if not control.poll(TAIL_S + 60):
                raise RuntimeError("the client process sent no results")
            results = control.recv()
    finally:
        server.stop()

    elapsed = after.at_s - before.at_s

    def percent(attribute: str) -> float:
        return 100.0 * (getattr(after, attribute) - getattr(before, attribute)) / elapsed

    lags, read_lags, late = results["arrival_lags_ms"], results["read_lags_ms"], results["tick_late_ms"]
    frames, gaps, expected = results["frames"], results["gaps"], results["due_per_listener"]
    stall = Stall(
        dropped_after_s=stall_dropped_s, tcp=stall_tcp,
        too_slow=prometheus_value(metrics, "riffcast_listeners_closed_total", TOO_SLOW) if metrics else None,
        frames_skipped=prometheus_value(metrics, "riffcast_frames_dropped_total") if metrics else None,
        longest_queue=health.get("max_queued_frames"),
    ) if stalled else None
    return Row(
        server=server_name, listeners=count, connected=len(frames), connect_s=connect_s, seconds=seconds,
        expected=expected, frames=int(frames.sum()), listeners_with_gaps=int((gaps > 0).sum()),
        gaps=int(gaps.sum()), missing=int(np.maximum(expected - frames, 0).sum()), lost=int(results["lost"].sum()),
        close_codes=results["close_codes"], bad=results["bad"],
        p50_ms=percentile(lags, 50), p99_ms=percentile(lags, 99),
        max_ms=float(lags.max()) if lags.size else math.nan,
        read_p99_ms=percentile(read_lags, 99),
        kernel_stamped=results["kernel_stamped"] / max(lags.size, 1),
        clock_p50_ms=percentile(late, 50), clock_p99_ms=percentile(late, 99),
        server_cpu=percent("server"), loop_cpu=percent("loop"), loop_idle_cpu=loop_idle,
        loop_waiting=percent("loop_waiting"),
        client_cpu=percent("clients"),
        others_cpu=max(percent("machine") - percent("server") - percent("clients"), 0.0),  # ± tick rounding
        stall=stall,
    )


# =============================================================================================
# Report.
# =============================================================================================

def print_tables(rows: list[Row]) -> None:
    peers = {row.listeners: row for row in rows if row.server == "peer"}
    print("\n## Delivery and lag (window per row; the stalled listener is not counted)\n")
    print("| listeners | server | frames delivered | listeners with gaps | total gaps | p50 lag ms | p99 lag ms "
          "| max lag ms | server CPU % | CPU per listener (% of a core) | vs peer: CPU/listener | vs peer: p99 |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        peer = peers.get(row.listeners)
        versus = (table.ratio(row.cpu_per_listener, peer.cpu_per_listener), table.ratio(row.p99_ms, peer.p99_ms)) \
            if peer is not None and row is not peer else ("1.00× (peer)" if row is peer else "—",) * 2
        print(f"| {row.listeners} | {row.server} | {row.frames} / {row.expected * row.listeners} "
              f"| {row.listeners_with_gaps} | {row.gaps} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.max_ms:.1f} "
              f"| {row.server_cpu:.0f} | {row.cpu_per_listener:.4f} | {versus[0]} | {versus[1]} |")

    print("\n## Where the CPU went (% of one core over the window; this machine has "
          f"{os.cpu_count()} cores) and the stalled listener\n")
    print("| listeners | server | server process | its loop thread (idle) | loop waiting for a core | client process "
          "| rest of machine | tick late p50 / p99 ms | p99 lag to client read ms | connect s | lost / bad "
          "| stalled listener |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        codes = f" (close codes {row.close_codes})" if row.close_codes else ""
        print(f"| {row.listeners} | {row.server} | {row.server_cpu:.0f} | {row.loop_cpu:.0f} ({row.loop_idle_cpu:.0f}) "
              f"| {row.loop_waiting:.0f} | {row.client_cpu:.0f} | {row.others_cpu:.0f} "
              f"| {row.clock_p50_ms:.1f} / {row.clock_p99_ms:.1f} "
              f"| {row.read_p99_ms:.1f} | {row.connect_s:.1f} | {row.lost} / {row.bad}{codes} "
              f"| {row.stall or 'none'} |")


def print_notes(rows: list[Row]) -> None:
    for row in rows:
        if row.kernel_stamped < 0.99:
            print(f"\nNote: for {row.server} at {row.listeners} listeners only {100 * row.kernel_stamped:.0f}% "
                  "of arrivals carried a kernel receive timestamp; the others are the client's read time (later, never earlier).")


def verdict(rows: list[Row]) -> None:
    ours = [row for row in rows if row.server == "riffcast"]
    if not ours:
        return
    target = next((row for row in ours if row.listeners == GOAL_LISTENERS), max(ours, key=lambda row: row.listeners))
    print(f"\n## Verdict (riffcast at {target.listeners} listeners"
          f"{'' if target.listeners == GOAL_LISTENERS else f'; the goal is {GOAL_LISTENERS}'})\n")
    frame_ms = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE
    tick_cpu_ms = max(target.loop_cpu - target.loop_idle_cpu, 0.0) / 100.0 * frame_ms
    cost = (f" Each {frame_ms:g} ms tick cost the loop thread about {tick_cpu_ms:.1f} ms of CPU above idle "
            f"({1000.0 * tick_cpu_ms / max(target.connected, 1):.0f} µs per listener); the tick itself fired "
            f"{target.clock_p50_ms:.1f} ms late at p50 and {target.clock_p99_ms:.1f} ms at p99, the rest of the lag "
            "is the time the fan-out takes to reach each listener in turn.")
    why = []
    if target.loop_cpu > 50:
        why.append(f"the server's event-loop thread was busy {target.loop_cpu:.0f}% of the window")
    if target.loop_waiting > 5:
        why.append(f"the loop thread was runnable but waiting for a core {target.loop_waiting:.0f}% of the window "
                   "(the cores are shared with the clients, riffcast's generator threads and any other process)")
    if target.others_cpu > 20:
        why.append(f"other processes on this machine used {target.others_cpu:.0f}% of a core during the window, "
                   "so these are not a quiet machine's numbers")
    if target.client_cpu > 85:
        why.append(f"the client process used {target.client_cpu:.0f}% of a core, so part of the lag is the "
                   "clients' own delay in reading")
    total = target.server_cpu + target.client_cpu + target.others_cpu
    if total > 0.9 * 100 * (os.cpu_count() or 1):
        why.append(f"the machine's {os.cpu_count()} cores were {total / (os.cpu_count() or 1):.0f}% busy "
                   "(server, clients and everything else together)")
    because = (" Likely causes from the numbers: " + "; ".join(why) + ".") if why else ""

    if target.keeps_up:
        gaps_text = (f"Zero gaps: MET. All {target.listeners} listeners received all {target.expected} frames due "
                     f"in the {target.seconds:g} s window without a position jump.")
    else:
        gaps_text = (f"Zero gaps: NOT MET. {target.connected} of {target.listeners} connected; "
                     f"{target.listeners_with_gaps} had gaps ({target.gaps} in all), {target.missing} frames "
                     f"due in the window never arrived, {target.lost} connections were lost.{because}")
    print(gaps_text + "\n")
    if target.p99_ms < LAG_GOAL_MS:
        lag_text = (f"p99 lag under {LAG_GOAL_MS:g} ms: MET ({target.p99_ms:.1f} ms; p50 {target.p50_ms:.1f} ms, "
                    f"max {target.max_ms:.1f} ms).{cost}")
    else:
        lag_text = (f"p99 lag under {LAG_GOAL_MS:g} ms: NOT MET ({target.p99_ms:.1f} ms; p50 {target.p50_ms:.1f} ms, "
                    f"max {target.max_ms:.1f} ms).{cost}{because}")
    print(lag_text + "\n")
    stalled = [row for row in ours if row.stall is not None]
    closed = [row for row in stalled if row.stall.too_slow and row.stall.dropped_after_s is not None]
    unaffected = [row for row in closed if row.keeps_up]
    if stalled:
        print(f"Stalled listener: the station closed it as too slow in {len(closed)} of {len(stalled)} riffcast runs, "
              f"and in {len(unaffected)} of those every other listener had zero gaps and no missing frame ("
              + "; ".join(f"{row.listeners} listeners: {row.stall}" for row in stalled) + ").\n")
    peer = next((row for row in rows if row.server == "peer" and row.listeners == target.listeners), None)
    if peer is not None:
        print(f"Against the peer at {target.listeners} listeners: CPU per listener "
              f"{table.ratio(target.cpu_per_listener, peer.cpu_per_listener)}, "
              f"p99 lag {table.ratio(target.p99_ms, peer.p99_ms)} "
              f"(riffcast {target.p99_ms:.1f} ms vs peer {peer.p99_ms:.1f} ms); the peer had "
              f"{peer.listeners_with_gaps} listeners with gaps; its stalled listener: {peer.stall or 'none'}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listeners", default="100,500,1000", help="comma-separated listener counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run (≥ 20 for the goal)")
    parser.add_argument("--servers", default="riffcast,peer", help="riffcast, peer or both")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="idle CPU measured before listeners join")
    parser.add_argument("--settle-seconds", type=float, default=2.0, help="wait after the last listener joined")
    parser.add_argument("--no-stalled", action="store_true", help="leave out the stalled listener")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20 listeners, 8 s, under a minute")
    parser.add_argument("--before", metavar="COMMIT",
                        help="also measure the station of an earlier commit (a git worktree), row by row beside this one")
    args = parser.parse_args()
    if args.quick:
        args.listeners, args.seconds, args.idle_seconds, args.settle_seconds = "20", 8.0, 1.0, 1.0
    counts = [int(value) for value in args.listeners.split(",")]
    servers = [name.strip() for name in args.servers.split(",")]
    if not set(servers) <= {"riffcast", "peer"}:
        parser.error("--servers takes riffcast and/or peer")

    open_files = raise_open_files_limit()
    if open_files < max(counts) + 100:
        print(f"warning: only {open_files} open files allowed per process", file=sys.stderr)
    print(f"# Fan-out benchmark — {host_description()}")
    print(f"Each row: a fresh server, N listeners + {'no' if args.no_stalled else 'one'} stalled listener, "
          f"{args.seconds:g} s measured. Server and clients share this machine's cores.")
    rows = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        before_env = None
        if args.before:
            before_env = stack.enter_context(peer_checkout(args.before))
            servers.insert(servers.index("riffcast") if "riffcast" in servers else 0, f"before ({args.before})")
        for count in counts:
            for name in servers:
                print(f"  measuring {name} with {count} listeners …", flush=True)
                rows.append(measure(name, count, seconds=args.seconds, idle_s=args.idle_seconds,
                                    settle_s=args.settle_seconds, stalled=not args.no_stalled, before_env=before_env))
    print_tables(rows)
    print_notes(rows)
    verdict(rows)
    print(f"\n(benchmark wall time {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
