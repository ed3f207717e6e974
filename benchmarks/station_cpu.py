"""What a synth station costs in CPU, by window size, with numpy's BLAS threads and with one.

Each row is a real ``riffcast serve`` (the synth, the control benchmark's prompt, bpm and key)
measured for ``--seconds`` (default 30) after 8 s of playing: CPU seconds of the whole process
(/proc) per second of wall time, as % of one core; the busiest thread's share; the producer's paint
and the feed's stitch per window (``/metrics``); underruns. The peer is the same station with
numpy's BLAS left at its default pool (``OPENBLAS_NUM_THREADS`` set to the machine's cores, as
OpenBLAS would choose; riffcast then leaves it so), riffcast its default (one BLAS thread,
``riffcast.ops.blas``).

Run: ``python benchmarks/station_cpu.py`` (about 4 minutes); ``--windows 64`` for one size.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from harness.endpoints import prometheus_value
from harness.machine import host_description
from harness.procfs import cpu_seconds, thread_cpu_seconds
from harness.station import Station
from harness.table import header, ratio, row

STATION_ARGS = ("--prompt", "funk", "--bpm", "100", "--key", "A minor")
SETTLE_S = 8.0


@dataclass(frozen=True)
class Cost:
    """One station's cost over the measured seconds."""

    cpu_percent: float  # of one core, the whole process
    busiest_thread_percent: float
    paint_ms: float  # per window
    stitch_ms: float
    underruns: int


def _delta(before: str, after: str, name: str) -> float:
    """How much the /metrics sample ``name`` grew between the two texts."""
    return prometheus_value(after, name) - prometheus_value(before, name)


def _per_window_ms(before: str, after: str, stage: str) -> float:
    count = _delta(before, after, f"riffcast_chunk_{stage}_seconds_count")
    return 1000 * _delta(before, after, f"riffcast_chunk_{stage}_seconds_sum") / count if count else float("nan")


def measure(window_columns: int, blas_threads: int | None, seconds: float) -> Cost:
    """One station: ``blas_threads`` None = riffcast's default, else OPENBLAS_NUM_THREADS."""
    env = {} if blas_threads is None else {"OPENBLAS_NUM_THREADS": str(blas_threads)}
    station = Station(*STATION_ARGS, "--window-columns", str(window_columns), name=f"cpu-{window_columns}", env=env)
    try:
        station.wait_playing(120)
        time.sleep(SETTLE_S)
        threads_before, metrics_before = thread_cpu_seconds(station.pid), station.metrics()
        cpu_before, started = cpu_seconds(station.pid), time.monotonic()
        time.sleep(seconds)
        cpu_after, wall_s = cpu_seconds(station.pid), time.monotonic() - started
        threads_after, metrics_after = thread_cpu_seconds(station.pid), station.metrics()
    finally:
        station.stop()
    busiest = max(threads_after[t] - threads_before.get(t, 0.0) for t in threads_after)
    return Cost(
        cpu_percent=100 * (cpu_after - cpu_before) / wall_s,
        busiest_thread_percent=100 * busiest / wall_s,
        paint_ms=_per_window_ms(metrics_before, metrics_after, "generation"),
        stitch_ms=_per_window_ms(metrics_before, metrics_after, "stitch"),
        underruns=int(_delta(metrics_before, metrics_after, "riffcast_underruns_total")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[64, 32], help="window sizes (columns)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per station")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(host_description())
    print(f"\nSynth station, {args.seconds:g} s measured after {SETTLE_S:g} s playing; CPU as % of one core.\n")
    print(header(["window columns", "BLAS threads", "CPU %", "busiest thread %", "paint ms", "stitch ms",
                  "underruns", "CPU vs peer"], "rlrrrrrr"))
    for window in args.windows:
        peer = measure(window, cores, args.seconds)
        ours = measure(window, None, args.seconds)
        for label, cost in ((f"{cores} (peer: numpy's default)", peer), ("1 (riffcast)", ours)):
            print(row([str(window), label, f"{cost.cpu_percent:.1f}", f"{cost.busiest_thread_percent:.1f}",
                       f"{cost.paint_ms:.1f}", f"{cost.stitch_ms:.1f}", str(cost.underruns),
                       ratio(cost.cpu_percent, peer.cpu_percent)]), flush=True)


if __name__ == "__main__":
    main()
