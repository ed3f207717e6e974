"""OSC steering: the sans-I/O decoding and validation, the endpoint's counting and log limits,
and a real station steered over UDP (a prompt sent is heard; garbage changes nothing)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.asyncio.client import connect

from riffcast.ops.metrics import StationMetrics
from riffcast.station.osc_endpoint import OscEndpoint, bind_osc_socket
from riffcast.steering.fields import Steer
from riffcast.steering.osc import OscMessage, OscRefused, RefusalReason, messages_in, steer_from_osc
from riffcast.steering.targets import Target, WeightedPrompt
from riffcast_client import protocol

from station import TOKEN, free_port, running_station

CURRENT = Target((WeightedPrompt("jazz", 2.0), WeightedPrompt("rain", 1.0)), seed=5, denoising=0.6, guidance=6.0)


def datagram(address: str, *arguments) -> bytes:
    builder = OscMessageBuilder(address)
    for argument in arguments:
        builder.add_arg(argument)
    return builder.build().dgram


def steer(address: str, *arguments) -> Steer:
    (message,) = messages_in(datagram(address, *arguments))
    return steer_from_osc(message, CURRENT)


def test_every_address_steers_from_the_current_target():
    assert steer("/riffcast/prompt", "techno") == Steer(Target.from_text("techno", seed=5, denoising=0.6, guidance=6.0))
    both = steer("/riffcast/prompts", "a", 3.0, "b", 1)
    assert [(p.text, p.weight) for p in both.target.prompts] == [("a", 3.0), ("b", 1.0)]
    reweighted = steer("/riffcast/weights", 0.5, 4.0)
    assert [(p.text, p.weight) for p in reweighted.target.prompts] == [("jazz", 0.5), ("rain", 4.0)]
    assert steer("/riffcast/seed", 99).target == Target(CURRENT.prompts, 99, "", 0.6, 6.0)
    assert steer("/riffcast/denoising", 0.3).target.denoising == pytest.approx(0.3)
    assert steer("/riffcast/guidance", 9).target.guidance == 9.0
    assert steer("/riffcast/transition", 2) == Steer(CURRENT, 2)
    as_json = steer("/riffcast/steer", json.dumps({"type": "steer", "prompt": "x", "seed": 1, "transition_chunks": 3}))
    assert as_json == Steer(Target.from_text("x", seed=1, denoising=0.6, guidance=6.0), 3)


def test_a_bundle_is_opened():
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(OscMessageBuilder("/riffcast/seed").build())
    for address, value in (("/riffcast/seed", 7), ("/riffcast/guidance", 3.0)):
        message = OscMessageBuilder(address)
        message.add_arg(value)
        bundle.add_content(message.build())
    messages = messages_in(bundle.build().dgram)
    assert [m.address for m in messages] == ["/riffcast/seed"] * 2 + ["/riffcast/guidance"]
    assert messages[1] == OscMessage("/riffcast/seed", (7,))


def nested(depth: int, inner: bytes | None = None) -> bytes:
    """``inner`` (default: a valid seed message) inside ``depth`` bundles."""
    inner = datagram("/riffcast/seed", 1) if inner is None else inner
    for _ in range(depth):
        inner = b"#bundle\x00" + (1).to_bytes(8, "big") + len(inner).to_bytes(4, "big") + inner
    return inner


def bundle(*elements: bytes) -> bytes:
    return b"#bundle\x00" + (1).to_bytes(8, "big") + b"".join(len(e).to_bytes(4, "big") + e for e in elements)


def raw_message(address: bytes, tags: bytes, arguments: bytes = b"") -> bytes:
    """A message with any type tag string (padded as OSC pads strings)."""
    def pad(text: bytes) -> bytes:
        return text + b"\x00" * (4 - len(text) % 4)
    return pad(address) + pad(b"," + tags) + arguments


# The second outside probe's datagrams: each once logged a line per element, recursed or took memory.
HOSTILE = [
    (raw_message(b"/riffcast/seed", b"x" * 60_000), RefusalReason.TOO_LARGE),
    (raw_message(b"/riffcast/seed", b"x" * 20_000), RefusalReason.TOO_MANY),
    (raw_message(b"/riffcast/seed", b"xi", b"\x00\x00\x00\x01"), RefusalReason.UNREADABLE_TYPE),
    (raw_message(b"/riffcast/seed", b"[i]", b"\x00\x00\x00\x01"), RefusalReason.UNREADABLE_TYPE),
    (nested(3000), RefusalReason.TOO_LARGE),
    (nested(1000), RefusalReason.TOO_DEEP),
    (nested(5), RefusalReason.TOO_DEEP),
    (bundle(*[datagram("/riffcast/seed", 1)] * 33), RefusalReason.TOO_MANY),
    (bundle(b"junk"), RefusalReason.NOT_OSC),
    (nested(1, bundle(b"/a\x00\x00")[:-2]), RefusalReason.NOT_OSC),  # an element longer than its bundle
    (b"/riffcast/seed", RefusalReason.NOT_OSC),  # no NUL after the address
    (b"/riffcast/seed\x00\x00,iii", RefusalReason.NOT_OSC),  # type tags not terminated
    (b"/riffcast/seed\x00\x00iii\x00", RefusalReason.NOT_OSC),  # type tags without their comma
]

BAD = HOSTILE + [
    (b"", RefusalReason.NOT_OSC),
    (b"\x00\x01garbage that is not OSC", RefusalReason.NOT_OSC),
    (b"#bundle\x00" + b"\xff" * 12, RefusalReason.NOT_OSC),
    (datagram("/other/prompt", "x"), RefusalReason.UNKNOWN_ADDRESS),
    (datagram("/riffcast/volume", 1.0), RefusalReason.UNKNOWN_ADDRESS),
    (datagram("/riffcast/prompt"), RefusalReason.INVALID),
    (datagram("/riffcast/prompt", 5), RefusalReason.INVALID),
    (datagram("/riffcast/prompt", "   "), RefusalReason.INVALID),
    (datagram("/riffcast/prompt", "x" * 1001), RefusalReason.INVALID),
    (datagram("/riffcast/prompts", "a", 1.0, "b"), RefusalReason.INVALID),
    (datagram("/riffcast/prompts", "a", float("nan")), RefusalReason.INVALID),
    (datagram("/riffcast/prompts", "a", -1.0), RefusalReason.INVALID),
    (datagram("/riffcast/weights", 1.0), RefusalReason.INVALID),
    (datagram("/riffcast/weights", 1.0, math.inf), RefusalReason.INVALID),
    (datagram("/riffcast/seed", 2.5), RefusalReason.INVALID),
    (datagram("/riffcast/seed", -1), RefusalReason.INVALID),
    (datagram("/riffcast/seed", "12"), RefusalReason.INVALID),
    (datagram("/riffcast/seed", True), RefusalReason.INVALID),
    (datagram("/riffcast/denoising", 0.0), RefusalReason.INVALID),
    (datagram("/riffcast/guidance", float("nan")), RefusalReason.INVALID),
    (datagram("/riffcast/transition", 65), RefusalReason.INVALID),
    (datagram("/riffcast/steer", "{not json"), RefusalReason.INVALID),
    (datagram("/riffcast/steer", '{"type": "status"}'), RefusalReason.INVALID),
    (datagram("/riffcast/steer", '{"type": "steer", "prompt": "a", "extra": 1}'), RefusalReason.INVALID),
]


@pytest.mark.parametrize(("data", "reason"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_datagrams_are_refused_with_their_reason(data, reason):
    with pytest.raises(OscRefused) as refused:
        for message in messages_in(data):
            steer_from_osc(message, CURRENT)
    assert refused.value.reason is reason and str(refused.value)


class FakeFeed:
    def __init__(self) -> None:
        self.steers: list[tuple[Target, int | None]] = []

    def latest_target(self) -> Target:
        return self.steers[-1][0] if self.steers else CURRENT

    def steer(self, target, transition_chunks=None):
        self.steers.append((target, transition_chunks))


def _refused(metrics: StationMetrics, reason: RefusalReason) -> float:
    return metrics.registry.get_sample_value("riffcast_osc_refused_total", {"reason": reason.value}) or 0.0


def test_the_endpoint_steers_counts_refusals_and_logs_at_most_once_a_second(caplog):
    feed, metrics = FakeFeed(), StationMetrics()
    endpoint = OscEndpoint(feed, metrics, generating=lambda: True, rate_per_s=50)
    address = ("127.0.0.1", 9999)
    endpoint.datagram_received(datagram("/riffcast/seed", 8), address)
    endpoint.datagram_received(datagram("/riffcast/guidance", 2.0), address)  # keeps the seed just sent
    assert [(t.seed, t.guidance) for t, _ in feed.steers] == [(8, 6.0), (8, 2.0)]
    with caplog.at_level(logging.WARNING, logger="riffcast.station"):
        for _ in range(30):
            endpoint.datagram_received(b"junk", address)
            endpoint.datagram_received(datagram("/riffcast/seed", "x"), address)
    assert _refused(metrics, RefusalReason.NOT_OSC) == 30 and _refused(metrics, RefusalReason.INVALID) == 30
    assert len(caplog.records) == 2  # one line per reason within the second
    for _ in range(200):
        endpoint.datagram_received(datagram("/riffcast/seed", 1), address)
    assert _refused(metrics, RefusalReason.FLOOD) > 0
    assert 40 <= len(feed.steers) <= 42  # a burst of 100, 62 of it used above (+ what refilled meanwhile)
    assert metrics.registry.get_sample_value("riffcast_osc_steers_total") == len(feed.steers)
    down = OscEndpoint(FakeFeed(), metrics, generating=lambda: False)
    down.datagram_received(datagram("/riffcast/seed", 1), address)
    assert _refused(metrics, RefusalReason.NOT_GENERATING) == 1 and not down.feed.steers


def test_hostile_datagrams_cost_little_log_one_line_per_reason_and_never_reach_the_parser(caplog, monkeypatch):
    """The probe's datagrams (60 000 unknown type tags, bundles 3000 deep, …), 50 of each: each
    refused before python-osc parses it, counted, one log line per reason, the loop never held
    for 50 ms by one, and no memory taken."""
    import tracemalloc

    import riffcast.steering.osc as osc

    parsed = []
    monkeypatch.setattr(osc, "OscPacket", lambda data: parsed.append(data))
    metrics = StationMetrics()
    endpoint = OscEndpoint(FakeFeed(), metrics, generating=lambda: True, rate_per_s=1e6, bytes_per_s=1e9)
    longest_s = 0.0
    tracemalloc.start()
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(50):
                for data, _ in HOSTILE:
                    started = time.perf_counter()
                    endpoint.datagram_received(data, ("127.0.0.1", 9999))
                    longest_s = max(longest_s, time.perf_counter() - started)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not parsed and not endpoint.feed.steers
    for reason in {reason for _, reason in HOSTILE}:
        assert _refused(metrics, reason) == 50 * sum(1 for _, r in HOSTILE if r is reason)
    assert len(caplog.records) == len({reason for _, reason in HOSTILE})  # all within one second
    assert longest_s < 0.05, f"one datagram held the loop for {longest_s * 1000:.0f} ms"
    assert peak_bytes < 1_000_000, f"refusing took {peak_bytes} bytes"


def test_a_flood_of_bytes_is_refused_even_within_the_datagram_rate():
    metrics = StationMetrics()
    endpoint = OscEndpoint(FakeFeed(), metrics, generating=lambda: True, rate_per_s=1000, bytes_per_s=10_000)
    big = datagram("/riffcast/prompt", "x" * 900)  # about 1 kB: a burst of 20 kB takes about 20
    for _ in range(40):
        endpoint.datagram_received(big, ("127.0.0.1", 9999))
    assert 19 <= len(endpoint.feed.steers) <= 21 and _refused(metrics, RefusalReason.FLOOD) >= 19


def test_what_python_osc_logs_through_the_root_logger_is_dropped(caplog):
    """Defence in depth: should a datagram ever reach python-osc's warnings, they go nowhere."""
    from pythonosc.osc_packet import OscPacket

    OscEndpoint(FakeFeed(), StationMetrics(), generating=lambda: True)
    with caplog.at_level(logging.DEBUG):
        OscPacket(raw_message(b"/riffcast/seed", b"xxx"))  # three "Unhandled parameter type" warnings
        logging.warning("the station's own root warnings still pass")
    assert [record.getMessage() for record in caplog.records] == ["the station's own root warnings still pass"]


def test_a_port_in_use_is_refused_in_one_line():
    taken = bind_osc_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="--osc-port .* cannot listen on udp://127.0.0.1"):
            bind_osc_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


@pytest.mark.system
def test_a_station_steered_over_osc_plays_the_prompt_and_ignores_garbage(tmp_path):
    osc_port = free_port()  # a free TCP port number; UDP is bound by the station
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def status(running) -> dict:
        async with connect(f"{running.control_url}?token={TOKEN}") as control:
            await control.send('{"type": "status"}')
            return json.loads(await control.recv())

    async def listen(running) -> tuple[list[int], dict | None]:
        positions, heard = [], None
        async with connect(running.stream_url, compression=None) as listener:
            json.loads(await listener.recv())
            first = await status(running)
            for data, _ in BAD:  # garbage first: nothing may change
                sender.sendto(data, ("127.0.0.1", osc_port))
            await asyncio.sleep(0.5)
            before = await status(running)
            sender.sendto(datagram("/riffcast/prompt", "osc marimba"), ("127.0.0.1", osc_port))
            deadline = time.monotonic() + 60
            while heard is None and time.monotonic() < deadline:
                message = await listener.recv()
                if isinstance(message, bytes):
                    positions.append(protocol.decode_frame(message, "s16le").position)
                elif any(p["text"] == "osc marimba" for p in json.loads(message).get("prompts", [])):
                    heard = json.loads(message)
        return positions, first, before, heard

    with running_station(tmp_path, "--osc-port", str(osc_port), "--prompt", "lofi piano", "--prompt", "rain") as running:
        positions, first, before, heard = asyncio.run(listen(running))
        metrics = running.metrics()
        log = running.log()
    sender.close()
    settings = ("prompts", "negative_prompt", "denoising", "guidance", "transition_chunks")
    assert [before[key] for key in settings] == [first[key] for key in settings]
    assert before["prompts"] == [{"text": "lofi piano", "weight": 1.0}, {"text": "rain", "weight": 1.0}]
    assert before["seed"] in (first["seed"], first["seed"] + 1)  # only the seed walk moves it
    assert heard is not None, "the prompt sent over OSC was never heard"
    assert np.all(np.diff(positions) == 4410)
    refused = {reason: 0.0 for reason in RefusalReason}
    for line in metrics.splitlines():
        if line.startswith("riffcast_osc_refused_total{"):
            refused[RefusalReason(line.split('"')[1])] = float(line.rsplit(" ", 1)[1])
    expected = {reason: sum(1 for _, r in BAD if r is reason) for reason in RefusalReason}
    assert refused == expected
    assert "riffcast_osc_steers_total 1.0" in metrics
    assert f"OSC steering on udp://127.0.0.1:{osc_port}" in log
    assert log.count("OSC from 127.0.0.1 refused") <= len({r for _, r in BAD})  # one line per reason and second
