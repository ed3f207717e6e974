"""``--as-run PATH``: the as-run log as JSON lines, written as the station airs, and the recent
lines kept in memory for ``/history``.

An output like the recording: the clock writes each block (:meth:`AsRunLog.write` logs the
images that start airing in it) and never waits; a thread of its own writes the lines. Each line
is handed to the kernel as it comes (a ``kill -9`` loses nothing written) and the file is synced
every ``sync_every_s`` (a power cut loses at most that). Parts as the archive's: PATH, or with
``split_s`` a part per multiple of it in UTC named by its start (``as-run.2026-12-06T21-00-00Z.jsonl``);
a name that exists is never opened — a restart starts the next part beside it
(``as-run.1.jsonl``). A write that fails (a full disk) drops lines, counted and named in
``/healthz``, and the log tries a new part after ``retry_every_s``. Without a PATH, only the
memory is kept.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Mapping

from riffcast.delivery.archive import candidates, part_path
from riffcast.delivery.output import Block, OutputReport
from riffcast.history.as_run import Source, image_line, listeners_line, run_line, steer_line
from riffcast.history.earlier import earlier_lines
from riffcast.history.segments import HistoryQuery, Segments, shown
from riffcast.steering.targets import Target

log = logging.getLogger(__name__)

MEMORY_LINES = 20_000  # kept for /history: at 0.64 s windows, over 3 hours of images
SYNC_EVERY_S = 1.0
RETRY_EVERY_S = 5.0


def check_as_run_path(path: Path) -> None:
    """Refuse, before anything runs, a PATH the log cannot be written beside (one line each): a
    folder, or a folder that is missing or not writable. An existing PATH is fine: never touched."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--as-run {path}: is a folder; give a file name such as as-run.jsonl")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"--as-run {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"--as-run {path}: the folder {folder} is not writable")


class AsRunLog:
    """The as-run log of one station run (see the module docstring)."""

    def __init__(self, path: Path | None, *, generator: str, model: str, split_s: float | None = None,
                 sync_every_s: float = SYNC_EVERY_S, retry_every_s: float = RETRY_EVERY_S,
                 memory_lines: int = MEMORY_LINES) -> None:
        self.path = path
        self.generator = generator
        self.model = model
        self.split_s = split_s
        self.sync_every_s = sync_every_s
        self.retry_every_s = retry_every_s
        self.parts: list[Path] = []
        self.lines_written = 0
        self.lines_dropped = 0
        self.failed: str | None = None  # why lines are being dropped; None while the log writes
        self._memory: deque[dict[str, Any]] = deque(maxlen=memory_lines)
        self._segments = Segments(max_segments=memory_lines)  # the memory's images merged as they come
        if path is not None:  # earlier runs' lines first, for /history
            try:
                self._memory.extend(earlier_lines(Path(path), memory_lines))
            except OSError as error:
                log.warning("as-run log: earlier parts beside %s not read (%s)", path, error.strerror or error)
            for line in self._memory:
                self._segments.add(line)
        self._memory_lock = threading.Lock()
        self._steers: dict[int, Any] = {}  # ack position → steer id, until the image heard there airs (writer thread)
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._fd: int | None = None
        self._part_end_s: float | None = None
        self._synced_s = 0.0
        self._retry_at_s = 0.0
        self._thread = threading.Thread(target=self._run, name="riffcast-as-run", daemon=True)
        self._thread.start()

    # -- what the station tells it (any thread; never waits) ----------------------------------
    def write(self, block: Block) -> None:
        """The images that start airing in ``block``."""
        for aired in block.aired:
            self._queue.put({"kind": "image", "aired": aired})

    def steered(self, *, source: Source, steer_id: Any, target: Target, transition_chunks: int | None,
                position: int, image: int | None = None, utc_s: float | None = None) -> None:
        """A steer was acknowledged at stream ``position``, its first image the producer's ``image``."""
        line = steer_line(utc_s=time.time() if utc_s is None else utc_s, position=position, source=source,
                          steer_id=steer_id, target=target, transition_chunks=transition_chunks, image=image)
        self._queue.put({"kind": "steer", "line": line})

    def started(self, settings: Mapping[str, Any], utc_s: float | None = None) -> None:
        """The station starts with ``settings`` (see :func:`~riffcast.history.as_run.run_line`)."""
        self._queue.put({"kind": "line", "line": run_line(utc_s=time.time() if utc_s is None else utc_s,
                                                          settings=settings)})

    def listeners(self, by_output: Mapping[str, int], utc_s: float | None = None) -> None:
        self._queue.put({"kind": "line", "line": listeners_line(utc_s=time.time() if utc_s is None else utc_s,
                                                                  by_output=by_output)})

    # -- what it tells --------------------------------------------------------------------------
    def lines(self) -> list[dict[str, Any]]:
        """The recent lines, oldest first (images also carry ``serial``, their picture's number)."""
        with self._memory_lock:
            return list(self._memory)

    def history(self, query: HistoryQuery, *, sample_rate: int,
                picture: Callable[[int], str | None] = lambda serial: None) -> list[dict[str, Any]]:
        """``/history``'s segments for ``query`` (see :func:`~riffcast.history.segments.segments`),
        from the segments merged as the lines came: the cost does not grow with the memory."""
        with self._memory_lock:
            found = self._segments.find(query, sample_rate=sample_rate)
        return shown(found, picture)

    def health(self) -> tuple[OutputReport, ...]:
        problem = f"as-run log {self.path}: {self.lines_dropped} line(s) dropped ({self.failed})" if self.failed else None
        return (OutputReport("as-run", int(self._fd is not None), problem=problem),)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5.0)

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                self._take(item)
        finally:
            self._close_part()

    def _take(self, item: dict[str, Any]) -> None:
        if item["kind"] == "image":
            aired = item["aired"]
            start, end = aired.record.position, aired.record.position + aired.record.samples
            heard = [steer for position, steer in sorted(self._steers.items()) if start <= position < end]
            line = image_line(aired, generator=self.generator, model=self.model, steer_id=heard[-1] if heard else None)
            self._steers = {position: steer for position, steer in self._steers.items()
                            if position >= end}  # the others aired here, or were replaced before they aired
            kept = {**line, "serial": aired.record.serial, "utc_s": aired.utc_s}
            time_s = aired.utc_s
        else:
            line = item["line"]
            if item["kind"] == "steer" and line["id"] is not None:
                self._steers[line["position"]] = line["id"]
            kept, time_s = line, time.time()
        with self._memory_lock:
            self._memory.append(kept)
            self._segments.add(kept)
        if self.path is not None:
            self._append(line, time_s)

    def _append(self, line: dict[str, Any], time_s: float) -> None:
        now_s = time.monotonic()
        if self._fd is not None and self._part_end_s is not None and time_s >= self._part_end_s:
            self._close_part()
        if self._fd is None and now_s >= self._retry_at_s:
            self._open_part(time_s)
        if self._fd is None:
            self.lines_dropped += 1
            return
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            os.write(self._fd, data)
            if now_s - self._synced_s >= self.sync_every_s:
                os.fsync(self._fd)
                self._synced_s = now_s
        except OSError as error:
            self._fail(error, now_s)
            self.lines_dropped += 1
            return
        self.lines_written += 1
        if self.failed is not None:
            log.info("as-run log: writing again to %s (%d line(s) were dropped)", self.parts[-1], self.lines_dropped)
            self.failed = None

    def _open_part(self, time_s: float) -> None:
        start_s = None if self.split_s is None else time_s // self.split_s * self.split_s
        self._part_end_s = None if start_s is None else start_s + self.split_s
        for candidate in candidates(part_path(self.path, start_s)):
            try:
                self._fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            except FileExistsError:
                continue
            except OSError as error:
                self._fail(error, time.monotonic())
                return
            self.parts.append(candidate)
            return

    def _fail(self, error: OSError, now_s: float) -> None:
        if self.failed is None:
            log.error("as-run log %s: %s; lines are dropped, retrying every %g s", self.path,
                      error.strerror or error, self.retry_every_s)
        self.failed = error.strerror or str(error)
        self._retry_at_s = now_s + self.retry_every_s
        self._close_part()

    def _close_part(self) -> None:
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
