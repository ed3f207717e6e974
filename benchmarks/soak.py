"""Soak: a station with listeners joining and leaving at random for a long time — memory, underruns, gaps, leaks.

What runs. ``riffcast serve --generator synth`` on 127.0.0.1 (port 0, the bound port read from its
log), and one client process (``soak_clients.py``) that keeps ``--listeners``
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

The code: this file runs the soak (``soak``, ``main``); ``soak_clients.py`` is the client process,
``soak_result.py`` the samples and the numbers drawn from them, ``soak_report.py`` the verdicts
and tables; the station launcher and the /proc and HTTP helpers are ``harness/``'s.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from harness.machine import host_description
from harness.procfs import cpu_seconds, machine_busy_seconds, rss_kib
from harness.station import Station, random_token
from soak_clients import ClientConfig, ClientProcess, client_process_main
from soak_report import print_report, verdicts
from soak_result import (
    AFTER_DISCONNECT_RSS_S,
    AFTER_DISCONNECT_S,
    BASELINE_SETTLE_S,
    FD_TOLERANCE,
    RSS_WINDOW_S,
    Sample,
    SoakResult,
    StationSample,
    default_settings,
)

__all__ = ["FD_TOLERANCE", "SoakResult", "main", "print_report", "soak", "verdicts"]

RSS_EVERY_S = 1.0  # resident memory is read this often (cheap), the rest every --sample-every-s
DISCONNECT_WAIT_S = 15.0  # for /healthz to count no listener after the clients close
MAX_LISTENERS = 5000  # the station's --max-listeners


def start_station(name: str) -> Station:
    """``riffcast serve --generator synth`` on 127.0.0.1, port 0, named ``name``; its log kept in memory."""
    return Station("--max-listeners", str(MAX_LISTENERS), "--station", name, token=random_token(), name=name)


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
    host = host_description()
    wall_start = time.monotonic()
    station = start_station("soak")
    idle = start_station("soak-idle") if peer else None
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
