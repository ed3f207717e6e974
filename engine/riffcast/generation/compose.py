"""Note events: what the synth plays in each bar, as a pure function of (style, seed, bar).

Bars sit on a grid anchored at stream time 0, so any window of the endless song can be
composed on its own. The form (:mod:`~riffcast.generation.form`) says which section a bar is
in and which parts play how loud; the harmony (:mod:`~riffcast.generation.harmony`) gives each
section kind an 8-bar progression whose turnaround cadences onto the next phrase's tonic; the drums come from
:mod:`~riffcast.generation.grooves`; bass, chords and a call-and-response melody from here.
Material is keyed by (seed, section kind, epoch of two cycles), so a section comes back
recognisably and the song still evolves. Events carry times and durations in seconds from
their bar's start; :mod:`riffcast.generation.voices` turns them into sound.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from riffcast.generation import form
from riffcast.generation.form import Arrangement, Place, Section
from riffcast.generation.grid import (
    LAYERED,
    STEPS_PER_BEAT,
    Event,
    Salt,
    Voice,
    bar_seconds,
    bars_per_chord,
    pick,
    rng,
    step_seconds,
    step_time,
    steps_per_bar,
)
from riffcast.generation.grooves import DRUM_SECONDS, drum_events
from riffcast.generation.harmony import PHRASE_BARS, bass_pitch, chord_pitches, pitch, progressions
from riffcast.generation.style import Band, BassStyle, KeysStyle, LeadVoice, Style

__all__ = ["DRUM_SECONDS", "PAD_TAIL_S", "Event", "Voice", "bar_events", "bar_seconds", "bars_per_chord",
           "chord_degree", "phrase_bars", "step_seconds", "steps_per_bar"]

BASS_LOW, CHORD_LOW, LEAD_LOW = 33, 48, 57  # lowest MIDI note of each register's tonic octave
BAR_CACHE = 512  # composed bars kept: a station's windows compose the same bars again and again


def phrase_bars(style: Style) -> int:
    """Bars in one phrase (one pass through a progression): 8, whatever the style."""
    return PHRASE_BARS


def chord_degree(style: Style, seed: int, bar: int) -> int:
    """The chord root of ``bar`` as a scale degree (0 = tonic)."""
    where = form.place(seed, max(bar, 0))
    options = progressions(style.mode, bars_per_chord(style) == 2)
    progression = options[pick(seed, (*form.material(where), Salt.PROGRESSION), len(options))]
    return progression[bar % PHRASE_BARS]


def _chord_run(style: Style, seed: int, bar: int) -> int:
    """Bars the chord of ``bar`` lasts from ``bar`` (to its phrase's end at most)."""
    degree, run = chord_degree(style, seed, bar), 1
    while (bar + run) % PHRASE_BARS and chord_degree(style, seed, bar + run) == degree:
        run += 1
    return run


def _chord_starts(style: Style, seed: int, bar: int) -> bool:
    return bar % PHRASE_BARS == 0 or chord_degree(style, seed, bar - 1) != chord_degree(style, seed, bar)


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
BASS_GATE = 1.0  # notes sound for their whole slot: legato (gaps between low notes smear them over the semitones around)
BASS_ACCENT = (0.95, 0.8)  # velocity on the beat, off it
SUB_HOLD_TAIL_S = 0.05  # the held sub overlaps the next chord's by this much (a crossfade)
SUB_HOLD_GAIN = 1.0  # its velocity (Voice.SUB's level)


def _bass_voice(style: Style) -> Voice:
    if style.bass in (BassStyle.SUB, BassStyle.SUSTAIN):
        return Voice.SUB
    return Voice.UPRIGHT if style.band is Band.JAZZ else Voice.BASS


def _sub_hold(style: Style, seed: int, bar: int, root: int) -> list[Event]:
    """A steady sine at the chord's root, held for the whole chord, under a bass line whose own
    fundamental is filtered out (the sub and mid layers of a produced bass): the line keeps its
    rhythm, and the lowest octave holds still. Low notes restruck every 8th have their pitch smeared
    over the semitones around them (an amplitude change of 4 Hz is more than a semitone at 55 Hz), so the
    gated bass made the key unclear in the low octave (issue 26: in-scale chroma with drums). Not in
    lofi, whose warm bass keeps its own fundamental: a sub stating every bar's chord there made the
    chord changes inside a section as strong as the changes between sections."""
    if not _chord_starts(style, seed, bar):
        return []
    return [Event(0.0, Voice.SUB, _chord_run(style, seed, bar) * bar_seconds(style) + SUB_HOLD_TAIL_S, SUB_HOLD_GAIN, (root,),
                  variant=LAYERED)]


def _bass_events(style: Style, seed: int, bar: int, degree: int, where: Place, two_feel: bool) -> list[Event]:
    step_s = step_seconds(style)
    # lofi's warm bass, the low octave's only voice (no held sub under it), moves around the tonic: with
    # the tonic as its lowest note, a phrase's tonic bars sounded apart from the others (issue 26)
    root = bass_pitch(style.root, style.mode, BASS_LOW, degree, around_tonic=style.band is Band.LOFI)
    voice = _bass_voice(style)
    layered = voice is Voice.BASS and style.band is not Band.LOFI
    held = _sub_hold(style, seed, bar, root) if layered else []
    if style.bass is BassStyle.SUSTAIN:
        if not _chord_starts(style, seed, bar):
            return []
        return [Event(0.0, voice, BASS_GATE * _chord_run(style, seed, bar) * bar_seconds(style), 0.8, (root,), tone=style.brightness)]
    if two_feel and style.bass is not BassStyle.WALKING:
        half_steps = 2 * STEPS_PER_BEAT
        return held + [Event(step_time(style, s), voice, BASS_GATE * min(half_steps, steps_per_bar(style) - s) * step_s, BASS_ACCENT[0],
                             (root,), variant=int(layered) * LAYERED, tone=style.brightness)
                       for s in range(0, steps_per_bar(style), half_steps)]
    if style.bass is BassStyle.WALKING:
        u = rng(seed, (bar, Salt.BASS)).random(4)
        target = bass_pitch(style.root, style.mode, BASS_LOW, chord_degree(style, seed, bar + 1))
        third, fifth = (pitch(style.root, style.mode, 0, degree + k, degree) - pitch(style.root, style.mode, 0, degree, degree)
                        for k in (2, 4))
        passing = root + (third if u[0] < 0.5 else 2), root + (fifth if u[1] < 0.6 else 12)
        line = (root, *passing, target + (1 if u[2] < 0.5 else -1))  # … then a half step into the next root
        notes = line[: style.beats_per_bar - 1] + line[-1:]
        return held + [Event(step_time(style, 4 * i), voice, BASS_GATE * 4 * step_s, BASS_ACCENT[i > 0], (p,),
                             variant=int(layered) * LAYERED, tone=style.brightness) for i, p in enumerate(notes)]
    variants = BASS_PATTERNS[style.bass]
    pattern = variants[pick(seed, (*form.material(where), Salt.BASS), len(variants))]
    return held + [Event(step_time(style, s), voice, BASS_GATE * n * step_s, BASS_ACCENT[s % STEPS_PER_BEAT != 0],
                         (root + interval,), variant=int(layered) * LAYERED, tone=style.brightness)
                   for s, n, interval in pattern if s < steps_per_bar(style)]


PAD_TAIL_S = 0.4  # pads overlap the next chord by this much
STAB_STEPS, WALTZ_STEPS = (2, 6, 10, 14), (4, 8)
MIN_CHORD_S = 0.12
CHUG_LOW, CHUG_GATE = 40, 0.6  # metal's power chords: root in [E2, D#3], sounding 60 % of an 8th
CHUG_VELOCITY = (3.0, 2.5)  # on the beat, off it: the guitars are the wall of a metal mix
COMP_RHYTHMS = (((0, 6, 1.0), (6, 4, 0.7), (12, 4, 0.6)), ((0, 3, 1.0), (3, 5, 0.7), (10, 6, 0.8)),
                ((0, 8, 1.0), (10, 6, 0.7)), ((2, 4, 0.8), (8, 6, 1.0)))


VOICING_CENTRE = CHORD_LOW + 14  # MIDI: the chords' voicings stay around D4 (for C3 as CHORD_LOW)


def _voicing(style: Style, degree: int) -> tuple[int, ...]:
    """The chord of ``degree`` in the inversion (lowest notes up an octave) whose mean pitch lies
    nearest ``VOICING_CENTRE``: chords move by small steps (voice leading), and every seed's chords
    sit in one register, so a genre keeps its sound from seed to seed."""
    notes = chord_pitches(style.root, style.mode, CHORD_LOW, degree, 4 if style.sevenths else 3)
    inversions = [tuple(sorted(n + 12 * (i < inversion) for i, n in enumerate(notes))) for inversion in range(len(notes))]
    return min(inversions, key=lambda voicing: abs(sum(voicing) / len(voicing) - VOICING_CENTRE))


def _keys_events(style: Style, seed: int, bar: int, degree: int, octave: int = 0) -> list[Event]:
    """The chords of ``bar`` (``octave``: octaves above their voicing's register)."""
    notes = tuple(note + 12 * octave for note in _voicing(style, degree))
    step_s = step_seconds(style)
    if style.keys is KeysStyle.PAD and style.band is Band.METAL:  # palm-muted power chords in 8ths
        low = bass_pitch(style.root, style.mode, CHUG_LOW, degree)
        return [Event(step_time(style, s), Voice.GUITAR, CHUG_GATE * 2 * step_s, CHUG_VELOCITY[s % STEPS_PER_BEAT != 0],
                      (low, low + 7, low + 12), tone=style.brightness) for s in range(0, steps_per_bar(style), 2)]
    if style.keys is KeysStyle.PAD:
        if not _chord_starts(style, seed, bar):
            return []
        voice = Voice.GUITAR if style.band is Band.ROCK else Voice.PAD
        chord = notes[:3] if voice is Voice.GUITAR else notes
        return [Event(0.0, voice, _chord_run(style, seed, bar) * bar_seconds(style) + PAD_TAIL_S, 1.0, chord, tone=style.brightness)]
    if style.keys is KeysStyle.NONE:
        return []
    if style.keys is KeysStyle.COMP:
        rhythm = COMP_RHYTHMS[pick(seed, (*form.material(form.place(seed, bar)), Salt.KEYS), len(COMP_RHYTHMS))]
        rhythm = tuple(hit for hit in rhythm if hit[0] < steps_per_bar(style))
    else:
        hit_steps = STAB_STEPS if style.keys is KeysStyle.STABS else WALTZ_STEPS
        rhythm = tuple((s, 2 if style.keys is KeysStyle.STABS else 3, 0.8) for s in hit_steps)
    voice = Voice.PIANO if style.band is Band.JAZZ else Voice.PLUCK if style.band is Band.CLUB else Voice.KEYS
    return [Event(step_time(style, s), voice, max(n * step_s, MIN_CHORD_S), vel, notes, tone=style.brightness)
            for s, n, vel in rhythm]


LEAD_VOICES: dict[LeadVoice, Voice] = {LeadVoice.TRIANGLE: Voice.TRIANGLE, LeadVoice.BELL: Voice.BELL, LeadVoice.SAW: Voice.SAW}
LEAD_REST_MAX, LEAD_REST_RANGE = 0.55, 0.35  # rest probability = max − range × density
LEAD_DEGREES = (-3, 7)  # melody range around the chord root, scale degrees
LEAD_GATE = 0.95
ECHO_STEPS, ECHO_GAIN = 3, 0.3  # a dotted-8th echo on every melody note
VINYL_TAKES = 4


def _motif(style: Style, seed: int, keys: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """One bar of melody: ((16th step, length in steps, scale degree above the chord root), …)."""
    draw = rng(seed, keys)
    unit = 4 if style.tempo_bpm > 150 else 2
    slots = steps_per_bar(style) // unit
    rest = LEAD_REST_MAX - LEAD_REST_RANGE * style.density
    degree, slot, notes = int(draw.choice((0, 2, 4))), 0, []
    while slot < slots:
        u, length, move = draw.random(), int(draw.integers(1, 4)), int(draw.integers(-2, 3))
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


def _lead_events(style: Style, seed: int, bar: int, degree: int, where: Place) -> list[Event]:
    if style.lead is LeadVoice.NONE:
        return []
    position = bar % PHRASE_BARS
    register = rng(seed, (*form.material(where), Salt.PHRASE)).random()
    motif = _motif(style, seed, (*form.material(where), position % 2, Salt.MOTIF))  # call, response, call, response
    if motif and position == PHRASE_BARS - 1:  # turnaround: the phrase ends on V's third (the leading tone) …
        *body, (step, length, last) = motif
        motif = (*body, (step, length, 2 + 7 * round((last - 2) / 7)))
    elif motif and position == PHRASE_BARS - 2:  # … after the root of the chord before it
        *body, (step, length, last) = motif
        motif = (*body, (step, length, 7 * round(last / 7)))
    shift = (0, 0, 2, -2)[int(register * 4)] if position < PHRASE_BARS - 2 else 0  # a section's melody may sit higher or lower
    step_s = step_seconds(style)
    voice = LEAD_VOICES[style.lead]
    velocity = 0.75 if where.section is Section.BREAKDOWN else 1.0
    events = []
    for step, length, offset in motif:
        note = pitch(style.root, style.mode, LEAD_LOW, degree + offset + shift, degree)
        time_s, dur_s = step_time(style, step), LEAD_GATE * length * step_s
        events.append(Event(time_s, voice, dur_s, velocity, (note,), tone=style.brightness))
        events.append(Event(time_s + ECHO_STEPS * step_s, voice, dur_s, ECHO_GAIN * velocity, (note,), tone=style.brightness))
    return events


def _scaled(events: list[Event], gain: float) -> list[Event]:
    return [Event(e.time_s, e.voice, e.dur_s, e.gain * gain, e.pitches, e.variant, e.tone, e.kit) for e in events]


def bar_events(style: Style, seed: int, bar: int) -> list[Event]:
    """Every sound of ``bar`` (0-based; none before 0): a pure function of its arguments."""
    return [] if bar < 0 else list(_bar_events(style, seed, bar))


@lru_cache(maxsize=BAR_CACHE)
def _bar_events(style: Style, seed: int, bar: int) -> tuple[Event, ...]:
    where = form.place(seed, bar)
    parts: Arrangement = form.arrangement(where, style.band)
    style = replace(style, brightness=float(np.clip(style.brightness + parts.tone, 0.0, 1.0)))
    degree = chord_degree(style, seed, bar)
    events = drum_events(style, seed, bar, where, parts)
    if parts.bass:
        events += _bass_events(style, seed, bar, degree, where, parts.two_feel)
    if parts.keys:
        events += _keys_events(style, seed, bar, degree, parts.keys_octave)
    if parts.pad and (style.keys is not KeysStyle.PAD or style.band is Band.ROCK or not parts.keys):
        events += _keys_events(replace(style, keys=KeysStyle.PAD, band=Band.SYNTH), seed, bar, degree)
    if parts.lead:
        events += _lead_events(style, seed, bar, degree, where)
    if style.band is Band.LOFI:  # the record's crackle, under everything
        events.append(Event(0.0, Voice.VINYL, bar_seconds(style), 1.0, variant=bar % VINYL_TAKES))
    return tuple(_scaled(events, form.gain(parts.level_db)))
