"""CI's short run of ``benchmarks/fullband.py --quick``: 6 s of synthetic music (no Debian music set),
encoded to images and decoded with and without the bandwidth extension. About 10 s on 2 cores;
the real-music tables are in docs/sound.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_fullband_fills_the_high_band_without_touching_the_rest():
    run = subprocess.run([sys.executable, "fullband.py", "--quick"], cwd=BENCHMARKS, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = {cells[1]: cells[2:] for cells in (line.split("|") for line in run.stdout.splitlines()[-3:])}
    off, extended, peer = summary[" off "], summary[" extended "], summary[" fixed-slope peer "]
    band_error_db, peer_error_db = float(extended[1]), float(peer[1])
    assert band_error_db < peer_error_db, run.stdout
    assert float(extended[2]) <= 3.0, run.stdout  # no hiss in the quietest frames
    assert float(extended[3]) <= 0.2, run.stdout  # below 10 kHz as without
    assert off[1].strip() == "—"
