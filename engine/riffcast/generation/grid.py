"""The synth's time grid and note events: bars from stream time 0, 16th steps, swing, voices.

Shared by the composers (:mod:`~riffcast.generation.compose`, :mod:`~riffcast.generation.grooves`)
and the mixer (:mod:`~riffcast.generation.voices`). Randomness is keyed, never sequential: every
draw comes from a generator seeded with (seed, bar or phrase, salt), so any bar of the endless
song can be composed on its own.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from riffcast.generation.style import BassStyle, Choice, DrumFamily, Style

STEPS_PER_BEAT = 4  # 16th-note grid
FAST_BAR_S = 1.6  # bars shorter than this hold each chord for two bars


def step_seconds(style: Style) -> float:
    """Length of one 16th note, seconds."""
    return 60.0 / style.tempo_bpm / STEPS_PER_BEAT


def steps_per_bar(style: Style) -> int:
    """16th notes in one bar."""
    return STEPS_PER_BEAT * style.beats_per_bar


def bar_seconds(style: Style) -> float:
    """Length of one bar, seconds."""
    return step_seconds(style) * steps_per_bar(style)


def bars_per_chord(style: Style) -> int:
    """Bars each chord usually lasts: 2 for fast bars and drumless styles, else 1."""
    return 2 if style.drums is DrumFamily.NONE or bar_seconds(style) < FAST_BAR_S else 1


def step_time(style: Style, step: float) -> float:
    """Seconds from the bar start to (fractional) 16th ``step``, swing applied."""
    pair = 4 if style.drums is DrumFamily.JAZZ or style.bass is BassStyle.WALKING else 2
    base = math.floor(step / pair) * pair
    x = (step - base) / pair
    late = 0.5 * (1.0 + style.swing)  # where the off-beat lands within the pair
    y = x / 0.5 * late if x <= 0.5 else late + (x - 0.5) / 0.5 * (1.0 - late)
    return (base + y * pair) * step_seconds(style)


class Salt(enum.IntEnum):
    """What a random draw is for: keeps the draws of different decisions independent."""

    PROGRESSION = 1
    DRUMS = 2
    DRUM_VARIANT = 3
    BASS = 4
    KEYS = 5
    MOTIF = 6
    PHRASE = 7
    FORM = 8
    TIMING = 9


def rng(seed: int, keys: tuple[int, ...]) -> np.random.Generator:
    """A generator keyed by ``seed`` and ``keys`` (bar, phrase, salt …)."""
    return np.random.default_rng([seed, *(int(k) for k in keys)])


def pick(seed: int, keys: tuple[int, ...], count: int) -> int:
    """A keyed choice among ``count``."""
    return int(rng(seed, keys).integers(count))


class Voice(Choice):
    """An instrument of the synth (its sound and level: :mod:`riffcast.generation.voices`)."""

    KICK = "kick"
    SNARE = "snare"
    HAT = "hat"
    OPEN_HAT = "open_hat"
    RIDE = "ride"
    CRASH = "crash"
    TOM = "tom"
    BASS = "bass"
    SUB = "sub"
    UPRIGHT = "upright"
    PAD = "pad"
    KEYS = "keys"
    PIANO = "piano"
    GUITAR = "guitar"
    PLUCK = "pluck"
    TRIANGLE = "triangle"
    BELL = "bell"
    SAW = "saw"
    VINYL = "vinyl"


LAYERED = 1  # Event.variant of a layered bass: Voice.SUB held steady under a Voice.BASS line without its fundamental
DRUMS = frozenset({Voice.KICK, Voice.SNARE, Voice.HAT, Voice.OPEN_HAT, Voice.RIDE, Voice.CRASH, Voice.TOM})


@dataclass(frozen=True)
class Event:
    """One sound: ``voice`` starting ``time_s`` after its bar's start and lasting ``dur_s``.

    gain: velocity 0–1 and beyond for accents (the voice's own level is applied when mixing).
    pitches: MIDI notes (one for melodic voices, several for chords; a drum's tuning, or none).
    variant: which take of a drum sound; for ``Voice.SUB`` and ``Voice.BASS``, ``LAYERED`` makes them
    the two layers of a produced bass (a sub held steady, a line without its fundamental). tone: the style's brightness (0–1) when composed.
    kit: the drum kit's name (``Kit`` value) for drums, "" otherwise.
    """

    time_s: float
    voice: Voice
    dur_s: float
    gain: float
    pitches: tuple[int, ...] = ()
    variant: int = 0
    tone: float = 0.5
    kit: str = ""
