"""The synth composes: keys that state themselves, form on 8-bar lines, dynamics, a kit per genre."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from riffcast.generation import form, harmony, kits
from riffcast.generation.compose import bar_events, bar_seconds, chord_degree
from riffcast.generation.form import Section
from riffcast.generation.grid import DRUMS, Voice, step_time
from riffcast.generation.style import GENRES, Kit, Mode, Style, style_from_prompt
from riffcast.generation.voices import render_audio

SR = 44100
SEEDS = range(6)


def pitch_classes(style: Style, seed: int, bars: range, voices: frozenset[Voice] | None = None) -> set[int]:
    return {p % 12 for bar in bars for e in bar_events(style, seed, bar)
            if e.voice not in DRUMS and (voices is None or e.voice in voices) for p in e.pitches}


# --------------------------------------------------------------------------- harmony


@pytest.mark.parametrize("text", ["house in A minor", "lofi hip hop in C# minor", "drum and bass in F minor", "ambient in E minor"])
def test_minor_keys_cadence_v_to_i_with_the_leading_tone_on_the_8_bar_line(text):
    style = style_from_prompt(text)
    assert style.mode is Mode.MINOR
    leading_tone = (style.root + harmony.LEADING_TONE) % 12
    for seed in SEEDS:
        for phrase in range(0, 200, 8):
            assert chord_degree(style, seed, phrase + 7) == harmony.DOMINANT  # a phrase's last bar is V …
            assert chord_degree(style, seed, phrase + 8) == 0  # … resolving onto i on the next 8-bar line
        chords = pitch_classes(style, seed, range(8, 88), frozenset({Voice.PAD, Voice.KEYS, Voice.PLUCK, Voice.PIANO}))
        assert leading_tone in chords  # harmonic minor's V, not the relative major's III


def test_every_progression_starts_on_the_tonic_ends_on_its_turnaround_and_holds_no_chord_too_long():
    for table in (harmony.MOVING, harmony.HELD):
        for mode, progressions in table.items():
            for chords in progressions:
                assert len(chords) == harmony.PHRASE_BARS and chords[0] == 0
                assert chords[-1] == harmony.CADENCE_DEGREE[mode] != chords[-2 if table is harmony.MOVING else -3], (mode, chords)
                runs = [len(list(group)) for group in np.split(np.array(chords), np.flatnonzero(np.diff(chords)) + 1)]
                assert max(runs) <= harmony.MAX_CHORD_BARS


def test_minor_v_chord_has_the_leading_tone_and_major_keys_stay_diatonic():
    a_minor_v = harmony.chord_pitches(9, Mode.MINOR, 48, harmony.DOMINANT, 3)
    assert [p % 12 for p in a_minor_v] == [4, 8, 11]  # E G# B: E major, not E minor
    c_major = {p % 12 for d in range(7) for p in harmony.chord_pitches(0, Mode.MAJOR, 48, d, 4)}
    assert c_major == {0, 2, 4, 5, 7, 9, 11}


@pytest.mark.parametrize("text, root, mode, scale", [
    ("funk in D dorian", 2, Mode.DORIAN, {2, 4, 5, 7, 9, 11, 0}),
    ("mixolydian rock in G", 7, Mode.MIXOLYDIAN, {7, 9, 11, 0, 2, 4, 5}),
    ("ambient in F lydian", 5, Mode.LYDIAN, {5, 7, 9, 11, 0, 2, 4}),
])
def test_modes_named_in_a_prompt_are_played(text, root, mode, scale):
    style = style_from_prompt(text)
    assert (style.root, style.mode) == (root, mode)
    assert pitch_classes(style, 3, range(0, 64)) <= scale
    characteristic = (root + harmony.SCALES[mode][{Mode.DORIAN: 5, Mode.MIXOLYDIAN: 6, Mode.LYDIAN: 3}[mode]]) % 12
    assert characteristic in pitch_classes(style, 3, range(0, 64))


@pytest.mark.parametrize("root", range(12))
def test_drums_are_tuned_to_the_tonic(root):
    style = replace(style_from_prompt("rock"), root=root)
    tuned = [e for bar in range(8, 40) for e in bar_events(style, 1, bar) if e.voice in (Voice.KICK, Voice.SNARE)]
    assert tuned and all(len(e.pitches) == 1 and e.pitches[0] % 12 == root for e in tuned)


# --------------------------------------------------------------------------- form


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_sections_start_on_8_bar_lines_and_every_kind_comes_round(seed):
    seen = set()
    for bar in range(0, 1200):
        where = form.place(seed, bar)
        if where.bar == 0:
            assert bar % 8 == 0
        assert where.bars % 8 == 0 and 0 <= where.bar < where.bars
        seen.add(where.section)
    assert seen == set(Section)
    assert form.place(seed, 0).section is Section.INTRO


def _bars(seed: int, section: Section, count: int = 2) -> list[int]:
    return [bar for bar in range(8, 600) if form.place(seed, bar).section is section][:count]


def test_breakdown_drops_drums_holds_the_bass_and_is_quieter_than_the_drop():
    style = style_from_prompt("deep house in G minor")
    breakdown, drop = _bars(0, Section.BREAKDOWN, 4)[2], _bars(0, Section.DROP, 4)[2]
    events_in = {bar: bar_events(style, 0, bar) for bar in (breakdown, drop)}
    voices_in = {bar: {e.voice for e in events} for bar, events in events_in.items()}
    assert not voices_in[breakdown] & {Voice.KICK, Voice.SNARE}
    assert {Voice.KICK, Voice.BASS} <= voices_in[drop]
    bass_onsets = [{round(e.time_s, 3) for e in events_in[bar] if e.voice is Voice.BASS} for bar in (breakdown, drop)]
    assert bass_onsets[0] == {0.0, round(bar_seconds(style) / 2, 3)} and len(bass_onsets[1]) > 2  # roots in half notes, then the line
    bar_samples = bar_seconds(style) * SR

    def rms_db(bar: int) -> float:
        audio = render_audio(style, 0, round(bar * bar_samples), round(bar_samples), SR)
        return 10 * np.log10(np.mean(audio.astype(np.float64) ** 2))

    assert rms_db(drop) - rms_db(breakdown) >= 8.0


def test_builds_rise_and_fills_and_crashes_mark_section_ends():
    style = style_from_prompt("rock in E minor")
    build = _bars(0, Section.BUILD, 8)
    levels = [form.arrangement(form.place(0, bar)).level_db for bar in build]
    assert levels == sorted(levels) and levels[-1] - levels[0] >= 4.0
    for bar in range(8, 400):
        where = form.place(0, bar)
        voices = {e.voice for e in bar_events(style, 0, bar)}
        if where.last_bar and where.next is not Section.BREAKDOWN and where.section not in (Section.BREAKDOWN, Section.BUILD):
            assert Voice.TOM in voices, bar  # a fill into the next section
        if where.bar == 0 and where.section not in (Section.INTRO, Section.BREAKDOWN):
            assert Voice.CRASH in voices, bar


def test_parts_enter_and_leave_with_the_sections():
    style = style_from_prompt("lofi hip hop")
    lead = {Voice.BELL}
    a, b = _bars(0, Section.A, 16), _bars(0, Section.B, 16)
    assert not any(lead & {e.voice for e in bar_events(style, 0, bar)} for bar in [*range(8), *a])  # no melody yet
    assert any(lead & {e.voice for e in bar_events(style, 0, bar)} for bar in b)  # B brings it in


def test_bass_lines_are_layered_over_a_held_sub_except_in_lofi_and_jazz():
    """A produced bass: the line without its fundamental over a steady sine at the chord's root, held for
    the whole chord (a restruck low note smears its pitch over the semitones around it)."""
    from riffcast.generation.grid import LAYERED
    from riffcast.generation.voices import _waveform

    house = style_from_prompt("deep house in A minor")
    bar = _bars(0, Section.A, 1)[0]
    events = bar_events(house, 0, bar)
    held = [e for e in events if e.voice is Voice.SUB]
    line = [e for e in events if e.voice is Voice.BASS]
    assert len(held) == 1 and held[0].variant == LAYERED and held[0].dur_s >= bar_seconds(house)
    assert line and all(e.variant == LAYERED for e in line)
    note = line[0].pitches
    for voice in (Voice.SUB, Voice.BASS):
        spectra = [np.abs(np.fft.rfft(_waveform(voice, note, 1.0, 0.5, variant, SR)[: SR // 2])) for variant in (0, LAYERED)]
        f0 = round(0.5 * 440.0 * 2.0 ** ((note[0] - 69) / 12))  # the fundamental's bin (0.5 s: 2 Hz bins)
        if voice is Voice.SUB:  # held: as loud at its end as at its start; plucked: decayed
            plucked, steady = (_waveform(voice, note, 1.0, 0.5, v, SR) for v in (0, LAYERED))
            assert np.abs(steady[-SR // 5:-SR // 10]).max() > 0.9 and np.abs(plucked[-SR // 5:-SR // 10]).max() < 0.4
        else:  # the line's layer leaves its fundamental to the sub
            assert spectra[1][f0 - 2:f0 + 3].max() < 0.5 * spectra[0][f0 - 2:f0 + 3].max()
    for genre in ("lofi", "jazz"):
        style = style_from_prompt(genre)
        assert not any(e.variant == LAYERED for e in bar_events(style, 0, bar) if e.voice in (Voice.SUB, Voice.BASS))


def test_lofi_sections_differ_in_their_parts():
    """Lofi's own form: muffled keys alone, then the beat; a breakdown of keys and melody without it; a
    build of beat and bass alone; a drop with everything (its comping keys would otherwise make every section alike)."""
    style = style_from_prompt("lofi hip hop")

    def heard(section: Section, bars: int) -> set[Voice]:
        return {e.voice for bar in _bars(0, section, bars) for e in bar_events(style, 0, bar)}

    intro = {e.voice for bar in range(8) for e in bar_events(style, 0, bar)}
    keys, chords, beat = Voice.KEYS, Voice.PAD, {Voice.KICK, Voice.SNARE}
    assert keys in intro and not (beat | {Voice.BASS}) & intro
    assert keys in heard(Section.A, 16) and beat <= heard(Section.A, 16)
    assert {keys, Voice.BELL} <= heard(Section.BREAKDOWN, 8) and not beat & heard(Section.BREAKDOWN, 8)
    assert keys not in heard(Section.BUILD, 8) and beat <= heard(Section.BUILD, 8)
    assert {keys, chords, Voice.BELL, Voice.BASS} | beat <= heard(Section.DROP, 16)
    rock_build = {e.voice for bar in _bars(0, Section.BUILD, 8) for e in bar_events(style_from_prompt("rock"), 0, bar)}
    assert Voice.GUITAR in rock_build  # other genres keep their chords in the build


# --------------------------------------------------------------------------- feel, kits, determinism


def test_drum_timing_is_humanised_by_the_kit_downbeats_stay_on_the_line():
    acoustic, electronic = style_from_prompt("rock"), style_from_prompt("techno")
    for style, loose in ((acoustic, True), (electronic, False)):
        offsets = []
        for bar in range(8, 24):
            hits = [e for e in bar_events(style, 5, bar) if e.voice in (Voice.KICK, Voice.SNARE, Voice.HAT)]
            offsets += [min(abs(e.time_s - step_time(style, s)) for s in range(16)) for e in hits]
            assert any(e.voice is Voice.KICK and e.time_s == 0.0 for e in hits)  # the downbeat is exact
        limit = kits.KITS[style.kit].looseness_s + 1e-9
        assert max(offsets) <= limit
        assert bool(max(offsets) > 0.002) is loose


def test_each_genre_family_has_its_own_kit_and_the_kits_sound_different():
    kit_of = {genre: style_from_prompt(genre).kit for genre in ("trap", "rock", "jazz", "jungle", "techno", "lofi", "metal")}
    assert kit_of == {"trap": Kit.EIGHT_OH_EIGHT, "rock": Kit.ACOUSTIC, "jazz": Kit.BRUSHED, "jungle": Kit.BREAKBEAT,
                      "techno": Kit.ELECTRONIC, "lofi": Kit.BREAKBEAT, "metal": Kit.METAL}
    assert len({style.kit for style in GENRES.values()}) == len(Kit)
    snares = [kits.snare(kit, 57, SR, 0)[: int(0.2 * SR)] for kit in Kit]
    kicks = [kits.kick(kit, 33, SR)[: int(0.2 * SR)] for kit in Kit]
    for sounds in (snares, kicks):
        for i in range(len(sounds)):
            for j in range(i + 1, len(sounds)):
                assert np.linalg.norm(sounds[i] - sounds[j]) > 0.1 * np.linalg.norm(sounds[i])


def test_genres_get_their_own_instruments():
    voices = {genre: {e.voice for bar in range(8, 80) for e in bar_events(style_from_prompt(genre), 0, bar)}
              for genre in ("jazz", "rock", "house")}
    assert {Voice.UPRIGHT, Voice.PIANO} <= voices["jazz"]
    assert Voice.GUITAR in voices["rock"]
    assert Voice.PLUCK in voices["house"]


def test_composition_is_deterministic_for_a_seed():
    style = style_from_prompt("jazz in Bb major")
    first = [bar_events(style, 9, bar) for bar in range(0, 80)]
    from riffcast.generation import compose

    compose._bar_events.cache_clear()
    form.place.cache_clear()
    assert [bar_events(style, 9, bar) for bar in range(0, 80)] == first
    assert [bar_events(style, 10, bar) for bar in range(0, 80)] != first
    start = 37 * SR
    assert np.array_equal(render_audio(style, 9, start, SR), render_audio(style, 9, start, SR))


# --------------------------------------------------------------------------- section lines heard (issue 26)


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_no_section_follows_one_of_its_own_kind(seed):
    starts = [form.place(seed, bar) for bar in range(0, 3000, 8) if form.place(seed, bar).bar == 0]
    assert all(a.section is not b.section for a, b in zip(starts, starts[1:]))
    assert all(form.place(seed, bar).next is form.place(seed, bar + 1).section
               for bar in range(0, 3000) if form.place(seed, bar).last_bar)


def test_each_section_changes_a_part_on_its_first_bar():
    """Parts enter or leave on the line itself: the bass after the intro, the bass line and the ride in
    B, the whole band on a build's first bar (nothing new on its 4-bar line)."""
    style = style_from_prompt("rock")

    def voices(bar: int) -> set[Voice]:
        return {e.voice for e in bar_events(style, 0, bar)}

    assert Voice.BASS not in voices(7) and Voice.BASS in voices(8)
    a, b = _bars(0, Section.A, 16)[-1], _bars(0, Section.B, 1)[0]
    assert Voice.RIDE not in voices(a) and {Voice.RIDE, Voice.SAW} <= voices(b)
    build = _bars(0, Section.BUILD, 8)
    assert set().union(*map(voices, build[:4])) - {Voice.CRASH} == set().union(*map(voices, build[4:]))


@pytest.mark.parametrize("root", range(12))
def test_lofi_bass_moves_around_its_tonic(root):
    notes = [harmony.bass_pitch(root, Mode.MINOR, 33, degree, around_tonic=True) for degree in range(7)]
    assert max(notes) - min(notes) < 12 and min(notes) < notes[0] < max(notes)


@pytest.mark.parametrize("text", ["deep house", "techno", "disco"])
def test_a_club_track_filters_its_a_and_opens_the_filters_on_b(text):
    """Its B differs from its A by more than the melody and the bass line (deep house's A → B line was not heard)."""
    style = style_from_prompt(text)

    def tones(section: Section) -> set[float]:
        return {e.tone for bar in _bars(0, section, 16) for e in bar_events(style, 0, bar)
                if e.voice in (Voice.KICK, Voice.PLUCK, Voice.PAD)}  # the drums and the chords

    assert max(tones(Section.A)) <= style.brightness - 0.25 and min(tones(Section.B)) >= min(style.brightness + 0.25, 1.0)
    assert max(tones(Section.A)) < min(tones(Section.B))


def test_jazz_piano_comps_an_octave_higher_in_a_than_in_b():
    """A register change of the comping on the A ↔ B lines (jazz's bars 136 and 152 were not heard: its walking bass
    and melody move every beat, so parts alone made too little a step)."""
    style = style_from_prompt("jazz")

    def mean_pitch(section: Section) -> float:
        return float(np.mean([p for bar in _bars(0, section, 16) for e in bar_events(style, 0, bar)
                              if e.voice is Voice.PIANO for p in e.pitches]))

    assert 9.0 <= mean_pitch(Section.A) - mean_pitch(Section.B) <= 15.0
    assert abs(mean_pitch(Section.DROP) - mean_pitch(Section.B)) <= 3.0


def test_jazz_keeps_time_on_the_hi_hat_in_a_on_the_ride_in_b_and_back_on_the_hi_hat_in_its_shout_chorus():
    style = style_from_prompt("jazz")

    def cymbals(section: Section) -> set[Voice]:
        return {e.voice for bar in _bars(0, section, 16) for e in bar_events(style, 0, bar)} & {Voice.HAT, Voice.RIDE}

    assert cymbals(Section.A) == {Voice.HAT} and Voice.RIDE in cymbals(Section.B) and cymbals(Section.DROP) == {Voice.HAT}
    rock = {e.voice for bar in _bars(0, Section.DROP, 16) for e in bar_events(style_from_prompt("rock"), 0, bar)}
    assert Voice.OPEN_HAT in rock  # other drops keep their open hats
