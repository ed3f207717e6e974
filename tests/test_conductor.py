"""The conductor (riffcast.dsp.conductor) on synthetic mel images — a click train at a known
tempo, a chord in a known key, steady tones and clicks for the stems — its place between painter
and stitcher, ``riffcast decode``'s control options, and CI's quick run of
``benchmarks/conductor.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from riffcast.dsp.codec import MelImage, audio_to_mel
from riffcast.dsp.conductor import Conductor, Controls, MusicalKey, Stem
from riffcast.dsp.conductor.key import band_centres_hz, chroma, estimate_key, semitones_to, shift_pitch
from riffcast.dsp.conductor.median import median_along_rows
from riffcast.dsp.conductor.stems import separate
from riffcast.dsp.conductor.tempo import estimate_beats, estimate_period, less_local_mean, onset_envelope, track_beats
from riffcast.dsp.conductor.tilt import apply_tilt
from riffcast.dsp.conductor.warp import BeatGrid
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.types import PaintedImage
from riffcast.pipeline.conducting import conducted_images, controls_of
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.producer import ImageProducer
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

from fakes import SEED_IMAGE, PatternGenerator

COLUMNS_PER_S = P.sample_rate / P.hop_samples
CENTRES_HZ = band_centres_hz(P)


def click_train(bpm: float, columns: int, first_column: float = 7.0) -> np.ndarray:
    """A mel image (512, columns): a quiet floor and a broadband click (decaying over 4 columns)
    on every beat of ``bpm`` from ``first_column`` on."""
    mel = np.full((P.n_mels, columns), 1e-3, np.float32)
    period = 60.0 * COLUMNS_PER_S / bpm
    for beat in np.arange(first_column, columns, period):
        at = int(round(beat))
        for k in range(4):
            if at + k < columns:
                mel[:, at + k] += 0.8 ** k
    return mel


def onset_columns(mel: np.ndarray) -> np.ndarray:
    """Columns where the click train's onsets are (a rise above half the largest)."""
    envelope = onset_envelope(mel)
    peaks = np.flatnonzero((envelope > 0.5 * envelope.max()) & (envelope >= np.roll(envelope, 1))
                           & (envelope >= np.roll(envelope, -1)))
    return peaks


def off_grid_columns(onsets: np.ndarray, grid: BeatGrid) -> np.ndarray:
    beats = grid.beat_at(onsets.astype(float))
    return np.abs(beats - np.round(beats)) * grid.period_columns


def test_tempo_and_phase_of_a_click_train():
    mel = click_train(97.0, 1536, first_column=20.0)
    beats = estimate_beats(onset_envelope(mel), 0, COLUMNS_PER_S, near_bpm=90.0)
    assert beats.bpm(COLUMNS_PER_S) == pytest.approx(97.0, rel=0.005)
    phase_error = (beats.origin_column - 20.0) % beats.period_columns
    assert min(phase_error, beats.period_columns - phase_error) <= 1.5
    doubled = estimate_beats(onset_envelope(mel), 0, COLUMNS_PER_S, near_bpm=190.0)
    assert doubled.bpm(COLUMNS_PER_S) == pytest.approx(194.0, rel=0.005)  # the octave nearest the ask


def test_fixed_width_warp_puts_every_beat_on_the_grid_across_joins():
    source = click_train(100.0, 4 * 512)
    conductor = Conductor(P)
    out = np.concatenate([conductor.conduct(source[:, i : i + 512], i, Controls(bpm=112.0)) for i in range(0, 2048, 512)],
                         axis=1)
    assert out.shape == source.shape
    grid = conductor.state.grid
    assert grid.period_columns == pytest.approx(6000.0 / 112.0)
    onsets = onset_columns(out)[4:]  # after the first beats (the estimate's first image)
    assert onsets.size >= 25
    assert np.max(off_grid_columns(onsets, grid)) <= 2.0  # 20 ms
    intervals = np.diff(onsets)
    assert np.median(intervals) == pytest.approx(6000.0 / 112.0, abs=1.0)


def test_stretch_changes_the_length_by_the_tempo_ratio():
    source = click_train(100.0, 4 * 512)
    conductor = Conductor(P)
    parts = [conductor.stretch(source[:, i : i + 512], Controls(bpm=90.0)) for i in range(0, 2048, 512)]
    out = np.concatenate(parts + [conductor.finish(Controls(bpm=90.0))], axis=1)
    assert out.shape[1] == pytest.approx(2048 * 100.0 / 90.0, rel=0.03)
    onsets = onset_columns(out)[3:]
    assert np.max(off_grid_columns(onsets, conductor.state.grid)) <= 2.0


def test_a_decode_holds_the_whole_source_s_tempo_where_one_image_alone_would_mislead():
    """The first image's clicks fall on every third beat only: alone, it reads as another tempo
    (its three-beat gaps would be stretched to four of the asked beats). A decode hears the whole
    source first: every image keeps its rhythm, and the length is the source's × the tempo ratio."""
    source = click_train(100.0, 4 * 512)
    source[:, :512] = click_train(100.0 / 3.0, 512)
    chunks = [MelImage(source[:, i : i + 512], 1.0) for i in range(0, 2048, 512)]
    out = np.concatenate([image.mel for image in conducted_images(chunks, Controls(bpm=120.0), P)], axis=1)
    assert out.shape[1] == pytest.approx(2048 * 100.0 / 120.0, rel=0.01)
    beat_columns = 6000.0 / 120.0
    onsets = onset_columns(out)
    assert np.diff(onsets[:3]) == pytest.approx([3 * beat_columns] * 2, abs=1.5)  # the sparse image: three beats apart
    assert np.diff(onsets[3:]) == pytest.approx([beat_columns] * (onsets.size - 4), abs=1.5)


def test_the_beat_is_chosen_among_four_in_three_too():
    """An onset envelope with an onset on every beat at 106.7 bpm and a stronger one every 4/3
    beat (a pulse of 80 bpm, whose autocorrelation is the best; its double, 160, is the beat's
    3:2): asked 114 bpm, the beat nearest it is 106.7 — not 160, which a decode then slowed by
    160 / 114 where 106.7 / 114 was asked, and which the judge, hearing the warped pulse at the
    ask, took for a pass (a SuperTuxKart piece did this)."""
    envelope = np.zeros(3000, np.float32)
    beat = 60.0 * COLUMNS_PER_S / 106.7
    for period, weight in ((beat, 1.0), (beat * 4.0 / 3.0, 1.5)):
        np.add.at(envelope, np.round(np.arange(0.0, 2999.0, period)).astype(int), weight)
    period, strength = estimate_period(envelope, COLUMNS_PER_S, near_bpm=114.0)
    assert strength > 0
    assert 60.0 * COLUMNS_PER_S / period == pytest.approx(106.7, rel=0.005)


def drifting_clicks(columns: int, first_bpm: float, last_bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """A click train whose tempo glides from ``first_bpm`` to ``last_bpm`` → (the mel image, the
    clicks' columns)."""
    mel = np.full((P.n_mels, columns), 1e-3, np.float32)
    clicks, at = [], 7.0
    while at < columns - 4:
        clicks.append(at)
        bpm = first_bpm + (last_bpm - first_bpm) * at / columns
        at += 60.0 * COLUMNS_PER_S / bpm
    for click in clicks:
        for k in range(4):
            mel[:, int(round(click)) + k] += 0.8 ** k
    return mel, np.asarray(clicks)


def test_a_decode_tracks_a_drifting_source_beat_by_beat_onto_the_grid():
    """A source gliding from 100 to 106 bpm over 30 s, decoded at 120: one period and phase for all
    of it slide off its beats by a quarter beat at the ends; tracked beat by beat, every beat of
    the output lands on the grid (within 20 ms), and the beats are counted right."""
    source, clicks = drifting_clicks(3072, 100.0, 106.0)
    beats = estimate_beats(onset_envelope(source), 0, COLUMNS_PER_S, near_bpm=120.0)
    uniform = beats.origin_column + np.round((clicks - beats.origin_column) / beats.period_columns) * beats.period_columns
    assert np.max(np.abs(clicks - uniform)) > 4.0  # one grid for all of it: 40 ms off and more
    tracked = track_beats(onset_envelope(source), beats.period_columns, 0)
    assert tracked.size == clicks.size
    assert np.max(np.abs(tracked - clicks)) <= 1.0
    chunks = [MelImage(source[:, i : i + 512], 1.0) for i in range(0, 3072, 512)]
    out = np.concatenate([image.mel for image in conducted_images(chunks, Controls(bpm=120.0), P)], axis=1)
    onsets = onset_columns(out)
    grid = BeatGrid(float(onsets[0]), 6000.0 / 120.0)
    assert onsets.size >= clicks.size - 1  # the first click is the output's first column: no rise seen there
    assert np.max(off_grid_columns(onsets, grid)) <= 2.0


def test_a_station_s_windows_hear_no_beat_at_the_window_s_width():
    """Noise conducted in 64-column windows (a station's) has no beat: the onset envelope the
    estimate reads is the whole stretch's, not one whose every window edge stands out (which read
    as 93.75 bpm, strength 0.88, in any music with few clear onsets)."""
    noise = np.random.default_rng(1).gamma(1.0, 0.01, size=(P.n_mels, 1536)).astype(np.float32)
    conductor = Conductor(P)
    for at in range(0, 1536, 64):
        conductor.conduct(noise[:, at : at + 64], at, Controls(bpm=120.0))
    assert np.array_equal(less_local_mean(conductor.state.flux), onset_envelope(noise))
    assert conductor.source_beats().strength < 0.2


@pytest.mark.parametrize("window_columns", [32, 7])
def test_windows_narrower_than_the_local_mean_conduct_a_click_train_onto_the_grid(window_columns):
    """`--window-columns 32` (and narrower): windows shorter than the flux's 0.5 s moving average."""
    assert Conductor(P).source_beats().strength == 0.0  # nothing heard yet: no beat, no error
    source = click_train(100.0, 1536)
    conductor = Conductor(P)
    out = np.concatenate([conductor.conduct(source[:, at : at + window_columns], at, Controls(bpm=112.0))
                          for at in range(0, 1536, window_columns)], axis=1)
    assert conductor.source_beats().bpm(COLUMNS_PER_S) == pytest.approx(100.0, rel=0.005)
    onsets = onset_columns(out)
    onsets = onsets[onsets >= 512]  # once an image's worth is heard (a tempo needs 4 s of onsets)
    assert onsets.size >= 15
    assert np.max(off_grid_columns(onsets, conductor.state.grid)) <= 2.0


def test_a_state_restored_conducts_the_same_again():
    source = click_train(120.0, 1536)
    conductor = Conductor(P)
    controls = Controls(bpm=126.0, brightness=0.5)
    conductor.conduct(source[:, :512], 0, controls)
    saved = conductor.state
    first = conductor.conduct(source[:, 512:1024], 512, controls)
    conductor.restore(saved)
    np.testing.assert_array_equal(conductor.conduct(source[:, 512:1024], 512, controls), first)


def chord_mel(frequencies_hz: tuple[float, ...], seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * P.sample_rate)) / P.sample_rate
    audio = sum(np.sin(2 * np.pi * f * t) / (1 + i) for i, f in enumerate(frequencies_hz))
    return audio_to_mel(audio.astype(np.float32), P)


A_MINOR_CHORDS = (110.0, 220.0, 261.63, 329.63, 440.0, 293.66, 349.23)  # A, C, E, with D and F under it


def test_key_of_a_chord_and_a_true_pitch_shift():
    mel = chord_mel(A_MINOR_CHORDS)
    assert estimate_key(chroma(mel, CENTRES_HZ)) == MusicalKey(9, True)
    up = shift_pitch(mel, 2, CENTRES_HZ)
    assert estimate_key(chroma(up, CENTRES_HZ)) == MusicalKey(11, True)  # B minor
    tone = chord_mel((440.0,))
    row = int(np.argmax(shift_pitch(tone, 3, CENTRES_HZ).mean(axis=1)))
    assert CENTRES_HZ[row] == pytest.approx(440.0 * 2 ** (3 / 12), rel=0.01)  # each row by its own bins
    with pytest.raises(ValueError, match="at most ±6"):
        shift_pitch(mel, 7, CENTRES_HZ)


def test_shift_to_an_asked_key_goes_the_short_way_and_keeps_the_mode():
    assert semitones_to(MusicalKey(9, True), MusicalKey(2, True)) == 5  # A minor → D minor: up 5
    assert semitones_to(MusicalKey(9, True), MusicalKey(4, True)) == -5  # → E minor: down 5
    assert semitones_to(MusicalKey(9, True), MusicalKey(2, False)) == 2  # → D major via C major


def test_conductor_shifts_to_the_asked_key():
    mel = np.tile(chord_mel(A_MINOR_CHORDS, 5.12), 1)
    conductor = Conductor(P)
    out = conductor.conduct(mel, 0, Controls(key=MusicalKey(7, True)))  # G minor: down 2
    assert conductor.found_key == MusicalKey(9, True)
    assert estimate_key(chroma(out, CENTRES_HZ)) == MusicalKey(7, True)


def test_tilt_is_smooth_and_pivots_at_1_khz():
    mel = np.ones((P.n_mels, 100), np.float32)
    out = apply_tilt(mel, CENTRES_HZ, 0.0, 3.0)
    high, low = np.argmin(np.abs(CENTRES_HZ - 8000)), np.argmin(np.abs(CENTRES_HZ - 125))
    assert out[high, 0] == pytest.approx(1.0) and out[low, 0] == pytest.approx(1.0)
    assert 20 * np.log10(out[high, -1]) == pytest.approx(9.0, abs=0.2)  # 3 octaves × 3 dB
    assert 20 * np.log10(out[low, -1]) == pytest.approx(-9.0, abs=0.2)
    assert np.all(np.diff(out[high]) >= 0)


def stems_mel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A steady 80 Hz bass, a steady 600 Hz tone and broadband clicks: (mel, bass rows, click columns)."""
    mel = np.full((P.n_mels, 512), 1e-4, np.float32)
    bass = np.abs(CENTRES_HZ - 80.0) < 6
    mel[bass] = 1.0
    mel[np.abs(CENTRES_HZ - 600.0) < 10] = 1.0
    clicks = np.arange(10, 512, 50)
    mel[:, clicks] += 1.0
    return mel, bass, clicks


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x.astype(np.float64) ** 2) + 1e-30))


def test_drums_and_bass_off_and_only():
    mel, bass, clicks = stems_mel()
    between = np.setdiff1d(np.arange(512), np.concatenate([clicks - 1, clicks, clicks + 1]))
    top = CENTRES_HZ > 2000  # only clicks up there
    drumless = separate(mel, CENTRES_HZ, Stem.OFF, Stem.ON)
    assert _db(mel[top][:, clicks]) - _db(drumless[top][:, clicks]) >= 3.0  # a click over silence: half taken
    assert _db(mel[bass][:, between]) - _db(drumless[bass][:, between]) <= 1.0  # the bass plays on
    bassless = separate(mel, CENTRES_HZ, Stem.ON, Stem.OFF)
    assert _db(mel[bass][:, between]) - _db(bassless[bass][:, between]) >= 15.0
    assert _db(mel[top][:, clicks]) - _db(bassless[top][:, clicks]) <= 1.0
    drums_alone = separate(mel, CENTRES_HZ, Stem.ONLY, Stem.ON)
    assert _db(mel[bass][:, between]) - _db(drums_alone[bass][:, between]) >= 12.0
    np.testing.assert_array_equal(separate(mel, CENTRES_HZ, Stem.ON, Stem.ON), mel)


def _synth_mel(prompt: str, **controls: str) -> np.ndarray:
    """The first 512 columns of the synth's song for ``prompt`` (seed 11, 104 bpm, B minor)."""
    from riffcast.generation.style import style_for_target
    from riffcast.generation.voices import render_audio

    target = Target.from_text(prompt, seed=11, bpm=104.0, key="B minor", **controls)
    audio = render_audio(style_for_target(target), target.seed, 0, 512 * P.hop_samples, P.sample_rate)
    return audio_to_mel(audio, P)[:, :512]


def _distance_db(mel: np.ndarray, reference: np.ndarray) -> float:
    return float(20 * np.log10(np.linalg.norm(mel - reference) / np.linalg.norm(reference)))


@pytest.mark.parametrize("prompt", ["funk", "rock", "jazz"])
def test_drums_off_comes_near_the_song_played_without_its_drums(prompt):
    """The synth's song (a seed none of benchmarks/drums_fit.py's pairs has) against the same song
    with its drums muted: ``drums off`` on the full song's mel lands much nearer the drumless one
    than the song itself, and than median filtering alone (the model's peer). Measured 2026-12-07:
    plain −1.0 / 0.7 / −11.1 dB, median filtering −2.9 / −1.3 / −10.8, the model −9.6 / −8.0 / −19.5."""
    from riffcast.dsp.conductor.hpss import percussive_mask

    full, drumless = _synth_mel(prompt), _synth_mel(prompt, drums="off")
    model = _distance_db(separate(full, CENTRES_HZ, Stem.OFF, Stem.ON), drumless)
    peer = _distance_db(full * (1.0 - percussive_mask(full)), drumless)
    assert model <= _distance_db(full, drumless) - 6.0
    assert model <= peer - 4.0


@pytest.mark.parametrize(("shape", "width"), [((40, 300), 31), ((3, 5), 31), ((1, 1), 3), ((6, 64), 7)])
def test_the_running_median_is_numpys_median_of_each_mirrored_window(shape, width):
    values = np.random.default_rng(1).random(shape).astype(np.float32)
    values[0, :4] = 0.5  # ties
    padded = np.pad(values, ((0, 0), (width // 2, width // 2)), mode="symmetric")  # d c b a | a b c d | d c b a
    expected = np.median(np.lib.stride_tricks.sliding_window_view(padded, width, axis=1), axis=-1)
    np.testing.assert_array_equal(median_along_rows(values, width), expected)


def test_the_running_median_refuses_an_even_width_and_values_that_are_not_finite():
    with pytest.raises(ValueError, match="odd"):
        median_along_rows(np.zeros((2, 8), np.float32), 4)
    with pytest.raises(ValueError, match="finite"):
        median_along_rows(np.full((2, 8), np.nan, np.float32), 3)


class HonestGenerator(PatternGenerator):
    honours_controls = True


@pytest.mark.parametrize("generator, conducted", [(PatternGenerator(), True), (HonestGenerator(), False)])
def test_the_producer_conducts_only_for_generators_that_ignore_the_controls(generator, conducted):
    def paint(request, should_stop=lambda: False):
        image = SEED_IMAGE.copy()
        image[:, ::60] = 0  # a click every 60 columns (black = loud)
        return PaintedImage(image, {})

    generator.paint = paint
    plain = ImageProducer(generator, Walk(Target.from_text("x")), SEED_IMAGE).next_image().image
    steered = ImageProducer(generator, Walk(Target.from_text("x", bpm=120.0, brightness=0.5)), SEED_IMAGE).next_image()
    assert (not np.array_equal(steered.image, plain)) == conducted
    assert steered.image.shape == plain.shape and steered.image.dtype == np.uint8


def test_the_producer_conducts_windows_and_a_rewind_conducts_the_same_again():
    generator = PatternGenerator()

    def paint(request, should_stop=lambda: False):
        image = request.init_image.copy()
        image[:, request.keep_columns :: 50] = 0  # clicks in the new columns
        return PaintedImage(image, {})

    generator.paint = paint
    producer = ImageProducer(generator, Walk(Target.from_text("x", bpm=132.0, key="E minor")), SEED_IMAGE,
                             layout=StreamLayout.windows(128))
    images = [producer.next_image().image for _ in range(6)]
    assert all(image.shape == (512, 512) and image.dtype == np.uint8 for image in images)
    producer.rewind(4)
    np.testing.assert_array_equal(producer.next_image().image, images[4])


def test_controls_of_a_target():
    controls = controls_of(Target.from_text("x", bpm=94.0, key="Bb minor", brightness=-0.5, drums="off", bass="only"))
    assert controls == Controls(94.0, MusicalKey(10, True), -0.5, Stem.OFF, Stem.ONLY)
    assert not controls_of(Target.from_text("x")).active


@pytest.mark.parametrize("option, message", [(["--bpm", "0"], "bpm must be in [40, 240]"),
                                             (["--key", "H minor"], "key must be a tonic"),
                                             (["--brightness", "3"], "brightness must be in [-1, 1]"),
                                             (["--drums", "maybe"], 'drums must be "on", "off" or "only"')])
def test_decode_refuses_bad_controls_in_one_line(tmp_path, capsys, option, message):
    from riffcast.cli import main
    from riffcast.dsp.codec import image_from_mel, save_png

    image = tmp_path / "in.png"
    save_png(image_from_mel(click_train(100.0, 512), P), image)
    assert main(["decode", str(image), "-o", str(tmp_path / "out.wav"), *option]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("riffcast decode: error:") and message in error and "\n" not in error
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.benchmark
def test_quick_conductor_benchmark():
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    run = subprocess.run([sys.executable, "conductor.py", "--quick"], cwd=benchmarks, capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in run.stdout.splitlines() if line.startswith("| ")}

    def row(start: str) -> str:
        return next(value for measure, value in rows.items() if measure.startswith(start))

    tempo_ok, asks = map(int, row("synth: tempo within 2 %").split()[0].split("/"))
    assert tempo_ok == asks, run.stdout
    # The shift asked is the shift heard (essentia: the source's key moved by it). Whether the conductor
    # *finds* the source key is the full run's figure (docs/controls.md): on this excerpt of the synth
    # since its bass sits over a held sub at the chord roots, it does not.
    heard, asked = map(int, row("synth: … the shift applied is heard").split()[0].split("/"))
    assert heard == asked >= 1, run.stdout
    # The synth sounds every beat: every join has an onset within 20 ms of each grid beat around it.
    held, joins = map(int, row("synth: joins with an onset").split()[0].split("/"))
    assert held == joins >= asks, run.stdout
    centroids = [float(c) for c in row("brightness").split("(")[0].split("/")]
    assert centroids == sorted(centroids) and len(set(centroids)) == 3, run.stdout
    assert float(row("bass off").split()[0]) >= 15.0, run.stdout


def test_a_station_s_windows_get_the_stems_the_whole_image_gets():
    """The station conducts ~80 columns at a time; the drum model's medians (31 wide) read the 15
    columns before each window from the conductor's source, so windowed ``drums off`` is the whole
    image's but for the last columns of each window (whose later neighbours are not painted yet)."""
    full = _synth_mel("funk")
    whole = separate(full, CENTRES_HZ, Stem.OFF, Stem.ON)
    conductor = Conductor(P)
    controls = Controls(None, None, 0.0, Stem.OFF, Stem.ON)
    windowed = np.concatenate([conductor.conduct(full[:, start : start + 80], start, controls)
                               for start in range(0, 480, 80)], axis=1)
    # Each window's columns but its last 16 (their later neighbours come with the next window):
    # −56 dB; −21 dB for the first 16 when the medians saw only the window (2026-12-07).
    read = np.concatenate([np.arange(start, start + 64) for start in range(80, 480, 80)])
    assert _distance_db(windowed[:, read], whole[:, read]) <= -40.0
