"""Run by tests/test_link.py inside a network namespace of its own (only loopback, multicast on):
a station with ``--link`` and a second Ableton Link peer (aalink, as a lighting desk would use it).
Prints one JSON line: the peer's tempo and its beat phase against the station's beat events."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import aalink  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from riffcast_client import protocol  # noqa: E402

from station import running_station  # noqa: E402

RATE = 44100
LISTEN_S = 10.0


async def observe(station) -> dict:
    """Listen to the stream while a second Link peer samples its beat every 0.1 s."""
    peer = aalink.Link(100.0)  # another tempo: the station's must win
    peer.quantum = 4  # a bar of 4, as a lighting desk locks to bars: Link aligns peers' beats modulo their quantum
    peer.enabled = True
    frames, beats, samples = [], [], []
    async with connect(f"{station.stream_url}?format=s16le", max_size=None) as socket:
        hello = json.loads(await socket.recv())

        async def sample() -> None:
            while True:
                await asyncio.sleep(0.1)
                beat, tempo, peers = peer.beat, peer.tempo, peer.num_peers
                samples.append((time.time(), beat, tempo, peers))

        sampler = asyncio.create_task(sample())
        deadline = time.monotonic() + LISTEN_S
        while time.monotonic() < deadline:
            message = await socket.recv()
            if isinstance(message, str):
                event = json.loads(message)
                if event["type"] == "beat":
                    beats.append(event)
            else:
                frame = protocol.decode_frame(message, hello["format"])
                frames.append((frame.position, frame.server_time))
        sampler.cancel()
    origin = min(server_time - position / RATE for position, server_time in frames)  # emitted at or after due
    errors_ms, tempi = [], []
    for at, beat, tempo, peers in samples[len(samples) // 3:]:  # once the session has settled
        position = (at - origin) * RATE
        before = [b for b in beats if b["position"] <= position]
        if not before or peers < 1:
            continue
        last = before[-1]
        count = last["bar"] * 4 + last["beat"] - 1 + (position - last["position"]) / (60.0 / last["bpm"] * RATE)
        error_beats = (beat - count + 2.0) % 4.0 - 2.0
        errors_ms.append(abs(error_beats) * 60.0 / last["bpm"] * 1000.0)
        tempi.append(tempo)
    return {"samples": len(errors_ms), "tempo_min": min(tempi, default=None), "tempo_max": max(tempi, default=None),
            "phase_error_ms_max": max(errors_ms, default=None),
            "phase_error_ms_median": sorted(errors_ms)[len(errors_ms) // 2] if errors_ms else None}


def main() -> None:
    with running_station(Path(sys.argv[1]), "--prompt", "techno", "--bpm", "120", "--key", "A minor", "--link") as station:
        print(json.dumps(asyncio.run(observe(station))))


if __name__ == "__main__":
    main()
