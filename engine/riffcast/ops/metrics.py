"""The station's Prometheus metrics (prometheus_client), one registry per station."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from riffcast.delivery.output import OutputReport
    from riffcast.dsp.level import LevelStats

CHUNK_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ListenerCounts:
    """``/stream``'s listeners so far: messages (PCM frames, Opus packets) written and dropped, and
    listeners the station closed or turned away, by reason (``too_slow``, ``full``, ``abusive``)."""

    messages_sent: int
    messages_dropped: int
    closed: Mapping[str, int]


class StationMetrics:
    """Counters the station updates, and gauges read when scraped."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.listeners = Gauge("riffcast_listeners", "Listeners connected to /stream", registry=r)
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
            "riffcast_chunk_generation_seconds", "Wall time to paint one image", registry=r,
            buckets=CHUNK_SECONDS_BUCKETS,
        )
        self.chunk_stitch_seconds = Histogram(
            "riffcast_chunk_stitch_seconds", "Wall time to stitch one image into PCM", registry=r,
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
        self.loudness_gain_db = Gauge(
            "riffcast_loudness_gain_db", "Gain the loudness stage applies now to hold --loudness", registry=r
        )
        self.loudness_shortfall_lu = Gauge(
            "riffcast_loudness_shortfall_lu", "How far under --loudness the peaks hold the level now (0: on target)",
            registry=r,
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
        self.loudness_shortfall_lu.set_function(lambda: getattr(level(), "shortfall_lu", nothing))
        self.limiter_max_reduction_db.set_function(lambda: getattr(level(), "max_reduction_db", nothing))

    def watch_outputs(self, outputs: Callable[[], Iterable[OutputReport]], listeners: Callable[[], ListenerCounts],
                      encoder_cpu_s: Callable[[], Mapping[str, float]], encoder_failures: Callable[[], int]) -> None:
        """Every output's figures, read at scrape time (see :class:`_Outputs`)."""
        self.registry.register(_Outputs(outputs, listeners, encoder_cpu_s, encoder_failures))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Outputs:
    """A collector of what the outputs report, read when scraped:

    - per output (``output="ws-pcm"|"ws-opus"|"mp3"|"hls"|"hls-window"|"icecast:/MOUNT"|"record"|"speaker"``):
      ``riffcast_output_dropped_seconds_total`` (audio the backlog policy skipped, summed over the
      output's receivers), ``riffcast_output_receivers``, ``riffcast_output_sent_bytes_total``; for
      outputs with a link (Icecast mounts) ``riffcast_output_up`` and ``riffcast_output_reconnects_total``;
    - ``/stream``'s listeners: ``riffcast_frames_sent_total``, ``riffcast_frames_dropped_total``,
      ``riffcast_listeners_closed_total{reason}``;
    - the encoders: ``riffcast_encoder_cpu_seconds{codec}``, ``riffcast_encoder_failures``.
    """

    def __init__(self, outputs: Callable[[], Iterable[OutputReport]], listeners: Callable[[], ListenerCounts],
                 encoder_cpu_s: Callable[[], Mapping[str, float]], encoder_failures: Callable[[], int]) -> None:
        self._outputs = outputs
        self._listeners = listeners
        self._encoder_cpu_s = encoder_cpu_s
        self._encoder_failures = encoder_failures

    def describe(self) -> Iterator[Metric]:
        return self._families([], ListenerCounts(0, 0, {}), {}, 0)

    def collect(self) -> Iterator[Metric]:
        return self._families(list(self._outputs()), self._listeners(), self._encoder_cpu_s(), self._encoder_failures())

    @staticmethod
    def _families(reports: list[OutputReport], listeners: ListenerCounts, encoder_cpu_s: Mapping[str, float],
                  encoder_failures: int) -> Iterator[Metric]:
        dropped = CounterMetricFamily("riffcast_output_dropped_seconds", "Seconds of audio an output skipped for "
                                      "receivers that fell behind (the one backlog policy), all receivers together",
                                      labels=["output"])
        receivers = GaugeMetricFamily("riffcast_output_receivers", "Listeners or connections an output writes to now",
                                      labels=["output"])
        sent = CounterMetricFamily("riffcast_output_sent_bytes", "Bytes an output wrote, all receivers and "
                                   "connections together", labels=["output"])
        up = GaugeMetricFamily("riffcast_output_up", "1 while an output with a link (an Icecast mount) streams, else 0",
                               labels=["output"])
        reconnects = CounterMetricFamily("riffcast_output_reconnects",
                                         "Tries again after a failed or lost connection, by output", labels=["output"])
        for report in reports:
            dropped.add_metric([report.output], report.dropped_s)
            receivers.add_metric([report.output], report.receivers)
            sent.add_metric([report.output], report.sent_bytes)
            if report.up is not None:
                up.add_metric([report.output], float(report.up))
                reconnects.add_metric([report.output], report.reconnects)
        frames_sent = CounterMetricFamily("riffcast_frames_sent", "Audio messages (PCM frames, Opus packets) "
                                          "written to /stream's listeners", value=listeners.messages_sent)
        frames_dropped = CounterMetricFamily("riffcast_frames_dropped", "Audio messages skipped for /stream's "
                                             "listeners that fell behind", value=listeners.messages_dropped)
        closed = CounterMetricFamily("riffcast_listeners_closed", "/stream's listeners closed or turned away by the "
                                     "station", labels=["reason"])
        for reason, count in sorted(listeners.closed.items()):
            closed.add_metric([reason], count)
        cpu = GaugeMetricFamily("riffcast_encoder_cpu_seconds", "CPU time each encoder (one per format) has spent "
                                "encoding", labels=["codec"])
        for codec, seconds in encoder_cpu_s.items():
            cpu.add_metric([codec], seconds)
        failures = GaugeMetricFamily("riffcast_encoder_failures", "Encoders that failed and were replaced",
                                     value=encoder_failures)
        yield from (dropped, receivers, sent, up, reconnects, frames_sent, frames_dropped, closed, cpu, failures)
