"""The soak's report (``benchmarks/soak.py``): the verdicts against its goals and the tables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from harness import table
from soak_clients import KEPT_UP_LAG_S, LEAVE_MODES
from soak_result import (
    AFTER_DISCONNECT_S,
    BASELINE_SETTLE_S,
    FD_TOLERANCE,
    RSS_GROWTH_GOAL,
    SLOPE_MIN_SPAN_S,
    Sample,
    SoakResult,
)


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

    print(table.header(["measure", "riffcast with listeners", *(["same station, no listener (peer)"] if idle else [])],
                       "lr" + ("r" if idle else "")))

    def row(name: str, ours: str, peer: str = "") -> None:
        print(table.row([name, ours, *([peer] if idle else [])]))

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
    columns = ["t s", "listeners", "RSS", "fds", "threads", "underruns", "lead s"]
    columns += ["peer RSS", "peer underruns", "peer lead s"] if idle else []
    print(table.header(columns, "r" * len(columns)))
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
        cells = [label, f"{x.listeners}", rss_at(sample, False), f"{x.proc.fds}", f"{x.proc.threads}",
                 f"{x.underruns}", f"{x.lead_s:.1f}"]
        if idle:
            cells += [rss_at(sample, True), f"{sample.idle.underruns}", f"{sample.idle.lead_s:.1f}"]
        print(table.row(cells))

    print("\n## Verdict\n")
    for verdict in verdicts(result):
        print(f"- {verdict.goal}: {'MET' if verdict.met else 'NOT MET'} — {verdict.detail}")
    print(f"\n(wall time {result.wall_s:.0f} s)")
