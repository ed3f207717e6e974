"""A station's memory over a long run, each figure against the station's own recording.

A real synth station (``riffcast serve``) runs ``--minutes`` (default 10) with ``--as-run``,
``--record`` (WAV), a playlist (entries of 2 minutes, a bar line each), ``--osc-port`` and
``--hls-window 15m``, steered from control every 70 s and from OSC every 110 s. Before it stops:

- ``/stream?from=`` (s16le) 5 minutes back, 10 s of it, against the recording at the same positions
  (the recording scales to 16 bits by 32768, the stream by 32767: up to 2 steps apart);
- ``/clip`` (WAV) of a minute 5 minutes back, against the recording;
- ``/history`` against the as-run log (the same seconds, segment by segment).

After it stops: every aired second covered by exactly one image line (positions contiguous from 0 to
the recording's end), each steer's ack inside a logged image, by source; then ``riffcast replay`` of a
minute from the middle against the recording (sample for sample when no underrun aired before it).

Run: ``python benchmarks/station_memory.py`` (about 11 minutes); ``--minutes 6`` for a shorter run
(the rewind needs more than 5).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile
from pythonosc.udp_client import SimpleUDPClient
from websockets.asyncio.client import connect

from riffcast_client import protocol

from harness.machine import host_description
from harness.station import Station, free_port, random_token

RATE = 44100
BACK_S = 300.0  # how far back the rewind asks
CONTROL_EVERY_S, OSC_EVERY_S = 70.0, 110.0


def iso(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_s(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


async def steer(station: Station, number: int) -> dict:
    async with connect(f"{station.control_url}?token={station.token}") as control:
        await control.send(json.dumps({"type": "steer", "id": f"control-{number}", "prompt": f"control steer {number}",
                                       "seed": number, "transition_chunks": 1}))
        return json.loads(await control.recv())


async def rewound(station: Station, position: int, seconds: float) -> tuple[int, np.ndarray]:
    """``/stream?from=position`` (s16le): (the first frame's position, ``seconds`` of its samples as int16)."""
    samples: list[np.ndarray] = []
    async with connect(f"{station.stream_url}?format=s16le&from={position}", compression=None, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        while sum(s.size for s in samples) < seconds * RATE:
            message = await ws.recv()
            if isinstance(message, bytes):
                samples.append(protocol.decode_frame(message, "s16le").samples.reshape(-1))
    heard = np.round(np.concatenate(samples) * 32767).astype(np.int32)
    return hello["position"], heard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the station runs (default 10; > 5)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="riffcast-memory-") as folder:
        work = Path(folder)
        log, recording, playlist, osc_port = work / "as-run.jsonl", work / "aired.wav", work / "programme.toml", free_port()
        playlist.write_text("".join(f'[[target]]\nprompt = "programme {n}"\nseed = {n}\nduration_s = 120\n\n'
                                    for n in range(3)))
        station = Station("--as-run", str(log), "--record", str(recording), "--playlist", str(playlist),
                          "--osc-port", str(osc_port), "--hls-window", "15m", token=random_token(), name="memory")
        acks = []
        try:
            station.wait_playing(180)
            started, osc = time.monotonic(), SimpleUDPClient("127.0.0.1", osc_port)
            next_control, next_osc, number = CONTROL_EVERY_S, OSC_EVERY_S, 0
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if elapsed >= next_control:
                    acks.append(asyncio.run(steer(station, number)))
                    number, next_control = number + 1, next_control + CONTROL_EVERY_S
                if elapsed >= next_osc:
                    osc.send_message("/riffcast/prompt", f"osc steer {number}")
                    next_osc += OSC_EVERY_S
                time.sleep(0.5)
            health = station.health()
            epoch_s, window = health["epoch_s"], json.loads(get(f"{station.http}/window"))
            asked = window["end"] - round(BACK_S * RATE)
            first, heard = asyncio.run(rewound(station, asked, 10.0))
            clip_from_s = epoch_s + asked / RATE
            clip = get(f"{station.http}/clip?from={iso(clip_from_s)}&to={iso(clip_from_s + 60)}&format=wav")
            history = json.loads(get(f"{station.http}/history?limit=1000"))["segments"]
            underruns = health.get("underruns", 0)
        finally:
            station.stop()
        lines = [json.loads(text) for text in log.read_text().splitlines()]
        recorded, _ = soundfile.read(recording, dtype="int16")
        recorded = recorded.astype(np.int32)

        # The rewind, 5 minutes back: the frames from the asked position on, against the recording.
        held = recorded[first:first + heard.size]
        rows.append(("`/stream?from=` 5 min back: first position − asked (samples)", f"{first - asked}", "within a frame"))
        rows.append(("… 10 s of it against the recording: max difference (16-bit steps)",
                     f"{np.max(np.abs(heard - held))} over {heard.size} samples", "≤ 2 (32767 vs 32768 scaling)"))
        cut, _ = soundfile.read(io.BytesIO(clip), dtype="int16")
        clip_first = round((utc_s(iso(clip_from_s)) - epoch_s) * RATE)
        rows.append(("`/clip` of a minute 5 min back against the recording: length s / max difference",
                     f"{cut.size / RATE:.3f} / {np.max(np.abs(cut.astype(np.int32) - recorded[clip_first:clip_first + cut.size]))}",
                     "60.000 / ≤ 2"))

        # The as-run log: every aired second once, each steer inside a logged image.
        images = [line for line in lines if line["type"] == "image"]
        contiguous = images[0]["position"] == 0 and all(a["position"] + a["samples"] == b["position"]
                                                        for a, b in zip(images, images[1:]))
        logged_end = images[-1]["position"] + images[-1]["samples"]
        rows.append(("as-run: image lines contiguous from 0 / logged end − recording's end (s)",
                     f"{contiguous} / {(logged_end - recorded.size) / RATE:+.2f}", "True / ≥ 0 (logged as sent)"))
        steers = [line for line in lines if line["type"] == "steer"]
        inside = [any(i["position"] <= s["position"] < i["position"] + i["samples"] for i in images) for s in steers]
        by_source = {source: sum(s["source"] == source for s in steers) for source in ("playlist", "osc", "control")}
        rows.append(("steers logged by source / each ack inside a logged image",
                     f"{by_source} / {sum(inside)}/{len(steers)}", "all / all"))
        control_acks = {s["id"]: s["position"] for s in steers if s["source"] == "control"}
        agree = sum(control_acks.get(a["id"]) == a["position"] for a in acks if a["type"] == "ack")
        rows.append(("control acks equal to their logged steers", f"{agree}/{len(acks)}", "all"))
        rows.append(("`/history` segments: seconds / the log's seconds",
                     f"{sum(s['samples'] for s in history) / RATE:.2f} / {sum(i['samples'] for i in images) / RATE:.2f}",
                     "equal up to the last image logged after the request"))

        # A minute from the middle, painted again from the log.
        middle = [i for i in images if abs(i["position"] / RATE - args.minutes * 30) <= 30]
        replayed_wav = work / "replayed.wav"
        done = subprocess.run([sys.executable, "-m", "riffcast", "replay", "--as-run", str(log), "--from",
                               middle[0]["utc"], "--to", middle[-1]["utc"], "-o", str(replayed_wav)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        start = int(done.stdout.split("from stream position ")[1].split()[0])
        replayed, _ = soundfile.read(replayed_wav, dtype="int16")
        aired = recorded[start:start + replayed.size]
        repeats_before = sum(i["fallback"] for i in images if i["position"] < start + replayed.size)
        rows.append((f"replay of {replayed.size / RATE:.1f} s from the middle: equal samples / max difference",
                     f"{np.array_equal(replayed.astype(np.int32), aired)} / {np.max(np.abs(replayed - aired))}",
                     f"True where no repeat aired before it ({repeats_before} repeats, {underruns} underruns)"))

    print(f"\n# A station's memory — {host_description()}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{args.minutes:g} minutes\n")
    print("| check | measured | target |\n|---|---|---|")
    for check, measured, target in rows:
        print(f"| {check} | {measured} | {target} |")


if __name__ == "__main__":
    main()
