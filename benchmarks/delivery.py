"""Delivery: what each output costs the station, per listener and in all, and how late it arrives.

One station (synth) runs throughout, with an Icecast master fed by ``--icecast`` (MP3), an
Icecast relay pulling that mount (``<relay>``), and nginx caching the station's HLS with the
README's recipe (``docs/examples/nginx-hls.conf``) — real servers on 127.0.0.1, stopped by PID.
For each kind of listener, its encoder is started by one listener first, then the station is
measured over a window (``--seconds``, 10 by default) with 0, and then each count of listeners
(``--listeners``, 100 and 1000 by default) of that kind, held by one client process
(``delivery_clients.py``):

| kind | listeners connect to |
|---|---|
| ws-pcm | the station's ``/stream`` (s16le) — the peer: what every listener cost before |
| ws-opus | the station's ``/stream?format=opus`` |
| live-mp3 | the station's ``/live.mp3`` |
| hls-nginx | nginx (the recipe), which asks the station for the playlist and segments |
| icecast-relay | the relay Icecast, which pulls the master's mount, which riffcast feeds |

Per window: the station's CPU (its whole process, % of one core, from /proc: the synth's paints,
a second of CPU every 5 s, come and go in it), the part that grows with listeners — its event
loop's thread and its encoders (``riffcast_encoder_cpu_seconds``) — and that part against its
idle (same encoders running, no listener of that kind): the scale-out recipes should keep it
flat. Per listener: the bytes received (→ kbit/s and MB per listener-hour), gaps (frames or
segments missing, failed fetches) and lag — arrival − due time of the first sample of what
arrived (frames, MP3 frames, segments).

Run: ``python benchmarks/delivery.py`` (about 6 minutes on 2 cores; needs icecast2 and nginx).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from delivery_clients import run_clients
from harness import table
from harness.endpoints import prometheus_value
from harness.machine import host_description, raise_open_files_limit
from harness.procfs import cpu_seconds
from harness.servers import SOURCE_PASSWORD, running_icecast, running_nginx, wait_for_mount
from harness.station import Station, random_token
from harness.stats import percentile

KINDS = ("ws-pcm", "ws-opus", "live-mp3", "hls-nginx", "icecast-relay")
CLIENT_KIND = {"ws-pcm": "pcm", "ws-opus": "opus", "live-mp3": "mp3", "hls-nginx": "hls", "icecast-relay": "mp3"}
PATHS = {"ws-pcm": "/stream", "ws-opus": "/stream?format=opus", "live-mp3": "/live.mp3", "hls-nginx": "",
         "icecast-relay": "/live.mp3"}
ENCODER = {"ws-opus": "opus", "live-mp3": "mp3", "hls-nginx": "mp3", "icecast-relay": "mp3"}


@dataclass
class Row:
    kind: str
    listeners: int
    connected: int
    station_cpu: float  # % of one core: the whole process (the generator's paints included)
    loop_cpu: float  # % of one core: the event loop's thread (fan-out, HTTP, sockets)
    encoder_cpu: float  # % of one core
    kbit_per_s: float  # per listener
    gaps: int
    lost: int
    lag_p50_ms: float
    lag_p99_ms: float
    idle_cpu: float = float("nan")  # delivery CPU with no listener of this kind (its encoder running)

    @property
    def delivery_cpu(self) -> float:
        """What grows with listeners: the event loop's thread and the encoders."""
        return self.loop_cpu + self.encoder_cpu

    def cells(self) -> list[str]:
        mb_per_hour = self.kbit_per_s * 3600 / 8 / 1000
        lag = "—" if np.isnan(self.lag_p50_ms) else f"{self.lag_p50_ms:.0f} / {self.lag_p99_ms:.0f}"
        return [self.kind, str(self.listeners), f"{self.connected}", f"{self.station_cpu:.1f}",
                f"{self.delivery_cpu:.1f}", table.ratio(self.delivery_cpu, self.idle_cpu) if self.listeners else "1.00×",
                f"{self.encoder_cpu:.1f}", f"{self.kbit_per_s:.0f}" if self.listeners else "—",
                f"{mb_per_hour:.0f}" if self.listeners else "—", f"{self.gaps}", f"{self.lost}", lag]


def encoder_cpu_s(station: Station, codec: str | None) -> float:
    if codec is None:
        return 0.0
    return prometheus_value(station.metrics(), "riffcast_encoder_cpu_seconds", f'{{codec="{codec}"}}')


def measure(station: Station, kind: str, count: int, target: tuple[str, int], seconds: float,
            settle_s: float = 2.0) -> Row:
    """One window with ``count`` listeners of ``kind`` connected to ``target`` (host, port), after ``settle_s``."""
    epoch_s = station.health()["epoch_s"]
    results: dict = {"bytes": np.zeros(0), "frames": np.zeros(0), "gaps": 0, "lost": 0, "lags_ms": np.zeros(0)}
    connected = 0
    process = parent = None
    if count:
        parent, child = multiprocessing.Pipe()
        reference = ("127.0.0.1", station.port) if kind == "icecast-relay" else None
        process = multiprocessing.Process(target=run_clients,
                                          args=(child, CLIENT_KIND[kind], *target, PATHS[kind], count, reference))
        process.start()
        _, connected, _failures = parent.recv()
    time.sleep(settle_s)  # settle: pre-rolls and bursts are not in the window
    codec = ENCODER.get(kind)
    t0 = time.time()
    cpu0, loop0, encoder0 = cpu_seconds(station.pid), cpu_seconds(station.pid, station.pid), encoder_cpu_s(station, codec)
    if parent is not None:
        parent.send((epoch_s, t0, t0 + seconds))
    time.sleep(seconds)
    cpu1, loop1, encoder1 = cpu_seconds(station.pid), cpu_seconds(station.pid, station.pid), encoder_cpu_s(station, codec)
    if parent is not None:
        results = parent.recv()
        process.join(30)
    received = results["bytes"]
    lags = results["lags_ms"]
    return Row(
        kind=kind, listeners=count, connected=connected,
        station_cpu=100 * (cpu1 - cpu0) / seconds, loop_cpu=100 * (loop1 - loop0) / seconds,
        encoder_cpu=100 * (encoder1 - encoder0) / seconds,
        kbit_per_s=float(received.mean()) * 8 / seconds / 1000 if received.size else 0.0,
        gaps=int(results["gaps"]), lost=int(results["lost"]),
        lag_p50_ms=percentile(lags, 50) if lags.size else float("nan"),
        lag_p99_ms=percentile(lags, 99) if lags.size else float("nan"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", default="100,1000", help="listener counts (default 100,1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (default 10)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"kinds measured (default all: {','.join(KINDS)})")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each window (default 2)")
    parser.add_argument("--no-idle", action="store_true", help="skip the window without listeners ('vs idle' shows —)")
    args = parser.parse_args()
    counts = [int(value) for value in args.listeners.split(",")]
    kinds = args.kinds.split(",")
    raise_open_files_limit()
    print(f"Machine: {host_description()}.")
    rows: list[Row] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="riffcast-delivery-")))
        master = stack.enter_context(running_icecast(work))
        station = Station("--icecast", f"icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{master}/live.mp3",
                          "--max-listeners", "5000", token=random_token(), name="riffcast")
        stack.callback(station.stop)
        station.wait_playing(120)
        wait_for_mount(master, "/live.mp3", 30)  # the source connects, then the relay finds the mount
        relay = stack.enter_context(running_icecast(work, relay_from=master))
        wait_for_mount(relay, "/live.mp3", 30)
        nginx = stack.enter_context(running_nginx(work, station.port))
        targets = {"ws-pcm": ("127.0.0.1", station.port), "ws-opus": ("127.0.0.1", station.port),
                   "live-mp3": ("127.0.0.1", station.port), "hls-nginx": ("127.0.0.1", nginx),
                   "icecast-relay": ("127.0.0.1", relay)}
        for kind in kinds:
            measure(station, kind, 1, targets[kind], 2.0, args.settle)  # its encoder starts and keeps running
            idle = None if args.no_idle else measure(station, kind, 0, targets[kind], args.seconds, args.settle)
            kind_rows = ([] if idle is None else [idle]) + [
                measure(station, kind, count, targets[kind], args.seconds, args.settle) for count in counts]
            for row in kind_rows:
                row.idle_cpu = float("nan") if idle is None else idle.delivery_cpu
                print(table.row(row.cells()), flush=True)
            rows += kind_rows
    print()
    print(table.header(["kind", "listeners", "connected", "station CPU %", "loop + encoders CPU %", "vs idle", "encoder CPU %",
                        "kbit/s per listener", "MB per listener-hour", "gaps", "lost", "lag p50 / p99 ms"],
                       "lrrrrrrrrrrr"))
    for row in rows:
        print(table.row(row.cells()))


if __name__ == "__main__":
    main()
