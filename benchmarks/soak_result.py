"""The soak's measurements (``benchmarks/soak.py``): station samples and the run's result, with
the RSS floors, growth and slope, underrun times and the read-lag percentiles drawn from them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.endpoints import prometheus_value
from harness.procfs import ProcSample
from harness.station import Station
from harness.stats import binned_percentile, least_squares_slope
from soak_clients import LAG_BIN_S, Totals

RSS_GROWTH_GOAL = 0.05
SLOPE_MIN_SPAN_S = 600.0  # the RSS slope (MiB/h) is shown only for at least this long after the warm-up
RSS_WINDOW_S = 60.0  # "RSS at t" = the lowest reading in the RSS_WINDOW_S before t (shorter for short runs)
FD_TOLERANCE = 3
BASELINE_SETTLE_S = 3.0  # after the station plays, before the start sample (RSS read each second)
AFTER_DISCONNECT_S = 3.0
AFTER_DISCONNECT_RSS_S = 15.0  # RSS is read this much longer after the last sample, for its floor


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
    def take(cls, station: Station) -> StationSample:
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
        return 3600.0 * least_squares_slope(points)

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
        return binned_percentile(self.clients.lag_bins, LAG_BIN_S, fraction)

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
