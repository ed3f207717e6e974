"""CI's short run of ``benchmarks/history_load.py --quick``: 100 ``/history`` requests a second for
8 s (an hour of as-run lines in the station's memory) with 20 listeners attached — every request
answered, no gap at any listener, and a latency bound loose enough for a loaded 2-core machine
(the goal, p99 ≤ 50 ms at 200 requests/s with 200 listeners, is the full run's: docs/history.md).
Merging the whole memory again per request, as before, does not answer in time here. About 25 s."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
LOOSE_P99_MS = 1000.0  # 20× the goal: only a route that cannot keep up at all reaches it


def test_quick_history_load_answers_every_request_and_no_listener_misses_a_frame():
    run = subprocess.run([sys.executable, "history_load.py", "--quick"], cwd=BENCHMARKS, capture_output=True,
                         text=True, timeout=150)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.split("|")[1:-1]]
                                          for line in run.stdout.splitlines() if line.startswith("| "))}
    history = next(cells for name, cells in rows.items() if name.startswith("/history"))
    _, asked, answered, other, _, p99, *_ = history
    assert int(answered) == round(float(asked) * 8) and other == "0", run.stdout
    assert float(p99) <= LOOSE_P99_MS, run.stdout
    assert re.search(r"frames (\d+) / \1, gaps: 0, lost: 0", run.stdout), run.stdout  # every frame due, in order
