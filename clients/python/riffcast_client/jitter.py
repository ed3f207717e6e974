"""A bounded jitter buffer between the network and the sound card, sans I/O, thread-safe.

The network side ``write`` s frames as they arrive (in bursts, late, or not at all while
reconnecting); the sound card's callback ``read_into`` s exactly the block it asks for. Output
starts only once ``prefill`` frames are held, so small delays in arrival do not starve the
card. When the buffer runs dry, the rest of the block is silence, an underrun is counted and
the buffer fills up to ``prefill`` again before it plays on. At most ``capacity`` frames are
held: when more arrive, the oldest are dropped, which keeps the delay to the stream bounded.

A "frame" here is one sample per channel (a row of a (frames, channels) array).
"""

from __future__ import annotations

import threading

import numpy as np


class JitterBuffer:
    """float32 audio, (frames, channels), between a producer thread and a consumer thread.

    prefill: frames held before output (re)starts; capacity: most frames held (≥ prefill).
    ``read_into`` neither allocates nor blocks for longer than a copy, so it is fit for an
    audio callback.
    """

    def __init__(self, *, channels: int, prefill: int, capacity: int) -> None:
        if channels < 1:
            raise ValueError("channels must be at least 1")
        if prefill < 0 or capacity < max(1, prefill):
            raise ValueError(f"need 0 ≤ prefill ≤ capacity and capacity ≥ 1, got {prefill=}, {capacity=}")
        self.channels = channels
        self.prefill = prefill
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self._lock = threading.Lock()
        self._start = 0  # index of the oldest frame held
        self._level = 0  # frames held
        self._playing = False  # False while (re)filling up to prefill
        self.underruns = 0  # times the buffer ran dry while playing
        self.dropped = 0  # frames dropped because the buffer was full

    @property
    def capacity(self) -> int:
        return self._data.shape[0]

    @property
    def level(self) -> int:
        """Frames held now."""
        return self._level

    @property
    def playing(self) -> bool:
        """False while filling up to ``prefill`` (at the start and after an underrun)."""
        return self._playing

    def write(self, samples: np.ndarray) -> None:
        """Append ``samples`` ((frames, channels) or (frames,) when mono); drop the oldest
        frames beyond ``capacity``."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channel(s), got samples of shape {samples.shape}")
        with self._lock:
            count = samples.shape[0]
            tail = samples[-self.capacity :] if count else samples
            overflow = self._level + tail.shape[0] - self.capacity
            if overflow > 0:  # forget the oldest frames
                self._start = (self._start + overflow) % self.capacity
                self._level -= overflow
            self.dropped += max(0, overflow) + (count - tail.shape[0])
            end = (self._start + self._level) % self.capacity
            split = min(tail.shape[0], self.capacity - end)
            self._data[end : end + split] = tail[:split]
            self._data[: tail.shape[0] - split] = tail[split:]
            self._level += tail.shape[0]
            if not self._playing and self._level >= max(1, self.prefill):
                self._playing = True

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` ((frames, channels) float32) completely: audio while there is some,
        silence after. Returns the number of audio frames copied."""
        wanted = out.shape[0]
        with self._lock:
            if not self._playing:
                out.fill(0.0)
                return 0
            count = min(wanted, self._level)
            split = min(count, self.capacity - self._start)
            out[:split] = self._data[self._start : self._start + split]
            out[split:count] = self._data[: count - split]
            out[count:] = 0.0
            self._start = (self._start + count) % self.capacity
            self._level -= count
            if count < wanted:  # ran dry: count it and fill up to prefill again
                self.underruns += 1
                self._playing = False
            return count

    def read(self, frames: int) -> np.ndarray:
        """``frames`` frames, (frames, channels) float32: see ``read_into``."""
        out = np.empty((frames, self.channels), dtype=np.float32)
        self.read_into(out)
        return out

    def clear(self) -> None:
        """Forget everything held and wait for ``prefill`` frames again (counters stay)."""
        with self._lock:
            self._start = self._level = 0
            self._playing = False
