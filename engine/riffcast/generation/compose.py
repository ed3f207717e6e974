"""Note events: what the synth plays in each bar, as a pure function of (style, seed, bar).

Bars sit on a grid anchored at stream time 0, so any window of the endless song can be
composed on its own. The seed picks a chord progression per section, drum, bass and keys
variants per phrase and a call-and-response melody per section, all from generators keyed by
(seed, bar or phrase, salt), so no event depends on any other's randomness. Events carry
times and durations in seconds from their bar's start; :mod:`riffcast.generation.voices`
turns them into sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riffcast.generation.style import BassStyle, Choice, DrumFamily, KeysStyle, LeadVoice, Mode, Style

# --------------------------------------------------------------------------- time grid

STEPS_PER_BEAT = 4  # 16th-note grid
FAST_BAR_S = 1.6  # bars shorter than this hold each chord for two bars
PROGRESSION_LEN = 4  # chords per phrase
PHRASES_PER_SECTION = 4  # a new progression and new melodies every section


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
    """Bars each chord lasts: 2 for fast bars and drumless styles, else 1."""
    return 2 if style.drums is DrumFamily.NONE or bar_seconds(style) < FAST_BAR_S else 1


def phrase_bars(style: Style) -> int:
    """Bars in one phrase (one pass through a progression)."""
    return bars_per_chord(style) * PROGRESSION_LEN


def _step_time(style: Style, step: float) -> float:
    """Seconds from the bar start to (fractional) 16th ``step``, swing applied."""
    pair = 4 if style.drums is DrumFamily.JAZZ or style.bass is BassStyle.WALKING else 2
    base = math.floor(step / pair) * pair
    x = (step - base) / pair
    late = 0.5 * (1.0 + style.swing)  # where the off-beat lands within the pair
    y = x / 0.5 * late if x <= 0.5 else late + (x - 0.5) / 0.5 * (1.0 - late)
    return (base + y * pair) * step_seconds(style)


# --------------------------------------------------------------------------- harmony

SCALES = {Mode.MAJOR: (0, 2, 4, 5, 7, 9, 11), Mode.MINOR: (0, 2, 3, 5, 7, 8, 10)}
# Chord roots as scale degrees (0 = tonic), one chord per PROGRESSION_LEN slot.
PROGRESSIONS = {
    Mode.MAJOR: ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 5, 4), (1, 4, 0, 0), (3, 4, 2, 5)),
    Mode.MINOR: ((0, 5, 2, 6), (0, 3, 6, 2), (0, 6, 5, 6), (0, 3, 4, 0), (0, 5, 3, 4), (0, 2, 6, 3)),
}
BASS_LOW, CHORD_LOW, LEAD_LOW = 33, 48, 57  # lowest MIDI note of each register's tonic octave


def _note(style: Style, low: int, degree: int) -> int:
    """MIDI note of scale ``degree`` (any integer) above the tonic placed in [low, low + 12)."""
    tonic = low + (style.root - low) % 12
    octave, index = divmod(degree, 7)
    return tonic + 12 * octave + SCALES[style.mode][index]


def _chord_degree(style: Style, seed: int, bar: int) -> int:
    section = bar // (phrase_bars(style) * PHRASES_PER_SECTION)
    options = PROGRESSIONS[style.mode]
    progression = options[_pick(seed, (section, _SALT_PROGRESSION), len(options))]
    return progression[(bar // bars_per_chord(style)) % PROGRESSION_LEN]


def _chord_notes(style: Style, degree: int) -> tuple[int, ...]:
    count = 4 if style.sevenths else 3
    return tuple(_note(style, CHORD_LOW, degree + 2 * i) for i in range(count))


def _bass_root(style: Style, degree: int) -> int:
    pitch_class = _note(style, 0, degree) % 12
    return BASS_LOW + (pitch_class - BASS_LOW) % 12


# --------------------------------------------------------------------------- randomness

_SALT_PROGRESSION, _SALT_DRUMS, _SALT_DRUM_VARIANT, _SALT_BASS, _SALT_KEYS, _SALT_MOTIF, _SALT_PHRASE = range(1, 8)
RANDOM_DRAWS = 64  # uniforms drawn per bar for the drums, so density changes flip few hits


def _rng(seed: int, keys: tuple[int, ...]) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _pick(seed: int, keys: tuple[int, ...], count: int) -> int:
    return int(_rng(seed, keys).integers(count))


# --------------------------------------------------------------------------- composition


class Voice(Choice):
    """An instrument of the synth (its sound and level: :mod:`riffcast.generation.voices`)."""

    KICK = "kick"
    SNARE = "snare"
    HAT = "hat"
    RIDE = "ride"
    BASS = "bass"
    SUB = "sub"
    PAD = "pad"
    KEYS = "keys"
    TRIANGLE = "triangle"
    BELL = "bell"
    SAW = "saw"


# The instrument each lead plays (LeadVoice.NONE: no melody).
LEAD_VOICES: dict[LeadVoice, Voice] = {LeadVoice.TRIANGLE: Voice.TRIANGLE, LeadVoice.BELL: Voice.BELL, LeadVoice.SAW: Voice.SAW}


@dataclass(frozen=True)
class Event:
    """One sound: ``voice`` starting ``time_s`` after its bar's start and lasting ``dur_s``.

    gain: velocity 0–1 (the voice's own level is applied when mixing). pitches: MIDI notes
    (one for melodic voices, several for chords, none for drums). variant: which take of a
    drum sound. tone: the style's brightness (0–1) when the event was composed.
    """

    time_s: float
    voice: Voice
    dur_s: float
    gain: float
    pitches: tuple[int, ...] = ()
    variant: int = 0
    tone: float = 0.5


DRUM_SECONDS = {Voice.KICK: 0.35, Voice.SNARE: 0.25, Voice.HAT: 0.06, Voice.RIDE: 0.5}  # sample lengths
DRUM_TAKES = 4  # recorded takes per noise drum, cycled for variety
_EIGHTHS = tuple((s, 1.0 if s % 4 == 0 else 0.7) for s in range(0, 16, 2))
_SIXTEENTHS = tuple((s, 1.0 if s % 4 == 0 else 0.75 if s % 2 == 0 else 0.5) for s in range(16))
_FOUR = ((0, 1.0), (4, 1.0), (8, 1.0), (12, 1.0))
_BACKBEAT = ((4, 1.0), (12, 1.0))
# Per family, variants of {voice: ((16th step, velocity), …)}; one variant per phrase.
DRUM_PATTERNS: dict[DrumFamily, tuple[dict[Voice, tuple[tuple[float, float], ...]], ...]] = {
    DrumFamily.NONE: ({},),
    DrumFamily.FOUR_FLOOR: (
        {Voice.KICK: _FOUR, Voice.SNARE: ((4, 0.7), (12, 0.7)), Voice.HAT: ((2, 1.0), (6, 1.0), (10, 1.0), (14, 1.0))},
        {Voice.KICK: _FOUR, Voice.SNARE: ((4, 0.7), (12, 0.7)), Voice.HAT: ((2, 1.0), (6, 1.0), (10, 1.0), (14, 1.0), (15, 0.5))},
    ),
    DrumFamily.BOOM_BAP: (
        {Voice.KICK: ((0, 1.0), (7, 0.6), (10, 0.9)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (3, 0.5), (8, 0.8), (10, 0.7)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.BREAKBEAT: (
        {Voice.KICK: ((0, 1.0), (10, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (6, 0.6), (10, 1.0)), Voice.SNARE: ((4, 1.0), (12, 1.0), (15, 0.4)), Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.ROCK: (
        {Voice.KICK: ((0, 1.0), (8, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (6, 0.7), (8, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (8, 1.0), (10, 0.7)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.TRAP: (
        {Voice.KICK: ((0, 1.0), (7, 0.8), (11, 0.7)), Voice.SNARE: ((8, 1.0),), Voice.HAT: _SIXTEENTHS},
        {Voice.KICK: ((0, 1.0), (3, 0.7), (10, 0.8)), Voice.SNARE: ((8, 1.0),), Voice.HAT: _SIXTEENTHS},
    ),
    DrumFamily.JAZZ: (
        {Voice.RIDE: ((0, 1.0), (4, 1.0), (6, 0.6), (8, 1.0), (12, 1.0), (14, 0.6)),
         Voice.HAT: ((4, 0.5), (12, 0.5)), Voice.KICK: ((0, 0.35), (8, 0.3))},
    ),
    DrumFamily.ONE_DROP: ({Voice.KICK: ((8, 1.0),), Voice.SNARE: ((8, 0.6),), Voice.HAT: _EIGHTHS},),
    DrumFamily.WALTZ: ({Voice.KICK: ((0, 1.0),), Voice.SNARE: ((4, 0.5), (8, 0.5)),
                        Voice.HAT: tuple((s, 0.8 if s % 4 == 0 else 0.5) for s in range(0, 12, 2))},),
}
_BACKBEAT_FAMILIES = (DrumFamily.FOUR_FLOOR, DrumFamily.BOOM_BAP, DrumFamily.BREAKBEAT, DrumFamily.ROCK)
GHOST_HAT_FAMILIES = frozenset({*_BACKBEAT_FAMILIES, DrumFamily.ONE_DROP})
FILL_FAMILIES = frozenset({*_BACKBEAT_FAMILIES, DrumFamily.TRAP})
GHOST_HAT_PROB, GHOST_HAT_VELOCITY = 0.6, 0.35  # × density
ROLL_PROB, ROLL_STEPS = 0.5, (6, 13, 14, 15)  # trap hat 32nd rolls, × density
FILL_STEPS = ((13, 0.5), (14, 0.7), (15, 0.9))
HUMANIZE = 0.15  # velocities vary by up to this fraction
CYMBAL_LEVEL = (0.6, 0.8)  # hat and ride velocity × (first + second × brightness)


def _drum_events(style: Style, seed: int, bar: int) -> list[Event]:
    variants = DRUM_PATTERNS[style.drums]
    phrase = bar // phrase_bars(style)
    pattern = variants[_pick(seed, (phrase, _SALT_DRUM_VARIANT), len(variants))]
    u = _rng(seed, (bar, _SALT_DRUMS)).random(RANDOM_DRAWS)
    steps = steps_per_bar(style)
    hits = [(voice, step, vel) for voice, pattern_steps in pattern.items() for step, vel in pattern_steps]
    if style.drums in GHOST_HAT_FAMILIES:
        taken = {step for voice, step, _ in hits if voice is Voice.HAT}
        hits += [(Voice.HAT, s, GHOST_HAT_VELOCITY) for s in range(steps) if s not in taken and u[s] < GHOST_HAT_PROB * style.density]
    if style.drums is DrumFamily.TRAP:
        hits += [(Voice.HAT, s + 0.5, 0.5) for s in ROLL_STEPS if u[16 + s] < ROLL_PROB * style.density]
    if style.drums is DrumFamily.JAZZ:
        hits += [(Voice.SNARE, s, 0.3) for s in (2, 6, 10, 14) if u[16 + s] < 0.5 * style.density]
    if style.drums in FILL_FAMILIES and bar % phrase_bars(style) == phrase_bars(style) - 1 and u[40] < style.density:
        hits += [(Voice.SNARE, s, vel) for s, vel in FILL_STEPS]
    hits = [hit for hit in hits if hit[1] < steps]  # patterns are written for 4/4
    cymbal = CYMBAL_LEVEL[0] + CYMBAL_LEVEL[1] * style.brightness
    hits = [(voice, step, vel * cymbal if voice in (Voice.HAT, Voice.RIDE) else vel) for voice, step, vel in hits]
    return [
        Event(_step_time(style, step), voice, DRUM_SECONDS[voice], vel * (1.0 - HUMANIZE * u[48 + i % 16]),
              variant=(bar * steps + int(step) + i) % DRUM_TAKES, tone=style.brightness)
        for i, (voice, step, vel) in enumerate(hits)
    ]


# Bass per family: variants of ((16th step, length in steps, interval above the root), …).
BASS_PATTERNS: dict[BassStyle, tuple[tuple[tuple[int, int, int], ...], ...]] = {
    BassStyle.ROOT8: (tuple((s, 2, 0) for s in range(0, 16, 2)), ((0, 3, 0), (3, 3, 0), (6, 2, 0), (8, 3, 0), (11, 3, 0), (14, 2, 12))),
    BassStyle.SYNCOPATED: (
        ((0, 3, 0), (3, 3, 0), (6, 2, 0), (8, 3, 0), (11, 3, 0), (14, 2, 12)),
        ((0, 6, 0), (6, 2, 12), (8, 6, 0), (14, 2, 0)),
        ((0, 4, 0), (7, 2, 0), (10, 3, 7), (14, 2, 0)),
    ),
    BassStyle.OFFBEAT: (((2, 2, 0), (6, 2, 0), (10, 2, 0), (14, 2, 0)), ((2, 2, 0), (6, 2, 12), (10, 2, 0), (14, 1, 0), (15, 1, 7))),
    BassStyle.SUB: (((0, 10, 0), (10, 6, 0)), ((0, 6, 0), (7, 4, 0), (11, 5, 7))),
    BassStyle.OCTAVE: (tuple((s, 2, 12 * ((s // 2) % 2)) for s in range(0, 16, 2)),),
    BassStyle.WALTZ: (((0, 4, 0),), ((0, 4, 0), (8, 4, 7))),
}
BASS_GATE = 0.9  # notes sound for this fraction of their slot


def _bass_events(style: Style, seed: int, bar: int, degree: int) -> list[Event]:
    step_s = step_seconds(style)
    root = _bass_root(style, degree)
    voice = Voice.SUB if style.bass in (BassStyle.SUB, BassStyle.SUSTAIN) else Voice.BASS
    if style.bass is BassStyle.SUSTAIN:
        if bar % bars_per_chord(style):
            return []
        return [Event(0.0, voice, BASS_GATE * bars_per_chord(style) * bar_seconds(style), 0.8, (root,), tone=style.brightness)]
    if style.bass is BassStyle.WALKING:
        u = _rng(seed, (bar, _SALT_BASS)).random(4)
        target = _bass_root(style, _chord_degree(style, seed, bar + 1))
        third, fifth = (_note(style, 0, degree + k) - _note(style, 0, degree) for k in (2, 4))
        passing = root + (third if u[0] < 0.5 else 2), root + (fifth if u[1] < 0.6 else 12)
        line = (root, *passing, target + (1 if u[2] < 0.5 else -1))  # … then a half step into the next root
        notes = line[: style.beats_per_bar - 1] + line[-1:]
        return [Event(_step_time(style, 4 * i), voice, BASS_GATE * 4 * step_s, 0.85, (p,), tone=style.brightness)
                for i, p in enumerate(notes)]
    variants = BASS_PATTERNS[style.bass]
    pattern = variants[_pick(seed, (bar // phrase_bars(style), _SALT_BASS), len(variants))]
    return [Event(_step_time(style, s), voice, BASS_GATE * n * step_s, 0.9, (root + interval,), tone=style.brightness)
            for s, n, interval in pattern if s < steps_per_bar(style)]


PAD_TAIL_S = 0.4  # pads overlap the next chord by this much
STAB_STEPS, WALTZ_STEPS = (2, 6, 10, 14), (4, 8)
MIN_CHORD_S = 0.12
COMP_RHYTHMS = (((0, 6, 1.0), (6, 4, 0.7), (12, 4, 0.6)), ((0, 3, 1.0), (3, 5, 0.7), (10, 6, 0.8)),
                ((0, 8, 1.0), (10, 6, 0.7)), ((2, 4, 0.8), (8, 6, 1.0)))


def _keys_events(style: Style, seed: int, bar: int, degree: int) -> list[Event]:
    notes = _chord_notes(style, degree)
    step_s = step_seconds(style)
    if style.keys is KeysStyle.PAD:
        if bar % bars_per_chord(style):
            return []
        return [Event(0.0, Voice.PAD, bars_per_chord(style) * bar_seconds(style) + PAD_TAIL_S, 1.0, notes)]
    if style.keys is KeysStyle.NONE:
        return []
    if style.keys is KeysStyle.COMP:
        rhythm = COMP_RHYTHMS[_pick(seed, (bar // phrase_bars(style), _SALT_KEYS), len(COMP_RHYTHMS))]
        rhythm = tuple(hit for hit in rhythm if hit[0] < steps_per_bar(style))
    else:
        hit_steps = STAB_STEPS if style.keys is KeysStyle.STABS else WALTZ_STEPS
        rhythm = tuple((s, 2 if style.keys is KeysStyle.STABS else 3, 0.8) for s in hit_steps)
    return [Event(_step_time(style, s), Voice.KEYS, max(n * step_s, MIN_CHORD_S), vel, notes, tone=style.brightness)
            for s, n, vel in rhythm]


LEAD_REST_MAX, LEAD_REST_RANGE = 0.55, 0.35  # rest probability = max − range × density
LEAD_PRESENCE_MIN, LEAD_PRESENCE_RANGE = 0.5, 0.4  # chance a phrase has a melody
LEAD_DEGREES = (-3, 7)  # melody range around the chord root, scale degrees
LEAD_GATE = 0.95
ECHO_STEPS, ECHO_GAIN = 3, 0.3  # a dotted-8th echo on every melody note


def _motif(style: Style, seed: int, keys: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """One bar of melody: ((16th step, length in steps, scale degree above the chord root), …)."""
    rng = _rng(seed, keys)
    unit = 4 if style.tempo_bpm > 150 else 2
    slots = steps_per_bar(style) // unit
    rest = LEAD_REST_MAX - LEAD_REST_RANGE * style.density
    degree, slot, notes = int(rng.choice((0, 2, 4))), 0, []
    while slot < slots:
        u, length, move = rng.random(), int(rng.integers(1, 4)), int(rng.integers(-2, 3))
        if u < rest:
            slot += 1
            continue
        length = min(length, slots - slot)
        degree = int(np.clip(degree + move, *LEAD_DEGREES))
        if (slot * unit) % STEPS_PER_BEAT == 0 and degree % 2:  # chord tones on the beat
            degree += 1 if degree < LEAD_DEGREES[1] else -1
        notes.append((slot * unit, length * unit, degree))
        slot += length
    return tuple(notes)


def _lead_events(style: Style, seed: int, bar: int, degree: int) -> list[Event]:
    if style.lead is LeadVoice.NONE:
        return []
    phrase_length = phrase_bars(style)
    phrase, position = divmod(bar, phrase_length)
    u = _rng(seed, (phrase, _SALT_PHRASE)).random(2)
    if u[0] >= LEAD_PRESENCE_MIN + LEAD_PRESENCE_RANGE * style.density:
        return []
    section = phrase // PHRASES_PER_SECTION
    motif = _motif(style, seed, (section, position % 2, _SALT_MOTIF))  # call, response, call, response
    if position == phrase_length - 1 and motif:  # cadence: the phrase ends on the chord root
        *body, (step, length, last) = motif
        motif = (*body, (step, length, 7 * round(last / 7)))
    shift = (0, 0, 2, -2)[int(u[1] * 4)]  # later phrases may sit higher or lower
    step_s = step_seconds(style)
    voice = LEAD_VOICES[style.lead]
    events = []
    for step, length, offset in motif:
        pitch = _note(style, LEAD_LOW, degree + offset + shift)
        time_s, dur_s = _step_time(style, step), LEAD_GATE * length * step_s
        events.append(Event(time_s, voice, dur_s, 1.0, (pitch,), tone=style.brightness))
        events.append(Event(time_s + ECHO_STEPS * step_s, voice, dur_s, ECHO_GAIN, (pitch,), tone=style.brightness))
    return events


def bar_events(style: Style, seed: int, bar: int) -> list[Event]:
    """Every sound of ``bar`` (0-based; none before 0): a pure function of its arguments."""
    if bar < 0:
        return []
    degree = _chord_degree(style, seed, bar)
    return (_drum_events(style, seed, bar) + _bass_events(style, seed, bar, degree)
            + _keys_events(style, seed, bar, degree) + _lead_events(style, seed, bar, degree))
