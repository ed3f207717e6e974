"""Recording through disk trouble: a write that fails pauses the archive, which resumes by itself
in a new part (:class:`PausingArchive`); what went wrong, in the user's words (:func:`diagnose`).

A full disk is told by the errno (ENOSPC) or, when the error has none (libsndfile's "System
error."), by the free space left in the part's folder: under ``FULL_BELOW_BYTES``.
"""

from __future__ import annotations

import errno
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from riffcast.delivery.archive import Archive
from riffcast.ops.backoff import Backoff
from riffcast_client.recording import one_line

log = logging.getLogger(__name__)

MIB = 1 << 20
# Under 1 MiB free a folder is full: 12 s of the largest format (16-bit mono WAV, 88.2 kB/s).
FULL_BELOW_BYTES = MIB
# A paused recording resumes once 16 MiB are free: over 3 min of WAV, so a disk with a little
# room now and then does not flap between paused and resumed every few seconds.
RESUME_FREE_BYTES = 16 * MIB
RETRY_EVERY_S = 5.0  # a paused recording checks this often (and at every split)
MAX_RETRY_S = 60.0  # after failed tries, waits double up to this

_REASONS = {  # errno → what happened, for a folder
    errno.EDQUOT: "the disk quota for {folder} is used up",
    errno.EFBIG: "the part reached the largest file size allowed ({strerror})",
    errno.EACCES: "no permission to write in {folder}",
    errno.EPERM: "no permission to write in {folder}",
    errno.ENOENT: "{folder} no longer exists",
    errno.ENOTDIR: "{folder} is no longer a folder",
    errno.EROFS: "{folder} is read-only",
    errno.EIO: "the disk holding {folder} reports an input/output error",
}


@dataclass(frozen=True)
class Trouble:
    """Why a recording cannot go on. text: one line for a person; kind: ``full``, the errno's
    name or ``error`` (a change of kind is worth a log line); full: wait for free space."""

    text: str
    kind: str
    full: bool


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged process may still write in ``folder`` (statvfs ``f_bavail``);
    None when that cannot be read (the folder is gone)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def diagnose(error: BaseException, folder: Path, free: int | None) -> Trouble:
    """``error`` from writing a part in ``folder``, with ``free`` bytes left there, in words."""
    number = error.errno if isinstance(error, OSError) else None
    if number == errno.ENOSPC or (number is None and free is not None and free < FULL_BELOW_BYTES):
        room = "" if free is None else f": {free} bytes free" if free < MIB else f": {free / MIB:.1f} MiB free"
        return Trouble(f"the disk is full ({one_line(folder)}{room})", "full", full=True)
    if number in _REASONS:
        strerror = error.strerror if isinstance(error, OSError) else None
        text = _REASONS[number].format(folder=one_line(folder), strerror=strerror)
        return Trouble(text, errno.errorcode[number], full=False)
    return Trouble(" ".join(str(error).split()) or type(error).__name__, "error", full=False)


class PausingArchive:
    """An :class:`Archive` that pauses when a write fails and resumes by itself, each time in
    a new part beside the last (never overwriting). Synchronous: the caller's thread does all
    the disk work. Time is counted in the stream's frames, not read from a clock.

    While paused, frames are left out (a gap in the archive's timeline) and counted in
    ``frames_dropped``. A try comes every ``retry_every_s`` of audio and at each split: on a
    full disk only once ``resume_free_bytes`` are free (``free_bytes``, checked each time);
    after any other error by writing, waiting twice as long after each failed try, up to
    ``max_retry_s``. One log line per change: paused (why, where), resumed (the gap).

    Plain attributes, safe to read from any thread: ``failed`` (why it is paused, one line;
    None while it records), ``write_errors`` (failed writes and tries), ``frames_dropped``,
    ``path`` (the part being written, else the last one, else the path given).
    """

    def __init__(
        self, archive: Archive, *, retry_every_s: float = RETRY_EVERY_S, max_retry_s: float = MAX_RETRY_S,
        resume_free_bytes: int = RESUME_FREE_BYTES, free_bytes: Callable[[Path], int | None] = free_bytes,
    ) -> None:
        self.archive = archive
        self.retry_every_s = retry_every_s
        self.resume_free_bytes = resume_free_bytes
        self.failed: str | None = None
        self.write_errors = 0
        self.frames_dropped = 0
        self.path = archive.path
        self._free_bytes = free_bytes
        self._trouble: Trouble | None = None
        self._backoff = Backoff(first_s=retry_every_s, max_s=max_retry_s)  # after a failed try
        self._next_try = 0  # the position of the next try
        self._gap_from = 0  # frames_dropped when the pause began

    @property
    def frames_written(self) -> int:
        return self.archive.frames_written

    def write(self, samples: np.ndarray) -> None:
        """Archive (frames,) float samples; while paused, drop them up to the next try. Never raises."""
        while samples.shape[0]:
            if self._trouble is not None:
                self._next_try = self._due()  # kept: the skip below may pass the split
                cut = min(samples.shape[0], max(0, self._next_try - self.archive.position))
                self._drop(cut)
                samples = samples[cut:]
                if not samples.shape[0] or not self._may_try():
                    continue
            self._record(samples)
            return

    def close(self) -> None:
        self.archive.close()

    def _due(self) -> int:
        """The position of the next try: the retry time or the next split, whichever is first."""
        split = self.archive.next_split
        return self._next_try if split is None else min(self._next_try, split)

    def _may_try(self) -> bool:
        """A full disk is tried only with enough room again; otherwise it is checked later."""
        assert self._trouble is not None
        if self._trouble.full:
            free = self._free_bytes(self.archive.path.parent)
            if free is not None and free < self.resume_free_bytes:
                self._schedule(self.retry_every_s)
                return False
        return True

    def _drop(self, frames: int) -> None:
        self.archive.skip(frames)
        self.frames_dropped += frames

    def _record(self, samples: np.ndarray) -> None:
        known, before = len(self.archive.parts), self.archive.frames_written
        try:
            self.archive.write(samples)
        except Exception as error:  # noqa: BLE001 - the stream goes on; the part so far stays valid
            self._pause(error, lost=samples.shape[0] - (self.archive.frames_written - before))
            return
        self.path = self.archive.parts[-1]
        new = self.archive.parts[known:]
        if self._trouble is not None:
            gap = self.frames_dropped - self._gap_from
            log.warning("recording to %s resumed after a gap of %.1f s (%d samples not recorded)",
                        new[0], gap / self.archive.sample_rate, gap)
            self._trouble, self.failed = None, None
            self._backoff.reset()
            new = new[1:]
        for part in new:
            log.info("recording to %s", part)

    def _pause(self, error: Exception, lost: int) -> None:
        """Pause (or stay paused) after a failed write that lost ``lost`` frames."""
        self.path = self.archive.parts[-1] if self.archive.parts else self.archive.path
        folder = self.archive.path.parent
        trouble = diagnose(error, folder, self._free_bytes(folder))
        if self._trouble is None:
            self._gap_from = self.frames_dropped
        self.frames_dropped += lost
        self.write_errors += 1
        if trouble.full:
            self.failed = f"{trouble.text}; resumes by itself when space returns"
        else:
            self.failed = f"{trouble.text}; retries by itself, every {self.retry_every_s:g} s at first"
        if self._trouble is None or trouble.kind != self._trouble.kind:
            log.error("recording to %s paused: %s", self.path, self.failed)
        self._trouble = trouble
        self._schedule(self._backoff.delay_s())

    def _schedule(self, wait_s: float) -> None:
        self._next_try = self.archive.position + max(1, round(wait_s * self.archive.sample_rate))
