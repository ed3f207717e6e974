"""The level of a chunk whose image does not state it, from the chunk before it (the
stitcher's first step): pure functions on mel magnitude."""

from __future__ import annotations

import numpy as np

__all__ = ["join_gain_db", "overlap_gain_db"]


def join_gain_db(before: np.ndarray, after: np.ndarray, max_db: float, *, bin_columns: int = 50) -> float:
    """Gain (dB) for ``after`` so its level continues ``before`` across a join.

    before, after: (n_mels, columns) mel magnitude just before and just after the join, each
    on its own image's scale. Their energy (Σ mel²) in bins of ``bin_columns`` is fitted, in
    dB, by one straight line per side with a common slope, and the gain closes the gap
    between the two lines at the join: the level continues and a crescendo going through
    the join is kept. Clamped to ±``max_db``; 0 when either side is silent.

    With 400 columns each side it recovers the true scale of consecutive chunks of
    synthetic music to 0.9 dB rms, steady or swelling by ±6 dB; matching plain energy over
    2 s did 0.7 dB on steady music but 2.2 dB on the swell (see the tests).
    """
    before_db, before_t = _binned_energy_db(before, bin_columns, ending=True)
    after_db, after_t = _binned_energy_db(after, bin_columns, ending=False)
    if before_db is None or after_db is None:
        return 0.0
    n_before, n_after = before_db.size, after_db.size
    design = np.zeros((n_before + n_after, 3))
    design[:n_before, 0] = 1.0
    design[n_before:, 1] = 1.0
    design[:, 2] = np.concatenate([before_t, after_t]) if n_before + n_after >= 3 else 0.0
    levels = np.concatenate([before_db, after_db])
    (offset_before, offset_after, _), *_ = np.linalg.lstsq(design, levels, rcond=None)
    return float(np.clip(offset_before - offset_after, -max_db, max_db))


def overlap_gain_db(before: np.ndarray, after: np.ndarray, max_db: float) -> float:
    """Gain (dB) for ``after`` when it repaints the same columns as ``before`` (crossfade):
    the ratio of their mel energies, clamped to ±``max_db``; 0 when either is silent."""
    energy_before = float(np.sum(np.square(before, dtype=np.float64)))
    energy_after = float(np.sum(np.square(after, dtype=np.float64)))
    if energy_before <= 0.0 or energy_after <= 0.0:
        return 0.0
    return float(np.clip(10.0 * np.log10(energy_before / energy_after), -max_db, max_db))


def _binned_energy_db(mel: np.ndarray, bin_columns: int, *, ending: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """Energy (dB) of consecutive column bins and their centres in columns from the join.

    ``ending``: the bins end at the join (the previous chunk), else they start there.
    None when any bin is silent.
    """
    width = mel.shape[1]
    count = max(1, width // bin_columns)
    size = width // count
    part = mel[:, width - count * size :] if ending else mel[:, : count * size]
    energy = np.sum(np.square(part, dtype=np.float64).reshape(mel.shape[0], count, size), axis=(0, 2))
    if np.any(energy <= 0.0):
        return None, np.zeros(0)
    centres = (np.arange(count) + 0.5) * size
    return 10.0 * np.log10(energy), (centres - count * size if ending else centres)
