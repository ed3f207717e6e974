"""The rewind window end to end: a real station with ``--hls-window`` and ``--record``; listeners
that ask ``/stream?from=`` (PCM and Opus) and ``?since=``, ``/clip``, ffprobe and ffmpeg on the
playlist, all checked against the recording of the same positions."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import json
import re
import signal
import subprocess
import sys
import threading
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

from receiving import receive_for
from riffcast.delivery.codecs import Codec
from riffcast.delivery.encoders import StreamEncoder
from riffcast.delivery.hls import Entry, HlsSegmenter, id3_timestamp, playlist
from riffcast_client import protocol
from test_disk_full import MOUNT, _way_to_mount

from station import TOKEN, free_port, running_station

pytestmark = pytest.mark.system

RATE = 44100
FRAME = 4410


def _iso(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _said(time_s: float) -> float:
    """The Unix time that ``_iso(time_s)`` says (to the millisecond)."""
    return datetime.fromisoformat(_iso(time_s).replace("Z", "+00:00")).timestamp()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def _listen(url: str, seconds: float) -> tuple[dict, list]:
    """(hello, the audio messages decoded) for ``seconds`` after the hello."""
    hello, messages = await receive_for(url, seconds, max_size=None)
    decode = protocol.decode_packet if hello["format"] == "opus" else (
        lambda message: protocol.decode_frame(message, hello["format"]))
    return hello, [decode(message) for _, message in messages if isinstance(message, bytes)]


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
        while (window := json.loads(_get(f"{base}/window")[1]))["end"] is None or window["end"] - window["first"] < 7 * RATE:
            assert time.monotonic() < deadline, window
            time.sleep(0.25)
        epoch_s = station.health()["epoch_s"]
        assert window["window_s"] == 30.0 and window["first"] == 0
        end_s = datetime.fromisoformat(window["end_utc"].replace("Z", "+00:00")).timestamp()
        assert abs(end_s - (epoch_s + window["end"] / RATE)) <= 0.0005 + 1e-6  # to the millisecond

        # A PCM listener from 6 s back: every frame from the one holding the asked position, into live.
        asked = window["end"] - 6 * RATE + 1234
        hello, frames = asyncio.run(_listen(f"{station.stream_url}?format=s16le&from={asked}", 2.0))
        positions = [frame.position for frame in frames]
        assert hello["position"] == positions[0] == asked - asked % FRAME
        assert set(np.diff(positions)) == {FRAME} and positions[-1] > window["end"] + RATE  # into live
        # Another from where the first joined live: its stored frames are the ones the first got live, exactly.
        _, again = asyncio.run(_listen(f"{station.stream_url}?format=s16le&from={window['end']}", 0.5))
        live_frames = {frame.position: frame.samples for frame in frames if frame.position >= window["end"]}
        overlap = [frame for frame in again if frame.position in live_frames]
        assert len(overlap) >= 10 and all(np.array_equal(frame.samples, live_frames[frame.position]) for frame in overlap)
        # An Opus listener from 5 s back: the packet holding it, its own encoder's packets, then the live ones.
        asked_opus = window["end"] - 5 * RATE
        opus_hello, packets = asyncio.run(_listen(f"{station.stream_url}?format=opus&from={asked_opus}", 2.0))
        opus_positions = [packet.position for packet in packets]
        assert opus_hello["position"] == opus_positions[0] and asked_opus - 882 < opus_positions[0] <= asked_opus
        assert set(np.diff(opus_positions)) == {882} and opus_positions[-1] > window["end"] + RATE
        # since=ISO: the frame due at that time.
        since_s = epoch_s + (window["end"] - 5 * RATE) / RATE
        since_hello, _ = asyncio.run(_listen(f"{station.stream_url}?since={_iso(since_s)}", 0.2))
        due = round((_said(since_s) - epoch_s) * RATE)
        assert since_hello["position"] == due - due % FRAME

        # A listener that leaves while catching up costs nothing but its connection.
        async def leave_early() -> None:
            async with connect(f"{station.stream_url}?from=0", compression=None, close_timeout=1) as ws:  # it stops reading
                await ws.recv()
        asyncio.run(leave_early())

        # Outside the window: refused at the handshake, and a clip in one JSON line.
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(_listen(f"{station.stream_url}?from={window['end'] + 600 * RATE}", 0.2))
        assert refused.value.response.status_code == 416
        assert b"outside the rewind window" in refused.value.response.body
        status, body = _get(f"{base}/clip?from={_iso(epoch_s - 60)}&to={_iso(epoch_s - 50)}")
        assert status == 416 and list(json.loads(body)) == ["error"] and body.count(b"\n") == 0

        clip_from_s, clip_to_s = epoch_s + (window["end"] / RATE - 6.0), epoch_s + (window["end"] / RATE - 2.0)
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
                                 "-t", "3", "-ac", "1", str(played)], capture_output=True, text=True, timeout=60)
        assert ffmpeg.returncode == 0, ffmpeg.stderr
        assert station.problems == [], station.problems  # no traceback or error line in the station's log
    recorded_16, rate = soundfile.read(record, dtype="int16")
    recorded = recorded_16.astype(np.float32) / 32768
    assert rate == RATE

    heard = np.round(np.concatenate([frame.samples.reshape(-1) for frame in frames]) * 32767).astype(np.int32)
    held = recorded_16[positions[0]:positions[0] + heard.size].astype(np.int32)
    # The recording's 16-bit values scale by 32768, the stream's by 32767: up to 2 steps apart near full scale.
    assert heard.size == held.size and np.max(np.abs(heard - held)) <= 2
    clip_first = round((_said(clip_from_s) - epoch_s) * RATE)
    clip, _ = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert clip.size == round((_said(clip_to_s) - epoch_s) * RATE) - clip_first
    assert np.max(np.abs(clip.astype(np.int32) - recorded_16[clip_first:clip_first + clip.size])) <= 2
    lags = {"opus": _lag(_decode_opus(packets)[:3 * RATE], recorded[opus_positions[0]:], 2000),
            "mp3 clip": _lag(soundfile.read(io.BytesIO(mp3), dtype="float32")[0][:3 * RATE], recorded[clip_first:], 3000),
            "hls from the start": _lag(soundfile.read(played, dtype="float32")[0][:3 * RATE], recorded, 3000)}
    print("cross-correlation peaks (samples):", lags)
    # Measured: 0, 0 and 47 (ffmpeg's MP3 decoder starts packed audio 1 ms late); a frame off would be 1152.
    assert abs(lags["opus"]) <= 10 and abs(lags["mp3 clip"]) <= 10 and abs(lags["hls from the start"]) <= 100, lags


@contextlib.contextmanager
def _two_hour_playlist_served() -> tuple[str, list[int]]:
    """A real HTTP server with a playlist of 3600 segments (2 h) made by the station's playlist
    code; every segment is the same 88 MP3 frames (a tone, through the station's encoder) behind
    its own ID3 timestamp → (the playlist's URL, the segment numbers fetched)."""
    encoder, segmenter = StreamEncoder(Codec.MP3), HlsSegmenter()
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(6 * RATE) / RATE)).astype(np.float32)
    segments = [segment for position in range(0, tone.size, FRAME)
                for segment in segmenter.feed(encoder.encode(position, tone[position:position + FRAME]))]
    frames = segments[1].data[len(id3_timestamp(segments[1].position)):]
    samples = round(segments[0].duration_s * RATE)
    entries = [Entry(sequence, sequence * samples, segments[0].duration_s) for sequence in range(3600)]
    text = playlist(entries, segment_url="seg/{sequence}.mp3", epoch_s=time.time() - 7200).encode()
    fetched: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            match = re.fullmatch(r"/seg/(\d+)\.mp3", self.path)
            if self.path == "/live.m3u8":
                body, kind = text, "application/vnd.apple.mpegurl"
            elif match and int(match.group(1)) < len(entries):
                fetched.append(int(match.group(1)))
                body, kind = id3_timestamp(entries[int(match.group(1))].position) + frames, "audio/mpeg"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/live.m3u8", fetched
    finally:
        server.shutdown()
        server.server_close()


def test_ffprobe_and_ffmpeg_read_a_two_hour_playlist(tmp_path):
    with _two_hour_playlist_served() as (url, fetched):
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate",
                                "-of", "json", url], capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["streams"][0] == {"codec_name": "mp3", "sample_rate": "44100"}
        for first in (0, 1800):  # from the window's start, and from its middle: a player seeking back
            fetched.clear()
            out = tmp_path / f"from-{first}.wav"
            played = subprocess.run(["ffmpeg", "-v", "error", "-live_start_index", str(first), "-i", url, "-t", "3",
                                     str(out)], capture_output=True, text=True, timeout=60)
            assert played.returncode == 0, played.stderr
            assert fetched[0] == first and soundfile.info(out).duration == pytest.approx(3.0, abs=0.1)


def test_a_full_disk_is_a_health_problem_and_the_stream_goes_on(tmp_path):
    """The window's folder on a real 1 MiB tmpfs (a mount namespace of the station's own): full
    after about 10 s of a 10 minute window; /healthz says so, listeners and HLS go on."""
    disk, port = tmp_path / "disk", free_port()
    disk.mkdir()
    command = [*_way_to_mount(disk), "sh", "-c", MOUNT.format(size=1) + ' && shift && exec "$@"', "sh", str(disk),
               sys.executable, "-m", "riffcast", "serve", "--generator", "synth", "--host", "127.0.0.1",
               "--port", str(port), f"--control-token={TOKEN}", "--hls-window", "10m", "--hls-window-dir", str(disk)]
    log = open(tmp_path / "station.log", "wb")
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, health = time.monotonic() + 90, {}
        while not health.get("problems"):
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "station.log").read_text()
            time.sleep(0.5)
            with contextlib.suppress(OSError, ValueError):
                health = json.loads(_get(f"{base}/healthz")[1])
        assert health["status"] == "degraded" and len(health["problems"]) == 1
        assert re.fullmatch(r"the rewind window cannot be stored: the disk is full \(.+: \d+ bytes free\)",
                            health["problems"][0]), health["problems"]
        hello, frames = asyncio.run(_listen(f"ws://127.0.0.1:{port}/stream", 2.0))
        assert len(frames) >= 15 and set(np.diff([frame.position for frame in frames])) == {FRAME}
        status, text = _get(f"{base}/hls/live.m3u8")
        assert status == 200 and text.count(b"#EXTINF") >= 3
        window = json.loads(_get(f"{base}/window")[1])
        assert window["end"] >= health["position"] - 10 * RATE  # what was stored stays there to rewind to
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        log.close()
    assert process.returncode == 0, (tmp_path / "station.log").read_text()
