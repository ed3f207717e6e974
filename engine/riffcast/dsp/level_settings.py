"""The level stage's settings: a plain dataclass, importable without numba (the command
line reads it before any kernel is needed)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TARGET_LUFS = -16.0


@dataclass(frozen=True)
class LevelSettings:
    """Parameters of the level stage (loudness in LUFS/LU, gains in dB, times in seconds)."""

    target_lufs: float = DEFAULT_TARGET_LUFS
    slow_time_s: float = 10.0
    recent_blocks: int = 20
    window_lu: float = 2.5
    relative_gate_lu: float = -20.0
    max_gain_db: float = 30.0
    gain_glide_s: float = 0.25
    max_slew_db_per_s: float = 10.0
    true_peak_dbtp: float = -1.0
    lookahead_samples: int = 128
    release_s: float = 0.08
    peak_limiting_db: float = 2.0  # the most the AGC's aim leaves the limiter to take off the held peak
    peak_hold_s: float = 10.0
    peak_release_db_per_s: float = 0.5

    def __post_init__(self) -> None:
        if not -40.0 <= self.target_lufs <= -5.0:
            raise ValueError(f"loudness target must be from -40 to -5 LUFS, got {self.target_lufs:g}")
        if not -20.0 <= self.true_peak_dbtp <= 0.0:
            raise ValueError(f"true-peak ceiling must be from -20 to 0 dBTP, got {self.true_peak_dbtp:g}")
        if self.recent_blocks < 1 or self.lookahead_samples < 1:
            raise ValueError("recent_blocks and lookahead_samples must be at least 1")
