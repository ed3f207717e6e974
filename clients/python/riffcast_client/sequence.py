"""Frames in arrival order → frames to deliver, sans I/O: counts jumps, drops what was sent twice.

After a reconnection a server sends a short pre-roll of audio from before "now", so part of
it may be audio the listener already has. Such a resend is recognised by two things: its
samples match the recent audio delivered at those positions, and it belongs to the same
stream — its *origin*, the server time of position zero implied by its header
(``server_time − position / sample_rate``), is within ``NEW_STREAM_S`` of the stream's (a
server stamping a resend with the time it sends it moves the origin by the pre-roll's length
at most). A restarted server's origin is later by its predecessor's whole lifetime, so even a
deterministic generator that plays the same samples at the same positions again is a new
stream. A frame that goes back in position and is not a resend is delivered, as a jump.
"""

from __future__ import annotations

from collections import deque

import numpy as np

# A frame whose origin is later than the stream's by more than this is another stream (s).
NEW_STREAM_S = 10.0
# Samples closer than this are the same (covers s16le re-encoding of the same audio).
_SAME_SAMPLE = 1.5 / 32767


def origin(position: int, server_time: float, sample_rate: int) -> float:
    """The server time (Unix s) at which a stream was at position zero, by one frame's header."""
    return server_time - position / sample_rate


class FrameSequencer:
    """Decides what of each received frame is new.

    sample_rate in Hz; history: frames of recent audio kept for recognising resends (a
    pre-roll reaching further back than that is a jump).
    """

    def __init__(self, *, sample_rate: int, history: int) -> None:
        self.sample_rate = sample_rate
        self.history = history
        self.next_position: int | None = None  # where the next frame continues the delivered audio
        self.origin: float | None = None  # of the stream delivered last
        self.gaps = 0  # frames delivered that did not continue the previous one
        self.duplicates = 0  # frames dropped whole because they were delivered already
        self._recent: deque[tuple[int, np.ndarray]] = deque()  # contiguous, ends at next_position
        self._recent_frames = 0

    def accept(self, position: int, samples: np.ndarray, server_time: float | None = None) -> tuple[int, np.ndarray] | None:
        """The new part of a frame, (position, samples), or None when there is none.

        samples: (frames, channels); what is returned may be a view of its tail. server_time:
        the frame header's (Unix s); without it, samples alone decide what is a resend.
        """
        frame_origin = None if server_time is None else origin(position, server_time, self.sample_rate)
        expected = self.next_position
        if expected is not None and position != expected:
            if position < expected and self._resent(position, samples[: expected - position], frame_origin):
                if position + samples.shape[0] <= expected:
                    self.duplicates += 1
                    return None
                samples, position = samples[expected - position :], expected
            else:
                self.gaps += 1
                self._recent.clear()
                self._recent_frames = 0
        self._remember(position, samples)
        self.next_position = position + samples.shape[0]
        if frame_origin is not None:
            self.origin = frame_origin
        return position, samples

    def _resent(self, position: int, samples: np.ndarray, frame_origin: float | None) -> bool:
        """Whether ``samples`` at ``position`` (all before next_position) are the delivered ones."""
        if frame_origin is not None and self.origin is not None and frame_origin - self.origin > NEW_STREAM_S:
            return False
        if not self._recent or position < self._recent[0][0]:
            return False
        end = position + samples.shape[0]
        pieces = [
            held[max(0, position - start) : end - start]
            for start, held in self._recent
            if start < end and start + held.shape[0] > position
        ]
        delivered = np.concatenate(pieces) if pieces else samples[:0]
        return delivered.shape == samples.shape and bool(np.all(np.abs(delivered - samples) <= _SAME_SAMPLE))

    def _remember(self, position: int, samples: np.ndarray) -> None:
        self._recent.append((position, samples))
        self._recent_frames += samples.shape[0]
        while self._recent_frames - self._recent[0][1].shape[0] >= self.history:
            self._recent_frames -= self._recent.popleft()[1].shape[0]
