"""Record a stream to an audio file (any of :mod:`riffcast_client.output_file`'s formats) so that
the file's time line matches the stream's.

The first frame received is time zero. A frame that starts after the end of the previous one
(frames dropped, connection down) is preceded by silence for the missing positions. A frame
of a new stream — one that goes back in position, or whose header puts the stream's start
elsewhere in time (see :mod:`riffcast_client.sequence`): the server restarted — continues the
file where it ends, after silence for the time the station was away (the gap between the
server times of the two streams' frames), and this is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from riffcast_client.output_file import check_output_file
from riffcast_client.recording import AudioRecorder
from riffcast_client.sequence import NEW_STREAM_S, origin

# Longest stretch filled with silence (s); a longer forward jump is treated like a new stream.
MAX_GAP_S = 600.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where a frame goes in the file: ``silence`` frames first, then its first ``keep``
    frames (fewer than it has only when the file reaches ``max_frames``)."""

    silence: int
    keep: int
    restarted: bool  # the frame does not continue the stream the file was following


class Timeline:
    """Maps stream positions to file offsets, sans I/O. ``length``: frames in the file.

    sample_rate in Hz; max_frames: the file's length limit (None: no limit), ``full`` once it
    is reached; max_gap_s: the longest stretch filled with silence.
    """

    def __init__(self, *, sample_rate: int, max_frames: int | None = None, max_gap_s: float = MAX_GAP_S) -> None:
        self.sample_rate = sample_rate
        self.max_frames = max_frames
        self.max_gap = round(max_gap_s * sample_rate)
        self.length = 0
        self.end: int | None = None  # the stream position the end of the file stands for
        self.end_time: float | None = None  # the server time the end of the file stands for (s)
        self.origin: float | None = None  # of the stream placed last (see sequence.origin)

    @property
    def full(self) -> bool:
        return self.max_frames is not None and self.length >= self.max_frames

    def place(self, position: int, frames: int, server_time: float | None = None) -> Placement:
        """Place ``frames`` frames starting at stream ``position``, after all placed so far.

        server_time: when the server emitted the frame (Unix s), to recognise a new stream and
        size the silence before it; without it, a new stream is one that goes back in position,
        and follows with no silence.
        """
        restarted = False
        silence = 0
        frame_origin = None if server_time is None else origin(position, server_time, self.sample_rate)
        if self.end is not None:
            jump = position - self.end
            new_origin = frame_origin is not None and self.origin is not None and frame_origin - self.origin > NEW_STREAM_S
            if 0 <= jump <= self.max_gap and not new_origin:
                silence = jump
            elif jump != 0 or new_origin:
                restarted = True
                if server_time is not None and self.end_time is not None:
                    away = round((server_time - self.end_time) * self.sample_rate)
                    silence = min(max(0, away), self.max_gap)
        if self.max_frames is not None:
            room = max(0, self.max_frames - self.length)
            silence = min(silence, room)
            frames = min(frames, room - silence)
        self.end = position + frames
        if frame_origin is not None:
            self.origin = frame_origin
        if server_time is not None:
            self.end_time = server_time + frames / self.sample_rate
        elif self.end_time is not None:
            self.end_time += (silence + frames) / self.sample_rate
        self.length += silence + frames
        return Placement(silence, frames, restarted)


class StreamRecorder:
    """Frames at absolute stream positions → an audio file, the extension picking the format
    (see the module docstring); a ``.wav`` is a plain 16-bit WAV (up to 4 GiB, 13.5 h at 44.1 kHz).

    The path is checked at once (:func:`riffcast_client.output_file.check_output_file`: an
    existing file only with ``force``, which then replaces it; ``option`` names it in errors).
    The file is created with the first frame (its sample rate and channels come from the
    stream), so nothing is written when nothing arrives. Its header is kept valid every
    ``sync_every_s`` while it grows; ``close()`` finalises it. max_seconds: stop growing there.
    """

    def __init__(
        self, path: Path | str, *, force: bool = False, max_seconds: float | None = None,
        sync_every_s: float = 1.0, log: Callable[[str], None] | None = None, option: str | None = "--record",
    ) -> None:
        self.path = check_output_file(path, option, force=force)
        self.option = option
        self.force = force
        self.max_seconds = max_seconds
        self.sync_every_s = sync_every_s
        self.log = log or _log.warning
        self.timeline: Timeline | None = None
        self.gaps_filled = 0  # forward jumps filled with silence
        self.restarts = 0  # backward (or huge) jumps: a new stream continued the file
        self._file: AudioRecorder | None = None

    @property
    def sample_rate(self) -> int | None:
        return self._file.sample_rate if self._file else None

    @property
    def seconds(self) -> float:
        """Length of the file so far."""
        return self._file.frames_written / self._file.sample_rate if self._file else 0.0

    @property
    def full(self) -> bool:
        """True once ``max_seconds`` are written."""
        return self.timeline is not None and self.timeline.full

    def write(self, position: int, samples: np.ndarray, sample_rate: int, server_time: float | None = None) -> None:
        """Add a frame: samples float32 (frames, channels) starting at stream ``position``,
        emitted by the server at ``server_time`` (Unix s; sizes the silence before a new stream)."""
        samples = np.asarray(samples, dtype=np.float32)
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        if self._file is None:
            max_frames = None if self.max_seconds is None else round(self.max_seconds * sample_rate)
            self.timeline = Timeline(sample_rate=sample_rate, max_frames=max_frames)
            check_output_file(self.path, self.option, force=self.force)  # nothing appeared there meanwhile
            self._file = AudioRecorder(self.path, sample_rate, channels, sync_every_s=self.sync_every_s,
                                      exclusive=not self.force, rf64=False)
        elif (sample_rate, channels) != (self._file.sample_rate, self._file.channels):
            raise ValueError(
                f"the station changed from {self._file.sample_rate} Hz × {self._file.channels} to "
                f"{sample_rate} Hz × {channels} channel(s); {self.path} cannot continue"
            )
        assert self.timeline is not None
        before = self.timeline.length
        placement = self.timeline.place(position, samples.shape[0], server_time)
        if placement.restarted:
            self.restarts += 1
            self.log(
                f"recording: a new stream (position {position}) continues the file at "
                f"{(before + placement.silence) / sample_rate:.2f} s, after {placement.silence / sample_rate:.2f} s "
                "of silence for the time the station was away"
            )
        elif placement.silence:
            self.gaps_filled += 1
            self.log(
                f"recording: {placement.silence / sample_rate:.2f} s missing at {before / sample_rate:.2f} s, "
                "filled with silence"
            )
        if placement.silence:
            self._file.write_silence(placement.silence)
        if placement.keep:
            self._file.write(samples[: placement.keep])

    def close(self) -> None:
        """Finalise the file (the header covers every sample). Safe to call twice."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> StreamRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
