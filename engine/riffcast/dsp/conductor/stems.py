"""Drums and bass of a mel image, kept, dropped or kept alone.

The drums' share of each cell comes from :mod:`.drum_model`, a small network fitted on music
rendered with and without its drums, which reads median filtering (:mod:`.hpss`) among its
inputs. The bass is the part the drums do not take below ~150 Hz (a mask that falls from 1 at
150 Hz to 0 at 200 Hz), the rest is everything else.
"""

from __future__ import annotations

import enum

import numpy as np

from riffcast.dsp.conductor.drum_model import drum_model

BASS_TOP_HZ = 150.0
BASS_FADE_HZ = 200.0


class Stem(str, enum.Enum):
    """What a part does: play (on), stay silent (off) or play alone (only)."""

    ON = "on"
    OFF = "off"
    ONLY = "only"


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
    drums_share = drum_model().share(mel)
    bass_share = (1.0 - drums_share) * bass_rows(centres_hz)[:, None]
    parts = ((drums, drums_share), (bass, bass_share))
    if any(stem is Stem.ONLY for stem, _ in parts):
        keep = sum((share for stem, share in parts if stem is Stem.ONLY), np.zeros_like(mel))
    else:
        keep = 1.0 - sum((share for stem, share in parts if stem is Stem.OFF), np.zeros_like(mel))
    return mel * np.clip(keep, 0.0, 1.0)
