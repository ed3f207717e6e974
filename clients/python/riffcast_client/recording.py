"""An audio file that stays readable while it grows; the extension picks the format.

Used by the station's ``--record`` archive (see :mod:`riffcast.delivery.archive` for its parts), by
``riffcast listen --record`` and, for whole files, by ``render -o`` and ``decode -o``
(:mod:`riffcast_client.output_file`: the formats and the overwrite rule they share). Every
``sync_every_s`` of audio the file on disk is brought up to date, so a process killed without
warning (SIGKILL, power cut) leaves a readable file:

- ``.wav``: 16-bit PCM. The station's archive writes RF64 with libsndfile's auto-downgrade: a
  plain RIFF/WAVE file (WAVE_FORMAT_EXTENSIBLE, a JUNK chunk reserving room for the ds64 chunk)
  while it is under 4 GiB, RF64 beyond; ``rf64=False`` (listen, render, decode under 4 GiB): a
  plain WAV with a 44-byte header. The header is rewritten at each sync: at most
  ``sync_every_s`` lost.
- ``.flac``: 16-bit FLAC; the STREAMINFO length is kept current (:mod:`riffcast_client.growing`).
- ``.ogg`` (Vorbis) and ``.opus`` (Ogg Opus, 48 kHz: other rates are resampled with soxr):
  Ogg pages are written as the encoder fills them; a kill loses the page being filled.
- ``.mp3``: 128 kbit/s CBR (LAME); the Info tag's frame count is kept current.

A normal close, Ctrl-C or SIGTERM leaves every sample and exact lengths. A write that fails
raises OSError with the system's errno (ENOSPC: the disk is full; EFBIG: a file size limit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from riffcast_client import growing

# libsndfile commands (sndfile.h).
_SFC_UPDATE_HEADER_NOW = 0x1060  # write the header for the data so far
_SFC_RF64_AUTO_DOWNGRADE = 0x1210  # an RF64 file stays a RIFF WAV while under 4 GiB
_SFE_SYSTEM = 2  # libsndfile's "System error.": a system call failed, errno says which way

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the only rates libsndfile's Opus encoder takes


@dataclass(frozen=True)
class AudioFormat:
    """How one extension is written: soundfile's ``format`` and ``subtype``, its
    ``compression_level`` (0 best … 1 smallest) and ``bitrate_mode`` (None: libsndfile's
    defaults) and the sample rates the codec takes (None: any)."""

    container: str
    subtype: str
    compression_level: float | None = None
    bitrate_mode: str | None = None
    rates: tuple[int, ...] | None = None


FORMATS: dict[str, AudioFormat] = {
    ".wav": AudioFormat("RF64", "PCM_16"),
    ".flac": AudioFormat("FLAC", "PCM_16"),
    ".ogg": AudioFormat("OGG", "VORBIS", compression_level=0.5),  # Vorbis quality 0.5
    ".opus": AudioFormat("OGG", "OPUS", compression_level=0.64, rates=OPUS_RATES),  # 96 kbit/s per channel
    # CBR at 320 − ⅔·288 = 128 kbit/s (libsndfile's default is VBR at about 56 kbit/s for this music).
    ".mp3": AudioFormat("MP3", "MPEG_LAYER_III", compression_level=2 / 3, bitrate_mode="CONSTANT"),
}
ACCEPTED = ", ".join(FORMATS)


def one_line(text: object) -> str:
    """``text`` with any line breaks (a file name may hold one) shown as ``\\n``."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def record_format(path: Path | str) -> AudioFormat:
    """The format for ``path``'s extension; ValueError (one line) for any other extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{one_line(path)}: a recording must end in one of {ACCEPTED} (the extension picks the format)"
        )
    return FORMATS[suffix]


def _os_error(path: Path, code: int, message: str) -> OSError:
    """libsndfile's error ``code`` as an OSError about ``path``. Its vague "System error." gets
    the errno behind it — cffi keeps the errno this thread's last C call left, and libsndfile
    returns straight after the failed system call — so a full disk (ENOSPC) can be told apart."""
    from soundfile import _ffi  # the errno cffi saved, not re-exported

    number = _ffi.errno
    if code == _SFE_SYSTEM and number:
        return OSError(number, os.strerror(number), str(path))
    return OSError(f"{one_line(path)}: {message}")


def file_rate(fmt: AudioFormat, sample_rate: int) -> int:
    """The sample rate the file is written at: ``sample_rate`` if the codec takes it, else the
    codec's highest rate (Opus: 48000)."""
    if fmt.rates is None or sample_rate in fmt.rates:
        return sample_rate
    return max(fmt.rates)


class AudioRecorder:
    """Append float samples in [−1, 1] to a new audio file, readable at every moment.

    samples: (frames,) mono or (frames, channels) float32, at ``sample_rate`` Hz.
    exclusive: create the file only if it does not exist (FileExistsError otherwise) — the
    archive never overwrites anything; False: replace it (``riffcast listen --force``).
    rf64: a ``.wav`` file turns RF64 past 4 GiB; False: a plain WAV with a 44-byte header,
    limited to 4 GiB (13.5 h of 16-bit mono at 44.1 kHz).
    """

    def __init__(
        self, path: Path | str, sample_rate: int, channels: int = 1, *, sync_every_s: float = 1.0,
        exclusive: bool = True, rf64: bool = True,
    ) -> None:
        self.path = Path(path)
        self.format = record_format(self.path)
        self.container = "WAV" if self.format.container == "RF64" and not rf64 else self.format.container
        self.sample_rate = sample_rate
        self.channels = channels
        self.file_rate = file_rate(self.format, sample_rate)
        self.frames_written = 0  # frames given to write(), at sample_rate
        self._file_frames = 0  # frames handed to libsndfile, at file_rate
        self._sync_every = max(1, round(sync_every_s * sample_rate))
        self._since_sync = 0
        self._mp3_looked = False  # for LAME's placeholder frame (see _update_mp3_tag)
        self._mp3_tag: int | None = None
        self._mp3_frame = 0
        self._resampler = None
        if self.file_rate != sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(sample_rate, self.file_rate, channels, dtype="float32", quality="HQ")
        mode = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | (os.O_EXCL if exclusive else os.O_TRUNC)
        self._fd = os.open(self.path, mode, 0o644)
        try:
            self._file = soundfile.SoundFile(
                self._fd, "w", self.file_rate, channels, self.format.subtype, format=self.container,
                compression_level=self.format.compression_level, bitrate_mode=self.format.bitrate_mode, closefd=True,
            )
        except BaseException:
            os.close(self._fd)
            if exclusive:  # nothing was in it: this call made it
                self.path.unlink(missing_ok=True)
            raise
        if self.container == "RF64":
            self._command(_SFC_RF64_AUTO_DOWNGRADE, 1)
            self._command(_SFC_UPDATE_HEADER_NOW)  # a valid empty WAV from the start

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, samples: np.ndarray) -> None:
        first = self.frames_written == 0
        self._append(np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0))
        self._sync_if_due(first)

    def write_silence(self, frames: int) -> None:
        """Fill a gap: ``frames`` frames of zeros, written a second at a time and synced once
        at the end (a sync — an fsync — per second made a 10-minute gap hold the caller 2.2 s)."""
        if frames <= 0:
            return
        first = self.frames_written == 0
        shape = (self.sample_rate,) if self.channels == 1 else (self.sample_rate, self.channels)
        block = np.zeros(shape, dtype=np.float32)
        while frames > 0:
            count = min(frames, self.sample_rate)
            self._append(block[:count])
            frames -= count
        self._sync_if_due(first)

    def sync(self) -> None:
        """Make the file on disk readable to its end (see the module docstring)."""
        if self.container in ("RF64", "WAV"):
            self._command(_SFC_UPDATE_HEADER_NOW)
        self._file.flush()  # sf_write_sync: fsync, so a power cut keeps it too
        if self.container == "FLAC":
            growing.flac_set_total_samples(self._fd, self._file_frames)
        elif self.container == "MP3":
            self._update_mp3_tag()
        self._since_sync = 0

    def close(self) -> None:
        """Finalise the file: every sample written, exact lengths. Safe to call twice."""
        if self._file.closed:
            return
        try:
            if self._resampler is not None:
                self._write_file(self._resampler.resample_chunk(np.zeros((0, self.channels), np.float32), last=True))
        finally:
            self._file.close()

    def _append(self, samples: np.ndarray) -> None:
        self._write_file(samples if self._resampler is None else self._resampler.resample_chunk(samples))
        self.frames_written += samples.shape[0]
        self._since_sync += samples.shape[0]

    def _sync_if_due(self, first: bool) -> None:
        if first or self._since_sync >= self._sync_every:
            self.sync()  # also after the first write: a FLAC file has no STREAMINFO before it

    def _write_file(self, samples: np.ndarray) -> None:
        if samples.shape[0]:
            try:
                self._file.write(samples)
            except soundfile.LibsndfileError as error:
                raise _os_error(self.path, error.code, error.error_string) from error
            self._file_frames += samples.shape[0]

    def _command(self, command: int, value: int = 0) -> None:
        from soundfile import _ffi, _snd  # libsndfile's command interface, not re-exported

        _snd.sf_command(self._file._file, command, _ffi.NULL, value)
        if (code := _snd.sf_error(self._file._file)) != 0:
            raise _os_error(self.path, code, _ffi.string(_snd.sf_error_number(code)).decode(errors="replace"))

    def _update_mp3_tag(self) -> None:
        if not self._mp3_looked:
            if os.fstat(self._fd).st_size < 512:
                return  # LAME has not written its first frames yet
            self._mp3_looked = True
            self._mp3_tag = growing.mp3_tag_offset(self._fd)
            self._mp3_frame = growing.mp3_samples_per_frame(self._fd) if self._mp3_tag is not None else 0
        if self._mp3_tag is not None:
            growing.mp3_set_frame_count(self._fd, self._mp3_tag, self._file_frames, self._mp3_frame)

    def __enter__(self) -> AudioRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

