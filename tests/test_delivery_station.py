"""Delivery on a real station: /live.mp3 read by ffmpeg and a raw socket (ICY titles that follow a
steer), /stream?format=opus decoded by libopus (PyAV), PCM listeners beside them unaffected."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request

import av
import numpy as np
import pytest

from receiving import receive_for
from riffcast_client import protocol

from station import running_station, steer

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    with running_station(tmp_path_factory.mktemp("delivery"), "--station", "delivery test", "--prompt", "calm piano") as running:
        yield running


def test_live_mp3_plays_in_ffmpeg(station, tmp_path):
    out = tmp_path / "live.wav"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-t", "11", "-i", f"{station.http}/live.mp3",
                    "-ac", "1", "-y", str(out)], check=True, timeout=60)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels",
                            "-of", "json", f"{station.http}/live.mp3"], capture_output=True, text=True, timeout=30)
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("mp3", "44100", 1)
    import soundfile

    audio, rate = soundfile.read(out)
    assert rate == 44100 and audio.size >= 10.5 * rate
    rms_per_second = np.sqrt(np.mean(audio[: 10 * rate].reshape(10, rate) ** 2, axis=1))
    assert np.all(rms_per_second > 0.01)  # music all along, no silent second


def test_head_of_live_mp3_has_no_body(station):
    request = urllib.request.Request(f"{station.http}/live.mp3", method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "audio/mpeg"
        assert response.read() == b""


def _icy_titles(port: int, wanted: str, timeout_s: float) -> list[str]:
    """Read /live.mp3 with ICY metadata until a title containing ``wanted`` comes → every title seen."""
    titles: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(b"GET /live.mp3 HTTP/1.1\r\nHost: radio.test\r\nIcy-MetaData: 1\r\n\r\n")
        reader = sock.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += reader.read(1)
        metaint = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"icy-metaint")))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reader.read(metaint)
            length = reader.read(1)[0] * 16
            if length:
                text = reader.read(length).rstrip(b"\x00").decode()
                titles.append(text.removeprefix("StreamTitle='").removesuffix("';"))
                if wanted in titles[-1]:
                    return titles
    raise AssertionError(f"no title with {wanted!r} in {timeout_s} s; seen {titles}")



def test_icy_title_follows_a_steer(station):
    first = _icy_titles(station.port, "calm piano", 10)
    assert first[0] == "calm piano"
    ack = asyncio.run(steer(station, "steel drums at dusk"))
    assert ack["type"] == "ack"
    titles = _icy_titles(station.port, "steel drums at dusk", 40)
    assert titles[-1].startswith("steel drums at dusk") or "steel drums at dusk" in titles[-1]
    asyncio.run(steer(station, "calm piano"))


def test_opus_stream_decodes_with_contiguous_positions_beside_pcm(station):
    async def listen(url: str, seconds: float):
        hello, messages = await receive_for(url, seconds)
        return hello, [message for _, message in messages if isinstance(message, bytes)]

    async def both():
        return await asyncio.gather(listen(f"{station.stream_url}?format=opus", 11), listen(station.stream_url, 11))

    (hello, packets), (pcm_hello, frames) = asyncio.run(both())
    assert hello["format"] == "opus" and hello["codec_sample_rate"] == 48000 and hello["frame_samples"] == 882
    decoded_frames = [protocol.decode_packet(message) for message in packets]
    positions = np.array([frame.position for frame in decoded_frames])
    assert positions[0] == hello["position"] and set(np.diff(positions)) == {882}
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = 48000, "mono"
    audio = np.concatenate([f.to_ndarray().reshape(-1) for frame in decoded_frames
                            for f in decoder.decode(av.Packet(frame.data))]).astype(np.float64)
    audio /= 32768.0 if np.abs(audio).max() > 1.5 else 1.0
    assert audio.size >= 10 * 48000 and np.sqrt(np.mean(audio**2)) > 0.01
    kbit_per_s = sum(len(frame.data) for frame in decoded_frames) * 8 / (len(decoded_frames) * 0.02) / 1000
    assert kbit_per_s <= 96
    pcm_positions = np.array([protocol.decode_frame(m, pcm_hello["format"]).position for m in frames])
    assert set(np.diff(pcm_positions)) == {pcm_hello["frame_samples"]}  # PCM listeners unaffected


def test_live_mp3_says_the_position_of_its_first_frame(station):
    live = station.health()["position"]
    with socket.create_connection(("127.0.0.1", station.port), timeout=10) as sock:
        sock.sendall(b"GET /live.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    fields = dict(line.split(": ", 1) for line in head.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:])
    first = int(fields["X-Riffcast-Position"])
    assert live - 3 * 44100 <= first <= live + 44100  # about a second behind the live edge
