"""The feed's one ledger of images (riffcast.pipeline.ledger), sans I/O: placements, stitches, the
playhead and rewinds driven by numbers, no threads."""

from __future__ import annotations

import numpy as np

from riffcast.pipeline.assembly import AssemblyMark
from riffcast.pipeline.ledger import ImageLedger
from riffcast.pipeline.records import ImageRecord
from riffcast.pipeline.stitcher import StitcherCheckpoint
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

CHUNK = 10_000  # samples per image in these tests
STEP = Walk(Target.from_text("jazz")).peek()


def _record(slot: int, fallback: bool = False) -> ImageRecord:
    return ImageRecord(slot * CHUNK, STEP, np.zeros((4, 4), np.uint8), fallback, slot * CHUNK - 500, slot, True, CHUNK)


def _stitch(ledger: ImageLedger, slot: int, producer_index: int | None) -> None:
    """Place and stitch image ``slot``: its stitching emitted from 200 samples before its position."""
    ledger.placed(slot, slot * CHUNK, producer_index)
    mark = AssemblyMark(slot, StitcherCheckpoint({}, slot * CHUNK - 200))
    ledger.stitched(slot, mark, _record(slot, producer_index is None), before=None)


def test_images_are_placed_stitched_played_and_forgotten_beyond_those_kept():
    ledger = ImageLedger(kept=2)
    ledger.placed(0, 0, producer_index=0)
    assert ledger.position_of(0) == 0 and ledger.records() == []  # placed, not stitched: no record yet
    ledger.stitched(0, AssemblyMark(0, StitcherCheckpoint({}, 0)), _record(0), None)
    for slot in range(1, 5):
        _stitch(ledger, slot, slot)
    assert ledger.move_playhead(0) == 1  # image 0 starts playing
    assert ledger.move_playhead(CHUNK - 1) == 0
    assert ledger.move_playhead(3 * CHUNK + 5) == 3  # 1, 2 and 3 started
    assert len(ledger) == 3 and [r.serial for r in ledger.records()] == [2, 3, 4]  # two played kept, one to play
    assert ledger.position_of(0) is None and ledger.position_of(4) == 4 * CHUNK
    assert ledger.record_at(3 * CHUNK + 5).serial == 3 and ledger.record_at(CHUNK) is None  # forgotten


def test_a_rewind_finds_the_oldest_producer_image_far_enough_ahead_and_drops_from_there():
    ledger = ImageLedger(kept=8)
    for slot in range(4):
        _stitch(ledger, slot, slot)
    _stitch(ledger, 4, None)  # the feed's fallback repeat
    ledger.move_playhead(CHUNK)
    assert ledger.rewind_point(15_000).slot == 2  # image 2's samples start at 19 800
    assert ledger.rewind_point(0, oldest_index=3).slot == 3  # the producer remembers no earlier image
    assert ledger.rewind_point(35_000) is None  # only the fallback lies beyond: not the producer's to repaint
    dropped = ledger.drop_from(2)
    assert [entry.slot for entry in dropped] == [2, 3, 4] and not any(entry.played for entry in dropped)
    assert len(ledger) == 2 and ledger.position_of(3) is None
    ledger.placed(2, 2 * CHUNK, producer_index=2)  # painted again: it takes the slot again
    assert ledger.position_of(2) == 2 * CHUNK and [r.serial for r in ledger.records()] == [0, 1]


def test_a_picture_is_the_newest_one_that_starts_at_or_before_the_image():
    ledger = ImageLedger(kept=8)
    for slot in range(3):
        _stitch(ledger, slot, slot)
    first = ledger.records()[0]
    assert ledger.picture_for(first).serial == 0  # image 1's picture starts at 9 500: after image 0
    assert ledger.picture_for(ledger.records()[1]).serial == 1
