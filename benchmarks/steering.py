"""Steering latency, before and after, a sweep of 10 steers a second, and window mode's cost.

Stations are real ``riffcast serve`` processes on 127.0.0.1: this checkout (windows; a steer
replaces unplayed audio) and the peer, ``PEER_COMMIT`` in a git worktree (whole chunks; a steer
applies from the next chunk painted), for the synth and for tiny-random on the CPU.

- **Latency** of a steer: (ack position − the live position when the steer was sent) / 44 100 —
  how long after it was asked the steered audio is heard (the ack comes once the steer's first image
  is placed in the stream). One listener follows the
  live edge; ``heard`` is the time from the ack's arrival to the arrival of the frame holding
  the ack position, and ``exact`` counts steers whose ``now_playing`` heard at the ack position
  (the synth acknowledges the first beat in or after the steer's first image) names the new
  prompt. Steers at random moments, 0.5–3 s apart.
- **Sweep**: 30 s of 10 steers a second (a fader moving between two prompts): images painted,
  underruns, gaps at a listener, distinct blends heard (``now_playing``).
- **Predicted** for full-size Riffusion: the rewind margin with a given paint time (the
  stitch time measured here), window by window — GPU paint times come from
  ``benchmarks/gpu.sh``, not from this machine.
- **Seams and cost** of windows against whole chunks (``window_joins.py``).

Run: ``python benchmarks/steering.py`` (about 15 minutes on 2 CPU cores);
``--steers 2 --sweep-s 3 --quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

from riffcast.dsp.level import LevelStage
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.dsp.phase import PhaseStream
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.lead import rewind_safety_s, window_low_water_s
from riffcast_client import protocol

from harness.endpoints import prometheus_value
from harness.listening import messages_until
from harness.machine import host_description
from harness.peer import peer_checkout
from harness.station import Station

PEER_COMMIT = "c15fb62"  # whole chunks, steers from the next chunk painted
TOKEN = "steering-benchmark-token"
RATE = PARAMS.sample_rate
START_TIMEOUT_S = 300.0  # the tiny-random model is built on the CPU first
SYNTH = ("synth", ["--generator", "synth"])
TINY = ("tiny-random (CPU)", ["--generator", "riffusion", "--model", "tiny-random", "--device", "cpu"])


@dataclass
class Listening:
    """What one listener got: the live position, frames' positions, now_playing events."""

    live: int = 0
    gaps: int = 0
    frames: int = 0
    events: list[dict] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)  # frame position → monotonic arrival


async def listen(url: str, heard: Listening, stop: asyncio.Event) -> None:
    async for message in messages_until(url, stop):
        if isinstance(message, str):
            heard.events.append(json.loads(message))
            continue
        frame = protocol.decode_frame(message, "s16le")
        if heard.frames and frame.position != heard.live:
            heard.gaps += 1
        heard.frames += 1
        heard.live = frame.next_position
        heard.arrivals[frame.position] = time.monotonic()


@dataclass(frozen=True)
class Steered:
    latency_s: float  # ack position − live position when the steer was sent
    heard_s: float  # ack arrival → arrival of the frame at the ack position
    exact: bool  # now_playing at the ack position names the new prompt


async def measure_latency(station: Station, steers: int, rng: random.Random) -> list[Steered]:
    heard, stop = Listening(), asyncio.Event()
    listening = asyncio.create_task(listen(station.stream_url, heard, stop))
    results = []
    async with connect(f"{station.control_url}?token={TOKEN}") as control:
        await asyncio.sleep(2.0)
        for number in range(steers):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            prompt = f"steer {number}"
            live = heard.live
            await control.send(json.dumps({"type": "steer", "id": number, "prompt": prompt, "seed": number}))
            ack = json.loads(await control.recv())
            acked = time.monotonic()
            position = ack["position"]
            deadline = acked + 30.0
            while time.monotonic() < deadline and heard.live <= position:
                await asyncio.sleep(0.01)
            frame = max((p for p in heard.arrivals if p <= position), default=None)
            arrived = heard.arrivals.get(frame, math.nan) if frame is not None else math.nan
            await asyncio.sleep(0.1)  # the now_playing of that frame comes with it
            started = [e for e in heard.events if e.get("type") == "now_playing" and e.get("position", math.inf) <= position]
            event = max(started, key=lambda e: e["position"], default={})  # heard at the ack (a beat inside its image)
            exact = any(p["text"] == prompt for p in event.get("prompts", []))
            results.append(Steered((position - live) / RATE, arrived - acked, exact))
    stop.set()
    await listening
    return results


@dataclass(frozen=True)
class Sweep:
    steers: int
    acked: int
    images: int
    underruns: int
    gaps: int
    blends: int
    seconds: float


async def sweep(station: Station, seconds: float, per_s: float) -> Sweep:
    """``per_s`` steers a second for ``seconds``: a fader between two prompts."""
    heard, stop = Listening(), asyncio.Event()
    listening = asyncio.create_task(listen(station.stream_url, heard, stop))
    before = station.metrics()
    acked = 0
    async with connect(f"{station.control_url}?token={TOKEN}") as control:
        async def read_acks() -> None:
            nonlocal acked
            async for reply in control:
                acked += json.loads(reply).get("type") == "ack"

        reader = asyncio.create_task(read_acks())
        await asyncio.sleep(1.0)
        count = round(seconds * per_s)
        started = time.monotonic()
        for number in range(count):
            fader = 0.5 + 0.45 * math.sin(2 * math.pi * number / count)
            await control.send(json.dumps({"type": "steer", "prompts": [
                {"text": "ambient pads", "weight": round(fader, 3)}, {"text": "techno beat", "weight": round(1 - fader, 3)}],
                "transition_chunks": 1}))
            await asyncio.sleep(max(0.0, started + (number + 1) / per_s - time.monotonic()))
        await asyncio.sleep(3.0)  # the last steers are heard
        reader.cancel()
    stop.set()
    await listening
    after = station.metrics()

    def delta(name: str) -> int:
        return round(prometheus_value(after, name) - prometheus_value(before, name))

    blends = {tuple((p["text"], p["weight"]) for p in e["prompts"]) for e in heard.events if e.get("type") == "now_playing"}
    return Sweep(count, acked, delta("riffcast_chunk_generation_seconds_count"), delta("riffcast_underruns_total"),
                 heard.gaps, len(blends), seconds)


def run_station(label: str, args: list[str], env: dict[str, str] | None, steers: int, sweep_s: float,
                rng: random.Random) -> tuple[list[Steered], Sweep | None, float]:
    station = Station(*args, token=TOKEN, name=label, env=env)
    try:
        station.wait_playing(START_TIMEOUT_S)
        latencies = asyncio.run(measure_latency(station, steers, rng))
        swept = asyncio.run(sweep(station, sweep_s, 10.0)) if sweep_s else None
        metrics = station.metrics()
        stitch_s = (prometheus_value(metrics, "riffcast_chunk_stitch_seconds_sum")
                    / max(1.0, prometheus_value(metrics, "riffcast_chunk_stitch_seconds_count")))
        return latencies, swept, stitch_s
    finally:
        station.stop()


def print_latency(rows: list[tuple[str, str, list[Steered]]]) -> None:
    print("\n## Steer → heard: latency (ack position − live position when sent)\n")
    print("| generator | station | steers | median s | p95 s | max s | heard after ack, median s | exact | vs peer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    peers: dict[str, float] = {}
    for generator, station, results in rows:
        latency = np.array([r.latency_s for r in results])
        heard = np.array([r.heard_s for r in results])
        median = float(np.median(latency))
        ratio = "1.00×"
        if generator in peers:  # how much sooner (or later) than the peer, as a factor of time
            ratio = (f"{peers[generator] / median:.2f}× sooner" if median <= peers[generator]
                     else f"{median / peers[generator]:.2f}× later")
        peers.setdefault(generator, median)
        print(f"| {generator} | {station} | {len(results)} | {median:.2f} | {np.percentile(latency, 95):.2f} | "
              f"{latency.max():.2f} | {np.nanmedian(heard):.2f} | {sum(r.exact for r in results)}/{len(results)} | {ratio} |")


def print_sweeps(rows: list[tuple[str, str, Sweep]]) -> None:
    print("\n## Sweep: 10 steers a second (a fader between two prompts)\n")
    print("| generator | station | seconds | steers sent / acked | images painted | underruns | gaps | distinct blends heard |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for generator, station, s in rows:
        print(f"| {generator} | {station} | {s.seconds:.0f} | {s.steers} / {s.acked} | {s.images} | {s.underruns} | "
              f"{s.gaps} | {s.blends} |")


def stitcher_delay_samples(layout: StreamLayout) -> int:
    """What a stitcher holds back: phase and limiter look-ahead and the crossfade columns (as
    ``Stitcher.latency_samples``, without making one: that would start loading its kernels on a
    thread just before this process exits)."""
    phase = PhaseStream(window_samples=PARAMS.window_samples, hop_samples=PARAMS.hop_samples)
    return phase.latency_samples + LevelStage(RATE).latency_samples + layout.crossfade_columns * PARAMS.hop_samples


def print_predicted(stitch_s: float) -> None:
    """The latency the rewind margin implies for a paint time, window by window."""
    print(f"\n## Predicted latency for a generator painting one image in p seconds (stitch {stitch_s:.3f} s, "
          "measured here)\n")
    print("latency = low water (2 × stitch + 0.05 s, ≥ 0.2 s) + 1.5 × (p + stitch) + 0.1 s + stitcher delay + where "
          "the next window boundary falls (0 … one window; the median half)\n")
    print("| p (s) | window columns | median s | max s |")
    print("|---:|---:|---:|---:|")
    for paint_s in (0.1, 0.25, 0.5, 1.0):
        for window in (64, 128, 256):
            layout = StreamLayout.windows(window)
            delay_s = stitcher_delay_samples(layout) / RATE
            base = rewind_safety_s(paint_s, stitch_s, window_low_water_s(stitch_s)) + delay_s
            window_s = window * PARAMS.hop_samples / RATE
            print(f"| {paint_s:.2f} | {window} | {base + window_s / 2:.2f} | {base + window_s:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steers", type=int, default=20, help="steers per station (default 20)")
    parser.add_argument("--sweep-s", type=float, default=30.0, help="seconds of the 10-a-second sweep (0: none)")
    parser.add_argument("--quick", action="store_true", help="the synth only, no peer (unless --peer), no seams table")
    parser.add_argument("--peer", metavar="COMMIT", help=f"the peer's commit (default {PEER_COMMIT}; with --quick: measured too)")
    parser.add_argument("--only", choices=(SYNTH[0], TINY[0]), help="one of the two default generators (with its peer)")
    parser.add_argument("--json", type=Path, help="also write the latencies and sweeps to this file")
    parser.add_argument("--watchdog-s", type=float, default=0.0,
                        help="print every thread's stack and exit if still running after this long (0: never)")
    parser.add_argument("--generator", action="append", metavar="LABEL=ARGS",
                        help="a station to measure instead of the defaults, e.g. 'full-random cuda=--generator riffusion "
                        "--model full-random --device cuda' (repeatable; this checkout only)")
    args = parser.parse_args()
    if args.watchdog_s:
        faulthandler.dump_traceback_later(args.watchdog_s, exit=True)
    machine = host_description()
    rng = random.Random(1)
    generators = [SYNTH] if args.quick else [SYNTH, TINY]
    if args.only:
        generators = [g for g in generators if g[0] == args.only]
    if args.generator:
        generators = [(label, words.split()) for label, words in (given.split("=", 1) for given in args.generator)]
    with_peer = bool(args.peer) or not (args.quick or args.generator)
    peer_commit = args.peer or PEER_COMMIT
    latency_rows, sweep_rows, stitch_times = [], [], []
    for label, generator_args in generators:
        stations = [("riffcast", None)]
        if with_peer:
            stations.insert(0, (f"peer ({peer_commit})", peer_commit))
        for station_label, commit in stations:
            sweep_s = args.sweep_s if label == SYNTH[0] or args.generator else 0.0
            if commit is None:
                results, swept, stitch_s = run_station(label, generator_args, None, args.steers, sweep_s, rng)
                stitch_times.append(stitch_s)
            else:
                with peer_checkout(commit) as env:
                    results, swept, _ = run_station(label, generator_args, env, args.steers, sweep_s, rng)
            latency_rows.append((label, station_label, results))
            if swept is not None:
                sweep_rows.append((label, station_label, swept))

    print(f"\n# Steering — {machine}, {time.strftime('%Y-%m-%d %H:%M')}")
    print_latency(latency_rows)
    if sweep_rows:
        print_sweeps(sweep_rows)
    if args.only != TINY[0]:
        print_predicted(stitch_times[0])
    if args.json:
        args.json.write_text(json.dumps({
            "latency": [{"generator": g, "station": st, "steers": [asdict(r) for r in results]}
                        for g, st, results in latency_rows],
            "sweep": [{"generator": g, "station": st, **asdict(swept)} for g, st, swept in sweep_rows],
        }, indent=1))
    if not (args.quick or args.generator or args.only):
        from riffcast.generation.models import build_tiny_random
        from riffcast.generation.riffusion import RiffusionGenerator
        from riffcast.generation.synth import SynthGenerator

        from window_joins import print_window_rows, window_rows

        tiny = RiffusionGenerator(build_tiny_random(), device="cpu", steps=25, scheduler="dpm++")
        print_window_rows(window_rows([("synth", SynthGenerator()), ("tiny-random, DPM++ 25", tiny)], chunks=3))


if __name__ == "__main__":
    main()
