"""The station's archive (``riffcast serve --record PATH [--record-split DURATION]``): parts
beside PATH, never overwriting or truncating anything.

- Without a split, one part: PATH itself, or — PATH exists (a restart) — the first free
  ``STEM.1.EXT``, ``STEM.2.EXT``, … beside it.
- With ``split_s``, a new part starts at every multiple of ``split_s`` since the Unix epoch
  (UTC): ``--record-split 1h`` gives hourly parts. Each is named by the UTC time of its first
  sample, ``STEM.2026-11-30T22-00-00Z.EXT`` (no colons), with the same ``.1``, ``.2``, … when
  that name is taken. Times count samples from the wall-clock time of the first one.

A part is split at an exact sample: the parts, end to end, are every sample written.
"""

from __future__ import annotations

import errno
import math
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

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
    """Refuse, before anything runs, a PATH the archive cannot be written beside: an unknown
    extension (ValueError), PATH a folder, its folder missing, not a folder or not writable
    (OSError). Each message is one line. An existing PATH is fine: it is never touched."""
    path = Path(path)
    record_format(path)
    folder = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"{one_line(path)}: is a folder; --record needs a file name")
    if not folder.exists():
        raise FileNotFoundError(f"{one_line(folder)}: no such folder for the recording")
    if not folder.is_dir():
        raise NotADirectoryError(f"{one_line(folder)}: not a folder, so it cannot hold the recording")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".riffcast-check-"):
            pass
    except OSError as error:
        reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
        raise OSError(f"{one_line(folder)}: cannot write the recording there ({one_line(reason)})") from None


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


def create_part(path: Path, sample_rate: int, channels: int, sync_every_s: float) -> AudioRecorder:
    """A recorder on the first free name among ``candidates(path)``; created exclusively
    (O_EXCL), so an existing file is never opened, let alone overwritten."""
    for candidate in candidates(path):
        try:
            return AudioRecorder(candidate, sample_rate, channels, sync_every_s=sync_every_s, exclusive=True)
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


class Archive:
    """Samples → the parts of one recording (see the module docstring). Not thread-safe.

    split_s: seconds per part (None: one part); clock: Unix time now (s), read once, at the
    first sample; on_part: called with each part's path when it is created.
    ``frames_written``: frames (samples per channel) in all parts so far; ``parts``: their paths.
    """

    def __init__(
        self, path: Path | str, sample_rate: int, channels: int = 1, *, split_s: float | None = None,
        sync_every_s: float = 1.0, clock: Callable[[], float] = time.time,
        on_part: Callable[[Path], None] | None = None,
    ) -> None:
        self.path = Path(path)
        record_format(self.path)
        if split_s is not None and not split_s > 0:
            raise ValueError(f"split_s must be positive, got {split_s}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.split_s = split_s
        self.sync_every_s = sync_every_s
        self.frames_written = 0
        self.parts: list[Path] = []
        self._clock = clock
        self._on_part = on_part
        self._recorder: AudioRecorder | None = None
        self._start_s: float | None = None  # Unix time of frame 0
        self._part_start_s: float | None = None  # of the next part to open
        self._boundary = 0  # multiples of split_s since the epoch: the next split's number
        self._split_at: int | None = None  # frame index where the current part ends

    @property
    def current(self) -> Path | None:
        """The part being written (None between parts and before the first sample)."""
        return self._recorder.path if self._recorder is not None else None

    def write(self, samples: np.ndarray) -> None:
        """Append (frames,) or (frames, channels) float samples, splitting parts as due."""
        samples = np.asarray(samples, dtype=np.float32)
        if self._start_s is None:
            self._start_s = self._part_start_s = self._clock()
            if self.split_s is not None:
                self._boundary = math.floor(self._start_s / self.split_s) + 1
                self._split_at = self._frame_at(self._boundary)
        while samples.shape[0]:
            if self._recorder is None:
                self._open_part()
            assert self._recorder is not None
            count = samples.shape[0]
            if self._split_at is not None:
                count = min(count, self._split_at - self.frames_written)
            if count > 0:
                self._recorder.write(samples[:count])
                self.frames_written += count
                samples = samples[count:]
            if self._split_at is not None and self.frames_written >= self._split_at:
                self._end_part()

    def close(self) -> None:
        """Finalise the part being written. Safe to call twice."""
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            recorder.close()

    def _frame_at(self, boundary: int) -> int:
        """The frame index at which split number ``boundary`` falls (at least the next frame)."""
        assert self.split_s is not None and self._start_s is not None
        frame = round((boundary * self.split_s - self._start_s) * self.sample_rate)
        return max(frame, self.frames_written + 1)

    def _open_part(self) -> None:
        start = None if self.split_s is None else self._part_start_s
        self._recorder = create_part(part_path(self.path, start), self.sample_rate, self.channels, self.sync_every_s)
        self.parts.append(self._recorder.path)
        if self._on_part is not None:
            self._on_part(self._recorder.path)

    def _end_part(self) -> None:
        """Close the part at its split; the next opens with the next sample, named by the split."""
        assert self.split_s is not None
        self.close()
        self._part_start_s = self._boundary * self.split_s
        self._boundary += 1
        self._split_at = self._frame_at(self._boundary)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
