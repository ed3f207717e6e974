"""CI's short run of ``benchmarks/musicality.py --quick``: six keys (three of them minor) heard as
asked by essentia's key estimators, and six prompts' tempi heard exactly or at double/half.
About 15 s on 2 cores; the full benchmark's table is in the report of issue 26."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_musicality_hears_the_keys_and_tempi_asked_for():
    run = subprocess.run([sys.executable, "musicality.py", "--quick"], cwd=BENCHMARKS, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in run.stdout.splitlines() if line.startswith("| ")}
    exact, total = map(int, rows["key exact (temperley or edma)"].split("/"))
    minor, minors = map(int, rows["key exact, minor"].split("/"))
    tempo, prompts = map(int, rows["tempo exact or double/half (exact)"].split()[0].split("/"))
    assert (total, minors, prompts) == (6, 3, 6), run.stdout
    assert exact >= 5 and minor >= 2, run.stdout  # before issue 26: 3 of 6, no minor key
    assert tempo >= 5, run.stdout
