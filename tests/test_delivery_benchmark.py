"""CI's short run of ``benchmarks/delivery.py``: every kind of listener, 5 of each, 4 s windows (two HLS segments at least),
no idle window — through the real Icecast relay and nginx the benchmark starts. About a minute. The benchmark's
figures (100 and 1000 listeners) are in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
ROW = re.compile(r"^\| (\S+) \| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| [^|]+ \| ([\d.]+) \| (\S+) \| (\S+) \| (\d+) \| (\d+) \| ([^|]+) \|$")


def test_the_delivery_benchmark_measures_every_kind():
    # The test session's cache (conftest's RIFFCAST_CACHE_DIR, inherited): compiled kernels and seed beds are warm.
    run = subprocess.run([sys.executable, "delivery.py", "--listeners", "5", "--seconds", "4", "--settle", "1",
                          "--no-idle"], cwd=BENCHMARKS,
                         capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    table = run.stdout.split("| kind |")[-1]
    rows = [ROW.match(line).groups() for line in table.splitlines() if ROW.match(line)]
    kinds = {kind: (listeners, connected, kbit, gaps, lost) for kind, listeners, connected, _, _, _, kbit, _, gaps, lost, _
             in rows if listeners == "5"}
    assert set(kinds) == {"ws-pcm", "ws-opus", "live-mp3", "hls-nginx", "icecast-relay"}, run.stdout
    for kind, (_, connected, kbit, gaps, lost) in kinds.items():
        assert connected == "5" and gaps == "0" and lost == "0", (kind, run.stdout)
        assert float(kbit) > 30, (kind, run.stdout)  # audio flowed to every kind
    # A PCM frame is 0.1 s: 8820 bytes of s16le and its 16-byte header. A 4 s window holds 40 of
    # them give or take the one its edges cut (a CI run measured 725: 41 frames; a loaded one 690:
    # 39), and the table rounds to 1 kbit/s: the rate within one frame.
    frame_kbit = (8820 + 16) * 8 / 4 / 1000
    assert float(kinds["ws-opus"][2]) <= 96
    assert 39 * frame_kbit - 1 <= float(kinds["ws-pcm"][2]) <= 41 * frame_kbit + 1
