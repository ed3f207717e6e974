"""A station's memory over a long run, each figure against the station's own recording.

A real synth station (``riffcast serve``) runs ``--minutes`` (default 10) with ``--as-run``,
``--record`` (WAV), a playlist (entries of 2 minutes, a bar line each), ``--osc-port`` and
``--hls-window 15m``, steered from control every 70 s and from OSC every 110 s. Before it stops:

- the browser player in headless Chromium (the tests' launcher) plays live, is rewound 5 minutes on
  its scrub bar as a user would, and 10 s of what it then sends to the speakers
  (``window.riffcast.capture``) is cross-correlated with the recording at the positions it says it
  plays; the page's JavaScript heap and the frames it holds waiting, before and after;
- ``/stream?from=`` (s16le) 5 minutes back, 10 s of it, against the recording at the same positions
  (the recording scales to 16 bits by 32768, the stream by 32767: up to 2 steps apart);
- ``/clip`` (WAV) of a minute 5 minutes back, against the recording;
- ``/history`` against the as-run log (the same seconds, segment by segment).

After it stops: every aired second covered by exactly one image line (positions contiguous from 0 to
the recording's end), each steer's ack inside a logged image, by source; then ``riffcast replay`` of a
minute from the middle against the recording (sample for sample when no underrun aired before it).

Run: ``python benchmarks/station_memory.py`` (about 12 minutes); ``--minutes 6`` for a shorter run
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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile
from pythonosc.udp_client import SimpleUDPClient
from websockets.asyncio.client import connect

from riffcast_client import protocol

from harness.alignment import Alignment, align
from harness.browser import CapturedAudio, capture_audio, headless_chromium, wait_for
from harness.machine import host_description
from harness.station import Station, free_port, random_token

RATE = 44100
BACK_S = 300.0  # how far back the rewind asks
PAGE_CAPTURE_S = 10.0  # of the page's audio after its rewind
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


@dataclass(frozen=True)
class PageRewind:
    """The player rewound on its scrub bar: the position it heard live and the one it asked (stream
    samples), what it played after, and the page's memory (bytes) live before and after (JS heap
    used after a garbage collection; frames held waiting, and the milliseconds of audio they hold)."""

    live: float
    asked: int
    captured: CapturedAudio
    heap_before: int
    heap_after: int
    held_before: int
    held_after: int
    held_ms_after: float


def page_rewind(station: Station, back_s: float) -> PageRewind:
    """Open the player, play live, drag its scrub bar ``back_s`` back, capture what it then plays."""
    memory = "(window.gc(), {heap: performance.memory.usedJSHeapSize, held: window.riffcast.stats.queuedBytes, " \
             "heldMs: window.riffcast.stats.queuedMs})"
    with headless_chromium("--enable-precise-memory-info", "--js-flags=--expose-gc") as browser:
        page = browser.new_page()
        page.goto(f"{station.http}/")
        page.click("#play")
        wait_for(page, "window.riffcast.stats.state === 'playing' && !document.getElementById('scrub').disabled",
                 timeout=30_000)
        page.wait_for_timeout(3000)
        before = page.evaluate(memory)
        heard = page.evaluate("window.riffcast.stats.playedPosition")
        page.evaluate("(value) => { const bar = document.getElementById('scrub'); bar.value = String(value); "
                      "bar.dispatchEvent(new Event('input')); bar.dispatchEvent(new Event('change')); }",
                      round(heard - back_s * RATE))
        asked = page.evaluate("window.riffcast.stats.from")
        wait_for(page, "(limit) => window.riffcast.stats.state === 'playing' && window.riffcast.stats.playedPosition "
                       "!== null && window.riffcast.stats.playedPosition < limit", heard - back_s * RATE / 2,
                 timeout=60_000)
        page.wait_for_timeout(3000)
        after = page.evaluate(memory)  # before the capture's own arrays
        captured = capture_audio(page, PAGE_CAPTURE_S)
    return PageRewind(heard, asked, captured, before["heap"], after["heap"], before["held"], after["held"], after["heldMs"])


def page_rows(rewind: PageRewind, recorded: np.ndarray) -> list[tuple[str, str, str]]:
    """The table's rows for the player's rewind, against the recording."""
    first, heard = rewind.captured.longest_run()
    found: Alignment = align(heard, first, rewind.captured.step, recorded, RATE, 1.5)
    held_decoded_mb = rewind.held_ms_after / 1000 * RATE * 4 / 1e6  # what the frames held would be, decoded
    return [
        ("Chromium, the player rewound on its scrub bar: asked − its live position (s) / the capture's first "
         "position − asked (s)", f"{(rewind.asked - rewind.live) / RATE:.2f} / {(first - rewind.asked) / RATE:.2f}",
         f"−{BACK_S:g} / ≥ 0 (played on from there)"),
        (f"… {heard.size / RATE:.1f} s of the page's audio (of {PAGE_CAPTURE_S:g} s captured) against the recording: "
         "cross-correlation peak offset (ms) / coefficient / best ≥ 50 ms away",
         f"{found.lag_samples / RATE * 1000:+.2f} / {found.coefficient:.4f} / {found.runner_up:.3f}",
         "0 within a few ms / near 1 / well below"),
        ("… the page's JS heap live / after (MB); frames held waiting live / after (MB) for "
         f"{rewind.held_ms_after / 1000:.0f} s of audio ({held_decoded_mb:.1f} MB decoded)",
         f"{rewind.heap_before / 1e6:.1f} / {rewind.heap_after / 1e6:.1f}; "
         f"{rewind.held_before / 1e6:.2f} / {rewind.held_after / 1e6:.2f}", "bounded: frames as received"),
    ]


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
            rewound_page = page_rewind(station, BACK_S)
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

        rows.extend(page_rows(rewound_page, recorded))
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
