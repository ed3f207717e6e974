"""Harmony that states its key: scales per mode, 8-bar progressions with cadences, chord tones.

Every progression is one 8-bar phrase of chord roots (scale degrees, 0 = tonic) that starts on
the tonic and ends on a turnaround that cadences onto the next phrase's tonic (V → i in minor,
V → I in major, the mode's own cadence elsewhere: ♭VII → i in dorian, ♭VII → I in mixolydian …),
the resolution falling on the 8-bar line where sections change. In minor the V chord is
taken from the harmonic minor scale, so the leading tone (the raised 7th) sounds and resolves
to the tonic: the music says "A minor", not "C major". Pure functions of (mode, degree).
"""

from __future__ import annotations

from riffcast.generation.style import Mode

PHRASE_BARS = 8  # one progression: 8 bars, whatever the chord rhythm

SCALES: dict[Mode, tuple[int, ...]] = {
    Mode.MAJOR: (0, 2, 4, 5, 7, 9, 11),
    Mode.MINOR: (0, 2, 3, 5, 7, 8, 10),
    Mode.DORIAN: (0, 2, 3, 5, 7, 9, 10),
    Mode.MIXOLYDIAN: (0, 2, 4, 5, 7, 9, 10),
    Mode.LYDIAN: (0, 2, 4, 6, 7, 9, 11),
    Mode.PHRYGIAN: (0, 1, 3, 5, 7, 8, 10),
}
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)  # minor with the leading tone: the scale of the V chord
DOMINANT = 4  # scale degree of V
LEADING_TONE = 11  # semitones above the tonic

# Chord roots per bar (scale degrees), one 8-bar phrase each: a 4-bar line stated, then answered,
# ending on a turnaround: the mode's cadence chord (V, or ♭VII, ♭II …) fills the phrase's last bar
# and resolves onto the tonic on the next phrase's first downbeat, so the harmony moves on the
# 8-bar line itself (where sections change), not a bar before it. "Moving" ones change chord every
# bar; "held" ones every two bars (fast tempi, drumless styles).
MOVING: dict[Mode, tuple[tuple[int, ...], ...]] = {
    Mode.MAJOR: ((0, 4, 5, 3, 0, 5, 1, 4), (0, 5, 3, 4, 0, 5, 3, 4), (0, 3, 4, 0, 0, 3, 1, 4),
                 (0, 3, 5, 4, 0, 3, 1, 4), (0, 5, 1, 4, 0, 5, 1, 4)),
    Mode.MINOR: ((0, 5, 3, 4, 0, 5, 3, 4), (0, 3, 0, 4, 0, 3, 5, 4), (0, 6, 5, 4, 0, 6, 5, 4),
                 (0, 2, 3, 4, 0, 2, 3, 4), (0, 3, 5, 4, 0, 3, 5, 4)),
    Mode.DORIAN: ((0, 3, 0, 3, 0, 3, 0, 6), (0, 6, 3, 0, 0, 6, 3, 6), (0, 1, 3, 0, 0, 1, 3, 6)),
    Mode.MIXOLYDIAN: ((0, 6, 3, 0, 0, 3, 0, 6), (0, 3, 6, 0, 0, 3, 3, 6), (0, 6, 0, 3, 0, 6, 3, 6)),
    Mode.LYDIAN: ((0, 1, 0, 1, 0, 1, 0, 1), (0, 1, 4, 0, 0, 1, 4, 1)),
    Mode.PHRYGIAN: ((0, 1, 0, 1, 0, 1, 0, 1), (0, 1, 6, 0, 0, 6, 0, 1)),
}
HELD: dict[Mode, tuple[tuple[int, ...], ...]] = {
    Mode.MAJOR: ((0, 0, 5, 5, 3, 3, 4, 4), (0, 0, 3, 3, 5, 5, 4, 4), (0, 0, 4, 4, 5, 5, 4, 4)),
    Mode.MINOR: ((0, 0, 5, 5, 3, 3, 4, 4), (0, 0, 3, 3, 5, 5, 4, 4), (0, 0, 6, 6, 5, 5, 4, 4)),
    Mode.DORIAN: ((0, 0, 3, 3, 0, 0, 6, 6), (0, 0, 6, 6, 3, 3, 6, 6)),
    Mode.MIXOLYDIAN: ((0, 0, 6, 6, 3, 3, 6, 6), (0, 0, 3, 3, 0, 0, 6, 6)),
    Mode.LYDIAN: ((0, 0, 1, 1, 0, 0, 1, 1),),
    Mode.PHRYGIAN: ((0, 0, 1, 1, 0, 0, 1, 1),),
}
# The chord of a phrase's last bar, per mode: the turnaround that resolves onto the next phrase's tonic.
CADENCE_DEGREE = {Mode.MAJOR: 4, Mode.MINOR: 4, Mode.DORIAN: 6, Mode.MIXOLYDIAN: 6, Mode.LYDIAN: 1, Mode.PHRYGIAN: 1}


def progressions(mode: Mode, held: bool) -> tuple[tuple[int, ...], ...]:
    """The 8-bar progressions of ``mode``: chord every bar, or every two bars when ``held``."""
    return (HELD if held else MOVING)[mode]


def chord_scale(mode: Mode, degree: int) -> tuple[int, ...]:
    """The scale a chord on ``degree`` is built from: harmonic minor for V in minor, else the mode's."""
    if mode is Mode.MINOR and degree % 7 == DOMINANT:
        return HARMONIC_MINOR
    return SCALES[mode]


def pitch(root: int, mode: Mode, low: int, degree: int, chord_degree: int = 0) -> int:
    """MIDI note of scale ``degree`` (any integer) above the tonic ``root`` placed in [low, low + 12),
    spelled from the scale of the chord on ``chord_degree`` (so V in minor has its leading tone)."""
    tonic = low + (root - low) % 12
    octave, index = divmod(degree, 7)
    return tonic + 12 * octave + chord_scale(mode, chord_degree)[index]


def chord_pitches(root: int, mode: Mode, low: int, degree: int, notes: int) -> tuple[int, ...]:
    """A chord of ``notes`` stacked thirds on ``degree`` (3: triad, 4: seventh chord)."""
    return tuple(pitch(root, mode, low, degree + 2 * i, degree) for i in range(notes))


AROUND_TONIC_BELOW = 5  # semitones: a line around its tonic runs from a fourth under it to a fifth over it


def bass_pitch(root: int, mode: Mode, low: int, degree: int, around_tonic: bool = False) -> int:
    """The chord's root in the bass register [low, low + 12), or, ``around_tonic``, in the octave from a
    fourth under the tonic (the tonic placed in [low, low + 12)) to a fifth over it: the tonic then
    sits in the middle of the line, never its lowest note."""
    pitch_class = pitch(root, mode, 0, degree) % 12
    if around_tonic:
        low += (root - low) % 12 - AROUND_TONIC_BELOW
    return low + (pitch_class - low) % 12


MAX_CHORD_BARS = 2  # no progression holds a chord longer (the mixer looks this far back)
