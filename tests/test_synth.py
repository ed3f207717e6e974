"""Tests for the procedural generator ``synth``: prompts → style, continuity, music-ness."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from riffcast.dsp.codec import CHUNK_CONTEXT_COLUMNS, audio_to_mel, mel_image_from, pixels_from_mel
from riffcast.dsp.mel import hz_to_mel, mel_to_hz
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation.style import (
    GENRES,
    BassStyle,
    DrumFamily,
    KeysStyle,
    LeadVoice,
    Mode,
    Style,
    blend_styles,
    chunk_style,
    style_for_target,
    style_from_prompt,
)
from riffcast.generation.synth import SynthGenerator
from riffcast.generation.types import ImageRequest, Interrupted
from riffcast.generation.voices import render_audio
from riffcast.steering.targets import Target, WeightedPrompt

BLANK = np.zeros((P.n_mels, P.chunk_columns), dtype=np.uint8)
COLUMN_S = P.hop_samples / P.sample_rate
BAND_CENTRES_HZ = mel_to_hz(np.linspace(hz_to_mel(P.f_min_hz), hz_to_mel(P.f_max_hz), P.n_mels + 2))[1:-1]
PIXEL = 1.0 / 255.0


def steady(text: str, *, seed: int = 0, index: int = 0) -> ImageRequest:
    target = Target.from_text(text, seed=seed)
    return ImageRequest(target, target, 0.0, BLANK, index=index, start_column=index * 512)


def relative_mel(image: np.ndarray) -> np.ndarray:
    """Greyscale image → mel magnitude relative to the image's own maximum, (n_mels, columns)."""
    return mel_image_from(Image.fromarray(image), P).mel.astype(np.float64)


def beat_lag_columns(mel: np.ndarray, beat_columns: float) -> float:
    """Lag (columns) of the onset-strength autocorrelation peak within 0.7–1.4 beats."""
    energy = np.log(mel.sum(axis=0) + 1e-6)
    onsets = np.maximum(np.diff(energy), 0.0)
    onsets -= onsets.mean()
    correlation = np.correlate(onsets, onsets, "full")[onsets.size - 1 :]
    low, high = int(0.7 * beat_columns), int(1.4 * beat_columns) + 1
    return float(low + np.argmax(correlation[low:high]))


@pytest.fixture(scope="module")
def synth() -> SynthGenerator:
    return SynthGenerator()


# --------------------------------------------------------------------------- prompts


@pytest.mark.parametrize(
    "text, tempo_range, drums",
    [
        ("lofi hip hop beats to study to", (84, 92), "boom_bap"),
        ("deep house", (122, 126), "four_floor"),
        ("techno", (124, 132), "four_floor"),
        ("liquid drum and bass", (168, 176), "breakbeat"),
        ("jungle", (160, 176), "breakbeat"),
        ("ambient soundscape", (50, 90), "none"),
        ("rock", (110, 130), "rock"),
    ],
)
def test_genre_words_choose_tempo_and_groove(text, tempo_range, drums):
    style = style_from_prompt(text)
    assert tempo_range[0] <= style.tempo_bpm <= tempo_range[1]
    assert style.drums == drums


def test_genre_details():
    lofi, jazz, ambient = style_from_prompt("lofi"), style_from_prompt("jazz"), style_from_prompt("ambient")
    assert lofi.swing > 0.1 and lofi.density < 0.5 and lofi.brightness < 0.5
    assert jazz.sevenths and jazz.bass == "walking" and jazz.swing == pytest.approx(1 / 3)
    assert ambient.keys == "pad" and ambient.density < 0.3
    assert style_from_prompt("viennese waltz").beats_per_bar == 3


@pytest.mark.parametrize("text, tempo", [("90 bpm techno", 90.0), ("drum and bass at 174.5 BPM", 174.5), ("ambient 60bpm", 60.0)])
def test_explicit_bpm_is_honoured(text, tempo):
    assert style_from_prompt(text).tempo_bpm == tempo


@pytest.mark.parametrize(
    "text, root, mode",
    [
        ("jazz in D minor", 2, "minor"),
        ("house in F# major", 6, "major"),
        ("sad piano in Bb", 10, "minor"),
        ("happy song in Bb", 10, "major"),
        ("chill beat in Ebm", 3, "minor"),
        ("trance in a minor", 9, "minor"),
        ("E minor ballad", 4, "minor"),
    ],
)
def test_explicit_key_is_honoured(text, root, mode):
    style = style_from_prompt(text)
    assert (style.root, style.mode) == (root, mode)


def test_in_a_word_is_not_a_key():
    texts = [f"walking in a {place}" for place in ("forest", "city", "garden", "desert", "dream", "storm")]
    assert len({style_from_prompt(text).root for text in texts}) > 1  # the key comes from each text's hash


def test_mood_words_move_mode_density_and_tempo():
    assert style_from_prompt("sad disco").mode == "minor"
    assert style_from_prompt("happy lofi").mode == "major"
    chill, plain, energetic = (style_from_prompt(f"{mood} techno").density for mood in ("chill", "", "energetic"))
    assert chill < plain < energetic
    assert style_from_prompt("dark house").brightness < style_from_prompt("house").brightness
    assert style_from_prompt("slow rock").tempo_bpm < style_from_prompt("rock").tempo_bpm < style_from_prompt("fast rock").tempo_bpm


def test_unknown_words_give_a_deterministic_default():
    text = "purple elephant dreams of glass"
    assert style_from_prompt.__wrapped__(text) == style_from_prompt.__wrapped__(text)
    assert style_from_prompt(text).drums in {style.drums for style in GENRES.values()}
    styles = {style_from_prompt(f"nonsense word {i}") for i in range(8)}
    assert len(styles) > 4  # different texts, different songs


def test_weighted_prompts_blend_numbers_and_take_choices_from_the_heaviest():
    house, ambient = style_from_prompt("house"), style_from_prompt("ambient")
    target = Target(prompts=(WeightedPrompt("house", 3.0), WeightedPrompt("ambient", 1.0)))
    mixed = style_for_target(target)
    assert mixed.tempo_bpm == pytest.approx((3 * house.tempo_bpm + ambient.tempo_bpm) / 4)
    assert mixed.density == pytest.approx((3 * house.density + ambient.density) / 4)
    assert (mixed.drums, mixed.keys, mixed.root) == (house.drums, house.keys, house.root)
    flipped = style_for_target(Target(prompts=(WeightedPrompt("house", 1.0), WeightedPrompt("ambient", 3.0))))
    assert flipped.drums == "none"


def test_alpha_moves_numbers_and_switches_choices_tempo_and_seed_together_at_half():
    start, end = Target.from_text("ambient", seed=5), Target.from_text("house", seed=9)
    a, b = style_from_prompt("ambient"), style_from_prompt("house")

    def at(alpha):
        return chunk_style(ImageRequest(start, end, alpha, BLANK))

    quarter, seed = at(0.25)
    assert (quarter.drums, quarter.tempo_bpm, seed) == (a.drums, a.tempo_bpm, 5)
    assert quarter.density == pytest.approx(0.75 * a.density + 0.25 * b.density)
    half, seed = at(0.5)
    assert (half.drums, half.tempo_bpm, seed) == (a.drums, a.tempo_bpm, 5)
    late, seed = at(0.75)  # the tempo comes with the key and instruments, not a chunk or two later
    assert (late.drums, late.root, late.tempo_bpm, seed) == (b.drums, b.root, b.tempo_bpm, 9)
    assert at(1.0)[0] == b


def test_blend_of_one_style_is_that_style():
    style = Style(tempo_bpm=97.0, root=3)
    assert blend_styles([(style, 2.0)]) == style


def test_bad_style_values_are_refused():
    with pytest.raises(ValueError):
        Style(drums="polka")
    with pytest.raises(ValueError):
        Style(tempo_bpm=500.0)


def test_style_is_built_with_keywords_and_its_choices_are_enums():
    with pytest.raises(TypeError):
        Style(100.0, 9)  # positional fields are refused
    style = Style(mode="major", drums="jazz", bass=BassStyle.WALKING)
    assert (style.mode, style.drums, style.bass) == (Mode.MAJOR, DrumFamily.JAZZ, BassStyle.WALKING)
    assert type(style.drums) is DrumFamily and str(style.drums) == "jazz" and f"{style.mode}" == "major"
    assert all(type(s.lead) is LeadVoice and type(s.keys) is KeysStyle for s in GENRES.values())


# --------------------------------------------------------------------------- the generator


def test_paints_a_riffusion_image_deterministically(synth):
    request = steady("lofi hip hop", seed=7, index=3)
    painted = synth.paint(request)
    assert synth.name == "synth"
    assert painted.image.shape == (P.n_mels, P.chunk_columns) and painted.image.dtype == np.uint8
    assert set(painted.timings_s) == {"render", "encode"}
    assert painted.image.min() == 0  # the loudest pixel is black, as in Riffusion's images
    assert np.array_equal(painted.image, SynthGenerator().paint(request).image)


def test_consecutive_seeds_differ_but_keep_the_style(synth):
    # index 12: 61 s in, section B (the intro and A have no melody, so two seeds are closer there)
    images = [synth.paint(steady("house", seed=seed, index=12)).image for seed in (41, 42)]
    assert np.mean(np.abs(images[0].astype(float) - images[1])) > 5.0
    beat = 60.0 / style_from_prompt("house").tempo_bpm / COLUMN_S
    for image in images:
        assert abs(beat_lag_columns(relative_mel(image), beat) / beat - 1.0) <= 0.05


def test_adjacent_windows_concatenate_into_one_song():
    style = style_from_prompt("jazz")
    n = P.chunk_samples
    whole = render_audio(style, 3, 4 * n, 2 * n)
    assert np.array_equal(np.concatenate([render_audio(style, 3, 4 * n, n), render_audio(style, 3, 5 * n, n)]), whole)
    assert np.max(np.abs(whole)) > 0.1


def test_chunk_images_join_like_one_continuous_render(synth):
    """Chunks k, k+1 against one render straddling their join, in the image's 0.25-power domain."""
    text, seed, k = "drum and bass", 11, 6
    left, right = (synth.paint(steady(text, seed=seed, index=i)).image for i in (k, k + 1))
    style, _ = chunk_style(steady(text, seed=seed))
    half, context = P.chunk_samples // 2, CHUNK_CONTEXT_COLUMNS * P.hop_samples
    audio = render_audio(style, seed, (k + 1) * P.chunk_samples - half - context, P.chunk_samples + 2 * context)
    straddle = audio_to_mel(audio, P)[:, CHUNK_CONTEXT_COLUMNS : CHUNK_CONTEXT_COLUMNS + P.chunk_columns]
    reference = np.power(straddle / straddle.max(), P.image_power)  # join at column 256
    width = P.chunk_columns // 2

    def rescaled(image, columns, ref_columns):
        power = np.power(relative_mel(image)[:, columns], P.image_power)
        audible = reference[:, ref_columns] > 0.3
        return power / np.median(power[audible] / reference[:, ref_columns][audible])

    joint = np.concatenate([rescaled(left, slice(width, None), slice(0, width)),
                            rescaled(right, slice(0, width), slice(width, None))], axis=1)
    edge = slice(width - 8, width + 8)
    assert np.max(np.abs(joint[:, edge] - reference[:, edge])) < 3 * PIXEL
    flux = np.mean(np.abs(np.diff(joint, axis=1)), axis=0)
    reference_flux = np.mean(np.abs(np.diff(reference, axis=1)), axis=0)
    assert flux[width - 1] <= reference_flux[width - 1] + PIXEL
    assert flux[width - 1] <= np.percentile(flux, 95)


@pytest.mark.parametrize("text", ["deep house", "lofi hip hop", "hip hop 93 bpm", "drum and bass", "rock", "jazz", "viennese waltz"])
def test_sounds_like_music_bass_mids_highs_and_a_beat(synth, text):
    mel = relative_mel(synth.paint(steady(text, index=5)).image)
    total = mel.sum()
    bands = (BAND_CENTRES_HZ < 200.0, (BAND_CENTRES_HZ >= 200.0) & (BAND_CENTRES_HZ < 2000.0), BAND_CENTRES_HZ >= 2000.0)
    shares = [mel[band].sum() / total for band in bands]
    assert min(shares) > 0.1, shares
    beat = 60.0 / style_from_prompt(text).tempo_bpm / COLUMN_S
    assert abs(beat_lag_columns(mel, beat) / beat - 1.0) <= 0.05


def test_ambient_is_pads_without_drums():
    style = style_from_prompt("ambient")
    audio = render_audio(style, 0, 3 * P.chunk_samples, P.chunk_samples)
    mel = relative_mel(pixels_from_mel(audio_to_mel(audio, P), P))
    assert style.drums == "none"
    assert mel[(BAND_CENTRES_HZ >= 200.0) & (BAND_CENTRES_HZ < 2000.0)].mean() > 0.01


def test_stale_request_raises_interrupted_between_render_and_encode(synth):
    calls = []

    def stale() -> bool:
        calls.append(1)
        return True

    with pytest.raises(Interrupted):
        synth.paint(steady("techno"), stale)
    assert len(calls) == 1
