"""Riffusion model v1 spectrogram conventions, in one frozen value.

Every number here is fixed by the weights of riffusion-model-v1: change one and images made
by riffcast stop being valid img2img seeds for the model (and images it paints stop decoding
correctly). See docs/protocol.md, "Riffusion conventions".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpectrogramParams:
    """STFT, mel and image parameters of a Riffusion spectrogram.

    The STFT is centered with a periodic Hann window of ``window_samples`` zero-padded to
    ``n_fft``; one image column is one STFT frame (``hop_samples`` apart), one image row one
    mel band (HTK scale, unnormalised triangles, ``f_min_hz`` to ``f_max_hz``).
    """

    sample_rate: int = 44100
    hop_samples: int = 441
    window_samples: int = 4410
    n_fft: int = 17640
    n_mels: int = 512
    f_min_hz: float = 0.0
    f_max_hz: float = 10000.0
    image_power: float = 0.25
    chunk_columns: int = 512

    def __post_init__(self) -> None:
        if self.window_samples > self.n_fft:
            raise ValueError("window_samples must not exceed n_fft")
        if self.window_samples % 2 or self.n_fft % 2:
            raise ValueError("window_samples and n_fft must be even")
        if not 0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate / 2:
            raise ValueError("need 0 <= f_min_hz < f_max_hz <= sample_rate / 2")

    @property
    def chunk_samples(self) -> int:
        """Samples covered by one full-width chunk (512 columns × 441 = 225 792, 5.12 s)."""
        return self.chunk_columns * self.hop_samples

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_samples / self.sample_rate


RIFFUSION_V1 = SpectrogramParams()
