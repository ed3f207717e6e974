"""A bounded buffer of PCM keyed by absolute sample position, sans I/O.

The stitcher writes contiguous :class:`~riffcast.pipeline.stitcher.PcmBlock` s; the pacing clock reads
fixed-size frames by position. Samples older than ``capacity_samples`` behind the newest are
forgotten (a listener that far behind is skipped forward); samples not played yet may be
truncated and written again (a steer replacing them).
"""

from __future__ import annotations

import numpy as np


class PcmRing:
    """Mono float32 samples for absolute positions [``start``, ``end``)."""

    def __init__(self, capacity_samples: int) -> None:
        if capacity_samples <= 0:
            raise ValueError("capacity_samples must be positive")
        self._data = np.zeros(capacity_samples, dtype=np.float32)
        self.end = 0  # one past the newest sample

    @property
    def capacity(self) -> int:
        return self._data.size

    @property
    def start(self) -> int:
        """Oldest position still held."""
        return max(0, self.end - self.capacity)

    def write(self, position: int, samples: np.ndarray) -> None:
        """Append ``samples`` that start exactly at ``end`` (the stream has no gaps)."""
        if position != self.end:
            raise ValueError(f"PCM must continue at position {self.end}, got {position}")
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError("PcmRing holds mono samples, shape (samples,)")
        tail = samples[-self.capacity :]
        skipped = samples.size - tail.size
        first = (position + skipped) % self.capacity
        split = min(tail.size, self.capacity - first)
        self._data[first : first + split] = tail[:split]
        self._data[: tail.size - split] = tail[split:]
        self.end = position + samples.size

    def truncate(self, position: int) -> None:
        """Forget the samples from ``position`` on (they are to be written again)."""
        if not self.start <= position <= self.end:
            raise ValueError(f"can only truncate within [{self.start}, {self.end}], got {position}")
        self.end = position

    def read(self, position: int, count: int) -> np.ndarray:
        """Samples [position, position + count), which must be held; a copy, float32."""
        if count < 0 or position < self.start or position + count > self.end:
            raise IndexError(f"[{position}, {position + count}) is not in [{self.start}, {self.end})")
        first = position % self.capacity
        split = min(count, self.capacity - first)
        return np.concatenate([self._data[first : first + split], self._data[: count - split]])
