"""benchmarks/change_points.py's key rule against a key change whose place is known: the synth's
song switched from A minor to D# minor (and back) on a bar line by ``render_across``, the way a
live key steer lands. The rule must find the bar line, not the chord changes around it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from riffcast.generation.changes import change_at, render_across
from riffcast.generation.style import style_for_target
from riffcast.generation.types import BarGrid
from riffcast.steering.targets import Target

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # as when run as a script: its modules import by name
    sys.path.append(str(BENCHMARKS))

import change_points as cp  # noqa: E402

SR = 44100
BEFORE_S, AFTER_S = 2.0, 7.0
A_MINOR, D_SHARP_MINOR = (9, True), (3, True)


def key_change(prompt: str, old: str, new: str, asked_s: float) -> tuple[float, float]:
    """(where the key changes, s into the window; where the rule finds it) for a change asked at
    ``asked_s`` s of the song (the window starts BEFORE_S before it)."""
    before = style_for_target(Target.from_text(prompt, bpm=100.0, key=old, seed=4))
    after = style_for_target(Target.from_text(prompt, bpm=100.0, key=new, seed=4))
    asked = round(asked_s * SR)
    change = change_at(before, after, BarGrid(0, 0), SR, transition_sample=asked, switch_sample=asked)
    start = round((asked_s - BEFORE_S) * SR)
    audio = render_across((before, 4), BarGrid(0, 0), (after, 4), change, start, round((BEFORE_S + AFTER_S) * SR), SR)
    keys = {"A minor": A_MINOR, "D# minor": D_SHARP_MINOR}
    found = cp.change_point(cp.key_share_db(audio, SR, keys[old], keys[new]), cp.Shape.STEP, SR, from_s=BEFORE_S, sign=1)
    return (change.at_sample - start) / SR, found.at_s


@pytest.mark.parametrize(("prompt", "old", "new", "asked_s"), [
    ("funk", "A minor", "D# minor", 31.0), ("funk", "D# minor", "A minor", 47.5),
    ("jazz", "A minor", "D# minor", 62.3), ("jazz", "D# minor", "A minor", 90.9),
])
def test_the_key_rule_finds_the_bar_line_where_the_key_changes(prompt, old, new, asked_s):
    changed_s, found_s = key_change(prompt, old, new, asked_s)
    assert changed_s >= BEFORE_S  # on the first bar line at or after the ask
    assert abs(found_s - changed_s) <= 0.25, (changed_s, found_s)
