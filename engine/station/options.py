"""``riffcast serve`` options (the generator options are shared with ``render``, in cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PROMPT = "lo-fi hip hop beat with warm piano"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    where.add_argument("--port", type=int, default=8000, help="TCP port for HTTP and WebSockets (default 8000)")
    where.add_argument("--station", default="riffcast", help="station name sent to listeners")

    music = parser.add_argument_group("what plays")
    music.add_argument("--prompt", action="append", help=f"text prompt (repeatable: blended equally; default {DEFAULT_PROMPT!r})")
    music.add_argument("--playlist", type=Path, help="TOML playlist of [[target]] tables with duration_s, looped")
    music.add_argument(
        "--state", type=Path,
        help="FILE.json: save the target, seed and playlist position here and resume from it after a restart",
    )
    music.add_argument("--negative-prompt", default="", help="what the music should not be")
    music.add_argument("--seed", type=int, default=0, help="noise seed; the stream walks on from it")
    music.add_argument("--denoising", type=float, default=0.75, help="img2img strength 0–1 (default 0.75)")
    music.add_argument("--guidance", type=float, default=7.0, help="classifier-free guidance (default 7)")
    music.add_argument("--transition-chunks", type=int, default=4, help="chunks per transition (default 4)")
    music.add_argument("--seed-image", default=None, help="a built-in bed (see `riffcast seeds`), an image or an audio file")

    stream = parser.add_argument_group("stream")
    stream.add_argument("--frame-ms", type=float, default=100.0, help="audio per WebSocket frame, 10–1000 ms (default 100)")
    stream.add_argument("--lead-chunks", type=int, default=1, help="chunks painted ahead of the one playing (default 1)")
    stream.add_argument("--max-listeners", type=int, default=2000, help="listeners at once (default 2000)")
    stream.add_argument(
        "--control-token",
        help="token for /control (else $RIFFCAST_CONTROL_TOKEN; else a random one, printed once)",
    )

    sinks = parser.add_argument_group("also")
    sinks.add_argument("--record", type=Path, help="archive exactly what listeners hear to this .wav file")
    sinks.add_argument("--force", action="store_true", help="overwrite an existing --record file")
    sinks.add_argument("--play", action="store_true", help="also play on this machine's sound card")
    sinks.add_argument(
        "--inject-faults", metavar="SPEC",
        help="resilience drill: make the generator fail on chosen chunks, e.g. 'raise@2,nan@3,stall:30@5' "
        "(kinds: raise, nan, blank, oom, stall:SECONDS)",
    )
    sinks.add_argument("--systemd-unit", action="store_true", help="print a systemd unit file for this station and exit")
    sinks.add_argument("--verbose", action="store_true", help="log every request and chunk")
