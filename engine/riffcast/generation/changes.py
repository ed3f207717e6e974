"""Changes on the beat grid: where a transition's new settings take over, and the audio across it.

A live steer's new settings take over on the old grid's first beat at or after the transition's
first new sample (the steer's acknowledged position is that beat), or, when they change the
tempo, the meter or the key, on the first bar line at or after it; a playlist entry's on that bar
line always. A
seed-only change (the endless seed walk) waits for an 8-bar phrase line inside the transition
(the first after the producer's switch column, where alpha passes 0.5, else the last before it),
so the phrase is played whole. The new settings' bars are anchored on a bar line and the bar
count carries on, so the beat stays continuous through any change. Notes begun before the change
ring into it and are released ``RING_S`` after it; on a beat inside a bar, the new part's notes
still held there enter on that beat. Pure functions of their arguments: every
image of the transition computes the same change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from riffcast.generation.beats import BeatGrid
from riffcast.generation.compose import Event
from riffcast.generation.grid import DRUMS, bar_seconds
from riffcast.generation.harmony import PHRASE_BARS
from riffcast.generation.style import Style
from riffcast.generation.types import BarGrid
from riffcast.generation.voices import event_samples, mix_events, placed_events, reach_seconds
from riffcast.steering.walk import Landing

RING_S = 0.5  # how long a note held over a change rings on after it, seconds (≥ every voice's release)
LOOSE_S = 0.03  # a change on a beat takes the new part's notes from this much before it (≥ every kit's looseness)
ENTER_MIN_S = 0.15  # a new part's note held over a change on a beat enters on it if it sounds this much longer


@dataclass(frozen=True)
class Change:
    """Where a transition's new settings take over: from stream sample ``at_sample`` (a beat, a
    bar line or a phrase line), their bars on ``grid`` (whose bar line is at or before it)."""

    at_sample: int
    grid: BarGrid

    @property
    def on_bar_line(self) -> bool:
        return self.at_sample == self.grid.sample


def bar_samples(style: Style, sample_rate: int) -> float:
    """Samples in one bar of ``style`` (fractional)."""
    return bar_seconds(style) * sample_rate


def bar_start(grid: BarGrid, style: Style, bar: int, sample_rate: int) -> int:
    """Stream sample where ``bar`` begins on ``grid`` at ``style``'s tempo."""
    return grid.sample + round((bar - grid.bar) * bar_samples(style, sample_rate))


def change_point(before: Style, after: Style, grid: BarGrid, switch_sample: int, sample_rate: int, *,
                 transition_sample: int = 0, end_sample: int | None = None) -> BarGrid:
    """Where ``after`` takes over from ``before`` (whose bars lie on ``grid``): the first bar
    line at or after ``switch_sample`` (never before the grid's own start). When the styles are
    the same (a seed change only): the first 8-bar phrase line after the switch if it comes by
    ``end_sample`` (the transition's end), else the last one at or after ``transition_sample``
    (its start) before the switch, else that bar line. → the new settings' grid: that bar line
    and its number (the count carries on)."""
    length = bar_samples(before, sample_rate)

    def first_bar_from(sample: int) -> int:
        bar = grid.bar + max(0, math.ceil((sample - grid.sample) / length - 1e-9))
        while bar_start(grid, before, bar, sample_rate) < sample:
            bar += 1
        return bar

    bar = first_bar_from(switch_sample)
    if before == after:
        later = -(-bar // PHRASE_BARS) * PHRASE_BARS
        earlier = later - PHRASE_BARS
        if end_sample is None or bar_start(grid, before, later, sample_rate) <= end_sample:
            bar = later
        elif earlier >= first_bar_from(transition_sample):
            bar = earlier
    return BarGrid(bar_start(grid, before, bar, sample_rate), bar)


def keeps_time(before: Style, after: Style) -> bool:
    """The change keeps the tempo, the meter and the key: it can land on any beat."""
    return (before.tempo_bpm, before.beats_per_bar, before.root, before.mode) == \
        (after.tempo_bpm, after.beats_per_bar, after.root, after.mode)


def change_at(before: Style, after: Style, grid: BarGrid, sample_rate: int, *, transition_sample: int,
              switch_sample: int, end_sample: int | None = None, landing: Landing = Landing.BEAT) -> Change:
    """Where ``after`` takes over from ``before`` (whose bars lie on ``grid``) in a transition
    whose new music starts at ``transition_sample`` (see the module docstring): a seed-only change
    on a phrase line (:func:`change_point` from ``switch_sample``), a change that keeps time on the
    first beat at or after ``transition_sample`` (``landing`` BEAT: a live steer), any other on the
    first bar line at or after it."""
    if before == after:
        bar = change_point(before, after, grid, switch_sample, sample_rate, transition_sample=transition_sample,
                           end_sample=end_sample)
        return Change(bar.sample, bar)
    if landing is Landing.BAR or not keeps_time(before, after):
        bar = change_point(before, after, grid, transition_sample, sample_rate)
        return Change(bar.sample, bar)
    beats = BeatGrid(grid.sample, grid.bar, before.tempo_bpm, before.beats_per_bar)
    index = beats.first_beat_from(transition_sample, sample_rate)
    bar = grid.bar + index // before.beats_per_bar
    line = bar_start(grid, before, bar, sample_rate)
    return Change(line if index % before.beats_per_bar == 0 else beats.beat_position(index, sample_rate),
                  BarGrid(line, bar))


def _bars(grid: BarGrid, style: Style, start: int, stop: int, sample_rate: int) -> range:
    """The bars of ``grid`` whose events can sound in samples [start, stop). Bars before the
    grid's own start belonged to other settings and are left out — unless the grid starts
    after ``start`` (a steer came before the last change landed): then it reaches back."""
    length = bar_samples(style, sample_rate)
    first = grid.bar + math.floor((start - reach_seconds(style) * sample_rate - grid.sample) / length)
    last = grid.bar + math.floor((stop - 1 - grid.sample) / length)
    return range(max(first, grid.bar if start >= grid.sample else 0, 0), last + 1)


def _released(placed: list[tuple[int, Event]], change: int, sample_rate: int) -> list[tuple[int, Event]]:
    """Held (non-drum) notes that run past ``change`` + RING_S end there (their release follows)."""
    limit = change + round(RING_S * sample_rate)
    out = []
    for position, event in placed:
        if event.voice not in DRUMS and position < change and position + event_samples(event, sample_rate) > limit:
            event = replace(event, dur_s=(limit - position) / sample_rate)
        out.append((position, event))
    return out


def _entering(begun: list[tuple[int, Event]], change: int, sample_rate: int) -> list[tuple[int, Event]]:
    """The new part's held (non-drum) notes begun before a change on a beat that still sound at it
    (for at least ENTER_MIN_S more): they enter on the beat, played from there for what is left of
    them, so the new music's chords are heard from the change and not from their next onset."""
    entering = []
    for position, event in begun:
        left = position + event_samples(event, sample_rate) - change
        if event.voice not in DRUMS and left >= ENTER_MIN_S * sample_rate:
            entering.append((change, replace(event, dur_s=left / sample_rate)))
    return entering


def render_across(before: tuple[Style, int], grid: BarGrid, after: tuple[Style, int], change: Change,
                  start_sample: int, n_samples: int, sample_rate: int = 44100) -> np.ndarray:
    """Samples [start_sample, start_sample + n_samples) of the song that plays ``before``
    (style, seed) on ``grid`` until ``change.at_sample`` and ``after`` from there, its bars on
    ``change.grid``: on a bar line, whole bars either side; on a beat inside a bar, that bar's old
    notes before the beat and its new ones from the beat (less ``LOOSE_S``, for early hands).
    float32 mono through the master stage; adjacent windows concatenate exactly (see
    :func:`~riffcast.generation.voices.render_audio`)."""
    stop = start_sample + n_samples
    old_style, old_seed = before
    new_style, new_seed = after
    new_grid, last_old_bar = change.grid, change.grid.bar + (0 if change.on_bar_line else 1)
    old_bars = _bars(grid, old_style, start_sample, stop, sample_rate)
    old_bars = range(old_bars.start, min(old_bars.stop, last_old_bar))
    new_bars = _bars(new_grid, new_style, start_sample, stop, sample_rate)
    new_bars = range(max(new_bars.start, new_grid.bar), new_bars.stop)
    old = placed_events(old_style, old_seed, old_bars, bar_samples(old_style, sample_rate), sample_rate, grid)
    new = placed_events(new_style, new_seed, new_bars, bar_samples(new_style, sample_rate), sample_rate, new_grid)
    if not change.on_bar_line:
        split = change.at_sample - round(LOOSE_S * sample_rate)
        old = [(position, event) for position, event in old if position < split]
        new = [(position, event) for position, event in new if position >= split] + _entering(
            [(position, event) for position, event in new if position < split], change.at_sample, sample_rate)
    return mix_events(_released(old, change.at_sample, sample_rate) + new, start_sample, n_samples, sample_rate)
