"""The bandwidth extension's settings: a plain dataclass, importable without the model or
numpy's FFT (the command line reads it before anything runs)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BANDWIDTH_HZ = 16000
IMAGE_TOP_HZ = 10000.0  # Riffusion's mel images stop here (SpectrogramParams.f_max_hz)
HIGHEST_HZ = 20000.0  # the model's bands end here


@dataclass(frozen=True)
class BandwidthSettings:
    """Fill the band from the image's top (10 kHz) up to ``top_hz`` (Hz).

    ``smoothing_columns``: time constant of the envelope's one-pole across image columns
    (10 ms each); ``max_ratio_db``: the most the high band may stand above its source band.
    """

    top_hz: float = float(DEFAULT_BANDWIDTH_HZ)
    smoothing_columns: float = 1.5
    max_ratio_db: float = 6.0

    def __post_init__(self) -> None:
        if not IMAGE_TOP_HZ + 1000.0 <= self.top_hz <= HIGHEST_HZ:
            raise ValueError(f"bandwidth must be from {IMAGE_TOP_HZ + 1000:.0f} to {HIGHEST_HZ:.0f} Hz, got {self.top_hz:g}")
        if self.smoothing_columns < 0:
            raise ValueError("smoothing_columns must be ≥ 0")
