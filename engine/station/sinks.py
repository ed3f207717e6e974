"""Sinks beside the listeners: a WAV archive of exactly what was emitted, and the sound card.

Both take frames on the event loop and hand them to a thread, so a slow disk or audio
device never delays the clock.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from riffcast.recording import WavRecorder

log = logging.getLogger(__name__)


class RecordingSink:
    """Write every emitted frame to a WAV file (valid at every moment; see WavRecorder).

    A write that fails (disk full, file removed) is logged once; the stream goes on and
    what was written stays a valid file.
    """

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.failed: str | None = None
        self._recorder = WavRecorder(path, sample_rate)
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="riffcast-recorder", daemon=True)
        self._thread.start()

    def write(self, position: int, samples: np.ndarray) -> None:
        if self.failed is None:
            self._queue.put(samples)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5.0)

    def _run(self) -> None:
        try:
            while (samples := self._queue.get()) is not None:
                if self.failed is None:
                    self._recorder.write(samples)
        except Exception as error:  # keep the stream going; the file up to here stays valid
            self.failed = str(error)
            log.error("recording to %s stopped: %s", self.path, error)
            while self._queue.get() is not None:
                pass
        finally:
            try:
                self._recorder.close()
            except Exception as error:
                log.error("closing %s: %s", self.path, error)


class SpeakerSink:
    """Play the stream on this machine's sound card (installations), through a jitter buffer
    of 0.2–2 s so a late tick never clicks. OSError with one line if there is no device."""

    def __init__(self, sample_rate: int, device: int | str | None = None) -> None:
        from riffcast.client.jitter import JitterBuffer
        from riffcast.client.player import Player

        self.buffer = JitterBuffer(channels=1, prefill=round(0.2 * sample_rate), capacity=2 * sample_rate)
        self._player = Player(self.buffer, sample_rate=sample_rate, device=device)

    def write(self, position: int, samples: np.ndarray) -> None:
        self.buffer.write(samples[:, None])

    def close(self) -> None:
        self._player.close()
