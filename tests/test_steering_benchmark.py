"""CI's short run of ``benchmarks/steering.py`` against a real synth station: steers are heard
within a window or two (not after the whole lead), exactly where acknowledged, and a fader's
10 steers a second are all acknowledged, in order, with no gap, no underrun and the blends
heard changing. About a minute; the benchmark's figures (20 steers, a 30 s sweep, the peer)
are in the README."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CHUNK_S = 512 * 441 / 44100  # whole-chunk mode hears a steer after the lead: at least this


def test_steers_are_heard_within_a_window_and_a_sweep_loses_nothing(tmp_path):
    out = tmp_path / "steering.json"
    run = subprocess.run([sys.executable, "steering.py", "--quick", "--steers", "4", "--sweep-s", "5", "--json", str(out),
                          "--watchdog-s", "300"],  # a hang prints every thread's stack, then the test fails
                         cwd=BENCHMARKS, capture_output=True, text=True, timeout=400,
                         env={**os.environ, "RIFFCAST_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    steers = result["latency"][0]["steers"]
    assert len(steers) == 4 and all(steer["exact"] for steer in steers), run.stdout
    latencies = [steer["latency_s"] for steer in steers]
    assert statistics.median(latencies) < CHUNK_S - 1.0, run.stdout  # a rewind, not the lead
    assert all(0 < latency < CHUNK_S for latency in latencies), run.stdout
    sweep = result["sweep"][0]
    assert sweep["steers"] == sweep["acked"] == 50, run.stdout
    assert sweep["gaps"] == 0 and sweep["underruns"] == 0, run.stdout
    assert sweep["blends"] >= 3 and sweep["images"] >= 5, run.stdout
