"""The synth honours the musical controls (tempo, key, brightness, drums and bass), and lands a
transition's change on the beat grid: a tempo or key change on the next bar line, a seed change
on a phrase line, the new tempo's bars anchored there so the beat goes on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from riffcast.dsp.codec import mel_from_pixels
from riffcast.dsp.mel import hz_to_mel, mel_to_hz
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.changes import ENTER_MIN_S, RING_S, Change, bar_start, change_at, change_point, render_across
from riffcast.generation.controls import BASS_VOICES, audible, transition_styles
from riffcast.generation.grid import DRUMS, Voice, bar_seconds
from riffcast.generation.style import Mode, style_for_target
from riffcast.generation.synth import SynthGenerator
from riffcast.generation.types import BarGrid, ImageRequest, PaintedImage
from riffcast.generation.voices import mix_events, placed_events, render_audio
from riffcast.pipeline.producer import ImageProducer
from riffcast.steering.targets import Part, Target
from riffcast.steering.walk import Landing, Walk

SR = P.sample_rate
BLANK = np.zeros((P.n_mels, P.chunk_columns), dtype=np.uint8)
PAINTED = np.repeat((np.arange(P.n_mels) % 200).astype(np.uint8)[:, None], P.chunk_columns, axis=1)
CENTRES_HZ = mel_to_hz(np.linspace(hz_to_mel(P.f_min_hz), hz_to_mel(P.f_max_hz), P.n_mels + 2))[1:-1]


def test_bpm_and_key_fields_win_over_the_prompt_and_the_prompt_rules_when_they_are_null():
    worded = Target.from_text("house music 124 bpm in F minor")
    assert (style_for_target(worded).tempo_bpm, style_for_target(worded).root, style_for_target(worded).mode) == (
        124.0, 5, Mode.MINOR)
    asked = replace(worded, bpm=93.5, key="D major")
    style = style_for_target(asked)
    assert (style.tempo_bpm, style.root, style.mode) == (93.5, 2, Mode.MAJOR)
    assert bar_seconds(style) == pytest.approx(4 * 60 / 93.5)


def test_the_key_sets_the_notes_played():
    style = style_for_target(Target.from_text("synthwave", key="Eb minor"))
    pitches = {p % 12 for _, e in placed_events(style, 1, range(8, 16), bar_seconds(style) * SR, SR)
               for p in e.pitches if e.voice not in DRUMS}
    eb_harmonic_minor = {(3 + step) % 12 for step in (0, 2, 3, 5, 7, 8, 10, 11)}
    assert pitches and pitches <= eb_harmonic_minor


@pytest.mark.parametrize(("drums", "bass", "heard"), [
    (Part.OFF, Part.ON, lambda v: v not in DRUMS), (Part.ONLY, Part.ON, lambda v: v in DRUMS),
    (Part.ON, Part.OFF, lambda v: v not in BASS_VOICES), (Part.ON, Part.ONLY, lambda v: v in BASS_VOICES),
    (Part.ONLY, Part.ONLY, lambda v: v in DRUMS | BASS_VOICES), (Part.OFF, Part.OFF, lambda v: v not in DRUMS | BASS_VOICES),
])
def test_drums_and_bass_are_muted_or_soloed(drums, bass, heard):
    style = style_for_target(Target.from_text("rock", drums=drums, bass=bass))
    assert all(audible(voice, style) == heard(voice) for voice in Voice)
    voices = {e.voice for _, e in placed_events(style, 2, range(8, 12), bar_seconds(style) * SR, SR)}
    assert voices and all(heard(voice) for voice in voices)


def _centroid_hz(image: np.ndarray) -> float:
    spectrum = mel_from_pixels(image, P).astype(np.float64).sum(axis=1)
    return float((CENTRES_HZ * spectrum).sum() / spectrum.sum())


def test_brightness_moves_the_spectral_centroid_up_step_by_step():
    synth = SynthGenerator()
    centroids = []
    for brightness in (-1.0, 0.0, 1.0):
        target = Target.from_text("lofi hip hop", brightness=brightness)
        request = ImageRequest(target, target, 0.0, BLANK, keep_columns=448, start_column=3 * 512)
        centroids.append(_centroid_hz(synth.paint(request).image[:, 448:]))
    assert centroids[0] + 100 < centroids[1] < centroids[2] - 100


def _tempo_change(bpm: float = 100.0, new_bpm: float = 130.0) -> tuple[ImageRequest, tuple, tuple]:
    start, end = Target.from_text("house music", bpm=bpm, seed=3), Target.from_text("house music", bpm=new_bpm, seed=3)
    request = ImageRequest(start, end, 0.75, BLANK, start_column=1536, transition_column=1024, switch_column=1950,
                           end_column=2560, grid=BarGrid(0, 0))
    before, after = transition_styles(request)
    return request, (before, 3), (after, 3)


def test_a_tempo_change_lands_on_the_first_bar_line_at_or_after_the_switch_and_the_count_goes_on():
    request, (before, _), (after, _) = _tempo_change()
    change = change_point(before, after, request.grid, request.switch_column * P.hop_samples, SR)
    bar = bar_seconds(before) * SR
    assert change.sample == round(change.bar * bar) and request.switch_column * P.hop_samples <= change.sample < request.switch_column * P.hop_samples + bar
    assert change.bar % 8 != 0  # a bar line, not held back to a phrase line
    assert bar_start(change, after, change.bar + 1, SR) - change.sample == round(bar_seconds(after) * SR)


def test_a_seed_change_lands_on_a_phrase_line_inside_the_transition():
    style = style_for_target(Target.from_text("house music", bpm=120))  # bars of 2 s: a phrase is 16 s
    switch, start, end = 15 * SR, 5 * SR, 25 * SR
    change = change_point(style, style, BarGrid(0, 0), switch, SR, transition_sample=start, end_sample=end)
    assert (change.bar, change.sample) == (8, 16 * SR)
    change = change_point(style, style, BarGrid(0, 0), 17 * SR, SR, transition_sample=start, end_sample=end)
    assert change.bar == 8  # the phrase line after it (bar 16, 32 s) is past the end: the one before
    change = change_point(style, style, BarGrid(4 * SR, 2), 17 * SR, SR, transition_sample=16 * SR + 1, end_sample=19 * SR)
    assert change.bar == 9  # no phrase line in the transition: the next bar line


def test_before_the_change_the_old_song_plays_on_and_after_it_the_new_tempo_from_the_bar_line():
    request, before, after = _tempo_change()
    change = change_point(before[0], after[0], request.grid, request.switch_column * P.hop_samples, SR)
    lo, hi = change.sample - 2 * SR, change.sample + 3 * SR
    across = render_across(before, request.grid, after, Change(change.sample, change), lo, hi - lo, SR)
    old = render_audio(before[0], 3, lo, hi - lo, SR)
    assert np.array_equal(across[: change.sample - lo], old[: change.sample - lo])  # held notes are not cut early
    kicks = sorted(p for p, e in placed_events(after[0], 3, range(change.bar, change.bar + 2),
                                              bar_seconds(after[0]) * SR, SR, change) if e.voice is Voice.KICK)
    assert kicks[0] - change.sample < 0.01 * SR  # the new tempo's first downbeat is the bar line
    beat = round(60 / after[0].tempo_bpm * SR)
    assert abs(kicks[1] - kicks[0] - beat) <= 1 or (kicks[1] - kicks[0]) % beat <= 1
    tail = across[change.sample - lo + round(RING_S * SR) + 64:]
    new_only = render_across(after, change, after, Change(change.sample, change), change.sample + round(RING_S * SR) + 64,
                             tail.size, SR)
    assert np.allclose(tail, new_only, atol=1e-6)  # the old notes have rung out


def test_changes_are_deterministic_and_windows_join_exactly():
    request, before, after = _tempo_change()
    change = change_at(before[0], after[0], request.grid, SR, transition_sample=request.transition_column * P.hop_samples,
                     switch_sample=request.switch_column * P.hop_samples)
    whole = render_across(before, request.grid, after, change, change.at_sample - SR, 2 * SR, SR)
    halves = [render_across(before, request.grid, after, change, change.at_sample - SR + k * SR, SR, SR) for k in (0, 1)]
    assert np.array_equal(np.concatenate(halves), whole)
    synth = SynthGenerator()
    first, second = synth.paint(request), synth.paint(request)
    assert np.array_equal(first.image, second.image) and first.next_grid == second.next_grid == change.grid


def test_a_steer_that_keeps_time_lands_on_the_first_beat_and_one_that_does_not_on_the_first_bar_line():
    grid, rate = BarGrid(0, 0), SR
    house = style_for_target(Target.from_text("house music", bpm=120, key="A minor"))  # beats of 0.5 s, bars of 2 s
    organ = style_for_target(Target.from_text("jazz organ", bpm=120, key="A minor"))
    assert house != organ and (house.tempo_bpm, house.root, house.mode) == (organ.tempo_bpm, organ.root, organ.mode)
    change = change_at(house, organ, grid, rate, transition_sample=5 * SR + 1, switch_sample=8 * SR)
    assert change.at_sample == round(5.5 * SR) and change.grid == BarGrid(4 * SR, 2) and not change.on_bar_line
    faster = style_for_target(Target.from_text("house music", bpm=128, key="A minor"))
    change = change_at(house, faster, grid, rate, transition_sample=5 * SR + 1, switch_sample=8 * SR)
    assert change.at_sample == 6 * SR and change.grid == BarGrid(6 * SR, 3) and change.on_bar_line
    other_key = style_for_target(Target.from_text("house music", bpm=120, key="F# major"))
    assert change_at(house, other_key, grid, rate, transition_sample=5 * SR + 1, switch_sample=8 * SR).at_sample == 6 * SR
    seed_only = change_at(house, house, grid, rate, transition_sample=5 * SR, switch_sample=15 * SR, end_sample=25 * SR)
    assert seed_only.at_sample == 16 * SR  # the walk's seed change: a phrase line, as before
    entry = change_at(house, organ, grid, rate, transition_sample=5 * SR + 1, switch_sample=8 * SR, landing=Landing.BAR)
    assert entry.at_sample == 6 * SR and entry.on_bar_line  # a playlist entry: the first bar line


def test_across_a_change_on_a_beat_the_old_bar_plays_up_to_it_and_the_new_part_from_it_its_held_notes_entering_on_it():
    start = Target.from_text("house music", bpm=120, key="A minor", seed=3)
    end = Target.from_text("techno", bpm=120, key="A minor", seed=5)
    request = ImageRequest(start, end, 0.25, BLANK, start_column=1024, transition_column=1024, switch_column=1536,
                           end_column=2048, grid=BarGrid(0, 0))
    before, after = transition_styles(request)
    change = change_at(before, after, request.grid, SR, transition_sample=1024 * P.hop_samples, switch_sample=1536 * P.hop_samples)
    assert not change.on_bar_line and change.at_sample % round(0.5 * SR) in (0, 1, round(0.5 * SR) - 1)
    lo, hi = change.at_sample - 2 * SR, change.at_sample + 3 * SR
    across = render_across((before, 3), request.grid, (after, 5), change, lo, hi - lo, SR)
    split = change.at_sample - round(0.03 * SR) - lo
    old = render_audio(before, 3, lo, hi - lo, SR)
    assert np.array_equal(across[:split], old[:split])  # the old song up to the beat
    ring = change.at_sample + round(RING_S * SR) + 64 - lo
    bars = range(change.grid.bar, change.grid.bar + 4)
    placed = placed_events(after, 5, bars, bar_seconds(after) * SR, SR, change.grid)
    new = [(position, event) for position, event in placed if position >= split + lo]
    assert new and min(position for position, _ in new) - change.at_sample < 0.01 * SR  # the new part from the beat
    held = [(position, event) for position, event in placed if position < split + lo and event.voice not in DRUMS
            and position + event.dur_s * SR - change.at_sample >= ENTER_MIN_S * SR]
    assert held  # the new part's chords, begun at its bar line, still sound at the beat: they enter on it
    entering = [(change.at_sample, replace(event, dur_s=event.dur_s - (change.at_sample - position) / SR))
                for position, event in held]
    expected = mix_events(new + entering, lo + ring, hi - lo - ring, SR)
    assert np.allclose(across[ring:], expected, atol=1e-5)  # then it alone
    assert not np.allclose(across[ring:], mix_events(new, lo + ring, hi - lo - ring, SR), atol=1e-3)
    halves = [render_across((before, 3), request.grid, (after, 5), change, lo + k * SR, SR, SR) for k in (0, 1)]
    assert np.array_equal(np.concatenate(halves), across[: 2 * SR])  # windows join exactly


def test_the_producer_carries_the_bar_grid_from_one_transition_to_the_next():
    seen: list[tuple[ImageRequest, BarGrid | None]] = []

    class Recording:
        """Reports the grid as the synth does (its images: :func:`test_changes_are_deterministic…`)."""

        name = "synth"

        def paint(self, request, should_stop=lambda: False):
            before, after = transition_styles(request)
            grid = change_point(before, after, request.grid, request.switch_column * P.hop_samples, SR,
                                transition_sample=request.transition_column * P.hop_samples,
                                end_sample=request.end_column * P.hop_samples)
            seen.append((request, grid))
            return PaintedImage(PAINTED, next_grid=grid)

    producer = ImageProducer(Recording(), Walk(Target.from_text("house music", bpm=100.0), transition_chunks=2), BLANK + 200)
    for index in range(6):
        if index == 2:
            producer.walk.steer(Target.from_text("house music", bpm=128.0), 2)
        producer.next_image()
    requests = [request for request, _ in seen]
    assert [r.switch_column for r in requests] == [512, 512, 1536, 1536, 2560, 2560]
    assert [r.end_column for r in requests] == [1024, 1024, 2048, 2048, 3072, 3072]
    steered = seen[2][1]  # 100 → 128 bpm: on the old grid's first bar line at or after column 1536
    old_bar = round(2.4 * SR)
    assert steered.sample % old_bar in (0, 1) and 1536 * P.hop_samples <= steered.sample < 1536 * P.hop_samples + old_bar
    assert requests[4].grid == steered  # the next transition's bars start where 128 bpm took over
