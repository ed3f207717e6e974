"""The stream's one ledger of images, sans I/O: one entry per image placed in the stream, from
its placement until it has played and is no longer among the last few kept.

An entry is made when an image is placed (its stream position is fixed then, so a steer can
be acknowledged with where it will be heard), completed when it is stitched (the assembly's
mark before it, to come back to; its record, for ``now_playing`` and its picture), and played
once the playhead reaches its position. Everything the feed needs to know about its images is
read from here: where the producer's image N is heard from, which images started playing,
which one plays at a position and which picture shows it, and where a steer can start
replacing the stream (the oldest stitched image of the producer's that is still far enough
ahead of the playhead); a rewind drops the entries from there on, all at once.

Nothing here reads a clock or takes a lock: the feed calls it under its lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from riffcast.pipeline.assembly import AssemblyMark
from riffcast.pipeline.records import ImageRecord
from riffcast.steering.walk import Step


@dataclass
class LedgerEntry:
    """One image placed in the stream at assembly ``slot``, its new audio heard from ``position``.

    producer_index: the producer's number for the image; None for the feed's fallback repeat.
    mark: the assembly just before it was stitched (None until stitched).
    record: what the station shows of it (None until stitched).
    before: the image and step stitched before it (the fallback after a rewind to here).
    played: the playhead has reached ``position``.
    """

    slot: int
    position: int
    producer_index: int | None
    mark: AssemblyMark | None = None
    record: ImageRecord | None = None
    before: tuple[np.ndarray, Step] | None = None
    played: bool = False


class ImageLedger:
    """Every image placed and not yet forgotten, oldest first (see the module docstring).

    kept: played images kept for late questions (``now_playing`` of a joiner, pictures).
    """

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._entries: deque[LedgerEntry] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def placed(self, slot: int, position: int, producer_index: int | None) -> None:
        """An image took ``slot``, heard from ``position``."""
        self._entries.append(LedgerEntry(slot, position, producer_index))

    def stitched(self, slot: int, mark: AssemblyMark, record: ImageRecord,
                 before: tuple[np.ndarray, Step] | None) -> None:
        """The image at ``slot`` was stitched (``mark``: the assembly just before)."""
        entry = next(entry for entry in reversed(self._entries) if entry.slot == slot)
        entry.mark, entry.record, entry.before = mark, record, before

    def move_playhead(self, position: int) -> int:
        """The playhead is at ``position`` → how many images started playing since the last move."""
        started = 0
        for entry in self._entries:
            if entry.position > position:
                break
            if not entry.played:
                entry.played = True
                started += 1
        played = sum(1 for entry in self._entries if entry.played)
        while played > self.kept:
            self._entries.popleft()
            played -= 1
        return started

    def position_of(self, producer_index: int) -> int | None:
        """Where the producer's image ``producer_index`` is heard from (None: not placed, or forgotten)."""
        for entry in reversed(self._entries):
            if entry.producer_index == producer_index:
                return entry.position
        return None

    def rewind_point(self, earliest: int, oldest_index: int = 0) -> LedgerEntry | None:
        """The oldest stitched image of the producer's (index ``oldest_index`` or later) whose
        samples all lie at or after sample ``earliest``: where a steer can start replacing the
        stream (None: nowhere)."""
        for entry in self._entries:
            index = entry.producer_index
            if (index is not None and index >= oldest_index and entry.mark is not None
                    and entry.mark.emitted_from >= earliest):
                return entry
        return None

    def drop_from(self, slot: int) -> list[LedgerEntry]:
        """Forget the images from ``slot`` on (a rewind) → them, oldest first."""
        dropped = []
        while self._entries and self._entries[-1].slot >= slot:
            dropped.append(self._entries.pop())
        return dropped[::-1]

    def records(self) -> list[ImageRecord]:
        """The stitched images' records, oldest first."""
        return [entry.record for entry in self._entries if entry.record is not None]

    def record_at(self, position: int) -> ImageRecord | None:
        """The image heard at ``position`` (None if not among those kept)."""
        for entry in reversed(self._entries):
            if entry.record is not None and entry.position <= position:
                return entry.record
        return None

    def picture_for(self, record: ImageRecord) -> ImageRecord:
        """The newest image whose picture starts at or before ``record``'s position: the picture
        that shows the most of what follows it (a window's own picture ends where it does)."""
        later = [r for r in self.records() if r.serial >= record.serial and r.image_position <= record.position]
        return later[-1] if later else record
