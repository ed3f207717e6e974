"""Tests for the built-in seed beds and ``load_seed`` (bed names, images, audio files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from riffcast.audio_io import write_audio
from riffcast.dsp.codec import audio_to_mel, image_from_mel, mel_from_pixels, pixels_from_mel, save_png
from riffcast.dsp.conductor.tempo import estimate_period, estimate_phase, onset_envelope
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.beats import BeatGrid
from riffcast.generation.compose import bar_events
from riffcast.generation.demo_music import render_demo_song
from riffcast.generation.seeds import (
    BED_SEED,
    BEDS,
    DEFAULT_BED,
    _bed_image,
    bed_audio,
    bed_beats_at,
    bed_image,
    bed_image_at,
    bed_style,
    describe_beds,
    load_seed,
)
from riffcast.generation.voices import mix_events

NAMES = [bed.name for bed in BEDS]


@pytest.mark.parametrize("bed", BEDS, ids=NAMES)
def test_bed_tempo_fills_a_chunk_with_whole_bars(bed):
    beats = bed.tempo_bpm * P.chunk_seconds / 60.0
    assert beats == pytest.approx(round(beats), abs=1e-9)
    assert round(beats) == bed.bars * bed.beats_per_bar


@pytest.mark.parametrize("name", NAMES)
def test_bed_image_is_a_deterministic_riffusion_image(name):
    image = bed_image(name)
    assert image.shape == (P.n_mels, P.chunk_columns) and image.dtype == np.uint8
    assert image.min() == 0 and image.max() > 200
    assert np.array_equal(image, _bed_image.__wrapped__(name, P))  # rendered again, uncached


def test_beds_sound_different():
    images = [bed_image(name).astype(float) for name in NAMES]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert np.mean(np.abs(images[i] - images[j])) > 5.0, (NAMES[i], NAMES[j])


@pytest.mark.parametrize("bed", BEDS, ids=NAMES)
def test_bed_loop_is_the_steady_state_of_its_own_repetition(bed):
    """One lap equals the middle lap of three laps mixed end to end: tails carry over the join."""
    loop = bed_audio(bed.name)
    assert loop.shape == (P.chunk_samples,)
    bar_samples = P.chunk_samples // bed.bars
    placed = [
        (lap * P.chunk_samples + bar * bar_samples + round(event.time_s * P.sample_rate), event)
        for lap in range(3)
        for bar in range(bed.bars)
        for event in bar_events(bed_style(bed.name), BED_SEED, bar)
    ]
    middle = mix_events(placed, P.chunk_samples, P.chunk_samples, P.sample_rate)
    assert np.allclose(loop, middle, atol=1e-6)
    twice = np.tile(loop, 2).astype(np.float64)
    assert abs(twice[P.chunk_samples] - twice[P.chunk_samples - 1]) <= np.max(np.abs(np.diff(loop)))


@pytest.mark.parametrize("name", NAMES)
def test_bed_image_edges_come_from_the_wrapped_loop(name):
    loop = bed_audio(name)
    thrice = audio_to_mel(np.tile(loop, 3), P)[:, P.chunk_columns : 2 * P.chunk_columns]
    assert np.max(np.abs(bed_image(name).astype(int) - pixels_from_mel(thrice, P))) <= 1
    image = bed_image(name).astype(float)
    wrap = np.mean(np.abs(image[:, 0] - image[:, -1]))
    inner = np.mean(np.abs(np.diff(image, axis=1)), axis=0)
    assert wrap <= np.percentile(inner, 99)


def test_every_bed_has_a_style_at_its_tempo_and_meter():
    assert DEFAULT_BED in NAMES
    for bed in BEDS:
        style = bed_style(bed.name)
        assert (style.tempo_bpm, style.beats_per_bar) == (bed.tempo_bpm, bed.beats_per_bar)


def test_load_seed_by_bed_name_is_a_writable_copy():
    seed = load_seed("boom-bap-94", P)
    original = int(seed[0, 0])
    assert np.array_equal(seed, bed_image("boom-bap-94"))
    seed[0, 0] = original ^ 1
    assert bed_image("boom-bap-94")[0, 0] == original  # the cached bed is not touched


def test_load_seed_from_a_png_keeps_its_pixels(tmp_path: Path):
    mel = audio_to_mel(render_demo_song(P.chunk_seconds, seed=2), P)
    path = tmp_path / "chunk.png"
    save_png(image_from_mel(mel, P), path)
    assert np.array_equal(load_seed(str(path), P), pixels_from_mel(mel, P))
    plain = tmp_path / "plain.png"  # greyscale, no metadata (as the model paints them)
    Image.fromarray(bed_image("dnb-188")).save(plain)
    assert np.array_equal(load_seed(str(plain), P), bed_image("dnb-188"))


def test_load_seed_from_a_short_wav_loops_it(tmp_path: Path):
    one_second = render_demo_song(1.0, seed=4)  # 44 100 samples = 100 columns
    path = tmp_path / "short.wav"
    write_audio(path, one_second, P.sample_rate)
    seed = load_seed(str(path), P)
    assert seed.shape == (P.n_mels, P.chunk_columns) and seed.dtype == np.uint8
    assert seed.min() == 0
    assert np.array_equal(seed[:, 10:400], seed[:, 110:500])  # one-second period


def test_load_seed_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_seed(str(tmp_path / "missing.png"), P)
    with pytest.raises(ValueError) as unknown:
        load_seed("polka-120", P)
    assert "polka-120" in str(unknown.value) and all(name in str(unknown.value) for name in NAMES)
    for width in (300, 600):
        narrow = tmp_path / f"w{width}.png"
        Image.fromarray(np.full((P.n_mels, width), 200, np.uint8)).save(narrow)
        with pytest.raises(ValueError, match=f"w{width}.png.*512×512"):
            load_seed(str(narrow), P)
    short = tmp_path / "short-chunk.png"  # a last chunk from `riffcast encode`: 177 real columns
    save_png(image_from_mel(np.ones((P.n_mels, 177), np.float32), P), short)
    with pytest.raises(ValueError, match="short-chunk.png.*177"):
        load_seed(str(short), P)
    garbage = tmp_path / "noise.wav"
    garbage.write_text("not audio")
    with pytest.raises(ValueError, match="noise.wav"):
        load_seed(str(garbage), P)


def test_describe_beds_lists_every_bed():
    table = describe_beds()
    assert len(table.splitlines()) == len(BEDS) + 1
    for bed in BEDS:
        assert bed.name in table and f"{bed.tempo_bpm:g} bpm" in table


# --- a bed at the asked tempo -----------------------------------------------------------------


def test_a_bed_at_its_own_tempo_is_the_bed_itself():
    bed = BEDS[0]
    np.testing.assert_array_equal(bed_image_at(bed.name, bed.tempo_bpm, 0), bed_image(bed.name))


@pytest.mark.parametrize("bpm", [84.0, 121.0])
def test_a_bed_at_an_asked_tempo_plays_at_it_from_the_stream_start(bpm):
    """Three chunks of the techno bed (140.625 bpm of its own) asked at another tempo: the onset
    envelope of the images repeats at the asked beat, and beat 1 falls on the stream's start."""
    columns_per_s = P.sample_rate / P.hop_samples
    mel = np.concatenate([mel_from_pixels(bed_image_at("techno-141", bpm, i * P.chunk_samples), P) for i in range(3)], axis=1)
    period_columns, _ = estimate_period(onset_envelope(mel), columns_per_s)
    heard_bpm = 60.0 * columns_per_s / period_columns
    assert min(abs(heard_bpm * factor / bpm - 1.0) for factor in (1.0, 2.0, 0.5)) < 0.02, heard_bpm
    beat_columns = 60.0 * columns_per_s / bpm
    phase = estimate_phase(onset_envelope(mel), beat_columns, 0)
    # a beat within 5 columns of the start (the 10-column analysis window hears each attack ~2.7 early)
    assert min(phase, beat_columns - phase) < 5, phase
    assert bed_beats_at("techno-141", bpm) == BeatGrid(0, 0, bpm, 4)


def test_a_bed_at_a_tempo_loops_whole_bars_and_refuses_a_tempo_out_of_range():
    bar_samples = 4 * 60.0 / 120.0 * P.sample_rate  # 120 bpm: 3 bars (6 s) come nearest a chunk
    np.testing.assert_array_equal(bed_image_at("boom-bap-94", 120.0, 1000), bed_image_at("boom-bap-94", 120.0, 1000 + round(3 * bar_samples)))
    assert bed_beats_at("ambient-pad", 120.0) is None and bed_beats_at("no-such-bed", 120.0) is None
    with pytest.raises(ValueError, match="20 … 400 bpm"):
        bed_image_at("boom-bap-94", 0.0, 0)
