"""``riffcast serve`` options (what plays and the generator are declared once for ``serve`` and ``render``:
:mod:`riffcast.steering.options`, :mod:`riffcast.generation.options`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from riffcast.loudness_options import add_loudness_argument
from riffcast.steering.options import add_steering_arguments


def _origin(value: str) -> str:
    from riffcast.station.http import normalize_origin

    try:
        return normalize_origin(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    where.add_argument("--port", type=int, default=8000, help="TCP port for HTTP and WebSockets (default 8000)")
    where.add_argument("--station", default="riffcast", help="station name sent to listeners")
    where.add_argument(
        "--osc-port", type=int, metavar="PORT",
        help="also take steers as OSC messages over UDP on this port (addresses in docs/osc.md)",
    )
    where.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS and WSS with this certificate chain (with --tls-key)")
    where.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of --tls-cert")
    where.add_argument("--osc-host", default="127.0.0.1", help="address for --osc-port (default 127.0.0.1)")

    add_steering_arguments(parser)
    parser.add_argument(
        "--state", type=Path,
        help="FILE.json: save the walk (target, seed, transition) and playlist position here and resume exactly "
        "there after a restart",
    )

    stream = parser.add_argument_group("stream")
    stream.add_argument("--frame-ms", type=float, default=100.0, help="audio per WebSocket frame, 10–1000 ms (default 100)")
    stream.add_argument("--lead-chunks", type=int, default=1, help="audio painted ahead of the image playing, in chunks of 5.12 s (default 1)")
    add_loudness_argument(stream)
    stream.add_argument(
        "--max-listeners", type=int, default=None,
        help="listeners at once (default 10000, lowered to what the open-files limit allows)",
    )
    stream.add_argument(
        "--control-token",
        help="token for /control (else $RIFFCAST_CONTROL_TOKEN; else a random one, printed once)",
    )
    stream.add_argument(
        "--allow-origin", action="append", type=_origin, metavar="ORIGIN",
        help="a web origin besides the station's own whose pages may open /control, e.g. https://radio.example "
        "(repeatable; needed behind a reverse proxy that rewrites Host)",
    )
    stream.add_argument(
        "--hls-window", default="10m", metavar="DURATION",
        help="the rewind window (90s, 30m, 2h; default 10m): the HLS playlist lists it so players seek back, "
        "/stream?from= and /clip cut from it; kept on disk, about 0.38 GB per hour (docs/outputs.md)",
    )
    stream.add_argument(
        "--hls-window-dir", type=Path, metavar="DIR",
        help="keep the rewind window in DIR (default: a temporary folder of its own, removed at a clean stop)",
    )

    sinks = parser.add_argument_group("also")
    sinks.add_argument(
        "--record", type=Path, metavar="PATH",
        help="archive exactly what listeners hear; the extension picks the format: .wav (RF64 past 4 GiB), "
        ".flac, .ogg, .opus, .mp3. Nothing is ever overwritten: if PATH exists (a restart), the next part "
        "goes beside it (archive.1.wav, archive.2.wav, …)",
    )
    sinks.add_argument(
        "--record-split", metavar="DURATION",
        help="start a new --record (and --as-run) part every DURATION (90s, 30m, 1h, 1d), at multiples of it "
        "in UTC; parts are named by their UTC start, e.g. archive.2026-11-30T22-00-00Z.wav",
    )
    sinks.add_argument(
        "--as-run", type=Path, metavar="PATH",
        help="log every image as it airs, every steer and the listeners each minute, as JSON lines "
        "(docs/history.md); parts as --record's (split by --record-split), never overwritten",
    )
    sinks.add_argument("--play", action="store_true", help="also play on this machine's sound card")
    sinks.add_argument(
        "--icecast", action="append", metavar="URL",
        help="feed an Icecast mount as a source client: icecast://source:PASSWORD@HOST:8000/live.mp3, or .opus/.ogg "
        "for Ogg Opus (repeatable; without PASSWORD, $RIFFCAST_ICECAST_PASSWORD); reconnects when Icecast goes "
        "away, the title follows the prompts heard",
    )
    sinks.add_argument(
        "--link", action="store_true",
        help="join the local network's Ableton Link session: its tempo and beat phase follow the music as heard "
        "(needs pip install 'riffcast[link]'; docs/controls.md)",
    )
    sinks.add_argument(
        "--link-latency-ms", type=float, default=0.0, metavar="MS",
        help="with --link: how long after the clock emits audio it is heard (a speaker's or player's delay; default 0)",
    )
    sinks.add_argument(
        "--inject-faults", metavar="SPEC",
        help="resilience drill: make the generator fail on chosen chunks, e.g. 'raise@2,nan@3,stall:30@5' "
        "(kinds: raise, nan, blank, oom, crash, stall:SECONDS)",
    )
    sinks.add_argument(
        "--systemd-unit", action="store_true",
        help="print a systemd unit running `riffcast serve` with the other options given here, and exit "
        "(Type=notify with a watchdog, restarts always; the token goes in /etc/riffcast/env, not here)",
    )
    sinks.add_argument("--verbose", action="store_true", help="log every HTTP request (with the client address, never the query) and listener joins and leaves")
