"""Delivery, sans I/O: the encoders (positions, decodability, bitrate), ICY metadata, and an encoder
worker that survives a failing or slow encoder."""

from __future__ import annotations

import asyncio
import threading

import av
import numpy as np
import pytest

from riffcast.delivery.codecs import Codec
from riffcast.delivery.encoders import StreamEncoder
from riffcast.delivery.icy import METAINT_BYTES, IcyInterleaver, metadata_block
from riffcast.delivery.outputs import title_of
from riffcast.delivery.worker import EncoderWorker

RATE = 44100


def _music(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2).astype(np.float32)


def _encode(codec: Codec, signal: np.ndarray, start: int, block: int = 4410):
    encoder = StreamEncoder(codec)
    packets = []
    for offset in range(0, signal.size - block + 1, block):
        packets += encoder.encode(start + offset, signal[offset : offset + block])
    return encoder, packets


def _decode(codec: Codec, packets) -> np.ndarray:
    decoder = av.CodecContext.create("libopus" if codec is Codec.OPUS else "mp3", "r")
    if codec is Codec.OPUS:
        decoder.sample_rate, decoder.layout = 48000, "mono"
    out = [frame.to_ndarray().reshape(-1) for packet in packets for frame in decoder.decode(av.Packet(packet.data))]
    decoded = np.concatenate(out).astype(np.float32)
    return decoded / 32768.0 if decoded.dtype.kind == "i" or np.abs(decoded).max() > 1.5 else decoded


def test_opus_packets_are_20_ms_with_contiguous_positions_at_the_stated_bitrate():
    encoder, packets = _encode(Codec.OPUS, _music(10.0), start=123_456)
    positions = np.array([packet.position for packet in packets])
    assert set(np.diff(positions)) == {882}
    assert positions[0] == 123_456 - 287  # libopus's look-ahead comes first
    kbit_per_s = sum(len(packet.data) for packet in packets) * 8 / (len(packets) * 0.02) / 1000
    assert kbit_per_s <= 96
    decoded = _decode(Codec.OPUS, packets)
    assert decoded.size == len(packets) * 960 and np.sqrt(np.mean(decoded**2)) > 0.05


def test_an_opus_packet_decodes_to_the_audio_at_its_position():
    signal = np.zeros(3 * RATE, dtype=np.float32)
    click_at = 50_000  # stream position 10_000 + this
    signal[click_at : click_at + 30] = np.hanning(30).astype(np.float32)
    _, packets = _encode(Codec.OPUS, signal, start=10_000)
    decoded = _decode(Codec.OPUS, packets)
    heard_at_48k = int(np.argmax(np.abs(decoded)))
    heard_position = packets[0].position + heard_at_48k * RATE / 48000
    assert abs(heard_position - (10_000 + click_at + 15)) < 15  # within 0.35 ms


def test_mp3_packets_are_whole_frames_at_128_kbit():
    _, packets = _encode(Codec.MP3, _music(10.0), start=0)
    stream = b"".join(packet.data for packet in packets)
    assert all(packet.data[:2] in (b"\xff\xfb", b"\xff\xfa") for packet in packets)  # MPEG-1 layer III frame syncs
    kbit_per_s = len(stream) * 8 / (len(packets) * 1152 / RATE) / 1000
    assert kbit_per_s == pytest.approx(128, abs=1)
    decoded = _decode(Codec.MP3, packets[5:])  # any run of packets decodes
    assert np.sqrt(np.mean(decoded**2)) > 0.05


def test_blocks_must_follow_each_other():
    encoder = StreamEncoder(Codec.OPUS)
    encoder.encode(0, np.zeros(4410, np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        encoder.encode(9000, np.zeros(4410, np.float32))


def test_icy_blocks_come_every_metaint_bytes_with_the_title_when_it_changes():
    icy = IcyInterleaver(metaint=100)
    out = icy.feed(bytes(250), "first") + icy.feed(bytes(100), "first") + icy.feed(bytes(60), "it's new")
    blocks, audio, rest = [], 0, memoryview(out)
    while len(rest) > 100:
        audio += 100
        length = rest[100] * 16
        blocks.append(bytes(rest[101 : 101 + length]).rstrip(b"\x00"))
        rest = rest[101 + length :]
    audio += len(rest)
    assert audio == 410
    assert blocks == [b"StreamTitle='first';", b"", b"", b"StreamTitle='it\xe2\x80\x99s new';"]
    assert metadata_block("x" * 5000)[0] == 255 and len(metadata_block("x" * 5000)) == 1 + 255 * 16
    assert METAINT_BYTES == 16000


def test_titles_name_the_prompts_heard():
    assert title_of([("lo-fi piano", 1.0)]) == "lo-fi piano"
    assert title_of([("a", 3.0), ("b", 1.0)]) == "a (75 %) + b (25 %)"


class _Flaky(StreamEncoder):
    calls = 0

    def encode(self, position, samples):
        type(self).calls += 1
        if type(self).calls == 3:
            raise RuntimeError("encoder broke")
        return super().encode(position, samples)


def test_a_failing_encoder_is_replaced_and_the_packets_go_on():
    async def run():
        got = []
        worker = EncoderWorker(Codec.OPUS, asyncio.get_running_loop(), got.extend, make_encoder=_Flaky)
        signal = _music(2.0)
        for offset in range(0, signal.size - 4410 + 1, 4410):
            worker.submit(offset, signal[offset : offset + 4410])
        await asyncio.sleep(1.0)
        worker.stop()
        await asyncio.sleep(0.1)
        return worker, got

    worker, packets = asyncio.run(run())
    assert worker.failures == 1
    positions = np.array([packet.position for packet in packets])
    gaps = np.diff(positions)[np.diff(positions) != 882]
    assert len(gaps) == 1 and gaps[0] > 882  # one jump: the lost block, then a new encoder
    assert positions[-1] > 1.7 * RATE


class _Slow(StreamEncoder):
    release = threading.Event()

    def encode(self, position, samples):
        self.release.wait()
        return super().encode(position, samples)


def test_a_stuck_encoder_drops_blocks_instead_of_holding_memory():
    async def run():
        worker = EncoderWorker(Codec.MP3, asyncio.get_running_loop(), lambda packets: None,
                               make_encoder=_Slow, max_pending_s=1.0)
        for offset in range(0, 30 * 4410, 4410):  # 3 s submitted while the encoder is stuck
            worker.submit(offset, np.zeros(4410, np.float32))
        dropped = worker.dropped_blocks
        _Slow.release.set()
        worker.stop()
        return dropped

    assert asyncio.run(run()) >= 19  # at most 1 s (10 blocks) + the one being encoded were kept


def test_icecast_urls_and_the_password_from_the_environment():
    from riffcast.delivery.icecast import parse_target

    target = parse_target("icecast://source:p%40ss@radio.example:8001/live.opus")
    assert (target.host, target.port, target.mount, target.password, target.codec) == (
        "radio.example", 8001, "/live.opus", "p@ss", Codec.OGG_OPUS)
    assert "p@ss" not in target.shown
    assert parse_target("icecast://source@radio.example/a.mp3", {"RIFFCAST_ICECAST_PASSWORD": "env"}).password == "env"
    with pytest.raises(ValueError, match="RIFFCAST_ICECAST_PASSWORD"):
        parse_target("icecast://source@radio.example/a.mp3", {})
