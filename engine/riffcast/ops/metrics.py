"""The station's Prometheus metrics (prometheus_client), one registry per station."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from riffcast.delivery.icecast_link import LinkState
    from riffcast.dsp.level import LevelStats

CHUNK_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


class StationMetrics:
    """Counters the station updates, and gauges read when scraped."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.listeners = Gauge("riffcast_listeners", "Listeners connected to /stream", registry=r)
        self.frames_sent = Counter("riffcast_frames_sent", "Audio frames written to listeners", registry=r)
        self.frames_dropped = Counter(
            "riffcast_frames_dropped", "Audio frames skipped for listeners that fell behind", registry=r
        )
        self.listeners_closed = Counter(
            "riffcast_listeners_closed", "Listeners closed by the station", ["reason"], registry=r
        )
        self.underruns = Counter(
            "riffcast_underruns", "Chunks repeated because the generator was late (seamless fallback)", registry=r
        )
        self.starved_frames = Counter(
            "riffcast_starved_frames", "Frames emitted as silence because no audio was ready", registry=r
        )
        self.dead_air_seconds = Counter(
            "riffcast_dead_air_seconds", "Seconds of audio emitted that were not new music, by kind: "
            "silence (nothing stitched in time) or fallback (the last image again)", ["kind"], registry=r,
        )
        self.chunk_generation_seconds = Histogram(
            "riffcast_chunk_generation_seconds", "Wall time to paint one chunk", registry=r,
            buckets=CHUNK_SECONDS_BUCKETS,
        )
        self.chunk_stitch_seconds = Histogram(
            "riffcast_chunk_stitch_seconds", "Wall time to stitch one chunk into PCM", registry=r,
            buckets=CHUNK_SECONDS_BUCKETS,
        )
        self.steers = Counter("riffcast_steers", "Steer requests accepted", registry=r)
        self.control_errors = Counter("riffcast_control_errors", "Control requests refused", registry=r)
        self.control_auth_failures = Counter(
            "riffcast_control_auth_failures", "Control connections refused for a missing or wrong token",
            ["reason"], registry=r,
        )
        self.http_refused = Counter(
            "riffcast_http_refused",
            "Requests refused: not HTTP, malformed, too large, wrong method or version, foreign origin",
            ["reason"], registry=r,
        )
        self.ping_floods = Counter(
            "riffcast_ping_floods", "WebSocket connections closed with 1008 for sending too many pings", registry=r
        )
        self.osc_steers = Counter("riffcast_osc_steers", "OSC messages taken as steers", registry=r)
        self.osc_refused = Counter(
            "riffcast_osc_refused", "OSC datagrams or messages refused: not OSC, unknown address, invalid, flood",
            ["reason"], registry=r,
        )
        self.lead_seconds = Gauge("riffcast_lead_seconds", "Audio ready ahead of the playhead", registry=r)
        self.generating = Gauge(
            "riffcast_generating", "1 while the producer runs and no paint has hung, else 0", registry=r
        )
        self.producer_restarts = Gauge(
            "riffcast_producer_restarts", "Producer threads that died and were restarted", registry=r
        )
        self.steer_rewinds = Gauge(
            "riffcast_steer_rewinds", "Steers that replaced audio already stitched but not yet played", registry=r
        )
        self.rewound_seconds = Gauge(
            "riffcast_rewound_seconds", "Seconds of unplayed audio replaced by steers so far", registry=r
        )
        self.problems = Gauge(
            "riffcast_problems",
            "Failures beside the stream now (a paused recording, an unsaved state, an output down, dead air)", registry=r,
        )
        self.generator_faults = Gauge(
            "riffcast_generator_faults", "Chunk generations that failed (retried or replaced)", registry=r
        )

        self.hls_requests = Counter(
            "riffcast_hls_requests", "HLS requests the station answered (behind a cache: one per segment)",
            ["kind"], registry=r,
        )
        self.encoder_cpu_seconds = Gauge(
            "riffcast_encoder_cpu_seconds", "CPU time each encoder (one per format) has spent encoding", ["codec"],
            registry=r,
        )
        self.encoder_failures = Gauge(
            "riffcast_encoder_failures", "Encoders that failed and were replaced", registry=r,
        )
        self.loudness_gain_db = Gauge(
            "riffcast_loudness_gain_db", "Gain the loudness stage applies now to hold --loudness", registry=r
        )
        self.limiter_active_ratio = Gauge(
            "riffcast_limiter_active_ratio", "Share of the samples so far that the true-peak limiter turned down", registry=r
        )
        self.limiter_max_reduction_db = Gauge(
            "riffcast_limiter_max_reduction_db", "Deepest gain reduction of the true-peak limiter so far", registry=r
        )

    def watch(self, lead_s: Callable[[], float], faults: Callable[[], int],
              level: Callable[[], LevelStats | None] = lambda: None) -> None:
        """Gauges computed at scrape time."""
        self.lead_seconds.set_function(lead_s)
        self.generator_faults.set_function(faults)
        nothing = float("nan")
        self.loudness_gain_db.set_function(lambda: getattr(level(), "agc_gain_db", nothing))
        self.limiter_active_ratio.set_function(lambda: getattr(level(), "limited_fraction", nothing))
        self.limiter_max_reduction_db.set_function(lambda: getattr(level(), "max_reduction_db", nothing))

    def watch_outputs(self, states: Callable[[], Iterable[LinkState]]) -> None:
        """Each output's link (the Icecast mounts), read from ``states`` at scrape time."""
        self.registry.register(_OutputLinks(states))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _OutputLinks:
    """A collector: ``riffcast_output_up``, ``riffcast_output_reconnects_total`` and
    ``riffcast_output_sent_bytes_total``, labelled ``output="icecast:/MOUNT"``."""

    def __init__(self, states: Callable[[], Iterable[LinkState]]) -> None:
        self._states = states

    def describe(self) -> Iterator[Metric]:
        return self._families([])

    def collect(self) -> Iterator[Metric]:
        return self._families(list(self._states()))

    @staticmethod
    def _families(states: list[LinkState]) -> Iterator[Metric]:
        up = GaugeMetricFamily("riffcast_output_up", "1 while an output (an Icecast mount) streams, else 0",
                               labels=["output"])
        reconnects = CounterMetricFamily("riffcast_output_reconnects",
                                         "Tries again after a failed or lost connection, by output", labels=["output"])
        sent = CounterMetricFamily("riffcast_output_sent_bytes", "Audio bytes written to an output, all connections",
                                   labels=["output"])
        for state in states:
            up.add_metric([state.output], float(state.up))
            reconnects.add_metric([state.output], state.reconnects)
            sent.add_metric([state.output], state.bytes_sent)
        yield from (up, reconnects, sent)
