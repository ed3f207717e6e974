"""CI's short run of ``benchmarks/controls.py --quick``: tempo and key asked through the steer
fields are heard (essentia), brightness moves the spectral centroid one way, bass off empties
the low band, and a bpm steer mid-render keeps every beat on the grid. About 15 s on 2 cores;
the full run's table is in docs/controls.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_quick_controls_are_heard_as_asked():
    run = subprocess.run([sys.executable, "controls.py", "--quick"], cwd=BENCHMARKS, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in run.stdout.splitlines() if line.startswith("| ")}

    def row(start: str) -> str:
        return next(value for measure, value in rows.items() if measure.startswith(start))

    tempo, renders = map(int, row("tempo within 2 %").split("/"))
    keys, _ = map(int, row("key exact").split("/"))
    assert renders == 4 and tempo >= 3 and keys >= 3, run.stdout
    centroids = [float(c) for c in row("brightness").split("(")[0].split("/")]
    assert centroids == sorted(centroids) and len(set(centroids)) == 3, run.stdout
    assert float(row("bass off: share of the energy below 150 Hz cut, drums off").split()[0]) >= 15.0, run.stdout
    beats, expected = map(int, row("bpm steer").split("/"))
    assert beats == expected, run.stdout  # no beat lost across the tempo change
