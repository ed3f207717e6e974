"""Sinks beside the listeners: an archive of exactly what was emitted, and the sound card.

Both take frames on the event loop and hand them to a thread, so a slow disk or audio
device never delays the clock.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from riffcast.archive import Archive

log = logging.getLogger(__name__)


class RecordingSink:
    """Archive every emitted frame (see :mod:`riffcast.archive`: parts beside ``path``, never
    overwriting; the extension picks the format, each part readable at every moment).

    A write that fails (disk full, file removed) is logged once; the stream goes on, what was
    written stays a valid file, and the recording stops for this run.

    Public, for /healthz and /metrics (plain attributes, safe to read from any thread):

    - ``failed``: the error that stopped the recording (one line), None while it records;
    - ``write_errors``: failed writes (at most 1: the recording stops at the first);
    - ``frames_written``: frames (samples) archived in this run, all parts together;
    - ``frames_dropped``: frames emitted but not archived because the recording had failed;
    - ``path``: the part being written (before the first frame, the path given);
    - ``parts``: every part created in this run, in order.
    """

    def __init__(self, path: Path, sample_rate: int, *, split_s: float | None = None) -> None:
        self.path = path
        self.failed: str | None = None
        self.write_errors = 0
        self.frames_written = 0
        self._dropped_here = 0  # counted on the event loop (write)
        self._dropped_there = 0  # counted on the recorder thread
        self.parts: list[Path] = []
        self._archive = Archive(path, sample_rate, split_s=split_s, on_part=self._started)
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="riffcast-recorder", daemon=True)
        self._thread.start()

    def write(self, position: int, samples: np.ndarray) -> None:
        if self.failed is None:
            self._queue.put(samples)
        else:
            self._dropped_here += samples.shape[0]

    @property
    def frames_dropped(self) -> int:
        return self._dropped_here + self._dropped_there

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5.0)

    def _started(self, part: Path) -> None:
        self.path = part
        self.parts.append(part)
        log.info("recording to %s", part)

    def _run(self) -> None:
        try:
            while (samples := self._queue.get()) is not None:
                if self.failed is not None:
                    self._dropped_there += samples.shape[0]
                    continue
                before = self._archive.frames_written
                try:
                    self._archive.write(samples)
                except Exception as error:  # keep the stream going; the file up to here stays valid
                    self.write_errors += 1
                    self._dropped_there += samples.shape[0] - (self._archive.frames_written - before)
                    self.failed = " ".join(str(error).split())
                    log.error("recording to %s stopped: %s", self.path, self.failed)
                finally:
                    self.frames_written = self._archive.frames_written
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

    def write(self, position: int, samples: np.ndarray) -> None:
        self.buffer.write(samples[:, None])

    def close(self) -> None:
        self._player.close()
