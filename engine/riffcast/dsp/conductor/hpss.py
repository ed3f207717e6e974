"""Harmonic/percussive separation of a mel image by median filtering (Fitzgerald 2010).

A median along time keeps what is steady (harmonic), one along the bands what is broad and short
(percussive); soft masks share each cell between the two, the percussive median counted
:data:`PERCUSSIVE_MARGIN` times (a margin, Driedger et al. 2014: a cell must be clearly harmonic
to stay harmonic), and the separation runs twice, the second time on the first's harmonic part
(what the first left of the drums is found again). On its own it calls every attack percussive,
a piano's as much as a snare's: it is one of the drum model's inputs (:mod:`.drum_model`), and
the peer that model is measured against. Margin 2 and two passes were chosen on the training
pieces of the music set; a larger margin cuts more of what librosa's HPSS of the output calls
percussive but takes the other instruments' attacks with it (docs/controls.md).
"""

from __future__ import annotations

import numpy as np

from riffcast.dsp.conductor.median import median_along_rows

KERNEL = 31  # the medians' width: 0.31 s along time, 31 bands across
MASK_POWER = 4.0  # the masks' sharpness: (H^p / (H^p + (m·P)^p))
PERCUSSIVE_MARGIN = 2.0  # m
PASSES = 2


def medians(mel: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The median of each cell's ``width`` neighbours along time and along the bands:
    (n_mels, columns) → two (n_mels, columns) float32 arrays (harmonic, percussive)."""
    mel = np.asarray(mel, dtype=np.float32)
    return median_along_rows(mel, width), median_along_rows(np.ascontiguousarray(mel.T), width).T


def percussive_mask(mel: np.ndarray, first: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The percussive share of each cell of ``mel`` (n_mels, columns) → (n_mels, columns) in [0, 1].

    first: ``medians(mel, KERNEL)`` when the caller has them already (the first pass's)."""
    mel = np.asarray(mel, dtype=np.float32)
    harmonic_share = np.ones_like(mel)
    for index in range(PASSES):
        harmonic, percussive = first if index == 0 and first is not None else medians(mel * harmonic_share, KERNEL)
        harmonic, percussive = harmonic ** MASK_POWER, (PERCUSSIVE_MARGIN * percussive) ** MASK_POWER
        total = harmonic + percussive
        harmonic_share *= np.divide(harmonic, total, out=np.full_like(mel, 0.5), where=total > 0)
    return 1.0 - harmonic_share
