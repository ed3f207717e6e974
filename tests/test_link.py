"""``serve --link``: a second Ableton Link peer follows the station's tempo and beat phase.

Link finds its peers by multicast on every network interface; the test runs the station and the
peer in a network namespace of their own (``unshare --net``, only loopback, multicast on), so
nothing leaves the machine. Needs root (CI runs as root) and ``ip`` (iproute2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

PROBE = Path(__file__).resolve().parent / "link_probe.py"
LOOPBACK_ONLY = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"


def test_a_second_link_peer_gets_the_stations_tempo_and_its_beat_phase(tmp_path):
    tools = {name: shutil.which(name) for name in ("unshare", "ip")}
    if None in tools.values():
        pytest.fail(f"needs unshare (util-linux) and ip (iproute2): {tools}", pytrace=False)
    command = f"{LOOPBACK_ONLY} && exec {sys.executable} {PROBE} {tmp_path}"
    done = subprocess.run([tools["unshare"], "--net", "sh", "-c", command], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["samples"] >= 30, figures
    assert 119.9 < figures["tempo_min"] <= figures["tempo_max"] < 120.1, figures  # the peer asked for 100
    assert figures["phase_error_ms_max"] < 20.0, figures


def test_link_options_are_checked_before_anything_starts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "riffcast", "serve", "--link", "--link-latency-ms", "-5",
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1].endswith("--link-latency-ms must be from 0 to 10000, got -5")
