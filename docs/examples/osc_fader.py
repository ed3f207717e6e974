"""A fader over OSC: crossfade a riffcast station between two prompts, ten steps a second.

    python docs/examples/osc_fader.py --port 9000 "lo-fi piano" "rainy synthwave" --seconds 30

The station (``riffcast serve --osc-port 9000``) coalesces steers that come faster than it
paints, so it always paints the latest blend. Needs ``pip install python-osc``.
"""

from __future__ import annotations

import argparse
import math
import time

from pythonosc.udp_client import SimpleUDPClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to fade back and forth")
    parser.add_argument("--period-s", type=float, default=20.0, help="one full swing, first → second → first")
    args = parser.parse_args()
    osc = SimpleUDPClient(args.host, args.port)
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < args.seconds:
        fader = 0.5 - 0.5 * math.cos(2 * math.pi * elapsed / args.period_s)  # 0 → 1 → 0
        # Weights must be > 0: keep a trace of the quiet prompt.
        osc.send_message("/riffcast/prompts", [args.first, max(1.0 - fader, 0.01), args.second, max(fader, 0.01)])
        time.sleep(0.1)


if __name__ == "__main__":
    main()
