"""The rewind window on disk: the files :class:`~riffcast.delivery.window_index.WindowIndex` keeps.

A folder of its own: a temporary one by default (``riffcast-window-PID-*`` in the system's
temporary folder, removed on a clean stop; a killed station's is removed by the next one to
start), or one named with ``--hls-window-dir`` (emptied of the store's
own files at start and at a clean stop). Each PCM piece is appended to as the clock emits blocks
(:meth:`SegmentStore.write`, an :class:`~riffcast.delivery.output.Output`); each HLS segment is
written whole as the MP3 encoder completes it (:meth:`SegmentStore.add_segment`). A write that
fails — a full disk, a folder gone — is one ``/healthz`` problem line (in the words of
:func:`riffcast.delivery.disk.diagnose`), the piece it was for is given up, and the next piece
tries again (after a full disk, once 16 MiB are free); the live stream and the newest segments
in memory never depend on the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from riffcast.delivery.disk import RESUME_FREE_BYTES, Trouble, diagnose, free_bytes
from riffcast.delivery.hls import Segment
from riffcast.delivery.output import Block, OutputReport, Tally
from riffcast.delivery.window_index import CHUNK_SAMPLES, PCM_SAMPLE_BYTES, Kind, Piece, Span, WindowIndex
from riffcast_client import protocol
from riffcast_client.recording import one_line

log = logging.getLogger(__name__)

SUFFIX = {Kind.MP3: ".mp3", Kind.PCM: ".s16"}
TEMPORARY_PREFIX = "riffcast-window-"  # then the station's process id: a killed station's folder is removed at the next start


def remove_stale_folders(parent: Path) -> None:
    """Remove the temporary stores in ``parent`` whose station is gone (killed: no clean stop
    removed them), told by the process id in their names."""
    for folder in parent.glob(f"{TEMPORARY_PREFIX}*-*"):
        pid = folder.name[len(TEMPORARY_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal: only whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def check_folder(folder: Path) -> None:
    """Refuse, before anything runs, a ``--hls-window-dir`` the store could not write in, with one
    line (ValueError): not a folder, not writable, or missing with no writable folder to make it in."""
    if folder.exists():
        if not folder.is_dir():
            raise ValueError(f"--hls-window-dir: {one_line(folder)} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"--hls-window-dir: no permission to write in {one_line(folder)}")
    elif not folder.parent.is_dir() or not os.access(folder.parent, os.W_OK | os.X_OK):
        raise ValueError(f"--hls-window-dir: {one_line(folder)} does not exist and cannot be made there")


class SegmentStore:
    """The window's files in ``folder`` (None: a temporary folder of its own); see the module docstring."""

    def __init__(self, window_s: float, sample_rate: int, folder: Path | None = None) -> None:
        self.window_s = window_s
        self.sample_rate = sample_rate
        self.index = WindowIndex(round(window_s * sample_rate))
        self._owned = folder is None
        self._folder = folder  # a temporary one is made at the first write
        self.tally = Tally("hls-window")
        self.trouble: Trouble | None = None
        self.failed_writes = 0
        self._open: tuple[int, BinaryIO] | None = None  # the PCM piece being appended to
        self._given_up: int | None = None  # a PCM piece whose write failed: the next piece tries again
        self._checked: tuple[Kind, int] | None = None  # the piece whose room was last checked on a full disk …
        self._resumed = False  # … and whether there was room
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                self._remove_own_files()
            except OSError as error:  # checked at start-up (check_folder); what is left is a problem line
                self._failed(error)

    # -- writing ---------------------------------------------------------------------------
    def write(self, block: Block) -> None:
        """Append the block's samples (float32) as 16-bit PCM — the values s16le listeners get
        (:func:`riffcast_client.protocol.pcm_bytes`) —, split at piece boundaries."""
        samples = np.frombuffer(protocol.pcm_bytes(block.samples, "s16le"), dtype="<i2")
        position, offset = block.position, 0
        while offset < samples.size:
            number = (position + offset) // CHUNK_SAMPLES
            take = min(samples.size - offset, (number + 1) * CHUNK_SAMPLES - (position + offset))
            self._append(number, position + offset, samples[offset:offset + take])
            offset += take

    def _may_write(self, kind: Kind, number: int) -> bool:
        """After a full disk, a new piece is written once ``RESUME_FREE_BYTES`` are free again
        (as a paused recording resumes: no flapping between full and not); after another
        failure, at once."""
        if kind is Kind.PCM and number == self._given_up:
            return False
        if self.trouble is None or not self.trouble.full:
            return True
        if (kind, number) == self._checked:
            return self._resumed
        free = free_bytes(self.folder)
        self._checked, self._resumed = (kind, number), free is not None and free >= RESUME_FREE_BYTES
        return self._resumed

    def _append(self, number: int, position: int, samples: np.ndarray) -> None:
        if not self._may_write(Kind.PCM, number):
            return
        held = self.index.get(Kind.PCM, number)
        if held is not None and held.end != position:  # a jump inside a piece: the piece ends there
            self._give_up(number)
            return
        data = samples.tobytes()
        try:
            if self._open is None or self._open[0] != number:
                self._close_open()
                self._open = (number, open(self._path(Kind.PCM, number), "ab"))
            self._open[1].write(data)
            self._open[1].flush()
        except OSError as error:
            self._failed(error)
            self._give_up(number)
            return
        self._ok()
        if held is None:
            self._delete(self.index.add(Piece(Kind.PCM, number, position, samples.size, len(data))))
        else:
            self._delete(self.index.grow(number, samples.size, len(data)))

    def add_segment(self, segment: Segment) -> None:
        """Keep an HLS segment the MP3 encoder completed."""
        if not self._may_write(Kind.MP3, segment.sequence):
            return
        try:
            self._path(Kind.MP3, segment.sequence).write_bytes(segment.data)
        except OSError as error:
            self._failed(error)
            with contextlib.suppress(OSError):
                self._path(Kind.MP3, segment.sequence).unlink(missing_ok=True)
            return
        self._ok()
        samples = round(segment.duration_s * self.sample_rate)
        self._delete(self.index.add(Piece(Kind.MP3, segment.sequence, segment.position, samples,
                                          len(segment.data), segment.duration_s)))

    # -- reading ---------------------------------------------------------------------------
    def window(self) -> Span | None:
        """What ``/stream?from=`` and ``/clip`` may ask for (PCM held without a hole)."""
        return self.index.pcm_window()

    def read_pcm(self, span: Span) -> np.ndarray | None:
        """Samples [first, end) as float32 (the 16-bit values / 32767), or None where not held whole."""
        pieces = self.index.pcm_pieces(span)
        if pieces is None:
            return None
        parts = []
        try:
            for piece in pieces:
                first, end = max(span.first, piece.position), min(span.end, piece.end)
                with open(self._path(Kind.PCM, piece.number), "rb") as file:
                    file.seek((first - piece.position) * PCM_SAMPLE_BYTES)
                    data = file.read((end - first) * PCM_SAMPLE_BYTES)
                if len(data) != (end - first) * PCM_SAMPLE_BYTES:
                    return None
                parts.append(np.frombuffer(data, dtype="<i2"))
        except OSError:
            return None
        samples = np.concatenate(parts).astype(np.float32) / 32767.0
        self.tally.sent_bytes += samples.size * PCM_SAMPLE_BYTES
        return samples

    def segments(self) -> list[Piece]:
        """The HLS segments in the window, oldest first."""
        return self.index.pieces(Kind.MP3)

    def read_segment(self, sequence: int) -> bytes | None:
        if self.index.get(Kind.MP3, sequence) is None:
            return None
        try:
            return self._path(Kind.MP3, sequence).read_bytes()
        except OSError:
            return None

    # -- health and closing ----------------------------------------------------------------
    def health(self) -> tuple[OutputReport, ...]:
        problem = None if self.trouble is None else f"the rewind window cannot be stored: {self.trouble.text}"
        return (OutputReport("hls-window", 0, self.tally.sent_bytes, 0.0, problem=problem),)

    def close(self) -> None:
        """Close the open piece and remove the files (and the folder, if it is the store's own)."""
        self._close_open()
        if self._owned:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
        else:
            self._remove_own_files()

    @property
    def folder(self) -> Path:
        if self._folder is None:
            remove_stale_folders(Path(tempfile.gettempdir()))
            self._folder = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-"))
        return self._folder

    def _path(self, kind: Kind, number: int) -> Path:
        return self.folder / f"{number}{SUFFIX[kind]}"

    def _remove_own_files(self) -> None:
        for suffix in SUFFIX.values():
            for path in self.folder.glob(f"*{suffix}"):
                if path.stem.isdigit():
                    path.unlink(missing_ok=True)

    def _close_open(self) -> None:
        if self._open is not None:
            number, file = self._open
            self._open = None
            try:
                file.close()
            except OSError as error:
                self._failed(error)
                self._give_up(number)

    def _give_up(self, number: int) -> None:
        """Piece ``number`` cannot be trusted whole: forget it (reads see a hole) until the next."""
        self._given_up = number
        if self._open is not None and self._open[0] == number:
            file, self._open = self._open[1], None
            try:
                file.close()
            except OSError:
                pass
        self.index.remove(Kind.PCM, number)
        with contextlib.suppress(OSError):
            self._path(Kind.PCM, number).unlink(missing_ok=True)

    def _delete(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if self._open is not None and piece.kind is Kind.PCM and self._open[0] == piece.number:
                self._close_open()
            with contextlib.suppress(OSError):
                self._path(piece.kind, piece.number).unlink(missing_ok=True)

    def _failed(self, error: OSError) -> None:
        self.failed_writes += 1
        folder = self._folder or Path(tempfile.gettempdir())
        trouble = diagnose(error, folder, free_bytes(folder))
        if self.trouble is None or trouble.kind != self.trouble.kind:
            log.warning("the rewind window cannot be stored: %s (the live stream goes on)", trouble.text)
        self.trouble = trouble

    def _ok(self) -> None:
        if self.trouble is not None:
            log.info("the rewind window is stored again (%s)", self.folder)
            self.trouble = None
