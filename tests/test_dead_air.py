"""Dead air is a problem in /healthz (silence or the fallback for seconds), and listeners that
stall together are closed with a limited log."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

from riffcast.delivery.backlog import BacklogPolicy
from riffcast.delivery.codecs import Packet
from riffcast.delivery.http_stream import LiveMp3
from riffcast.delivery.websocket import PcmListeners
from riffcast.ops.dead_air import Air, DeadAirWatch

from fakes import StalledConnection, StalledTransport
from helpers import eventually
from station import running_station

RATE = 44_100
FRAME = 4_410  # 0.1 s


def _emit(watch: DeadAirWatch, air: Air, seconds: float, now_s: float) -> float:
    """``seconds`` of ``air`` in 0.1 s frames, emitted in real time from ``now_s`` → the time after."""
    for _ in range(round(seconds * 10)):
        watch.emitted(air, FRAME, now_s)
        now_s += 0.1
    return now_s


def test_a_hiccup_is_not_dead_air_but_seconds_of_silence_and_fallback_are_until_music_has_played_a_while():
    watch = DeadAirWatch(RATE, limit_s=4.0, hold_s=30.0)
    now_s = _emit(watch, Air.MUSIC, 10, 0.0)
    now_s = _emit(watch, Air.FALLBACK, 2.5, now_s)  # the start-up's few late windows
    now_s = _emit(watch, Air.MUSIC, 1, now_s)
    assert watch.problem(now_s) is None
    now_s = _emit(watch, Air.FALLBACK, 1.5, now_s)
    now_s = _emit(watch, Air.SILENCE, 3.0, now_s)
    problem = watch.problem(now_s)
    assert problem == "dead air: the stream has played 3.0 s of silence and 1.5 s of fallback (the generator is late)"
    now_s = _emit(watch, Air.MUSIC, 12, now_s)
    assert watch.problem(now_s).startswith("dead air: the stream played 3.0 s of silence and 1.5 s of fallback until 12 s ago")
    assert watch.problem(now_s + 17.8) is not None  # the spell's last frame was 12.1 s before now_s
    assert watch.problem(now_s + 18.0) is None  # 30 s after it
    assert watch.total_s[Air.SILENCE] == pytest.approx(3.0) and watch.total_s[Air.FALLBACK] == pytest.approx(4.0)


def test_a_burst_of_silence_after_a_frozen_process_counts_by_its_audio_not_its_wall_time():
    """After SIGSTOP the clock emits the missed frames at once: 20 s of silence in one instant."""
    watch = DeadAirWatch(RATE)
    for _ in range(200):
        watch.emitted(Air.SILENCE, FRAME, 100.0)
    assert "20.0 s of silence" in watch.problem(100.0)




def test_three_hundred_stalled_live_mp3_readers_are_closed_with_one_log_line(caplog):
    live = LiveMp3("station", policy=BacklogPolicy(backlog_s=2.0, stall_close_s=5.0))
    transports = [StalledTransport() for _ in range(300)]
    for transport in transports:
        live.attach(transport, icy=False, recent=[], title="t")
    packets = [Packet(0, b"\xff" * 417)]
    with caplog.at_level(logging.INFO, logger="riffcast.delivery"):
        for now_s in (0.0, 1.0, 6.0, 7.0):
            live.deliver(packets, "t", now_s)
    assert all(transport.aborted for transport in transports) and len(live) == 0
    assert live.tally.closed_too_slow == 300
    assert len(caplog.records) == 1, [record.getMessage() for record in caplog.records]




def test_three_hundred_stalled_websocket_listeners_are_closed_with_one_log_line(caplog):
    async def scenario() -> list[StalledConnection]:
        listeners = PcmListeners(BacklogPolicy(backlog_s=1.0, stall_close_s=5.0))
        connections = [StalledConnection() for _ in range(300)]
        for connection in connections:
            listeners.add(listeners.listener(connection, "s16le"))
        for now_s in (0.0, 6.0):
            listeners.fan_out((), {"s16le": b"frame"}, 0.1, now_s)
        await asyncio.wait_for(asyncio.gather(*(c.closed.wait() for c in connections)), 5)
        assert len(listeners) == 0
        return connections

    with caplog.at_level(logging.INFO, logger="riffcast.delivery.websocket"):
        asyncio.run(scenario())
    assert len(caplog.records) == 1, [record.getMessage() for record in caplog.records]


@pytest.mark.system
def test_a_station_frozen_for_seconds_reports_dead_air_in_healthz(tmp_path):
    """kill -STOP for 12 s: the clock then emits the missed frames beyond its lead (about 5 s) as
    silence, and /healthz says degraded with the dead air named."""
    with running_station(tmp_path) as running:
        os.kill(running.process.pid, signal.SIGSTOP)
        time.sleep(12)
        os.kill(running.process.pid, signal.SIGCONT)
        assert eventually(lambda: "dead air" in " ".join(running.health()["problems"]), 10, poll_s=0.2), \
            (running.health(), [line for line in running.metrics().splitlines() if "dead_air" in line])
        health = running.health()
        metrics = running.metrics()
    assert health["status"] == "degraded"
    (problem,) = [problem for problem in health["problems"] if problem.startswith("dead air")]
    assert "s of silence" in problem
    silence_s = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith('riffcast_dead_air_seconds_total{kind="silence"}')]
    assert silence_s and silence_s[0] >= 4.0, silence_s
