"""The rewind window end to end: a real station with ``--hls-window`` and ``--record``; listeners
that ask ``/stream?from=`` (PCM and Opus) and ``?since=``, ``/clip``, ffprobe and ffmpeg on the
playlist, all checked against the recording of the same positions."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import av
import numpy as np
import pytest
import soundfile
import soxr
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from riffcast_client import protocol

from station import running_station

pytestmark = pytest.mark.system

RATE = 44100
FRAME = 4410


def _iso(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def _listen(url: str, seconds: float) -> tuple[dict, list]:
    """(hello, the audio messages decoded) for ``seconds`` after the hello."""
    messages = []
    async with connect(url, compression=None, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            if isinstance(message, bytes):
                messages.append(protocol.decode_packet(message) if hello["format"] == "opus"
                                else protocol.decode_frame(message, hello["format"]))
    return hello, messages


def _lag(heard: np.ndarray, recorded: np.ndarray, reach: int) -> int:
    """The shift (samples) of ``heard`` against ``recorded`` at the cross-correlation's peak, within ±reach."""
    heard = heard[reach:heard.size - reach]
    scores = [float(np.dot(heard, recorded[reach + shift:reach + shift + heard.size])) for shift in range(-reach, reach + 1)]
    return int(np.argmax(scores)) - reach


def _decode_opus(packets: list) -> np.ndarray:
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = 48000, "mono"
    audio = np.concatenate([frame.to_ndarray().reshape(-1) for packet in packets
                            for frame in decoder.decode(av.Packet(packet.data))]).astype(np.float32)
    audio /= 32768.0 if np.abs(audio).max() > 1.5 else 1.0
    return soxr.resample(audio, 48000, RATE, quality="HQ")


def test_rewound_listeners_clips_and_players_get_what_the_recording_holds(tmp_path):
    record = tmp_path / "archive.wav"
    with running_station(tmp_path, "--hls-window", "30s", "--record", str(record)) as station:
        base = f"http://127.0.0.1:{station.port}"
        deadline = time.monotonic() + 60
        while (window := json.loads(_get(f"{base}/window")[1]))["end"] is None or window["end"] - window["first"] < 11 * RATE:
            assert time.monotonic() < deadline, window
            time.sleep(0.25)
        epoch_s = station.health()["epoch_s"]
        assert window["window_s"] == 30.0 and window["first"] == 0
        assert window["end_utc"] == _iso(epoch_s + window["end"] / RATE)

        # A PCM listener from 8 s back: every frame from the one holding the asked position, into live.
        asked = window["end"] - 8 * RATE + 1234
        hello, frames = asyncio.run(_listen(f"{station.stream_url}?format=s16le&from={asked}", 3.0))
        positions = [frame.position for frame in frames]
        assert hello["position"] == positions[0] == asked - asked % FRAME
        assert set(np.diff(positions)) == {FRAME} and positions[-1] > window["end"] + 2 * RATE  # into live
        # Another from where the first joined live: its stored frames are the ones the first got live, exactly.
        _, again = asyncio.run(_listen(f"{station.stream_url}?format=s16le&from={window['end']}", 0.5))
        live_frames = {frame.position: frame.samples for frame in frames if frame.position >= window["end"]}
        overlap = [frame for frame in again if frame.position in live_frames]
        assert len(overlap) >= 10 and all(np.array_equal(frame.samples, live_frames[frame.position]) for frame in overlap)
        # An Opus listener from 6 s back: the packet holding it, its own encoder's packets, then the live ones.
        asked_opus = window["end"] - 6 * RATE
        opus_hello, packets = asyncio.run(_listen(f"{station.stream_url}?format=opus&from={asked_opus}", 3.0))
        opus_positions = [packet.position for packet in packets]
        assert opus_hello["position"] == opus_positions[0] and asked_opus - 882 < opus_positions[0] <= asked_opus
        assert set(np.diff(opus_positions)) == {882} and opus_positions[-1] > window["end"] + 2 * RATE
        # since=ISO: the frame due at that time.
        since_s = epoch_s + (window["end"] - 5 * RATE) / RATE
        since_hello, _ = asyncio.run(_listen(f"{station.stream_url}?since={_iso(since_s)}", 0.2))
        due = round((round(since_s * 1000) / 1000 - epoch_s) * RATE)
        assert since_hello["position"] == due - due % FRAME

        # Outside the window: refused at the handshake, and a clip in one JSON line.
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(_listen(f"{station.stream_url}?from={window['end'] + 600 * RATE}", 0.2))
        assert refused.value.response.status_code == 416
        assert b"outside the rewind window" in refused.value.response.body
        status, body = _get(f"{base}/clip?from={_iso(epoch_s - 60)}&to={_iso(epoch_s - 50)}")
        assert status == 416 and list(json.loads(body)) == ["error"] and body.count(b"\n") == 0

        clip_from_s, clip_to_s = epoch_s + (window["end"] / RATE - 7.0), epoch_s + (window["end"] / RATE - 2.0)
        status, wav = _get(f"{base}/clip?from={_iso(clip_from_s)}&to={_iso(clip_to_s)}&format=wav")
        assert status == 200
        status, mp3 = _get(f"{base}/clip?from={_iso(clip_from_s)}&to={_iso(clip_to_s)}&format=mp3")
        assert status == 200 and len(mp3) < len(wav) / 5

        # ffprobe reads the playlist; ffmpeg plays it from the window's first segment.
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate", "-of", "json",
                                f"{base}/hls/live.m3u8"], capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["streams"][0] == {"codec_name": "mp3", "sample_rate": "44100"}
        played = tmp_path / "from-the-start.wav"
        ffmpeg = subprocess.run(["ffmpeg", "-v", "error", "-live_start_index", "0", "-i", f"{base}/hls/live.m3u8",
                                 "-t", "4", "-ac", "1", str(played)], capture_output=True, text=True, timeout=60)
        assert ffmpeg.returncode == 0, ffmpeg.stderr
    recorded_16, rate = soundfile.read(record, dtype="int16")
    recorded = recorded_16.astype(np.float32) / 32768
    assert rate == RATE

    heard = np.round(np.concatenate([frame.samples.reshape(-1) for frame in frames]) * 32767).astype(np.int32)
    held = recorded_16[positions[0]:positions[0] + heard.size].astype(np.int32)
    # The recording's 16-bit values scale by 32768, the stream's by 32767: up to 2 steps apart near full scale.
    assert heard.size == held.size and np.max(np.abs(heard - held)) <= 2
    clip_first = round((round(clip_from_s * 1000) / 1000 - epoch_s) * RATE)
    clip, _ = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert clip.size == round((round(clip_to_s * 1000) - round(clip_from_s * 1000)) / 1000 * RATE)
    assert np.max(np.abs(clip.astype(np.int32) - recorded_16[clip_first:clip_first + clip.size])) <= 2
    lags = {"opus": _lag(_decode_opus(packets)[:3 * RATE], recorded[opus_positions[0]:], 2000),
            "mp3 clip": _lag(soundfile.read(io.BytesIO(mp3), dtype="float32")[0][:3 * RATE], recorded[clip_first:], 3000),
            "hls from the start": _lag(soundfile.read(played, dtype="float32")[0][:3 * RATE], recorded, 3000)}
    print("cross-correlation peaks (samples):", lags)
    # Measured: 0, 0 and 47 (ffmpeg's MP3 decoder starts packed audio 1 ms late); a frame off would be 1152.
    assert abs(lags["opus"]) <= 10 and abs(lags["mp3 clip"]) <= 10 and abs(lags["hls from the start"]) <= 100, lags
