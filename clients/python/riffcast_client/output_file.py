"""One rule for every audio file riffcast writes: the formats, the overwrite rule, the errors.

Every command that writes audio goes through here: ``riffcast serve --record``, ``riffcast
listen --record`` (and ``riffcast-listen``), ``riffcast render -o`` and ``riffcast decode -o``
(a ``replay -o`` is meant to as well).

- **Formats**: the same five everywhere, picked by the file name's extension
  (:data:`riffcast_client.recording.FORMATS`): ``.wav`` (16-bit PCM), ``.flac`` (16-bit),
  ``.ogg`` (Vorbis), ``.opus`` (Ogg Opus, 48 kHz) and ``.mp3`` (128 kbit/s CBR).
- **Overwriting**: a one-shot command (render, decode, listen) refuses an existing file unless
  ``--force``; with ``--force`` the file is replaced. render and decode write beside it first and
  replace it only once the new file is complete, so an error or Ctrl-C leaves the old one as it
  was. The station's continuous archive (``serve --record``) has no ``--force``: it runs
  unattended and restarts by itself, so it never overwrites anything and starts the next part
  beside the file instead (``x.1.wav``, ``x.2.wav``, …; :mod:`riffcast.delivery.archive`).
- **Bad input** (an unknown extension, a folder, a missing or unwritable folder, an existing
  file without ``--force``): :class:`OutputFileError`, one line naming the option, the value and
  the fix, raised before anything is written; the commands exit with status 2 for it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from pathlib import Path

import numpy as np

from riffcast_client.recording import FORMATS, AudioRecorder, one_line

EXTENSIONS = ", ".join(FORMATS)  # .wav, .flac, .ogg, .opus, .mp3
PLAIN_WAV_MAX_BYTES = (1 << 32) - (1 << 20)  # a plain WAV's 32-bit sizes, less room for its header
EXIT_BAD_OUTPUT = 2  # as argparse's exit status for bad arguments


class OutputFileError(ValueError):
    """An output file option that cannot be written as given: one line, nothing written."""


def _named(option: str | None, path: Path) -> str:
    """``-o out.wav`` (the option as the user gave it), or the path alone for a library call."""
    return f"{option} {one_line(path)}" if option else one_line(path)


def check_output_file(path: Path | str, option: str | None, *, force: bool = False, archive: bool = False) -> Path:
    """Refuse, with :class:`OutputFileError`, a ``path`` that ``option`` cannot write to.

    force: an existing file may be replaced (a one-shot command's ``--force``); archive: the
    station's recording, for which an existing file is fine (the next part goes beside it).
    """
    path = Path(path)
    name = _named(option, path)
    if path.suffix.lower() not in FORMATS:
        what = f"unknown audio format {path.suffix!r}" if path.suffix else "unknown audio format (no extension)"
        raise OutputFileError(f"{name}: {what}; end the name in one of {EXTENSIONS} (the extension picks the format)")
    if path.is_dir():
        raise OutputFileError(f"{name}: is a folder; give a file name in it, such as {one_line(path / 'out.wav')}")
    folder = path.parent
    if not folder.exists():
        raise OutputFileError(f"{name}: no such folder {one_line(folder)}; create it first or choose another")
    if not folder.is_dir():
        raise OutputFileError(f"{name}: {one_line(folder)} is not a folder; choose a file name in a folder")
    if path.exists() and not (force or archive):
        raise OutputFileError(f"{name}: the file exists; pass --force to replace it, or choose another name")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".riffcast-check-"):
            pass
    except OSError as error:
        reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
        raise OutputFileError(
            f"{name}: cannot write in {one_line(folder)} ({one_line(reason)}); choose a folder you may write to"
        ) from None
    return path


def write_file(
    path: Path | str, samples: np.ndarray, sample_rate: int, *, option: str | None = None, force: bool = False,
) -> Path:
    """Write a whole recording: float samples in [−1, 1] (clipped), (frames,) mono or (frames,
    channels), at ``sample_rate`` Hz; the extension picks the format. Checked as
    :func:`check_output_file`. The file is written under a hidden name beside ``path`` and renamed
    over it once complete, so ``path`` is either untouched or the whole new file."""
    path = check_output_file(path, option, force=force)
    samples = np.asarray(samples, dtype=np.float32)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    rf64 = samples.shape[0] * channels * 2 > PLAIN_WAV_MAX_BYTES  # a plain WAV while it fits
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")
    try:  # created exclusively, with the permissions a new file gets
        with AudioRecorder(temporary, sample_rate, channels, sync_every_s=1e9, exclusive=True, rf64=rf64) as recorder:
            recorder.write(samples)
        if path.exists() and not force:  # appeared while this was written
            raise OutputFileError(f"{_named(option, path)}: the file exists; pass --force to replace it")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path
