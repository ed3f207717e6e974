"""The beat clock of the stream as placed: the beats heard in a stretch, and the next downbeat,
read from the images' records (each carries the beat grids its music follows). Sans I/O.

What is heard at a position is the record the ledger names there (the newest placed at or before
it, as :meth:`~riffcast.pipeline.ledger.ImageLedger.record_at`), up to the next record's position.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

from riffcast.generation.beats import Beat, BeatGrid, beats_between, grid_spans, next_beat
from riffcast.pipeline.records import ImageRecord


def heard_spans(records: Sequence[ImageRecord], start: int, stop: float) -> Iterator[tuple[int, float, ImageRecord | None]]:
    """The stretches of samples [start, stop) and the record heard in each (None: none known),
    in order → (from, to, record). ``records``: placement order, as the ledger keeps them."""
    edges = sorted({record.position for record in records if start < record.position < stop})
    for begin, end in zip([start, *edges], [*edges, stop]):
        heard = None
        for record in records:
            if record.position <= begin:
                heard = record
        yield begin, end, heard


def beats_heard(records: Sequence[ImageRecord], start: int, stop: int, sample_rate: int) -> list[Beat]:
    """The beats at stream samples [start, stop), in order; a stretch whose image keeps no beat
    (a fallback repeat, a generator without a grid) has none."""
    beats = []
    for begin, end, record in heard_spans(records, start, stop):
        if record is not None and record.beats:
            beats += beats_between(record.beats, begin, end, sample_rate)
    return beats


def next_beat_heard(records: Sequence[ImageRecord], position: int, sample_rate: int, *,
                    downbeat: bool = False) -> int | None:
    """The first beat (downbeat when ``downbeat``) at or after stream sample ``position`` (past
    the last image, its grid goes on); None when a stretch before it keeps no beat, or nothing is
    known at ``position``."""
    for begin, end, record in heard_spans(records, position, math.inf):
        if record is None or not record.beats:
            return None
        beat = next_beat(record.beats, begin, sample_rate, downbeat=downbeat)
        if beat is not None and beat < end:
            return beat
    return None


def next_downbeat_heard(records: Sequence[ImageRecord], position: int, sample_rate: int) -> int | None:
    """:func:`next_beat_heard`'s first downbeat."""
    return next_beat_heard(records, position, sample_rate, downbeat=True)


def beat_count_at(records: Sequence[ImageRecord], position: int, sample_rate: int) -> tuple[float, BeatGrid] | None:
    """Where stream sample ``position`` lies on the beat clock: (beats counted from bar 0's
    downbeat, as bar × beats per bar + the beat in the bar, fractional; the grid that rules
    there), or None where no beat is known. Continuous through a tempo change on a bar line."""
    for _, _, record in heard_spans(records, position, position + 1):
        if record is None or not record.beats:
            return None
        _, _, grid = next(grid_spans(record.beats, position, position + 1))
        beats = grid.bar * grid.beats_per_bar + (position - grid.sample) / grid.beat_samples(sample_rate)
        return beats, grid
    return None
