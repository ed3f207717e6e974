"""Audio files in and out (libsndfile through soundfile; resampling with soxr). Writing follows the
one rule for every output file (:mod:`riffcast_client.output_file`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from riffcast_client.output_file import write_file


class AudioFileError(ValueError):
    """An audio file that cannot be read or written, with the path in the message."""


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Read any libsndfile format → mono float32 (samples,) at ``sample_rate``.

    Channels are averaged; other sample rates are converted with soxr (very high quality).
    """
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioFileError(f"{path}: not a readable audio file ({error})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no audio")
    mono = data.mean(axis=1)
    if file_rate != sample_rate:
        mono = soxr.resample(mono, file_rate, sample_rate, quality="VHQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples (clipped to ±1) to ``path``, replacing it; the extension picks the
    format, as for every file riffcast writes (:mod:`riffcast_client.output_file`). AudioFileError
    with the path for anything that cannot be written; nothing is left behind then."""
    try:
        write_file(path, samples, sample_rate, force=True)
    except (ValueError, OSError) as error:
        raise AudioFileError(" ".join(str(error).split())) from None
