"""A WAV file that stays valid while it grows: the header is rewritten every ``sync_every_s``.

Used by the station's ``--record`` sink and by ``riffcast listen --record``. A process killed
without warning (SIGKILL, power cut) leaves a playable file missing at most the last
``sync_every_s`` seconds; a normal close, Ctrl-C or SIGTERM leaves every sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

# libsndfile's SFC_UPDATE_HEADER_NOW (sndfile.h): write the header for the data so far.
_SFC_UPDATE_HEADER_NOW = 0x1060


class WavRecorder:
    """Append float samples in [−1, 1] to a 16-bit PCM WAV file.

    samples: (frames,) mono or (frames, channels) float32.
    """

    def __init__(self, path: Path | str, sample_rate: int, channels: int = 1, *, sync_every_s: float = 1.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".wav":
            raise ValueError(f"{self.path}: a recording must be a .wav file")
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames_written = 0
        self._sync_every = max(1, round(sync_every_s * sample_rate))
        self._since_sync = 0
        self._file = soundfile.SoundFile(self.path, "w", sample_rate, channels, "PCM_16", format="WAV")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, samples: np.ndarray) -> None:
        samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        self._file.write(samples)
        self.frames_written += samples.shape[0]
        self._since_sync += samples.shape[0]
        if self._since_sync >= self._sync_every:
            self.sync()

    def write_silence(self, frames: int) -> None:
        """Fill a gap: ``frames`` frames of zeros (written a second at a time)."""
        shape = (self.sample_rate,) if self.channels == 1 else (self.sample_rate, self.channels)
        block = np.zeros(shape, dtype=np.float32)
        while frames > 0:
            count = min(frames, self.sample_rate)
            self.write(block[:count])
            frames -= count

    def sync(self) -> None:
        """Make the file on disk a complete WAV of everything written so far."""
        from soundfile import _ffi, _snd  # libsndfile's command interface, not re-exported

        _snd.sf_command(self._file._file, _SFC_UPDATE_HEADER_NOW, _ffi.NULL, 0)
        self._file.flush()
        self._since_sync = 0

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
