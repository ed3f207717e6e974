"""Changes on the beat grid: where a transition's new settings take over, and the audio across it.

A transition switches from its ``start`` settings to its ``end`` settings at the producer's
switch column (:attr:`~riffcast.generation.types.ChunkRequest.switch_column`). The synth moves
that moment to the first bar line at or after it on the old tempo's grid — or, when only the
seed changes, to an 8-bar phrase line inside the transition (the first after the switch, else the
last before it) — so the old bar (or phrase) is always played whole. The new tempo's bars are anchored there and the bar
count carries on, so the beat stays continuous through any tempo change. Notes begun before the
change ring into it and are released ``RING_S`` after it. Pure functions of their arguments:
every image of the transition computes the same change.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from riffcast.generation.compose import Event
from riffcast.generation.grid import DRUMS, bar_seconds
from riffcast.generation.harmony import PHRASE_BARS
from riffcast.generation.style import Style
from riffcast.generation.types import BarGrid
from riffcast.generation.voices import event_samples, mix_events, placed_events, reach_seconds

RING_S = 0.5  # how long a note held over a change rings on after it, seconds (≥ every voice's release)


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


def render_across(before: tuple[Style, int], grid: BarGrid, after: tuple[Style, int], change: BarGrid,
                  start_sample: int, n_samples: int, sample_rate: int = 44100) -> np.ndarray:
    """Samples [start_sample, start_sample + n_samples) of the song that plays ``before``
    (style, seed) on ``grid`` up to the bar ``change.bar`` and ``after`` from there, its bars
    anchored at ``change.sample``. float32 mono through the master stage; adjacent windows
    concatenate exactly (see :func:`~riffcast.generation.voices.render_audio`)."""
    stop = start_sample + n_samples
    old_style, old_seed = before
    new_style, new_seed = after
    old_bars = _bars(grid, old_style, start_sample, stop, sample_rate)
    old_bars = range(old_bars.start, min(old_bars.stop, change.bar))
    new_bars = _bars(change, new_style, start_sample, stop, sample_rate)
    new_bars = range(max(new_bars.start, change.bar), new_bars.stop)
    old = placed_events(old_style, old_seed, old_bars, bar_samples(old_style, sample_rate), sample_rate, grid)
    new = placed_events(new_style, new_seed, new_bars, bar_samples(new_style, sample_rate), sample_rate, change)
    return mix_events(_released(old, change.sample, sample_rate) + new, start_sample, n_samples, sample_rate)
