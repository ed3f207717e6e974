"""Time warp of mel columns onto a beat grid: each output column reads the source at the same
place in its beat (linear interpolation between columns), so the source's beats land on the
output grid's.

Positions are absolute columns on both sides (output: the stream's; source: where the columns
were painted or decoded). Output beat ``b`` reads source beat ``b − offset`` (an integer): the
offset is worked out from where the last call stopped reading, so the reading carries on across
images, and changes by whole beats only when the source runs out (a faster tempo asked of a
fixed-width image: a beat is heard again) or falls too far behind (slower: one is skipped).
Every output beat still falls on the grid, so beats stay continuous across every join.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatGrid:
    """Beats at ``origin_column + k × period_columns`` (absolute columns, any integer k)."""

    origin_column: float
    period_columns: float

    def beat_at(self, column: np.ndarray | float) -> np.ndarray | float:
        """Beats since the origin (fractional) at ``column``."""
        return (column - self.origin_column) / self.period_columns

    def column_of(self, beat: np.ndarray | float) -> np.ndarray | float:
        return self.origin_column + beat * self.period_columns

    def continued(self, period_columns: float, at_column: float) -> BeatGrid:
        """A grid of ``period_columns`` whose first beat is this grid's first beat at or after
        ``at_column`` (a tempo change keeps the phase)."""
        beat = math.ceil(self.beat_at(at_column) - 1e-9)
        return BeatGrid(float(self.column_of(beat)), period_columns)


@dataclass(frozen=True)
class BeatMap:
    """Beats at the given absolute columns (increasing), one apart, beat 0 the first; between them
    the beat count runs linearly, and before the first and after the last it runs on at
    ``period_columns`` (the source's beats as tracked one by one: a drifting tempo, a beat
    lengthened or cut short, where a :class:`BeatGrid` holds one period).

    columns: (beats ≥ 2,) float64, never modified.
    """

    columns: np.ndarray
    period_columns: float

    def beat_at(self, column: np.ndarray | float) -> np.ndarray | float:
        """Beats since the first (fractional) at ``column``."""
        at = np.asarray(column, dtype=np.float64)
        first, last = self.columns[0], self.columns[-1]
        inside = np.interp(at, self.columns, np.arange(self.columns.size, dtype=np.float64))
        beats = np.where(at < first, (at - first) / self.period_columns,
                         np.where(at > last, self.columns.size - 1 + (at - last) / self.period_columns, inside))
        return float(beats) if np.ndim(column) == 0 else beats

    def column_of(self, beat: np.ndarray | float) -> np.ndarray | float:
        at = np.asarray(beat, dtype=np.float64)
        count = self.columns.size
        inside = np.interp(at, np.arange(count, dtype=np.float64), self.columns)
        columns = np.where(at < 0, self.columns[0] + at * self.period_columns,
                           np.where(at > count - 1, self.columns[-1] + (at - count + 1) * self.period_columns, inside))
        return float(columns) if np.ndim(beat) == 0 else columns


@dataclass(frozen=True)
class WarpCursor:
    """Where a warp stopped: the next output column and the source position it would read."""

    next_output: int
    next_source: float


@dataclass(frozen=True)
class SourceWindow:
    """The source columns that may be read: ``[start, end)`` absolute, and ``max_lag_columns``:
    how far behind ``end`` reading may fall before a beat is skipped (None: as far as ``start``)."""

    start: int
    end: int
    max_lag_columns: int | None = None


def plan_positions(cursor: WarpCursor, output: BeatGrid, source: BeatGrid | BeatMap, window: SourceWindow,
                   columns: int | None, *, final: bool = False) -> tuple[np.ndarray, WarpCursor]:
    """The source positions (float64, absolute) of the next output columns, and the new cursor.

    columns: how many output columns (a fixed-width image), or None: as many as the window holds
        (a stretch: the output grows or shrinks with the tempo ratio; ``final`` reads to its end).
    """
    low = window.start if window.max_lag_columns is None else max(window.start, window.end - window.max_lag_columns)
    high = window.end - 1.0
    column = cursor.next_output
    stop = None if columns is None else column + columns
    offset = round(float(output.beat_at(column)) - float(source.beat_at(cursor.next_source)))
    parts: list[np.ndarray] = []
    while stop is None or column < stop:
        boundary = math.ceil(float(output.column_of(math.floor(float(output.beat_at(column))) + 1)) - 1e-9)
        end = max(boundary, column + 1) if stop is None else min(max(boundary, column + 1), stop)
        span = np.arange(column, end, dtype=np.float64)
        read = source.column_of(output.beat_at(span) - offset)
        if stop is not None:  # a fixed width: stay inside the window by whole beats
            if read[0] < low:
                offset -= math.ceil((low - read[0]) / source.period_columns)
            read = source.column_of(output.beat_at(span) - offset)
            if read[-1] > high:
                offset += math.ceil((read[-1] - high) / source.period_columns)
            read = np.clip(source.column_of(output.beat_at(span) - offset), window.start, high)
        elif read[-1] > high:  # a stretch: stop where the source does
            if not final:
                break
            read = read[read <= high]
            if read.size:
                parts.append(read)
                column += read.size
            break
        parts.append(read)
        column = end
    positions = np.concatenate(parts) if parts else np.zeros(0)
    rate = source.period_columns / output.period_columns
    next_source = float(positions[-1] + rate) if positions.size else cursor.next_source
    return positions, WarpCursor(column, next_source)


def resample_columns(source: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Columns of ``source`` (rows, n) at fractional ``positions`` (m,) in [0, n − 1], linearly
    interpolated → (rows, m) float32."""
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0.0, source.shape[1] - 1)
    left = np.minimum(np.floor(positions).astype(np.int64), max(source.shape[1] - 2, 0))
    fraction = (positions - left).astype(np.float32)
    right = np.minimum(left + 1, source.shape[1] - 1)
    return source[:, left] * (1.0 - fraction) + source[:, right] * fraction
