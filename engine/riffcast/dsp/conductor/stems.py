"""Drums and bass of a mel image, kept, dropped or kept alone.

Harmonic/percussive separation by median filtering (Fitzgerald 2010) on the mel magnitude: a
median along time keeps what is steady (harmonic), one along the bands what is broad and short
(percussive); soft masks share each cell between the two, the percussive median counted
:data:`PERCUSSIVE_MARGIN` times (a margin, Driedger et al. 2014: a cell must be clearly harmonic
to stay harmonic), and the separation runs twice, the second time on the first's harmonic part
(what the first left of the drums is found again). Drums are the percussive part, bass the
harmonic part below ~150 Hz (a mask that falls from 1 at 150 Hz to 0 at 200 Hz), the rest is
everything else. The margin (2) and passes were chosen on the training pieces of the music set.
A larger margin cuts more of what librosa's HPSS of the output calls percussive (the 8 training
excerpts of benchmarks/conductor.py, median: margin 2 → 8.2 dB, 3 → 11.7, 3.5 → 13.1) but on this
music that part is the attacks of every instrument as much as the drums: against the same music
rendered without its drum channel (benchmarks/drums_oracle.py), margin 3.5 takes more of the
harmonic part (up to 9.4 dB) and lands further from the drumless music on every piece, so the
margin stays at 2 (docs/controls.md).
"""

from __future__ import annotations

import enum

import numpy as np

from riffcast.dsp.conductor.median import median_along_rows

TIME_KERNEL_COLUMNS = 31  # 0.31 s: the harmonic median
BAND_KERNEL_ROWS = 31  # the percussive median
MASK_POWER = 4.0  # the masks' sharpness: (H^p / (H^p + (m·P)^p))
PERCUSSIVE_MARGIN = 2.0  # m
PASSES = 2
BASS_TOP_HZ = 150.0
BASS_FADE_HZ = 200.0


class Stem(str, enum.Enum):
    """What a part does: play (on), stay silent (off) or play alone (only)."""

    ON = "on"
    OFF = "off"
    ONLY = "only"


def percussive_mask(mel: np.ndarray) -> np.ndarray:
    """The percussive share of each cell of ``mel`` (n_mels, columns) → (n_mels, columns) in [0, 1]."""
    mel = np.asarray(mel, dtype=np.float32)
    harmonic_share = np.ones_like(mel)
    for _ in range(PASSES):
        left = mel * harmonic_share
        harmonic = median_along_rows(left, TIME_KERNEL_COLUMNS) ** MASK_POWER
        percussive = (PERCUSSIVE_MARGIN * median_along_rows(left.T, BAND_KERNEL_ROWS).T) ** MASK_POWER
        total = harmonic + percussive
        harmonic_share *= np.divide(harmonic, total, out=np.full_like(mel, 0.5), where=total > 0)
    return 1.0 - harmonic_share


def bass_rows(centres_hz: np.ndarray) -> np.ndarray:
    """How much each row belongs to the bass, (n_mels,) float32 in [0, 1]."""
    fade = (BASS_FADE_HZ - centres_hz) / (BASS_FADE_HZ - BASS_TOP_HZ)
    return np.clip(fade, 0.0, 1.0).astype(np.float32)


def separate(mel: np.ndarray, centres_hz: np.ndarray, drums: Stem, bass: Stem) -> np.ndarray:
    """``mel`` (n_mels, columns) with the drums and bass on, off or alone → a new array.

    With any part ``only``, the parts marked ``only`` are kept and the rest dropped; otherwise
    the parts marked ``off`` are dropped.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if drums is Stem.ON and bass is Stem.ON:
        return mel.copy()
    drum_share = percussive_mask(mel)
    bass_share = (1.0 - drum_share) * bass_rows(centres_hz)[:, None]
    parts = ((drums, drum_share), (bass, bass_share))
    if any(stem is Stem.ONLY for stem, _ in parts):
        keep = sum((share for stem, share in parts if stem is Stem.ONLY), np.zeros_like(mel))
    else:
        keep = 1.0 - sum((share for stem, share in parts if stem is Stem.OFF), np.zeros_like(mel))
    return mel * np.clip(keep, 0.0, 1.0)
