"""Sinks beside the listeners: an archive of exactly what was emitted (output ``record``), and
the sound card (``speaker``).

Both take blocks on the event loop and hand them to a thread, so a slow disk or audio
device never delays the clock.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from riffcast.delivery.archive import Archive
from riffcast.delivery.disk import RETRY_EVERY_S, PausingArchive
from riffcast.delivery.output import Block, OutputReport

log = logging.getLogger(__name__)


class RecordingSink:
    """Archive every emitted frame (see :mod:`riffcast.delivery.archive`: parts beside ``path``, never
    overwriting; the extension picks the format, each part readable at every moment).

    A write that fails (disk full, file size limit, folder removed) pauses the recording
    (:class:`riffcast.delivery.disk.PausingArchive`): one log line says why and where, what was written
    stays a valid file, the stream goes on, and the recording resumes by itself in a new part
    — on a full disk once space returns, checked every ``retry_every_s`` and at every split —
    with one more line giving the gap.

    Public, for /healthz and /metrics (plain attributes, safe to read from any thread):

    - ``failed``: why the recording is paused (one line), None while it records;
    - ``write_errors``: failed writes and failed tries to resume;
    - ``frames_written``: frames (samples) archived in this run, all parts together;
    - ``frames_dropped``: frames emitted but not archived because the recording was paused;
    - ``path``: the part being written, else the last one (before the first frame, the path given);
    - ``parts``: every part created in this run, in order.
    """

    def __init__(
        self, path: Path, sample_rate: int, *, split_s: float | None = None, retry_every_s: float = RETRY_EVERY_S,
    ) -> None:
        self.sample_rate = sample_rate
        self._archive = PausingArchive(Archive(path, sample_rate, split_s=split_s), retry_every_s=retry_every_s)
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="riffcast-recorder", daemon=True)
        self._thread.start()

    def write(self, block: Block) -> None:
        self._queue.put(block.samples)  # all disk work, and the choice to drop, on the recorder thread

    def health(self) -> tuple[OutputReport, ...]:
        """``record``: samples archived (as float32 bytes), seconds lost while paused, why paused."""
        failed = self.failed
        return (OutputReport("record", 1, self.frames_written * 4, self.frames_dropped / self.sample_rate,
                             problem=f"recording to {self.path} paused: {failed}" if failed else None),)

    @property
    def failed(self) -> str | None:
        return self._archive.failed

    @property
    def write_errors(self) -> int:
        return self._archive.write_errors

    @property
    def frames_written(self) -> int:
        return self._archive.frames_written

    @property
    def frames_dropped(self) -> int:
        return self._archive.frames_dropped

    @property
    def path(self) -> Path:
        return self._archive.path

    @property
    def parts(self) -> list[Path]:
        return self._archive.archive.parts

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5.0)

    def _run(self) -> None:
        try:
            while (samples := self._queue.get()) is not None:
                self._archive.write(samples)
        finally:
            try:
                self._archive.close()
            except Exception as error:
                log.error("closing %s: %s", self.path, " ".join(str(error).split()))


class SpeakerSink:
    """Play the stream on this machine's sound card (installations), through a jitter buffer
    of 0.2–2 s so a late tick never clicks. OSError with one line if there is no device."""

    def __init__(self, sample_rate: int, device: int | str | None = None) -> None:
        from riffcast_client.jitter import JitterBuffer
        from riffcast_client.player import Player

        self.buffer = JitterBuffer(channels=1, prefill=round(0.2 * sample_rate), capacity=2 * sample_rate)
        self._player = Player(self.buffer, sample_rate=sample_rate, device=device)

    def write(self, block: Block) -> None:
        self.buffer.write(block.samples[:, None])

    def health(self) -> tuple[OutputReport, ...]:
        return (OutputReport("speaker", 1),)

    def close(self) -> None:
        self._player.close()
