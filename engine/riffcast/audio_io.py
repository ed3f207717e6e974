"""Audio files in and out (libsndfile through soundfile; resampling with soxr)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

# Output container by file suffix; anything else is refused with the list.
_SUBTYPES = {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS"}


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


def check_writable_suffix(path: Path) -> None:
    """Raise ``AudioFileError`` unless ``path`` ends in a suffix :func:`write_audio` knows."""
    if path.suffix.lower() not in _SUBTYPES:
        known = ", ".join(sorted(_SUBTYPES))
        raise AudioFileError(f"{path}: unknown audio format {path.suffix!r} (use {known})")


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples (clipped to ±1) as 16-bit WAV/FLAC or Vorbis OGG by suffix."""
    check_writable_suffix(path)
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    try:
        soundfile.write(str(path), clipped, sample_rate, subtype=_SUBTYPES[path.suffix.lower()])
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioFileError(f"{path}: cannot write ({error})") from None
