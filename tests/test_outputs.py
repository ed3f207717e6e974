"""The one backlog policy and the per-output figures it feeds, in-process (no sockets)."""

from __future__ import annotations

import asyncio
import re
import time

import numpy as np
import pytest

from riffcast.delivery.backlog import BacklogPolicy, Lag, Verdict
from riffcast.delivery.codecs import Packet
from riffcast.delivery.http_stream import LiveMp3
from riffcast.delivery.icecast_link import LinkStatus
from riffcast.delivery.output import Block
from riffcast.delivery.websocket import OpusListeners, PcmListeners
from riffcast.ops.metrics import ListenerCounts, StationMetrics

from fakes import StalledConnection, StalledTransport

POLICY = BacklogPolicy(backlog_s=1.0, stall_close_s=5.0)


def test_a_receiver_is_sent_to_within_its_backlog_dropped_beyond_it_and_closed_after_the_stall():
    lag = Lag(POLICY, bytes_per_s=1000)
    assert lag.limit_bytes == 1000
    assert lag.judge(1000, 0.0) is Verdict.SEND
    assert [lag.judge(1001, now_s) for now_s in (1.0, 3.0, 6.0)] == [Verdict.DROP] * 3  # behind since 1.0
    assert lag.judge(1001, 6.01) is Verdict.CLOSE
    assert lag.judge(0, 7.0) is Verdict.SEND and lag.behind_since is None  # caught up: the stall timer restarts
    assert lag.judge(5000, 8.0) is Verdict.DROP and lag.judge(5000, 12.0) is Verdict.DROP






def _value(text: str, name: str, output: str) -> float:
    found = re.search(rf'^{name}\{{output="{re.escape(output)}"\}} (\S+)$', text, re.M)
    assert found is not None, (name, output, text)
    return float(found.group(1))


def test_each_output_counts_the_seconds_it_dropped_and_metrics_show_them_by_output():
    async def scenario() -> tuple[PcmListeners, OpusListeners, LiveMp3, list[StalledConnection]]:
        pcm, opus, mp3 = PcmListeners(POLICY), OpusListeners(POLICY), LiveMp3("station", policy=POLICY)
        connections = [StalledConnection() for _ in range(3)]
        for connection, sample_format in zip(connections, ("s16le", "f32le")):
            pcm.add(pcm.listener(connection, sample_format))
        opus.add(opus.listener(connections[2], "opus"))
        transport = StalledTransport()
        mp3.attach(transport, icy=False, recent=[], title="t")
        for tick in range(10):  # 1 s of blocks, a tenth of a second apart: both PCM listeners behind
            pcm.write(Block(tick * 4410, np.zeros(4410, np.float32), 0.0))
        opus.deliver([Packet(882 * index, b"\x00" * 40) for index in range(50)])  # 1 s of Opus packets
        mp3.deliver([Packet(1152 * index, b"\xff" * 417) for index in range(10)], "t", 0.0)
        start_s = time.monotonic()  # write() and deliver() read the monotonic clock themselves
        for later_s in (6.0, 12.0):  # behind past the stall: closed
            pcm.fan_out((), {"s16le": b"frame", "f32le": b"frame"}, 0.1, start_s + later_s)
            opus.fan_out((), {"opus": [b"packet"]}, 0.02, start_s + later_s)
            mp3.deliver([Packet(0, b"\xff" * 417)], "t", later_s)
        await asyncio.wait_for(asyncio.gather(*(c.closed.wait() for c in connections)), 5)
        assert transport.aborted
        return pcm, opus, mp3, connections

    pcm, opus, mp3, _ = asyncio.run(scenario())
    assert pcm.health()[0].dropped_s == pytest.approx(2 * 1.0 + 2 * 0.1)  # two listeners, 1 s each, then the closing tick
    assert opus.health()[0].dropped_s == pytest.approx(1.0 + 0.02)
    assert mp3.health()[0].dropped_s == pytest.approx((10 + 1) * 1152 / 44100)
    assert (len(pcm), len(opus), len(mp3)) == (0, 0, 0)
    assert (pcm.tally.closed_too_slow, opus.tally.closed_too_slow, mp3.tally.closed_too_slow) == (2, 1, 1)

    link = LinkStatus("icecast:/live.mp3")
    link.dropped(2.5)
    mount = link.state(0.0)
    reports = (*pcm.health(), *opus.health(), *mp3.health())
    metrics = StationMetrics()
    metrics.watch_outputs(lambda: (*reports, mount.report()), lambda: ListenerCounts(7, 3, {"too_slow": 3}),
                          lambda: {"mp3": 0.5}, lambda: 0)
    text = metrics.render().decode()
    for output, report in zip(("ws-pcm", "ws-opus", "mp3"), reports):
        assert _value(text, "riffcast_output_dropped_seconds_total", output) == pytest.approx(report.dropped_s)
    assert _value(text, "riffcast_output_dropped_seconds_total", "icecast:/live.mp3") == 2.5
    assert 'riffcast_listeners_closed_total{reason="too_slow"} 3.0' in text
    assert "riffcast_frames_dropped_total 3.0" in text and 'riffcast_encoder_cpu_seconds{codec="mp3"} 0.5' in text

