"""The station's archive (``riffcast serve --record PATH [--record-split DURATION]``): parts
beside PATH, never overwriting or truncating anything (the station runs unattended and restarts
by itself; the one-shot commands' rule, :mod:`riffcast_client.output_file`, refuses instead).

- Without a split, one part: PATH itself, or — PATH exists (a restart) — the first free
  ``STEM.1.EXT``, ``STEM.2.EXT``, … beside it.
- With ``split_s``, a new part starts at every multiple of ``split_s`` since the Unix epoch
  (UTC): ``--record-split 1h`` gives hourly parts. Each is named by the UTC time of its first
  sample, ``STEM.2026-11-30T22-00-00Z.EXT`` (no colons), with the same ``.1``, ``.2``, … when
  that name is taken. Times count samples from the wall-clock time of the first one.

A part is split at an exact sample: the parts, end to end, are every sample written.

A gap (:meth:`Archive.skip`, or a write that failed) ends the part being written; the next
sample starts a new part beside it, named as above (with a split, by the UTC time of its first
sample). Split times keep counting through the gap. See :mod:`riffcast.delivery.disk` for pausing.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from riffcast_client.output_file import check_output_file
from riffcast_client.recording import AudioRecorder, one_line, record_format

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
MIN_SPLIT_S = 1.0


def parse_duration(text: str, option: str = "--record-split") -> float:
    """``90s``, ``30m``, ``1h``, ``1d`` or a sum such as ``1h30m`` → seconds (at least 1);
    ValueError with one line otherwise."""
    spec = text.strip().lower()
    if not spec or _DURATION.sub("", spec) != "":
        raise ValueError(f"{option}: {one_line(text)!r} is not a duration such as 90s, 30m, 1h, 1d or 1h30m")
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION.findall(spec))
    if not MIN_SPLIT_S <= seconds < math.inf:
        raise ValueError(f"{option}: {one_line(text)!r} is shorter than {MIN_SPLIT_S:g} s")
    return seconds


def check_record_path(path: Path) -> None:
    """Refuse, before anything runs, a PATH the archive cannot be written beside, with one line
    naming ``--record`` (:class:`riffcast_client.output_file.OutputFileError`: an unknown
    extension, PATH a folder, its folder missing, not a folder or not writable). An existing PATH
    is fine: it is never touched, the next part goes beside it."""
    check_output_file(path, "--record", archive=True)


def utc_stamp(time_s: float) -> str:
    """``2026-11-30T22-00-00Z`` for a Unix time (seconds, floored): a file name's part."""
    return time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(math.floor(time_s)))


def part_path(path: Path, start_s: float | None) -> Path:
    """PATH itself (no split), or PATH with the UTC start time before its extension."""
    if start_s is None:
        return path
    return path.with_name(f"{path.stem}.{utc_stamp(start_s)}{path.suffix}")


def candidates(path: Path) -> Iterator[Path]:
    """``path``, then ``STEM.1.EXT``, ``STEM.2.EXT``, …: the names a part may take, in order."""
    yield path
    number = 1
    while True:
        yield path.with_name(f"{path.stem}.{number}{path.suffix}")
        number += 1


def create_part(
    path: Path, sample_rate: int, channels: int, sync_every_s: float,
    recorder: Callable[..., AudioRecorder] = AudioRecorder,
) -> AudioRecorder:
    """A recorder on the first free name among ``candidates(path)``; created exclusively
    (O_EXCL), so an existing file is never opened, let alone overwritten. ``recorder``: the
    class (or a factory taking its arguments) that writes the part."""
    for candidate in candidates(path):
        try:
            return recorder(candidate, sample_rate, channels, sync_every_s=sync_every_s, exclusive=True)
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


class Archive:
    """Samples → the parts of one recording (see the module docstring). Not thread-safe.

    split_s: seconds per part (None: one part); clock: Unix time now (s), read once, at the
    first sample; recorder: what writes a part (:func:`create_part`; tests inject failures).
    ``position``: frames (samples per channel) given so far, written or skipped: the
    recording's timeline; ``frames_written``: those in the parts; ``parts``: their paths, in
    order; ``next_split``: the position where the next part starts (None without a split).

    A write that fails ends its part — closed as far as the disk allows, so what it holds stays
    readable — skips the rest of its samples, and raises; the next write starts a new part.
    """

    def __init__(
        self, path: Path | str, sample_rate: int, channels: int = 1, *, split_s: float | None = None,
        sync_every_s: float = 1.0, clock: Callable[[], float] = time.time,
        recorder: Callable[..., AudioRecorder] = AudioRecorder,
    ) -> None:
        self.path = Path(path)
        record_format(self.path)
        if split_s is not None and not split_s > 0:
            raise ValueError(f"split_s must be positive, got {split_s}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.split_s = split_s
        self.sync_every_s = sync_every_s
        self.position = 0
        self.frames_written = 0
        self.parts: list[Path] = []
        self._clock = clock
        self._make_recorder = recorder
        self._recorder: AudioRecorder | None = None
        self._start_s: float | None = None  # Unix time of frame 0
        self._part_start_s: float | None = None  # of the next part to open
        self._boundary = 0  # multiples of split_s since the epoch: the next split's number
        self._split_at: int | None = None  # position where the current part ends

    @property
    def current(self) -> Path | None:
        """The part being written (None between parts and before the first sample)."""
        return self._recorder.path if self._recorder is not None else None

    @property
    def next_split(self) -> int | None:
        return self._split_at

    def write(self, samples: np.ndarray) -> None:
        """Append (frames,) or (frames, channels) float samples, splitting parts as due."""
        samples = np.asarray(samples, dtype=np.float32)
        self._begin()
        try:
            while samples.shape[0]:
                count = samples.shape[0]
                if self._split_at is not None:
                    count = min(count, self._split_at - self.position)
                self._append(samples[:count])
                samples = samples[count:]
                if self._split_at is not None and self.position >= self._split_at:
                    self._end_part()
        except Exception:
            self._abandon_part()
            self.skip(samples.shape[0])
            raise

    def skip(self, frames: int) -> None:
        """Leave ``frames`` frames out (a gap): the part being written ends, and the next write
        starts a new one, named (with a split) by the time of its first sample, to the ms."""
        if frames <= 0:
            return
        self._begin()
        self.close()
        self.position += frames
        assert self._start_s is not None
        self._part_start_s = round(self._start_s + self.position / self.sample_rate, 3)
        if self.split_s is not None:  # the split after the next part's start
            self._boundary = math.floor(self._part_start_s / self.split_s) + 1
            self._split_at = self._frame_at(self._boundary)

    def close(self) -> None:
        """Finalise the part being written. Safe to call twice."""
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            recorder.close()

    def _begin(self) -> None:
        """At the first sample: read the clock; with a split, find the first split point."""
        if self._start_s is None:
            self._start_s = self._part_start_s = self._clock()
            if self.split_s is not None:
                self._boundary = math.floor(self._start_s / self.split_s) + 1
                self._split_at = self._frame_at(self._boundary)

    def _frame_at(self, boundary: int) -> int:
        """The position at which split number ``boundary`` falls (at least the next frame)."""
        assert self.split_s is not None and self._start_s is not None
        frame = round((boundary * self.split_s - self._start_s) * self.sample_rate)
        return max(frame, self.position + 1)

    def _append(self, samples: np.ndarray) -> None:
        if self._recorder is None:
            self._open_part()
        assert self._recorder is not None
        self._recorder.write(samples)
        self.frames_written += samples.shape[0]
        self.position += samples.shape[0]

    def _open_part(self) -> None:
        start = None if self.split_s is None else self._part_start_s
        part = part_path(self.path, start)
        self._recorder = create_part(part, self.sample_rate, self.channels, self.sync_every_s, self._make_recorder)
        self.parts.append(self._recorder.path)

    def _end_part(self) -> None:
        """Close the part at its split; the next opens with the next sample, named by the split."""
        assert self.split_s is not None
        self._part_start_s = self._boundary * self.split_s
        self._boundary += 1
        self._split_at = self._frame_at(self._boundary)
        self.close()

    def _abandon_part(self) -> None:
        """After a failed write: close the part as far as the disk allows (libsndfile rewrites
        the header of what reached the file, so it stays readable); a second error is moot."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            with contextlib.suppress(Exception):
                recorder.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
