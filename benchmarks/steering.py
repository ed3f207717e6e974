"""Steering latency: from a ``steer`` ack to the first frame whose ``now_playing`` reflects it.

Starts a real station (``riffcast serve``) on 127.0.0.1 for each generator (synth, and
Riffusion's architecture with random weights, ``--model tiny-random``), connects one
listener and one control socket, and sends steers at random moments. For each it measures

- measured: seconds from the ack's arrival to the arrival of the frame at the acknowledged
  position (the first frame painted towards the new target);
- predicted: (ack position − live position at the ack) / 44100. The ack position is the end
  of the chunks already published (a chunk still being painted is dropped and repainted
  towards the new target), so the latency is the *lead + chunk* formula: the unplayed part of
  the current chunk + the L chunks of lead (``--lead-chunks L``, 5.12 s each) — at most
  (L + 1) × 5.12 s, less when the steer catches a chunk still being painted.

Run: ``python benchmarks/steering.py`` (about 2–3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time

from websockets.asyncio.client import connect

from harness.station import Station
from riffcast_client import protocol

TOKEN = "steering-benchmark-token"
SAMPLE_RATE = 44100
START_TIMEOUT_S = 300.0  # the tiny-random model is built on the CPU first


def start_station(generator_args: list[str], lead_chunks: int) -> Station:
    """``riffcast serve`` on 127.0.0.1 (port 0) with ``generator_args``, playing."""
    station = Station("--lead-chunks", str(lead_chunks), *generator_args, token=TOKEN)
    station.wait_playing(START_TIMEOUT_S)
    return station


async def measure(port: int, steers: int, rng: random.Random) -> list[tuple[float, float, float]]:
    """[(measured_s, predicted_s, ack_s)] for ``steers`` steers; ack_s: request → ack."""
    results = []
    async with connect(f"ws://127.0.0.1:{port}/stream", compression=None) as listener, connect(
        f"ws://127.0.0.1:{port}/control?token={TOKEN}"
    ) as control:
        await listener.recv()  # hello
        live = 0

        async def drain_until(deadline: float) -> None:
            nonlocal live
            while (left := deadline - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(listener.recv(), left)
                except asyncio.TimeoutError:
                    return
                if isinstance(message, bytes):
                    live = protocol.decode_frame(message, "s16le").next_position

        for number in range(steers):
            await drain_until(time.monotonic() + rng.uniform(1.0, 6.0))
            sent = time.monotonic()
            await control.send(json.dumps({"type": "steer", "id": number, "prompt": f"steer {number}", "seed": number}))
            reply = await control.recv()
            acked = time.monotonic()
            ack = json.loads(reply)
            # Audio ahead of the listener at the ack: from the live edge when sent, less the wait.
            predicted = (ack["position"] - live) / SAMPLE_RATE - (acked - sent)
            while True:
                message = await listener.recv()
                if isinstance(message, bytes):
                    frame = protocol.decode_frame(message, "s16le")
                    live = frame.next_position
                    if frame.position <= ack["position"] < frame.next_position:
                        results.append((time.monotonic() - acked, predicted, acked - sent))
                        break
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steers", type=int, default=4, help="steers per generator (default 4)")
    parser.add_argument("--lead-chunks", type=int, default=1)
    parser.add_argument("--generator", action="append", metavar="LABEL=ARGS",
                        help="a station to measure instead of the defaults, e.g. 'full-random cuda=--generator riffusion "
                        "--model full-random --device cuda' (repeatable)")
    args = parser.parse_args()
    rng = random.Random(1)
    rows = []
    generators = [
        ("synth", ["--generator", "synth"]),
        ("riffusion tiny-random (CPU)", ["--generator", "riffusion", "--model", "tiny-random", "--device", "cpu"]),
    ]
    if args.generator:
        generators = [(label, words.split()) for label, words in (given.split("=", 1) for given in args.generator)]
    for label, generator_args in generators:
        station = start_station(generator_args, args.lead_chunks)
        try:
            results = asyncio.run(measure(station.port, args.steers, rng))
        finally:
            station.stop()
        rows.append((label, results))

    print(f"\nSteering latency, --lead-chunks {args.lead_chunks} "
          f"({os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')})")
    print(f"{'generator':30} {'steers':>6} {'ack s':>6} {'measured mean s':>16} {'min–max s':>12} "
          f"{'predicted mean s':>17} {'measured/predicted':>19}")
    for label, results in rows:
        measured = [m for m, _, _ in results]
        predicted = [p for _, p, _ in results]
        ack_s = sum(a for _, _, a in results) / len(results)
        mean_m, mean_p = sum(measured) / len(measured), sum(predicted) / len(predicted)
        print(f"{label:30} {len(results):>6} {ack_s:>6.2f} {mean_m:>16.2f} {min(measured):>5.2f}–{max(measured):<6.2f} "
              f"{mean_p:>17.2f} {mean_m / mean_p:>19.3f}")
    chunk_s = 512 * 441 / SAMPLE_RATE
    print(f"\nFormula: latency = unplayed part of the current chunk + lead ({args.lead_chunks} × {chunk_s:.2f} s) "
          f"≤ {(args.lead_chunks + 1) * chunk_s:.2f} s; less when the steer interrupts a chunk being painted.")


if __name__ == "__main__":
    main()
