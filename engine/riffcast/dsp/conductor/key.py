"""Key of mel images and a true pitch shift of them.

Chroma: each mel band's magnitude shared between the two pitch classes nearest its centre
frequency (linearly, in semitones), bands from 65 Hz to 5 kHz. Key: the best correlation of the
chroma with the 24 rotations of Krumhansl and Kessler's major and minor profiles. Pitch shift:
every row of the image takes its magnitude from the frequency ``f · 2^(−k/12)`` (interpolated
between the rows around it), so every partial moves from f to ``f · 2^(k/12)`` — each row by its
own number of rows, as the mel scale is not logarithmic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riffcast.dsp.mel import hz_to_mel, mel_to_hz
from riffcast.dsp.params import SpectrogramParams

MAX_SHIFT_SEMITONES = 6
CHROMA_LOW_HZ = 65.0
CHROMA_HIGH_HZ = 5000.0
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class MusicalKey:
    """A key: the tonic's pitch class (C = 0 … B = 11) and the mode."""

    tonic: int
    minor: bool

    def relative(self) -> MusicalKey:
        """The relative key (same notes, other mode): A minor ↔ C major."""
        return MusicalKey((self.tonic + 3) % 12, False) if self.minor else MusicalKey((self.tonic + 9) % 12, True)


def band_centres_hz(params: SpectrogramParams) -> np.ndarray:
    """The centre frequency of every mel band (row 0 lowest), (n_mels,) float64 Hz."""
    edges = mel_to_hz(np.linspace(hz_to_mel(params.f_min_hz), hz_to_mel(params.f_max_hz), params.n_mels + 2))
    return np.asarray(edges[1:-1], dtype=np.float64)


def chroma(mel: np.ndarray, centres_hz: np.ndarray) -> np.ndarray:
    """Pitch-class weight of a mel image (n_mels, columns) → (12,) float64, C first, sums to 1
    (all zeros for silence): each band's mean magnitude (not power: chosen on the music set's
    training pieces, where it agreed with essentia's key most often, 21 of 28 against 18)."""
    used = (centres_hz >= CHROMA_LOW_HZ) & (centres_hz <= CHROMA_HIGH_HZ)
    semitone = 12.0 * np.log2(centres_hz[used] / 440.0) + 9.0  # 0 = C
    lower = np.floor(semitone)
    upper_share = semitone - lower
    energy = np.asarray(mel, dtype=np.float64)[used].mean(axis=1)
    out = np.zeros(12)
    np.add.at(out, lower.astype(np.int64) % 12, energy * (1.0 - upper_share))
    np.add.at(out, (lower.astype(np.int64) + 1) % 12, energy * upper_share)
    total = out.sum()
    return out / total if total > 0 else out


def key_scores(pitch_classes: np.ndarray) -> np.ndarray:
    """Correlation of a chroma (12,) with each key's profile → (24,): 12 majors (C…B), then 12 minors."""
    scores = np.zeros(24)
    if not np.any(pitch_classes > 0):
        return scores
    for index, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            scores[12 * index + tonic] = np.corrcoef(pitch_classes, np.roll(profile, tonic))[0, 1]
    return scores


def estimate_key(pitch_classes: np.ndarray) -> MusicalKey:
    """The key whose profile best matches ``pitch_classes`` (12,)."""
    best = int(np.argmax(key_scores(pitch_classes)))
    return MusicalKey(best % 12, best >= 12)


def semitones_to(found: MusicalKey, asked: MusicalKey) -> int:
    """The shift (−6 … +5 semitones, the smaller way round) that moves ``found`` to ``asked``; a
    key of the other mode is reached through ``found``'s relative key (a pitch shift keeps the mode)."""
    source = found if found.minor == asked.minor else found.relative()
    return (asked.tonic - source.tonic + 6) % 12 - 6


def shift_pitch(mel: np.ndarray, semitones: float, centres_hz: np.ndarray) -> np.ndarray:
    """Every partial of a mel image (n_mels, columns) moved from f to f·2^(semitones/12) → a new
    (n_mels, columns) float32; rows whose source lies outside the image get silence.

    semitones: at most ±:data:`MAX_SHIFT_SEMITONES`.
    """
    if abs(semitones) > MAX_SHIFT_SEMITONES:
        raise ValueError(f"a pitch shift is at most ±{MAX_SHIFT_SEMITONES} semitones, got {semitones}")
    mel = np.asarray(mel, dtype=np.float32)
    if semitones == 0:
        return mel.copy()
    wanted_hz = centres_hz * 2.0 ** (-semitones / 12.0)
    rows = np.interp(wanted_hz, centres_hz, np.arange(centres_hz.size), left=-1.0, right=-1.0)
    inside = rows >= 0
    below = np.floor(np.maximum(rows, 0)).astype(np.int64)
    above = np.minimum(below + 1, centres_hz.size - 1)
    share = (np.maximum(rows, 0) - below).astype(np.float32)[:, None]
    out = mel[below] * (1.0 - share) + mel[above] * share
    out[~inside] = 0.0
    return out
