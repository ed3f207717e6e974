"""The rewind window on a real station: what it costs on disk, how fast a rewound listener catches
up, and what the always-on MP3 encoder costs.

Starts ``riffcast serve --generator synth --hls-window WINDOW --hls-window-dir DIR`` (DIR a
temporary folder), waits until the stream has played ``WINDOW + 12 s`` (so the window is full
and has moved on), then one row each, with its peer and their ratio:

- ``disk``: the bytes in DIR against ``bound_bytes(WINDOW)`` (the store's computed bound);
- ``catch-up s16le`` / ``catch-up opus``: a listener asking ``/stream?from=`` the window's first
  position, the seconds of audio it got up to the live position against the wall seconds that
  took (× real time; positions checked contiguous on the way);
- ``mp3 encoder``: its CPU seconds (``riffcast_encoder_cpu_seconds{codec="mp3"}``) against the
  seconds played.

Run: ``python benchmarks/rewind.py`` (about 90 s; ``--window-s``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

from riffcast.delivery.window_index import bound_bytes
from riffcast_client import protocol

from harness.endpoints import prometheus_value
from harness.station import Station, random_token
from harness.table import header, ratio, row

RATE = 44100
SEGMENT_S = 77 * 1152 / RATE  # the HLS segments' length


def _window(station: Station) -> dict:
    with urllib.request.urlopen(f"{station.http}/window", timeout=10) as response:
        return json.loads(response.read())


async def _catch_up(station: Station, sample_format: str) -> tuple[float, float]:
    """(seconds of audio from the window's start to the live position, wall seconds to get them)."""
    window = _window(station)
    started = time.monotonic()
    async with connect(f"{station.stream_url}?format={sample_format}&from={window['first']}", max_size=None,
                       close_timeout=1) as ws:  # it stops reading at the live position: no waiting on the close
        hello, last = json.loads(await ws.recv()), None
        while last is None or last < window["end"]:
            message = await ws.recv()
            if isinstance(message, bytes):
                item = (protocol.decode_packet(message) if sample_format == protocol.OPUS
                        else protocol.decode_frame(message, sample_format))
                if last is not None and item.position != last + hello["frame_samples"]:
                    raise AssertionError(f"positions jumped from {last} to {item.position}")
                last = item.position
        wall_s = time.monotonic() - started
    return (window["end"] - hello["position"]) / RATE, wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window-s", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="riffcast-rewind-bench-") as folder:
        station = Station("--hls-window", f"{args.window_s}s", "--hls-window-dir", folder, token=random_token())
        try:
            station.wait_playing()
            while _window(station)["end"] < (args.window_s + 12) * RATE:
                time.sleep(1.0)
            on_disk = sum(path.stat().st_size for path in Path(folder).iterdir())
            bound = bound_bytes(args.window_s, mp3_bit_rate=128_000, sample_rate=RATE, segment_s=SEGMENT_S)
            rows = [("disk", f"{on_disk / 1e6:.2f} MB", f"bound {bound / 1e6:.2f} MB", ratio(on_disk, bound))]
            for sample_format in (protocol.DEFAULT_FORMAT, protocol.OPUS):
                audio_s, wall_s = asyncio.run(_catch_up(station, sample_format))
                rows.append((f"catch-up {sample_format}", f"{audio_s:.1f} s of audio", f"{wall_s:.2f} s wall",
                             ratio(audio_s, wall_s)))
            mp3_cpu_s = prometheus_value(station.metrics(), "riffcast_encoder_cpu_seconds", '{codec="mp3"}')
            played_s = station.health()["position"] / RATE
            rows.append(("mp3 encoder", f"{mp3_cpu_s:.2f} CPU s", f"{played_s:.1f} s played", ratio(mp3_cpu_s, played_s)))
        finally:
            station.stop()
        left = sorted(path.name for path in Path(folder).iterdir())
    print(f"--hls-window {args.window_s}s (synth)\n")
    print(header(["what", "measured", "peer", "ratio"], "lrrr"))
    for cells in rows:
        print(row(list(cells)))
    print(f"\nafter a clean stop, the store's files left in its folder: {left or 'none'}")


if __name__ == "__main__":
    main()
