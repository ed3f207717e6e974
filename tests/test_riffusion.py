"""Riffusion img2img on the tiny random model, and the blending functions it relies on.

GPU-only tests carry the ``gpu`` marker and skip without CUDA.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.beats import BeatGrid
from riffcast.generation.interpolation import blend_weighted, lerp, slerp
from riffcast.generation.models import build_tiny_random
from riffcast.generation.riffusion import SCHEDULERS, RiffusionGenerator
from riffcast.generation.seeds import bed_image_at
from riffcast.generation.types import ImageRequest, Interrupted
from riffcast.steering.targets import Target, WeightedPrompt
from riffcast.steering.walk import Walk

STEPS = 4
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def generator() -> RiffusionGenerator:
    return RiffusionGenerator(build_tiny_random(seed=0), steps=STEPS)


@pytest.fixture(scope="module")
def init_image() -> np.ndarray:
    """A (512, 512) uint8 seed bed: a horizontal ramp with a few bright bands."""
    image = np.tile(np.linspace(0, 255, 512), (512, 1))
    image[100:120] = 255
    image[300:310] = 40
    return image.astype(np.uint8)


def paint(generator: RiffusionGenerator, start: Target, end: Target, alpha: float, init: np.ndarray, **settings) -> np.ndarray:
    return generator.paint(ImageRequest(start, end, alpha, init, **settings)).image


JAZZ = Target.from_text("smooth jazz piano", seed=1)
ROCK = Target(prompts=(WeightedPrompt("heavy rock guitar"),), seed=2, negative_prompt="vocals", denoising=0.6, guidance=4.0)


# --- interpolation --------------------------------------------------------------------------


def test_slerp_gives_the_endpoints_exactly():
    a, b = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)).unbind()
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)


def test_slerp_of_unit_vectors_stays_on_the_unit_sphere():
    a = torch.nn.functional.normalize(torch.randn(1000, dtype=torch.float64), dim=0)
    b = torch.nn.functional.normalize(torch.randn(1000, dtype=torch.float64), dim=0)
    for t in (0.1, 0.25, 0.5, 0.9):
        assert float(torch.linalg.vector_norm(slerp(a, b, t))) == pytest.approx(1.0, abs=1e-12)
    # a lerp would shrink the middle: this is what slerp is for
    assert float(torch.linalg.vector_norm(lerp(a, b, 0.5))) < 0.8


def test_slerp_midpoint_of_orthogonal_unit_vectors_is_the_diagonal():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(a, b, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2.0), atol=1e-7)
    assert torch.allclose(slerp(a, b, 1 / 3), torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]), atol=1e-7)


def test_slerp_of_parallel_vectors_is_a_lerp_and_shapes_must_match():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)
    with pytest.raises(ValueError, match="one shape"):
        slerp(a, torch.zeros(4), 0.5)


def test_lerp_is_exact_at_both_ends():
    assert lerp(0.1, 0.7, 0.0) == 0.1 and lerp(0.1, 0.7, 1.0) == 0.7
    assert lerp(2.0, 4.0, 0.25) == 2.5


def test_blend_weighted_normalises_the_weights():
    a, b = torch.ones(3), torch.full((3,), 5.0)
    assert torch.allclose(blend_weighted([a, b], [1.0, 3.0]), torch.full((3,), 4.0))
    assert torch.equal(blend_weighted([a, b], [1.0, 3.0]), blend_weighted([a, b], [2.0, 6.0]))


def test_blend_weighted_of_one_embedding_is_itself():
    embedding = torch.randn(1, 77, 32)
    assert torch.equal(blend_weighted([embedding], [0.3]), embedding)


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.0], [1.0, float("nan")]])
def test_blend_weighted_rejects_bad_weights(weights):
    with pytest.raises(ValueError):
        blend_weighted([torch.ones(2), torch.ones(2)], weights)


# --- painting --------------------------------------------------------------------------------


def test_paints_a_greyscale_chunk_with_timings(generator, init_image):
    chunk = generator.paint(ImageRequest(JAZZ, ROCK, 0.5, init_image))
    assert chunk.image.shape == (512, 512) and chunk.image.dtype == np.uint8
    assert chunk.image.std() > 1.0  # a picture, not a constant
    assert {"text", "denoise", "decode"} <= chunk.timings_s.keys()
    assert all(seconds >= 0 for seconds in chunk.timings_s.values())


def test_same_request_paints_the_same_bytes_and_another_seed_does_not(generator, init_image):
    first = paint(generator, JAZZ, ROCK, 0.5, init_image)
    assert np.array_equal(first, paint(generator, JAZZ, ROCK, 0.5, init_image))
    assert not np.array_equal(first, paint(generator, JAZZ.with_seed(7), ROCK, 0.5, init_image))


def test_alpha_zero_is_the_start_target_alone_and_alpha_one_the_end(generator, init_image):
    assert np.array_equal(paint(generator, JAZZ, ROCK, 0.0, init_image), paint(generator, JAZZ, JAZZ, 0.0, init_image))
    assert np.array_equal(paint(generator, JAZZ, ROCK, 1.0, init_image), paint(generator, ROCK, ROCK, 1.0, init_image))
    assert not np.array_equal(paint(generator, JAZZ, ROCK, 0.5, init_image), paint(generator, JAZZ, JAZZ, 0.0, init_image))


def test_prompt_weights_matter_only_relative_to_each_other(generator, init_image):
    def blend(jazz_weight: float, rock_weight: float) -> Target:
        prompts = (WeightedPrompt("smooth jazz piano", jazz_weight), WeightedPrompt("heavy rock guitar", rock_weight))
        return Target(prompts, seed=1)

    one_to_three = paint(generator, blend(1, 3), blend(1, 3), 0.0, init_image)
    assert np.array_equal(one_to_three, paint(generator, blend(2, 6), blend(2, 6), 0.0, init_image))
    assert not np.array_equal(one_to_three, paint(generator, blend(3, 1), blend(3, 1), 0.0, init_image))


def test_negative_prompt_steers_only_with_guidance(generator, init_image):
    def target(negative: str, guidance: float) -> Target:
        return Target(JAZZ.prompts, seed=1, negative_prompt=negative, guidance=guidance)

    plain = paint(generator, target("", 7.0), target("", 7.0), 0.0, init_image)
    assert not np.array_equal(plain, paint(generator, target("drums", 7.0), target("drums", 7.0), 0.0, init_image))
    unguided = paint(generator, target("", 1.0), target("", 1.0), 0.0, init_image)
    assert np.array_equal(unguided, paint(generator, target("drums", 1.0), target("drums", 1.0), 0.0, init_image))


def test_should_stop_interrupts_between_steps_and_the_next_paint_is_unharmed(generator, init_image):
    request = ImageRequest(JAZZ, JAZZ, 0.0, init_image)  # strength 0.75 of 4 steps: 3 steps
    calls = []

    def stop_at_second_step() -> bool:
        calls.append(None)
        return len(calls) == 2

    with pytest.raises(Interrupted):
        generator.paint(request, stop_at_second_step)
    assert len(calls) == 2
    fresh = RiffusionGenerator(build_tiny_random(seed=0), steps=STEPS)
    assert np.array_equal(generator.paint(request).image, fresh.paint(request).image)


def test_keep_columns_pins_the_kept_latents_to_the_init_image(generator, init_image, monkeypatch):
    keep = 256
    vae = generator.components.vae
    with torch.inference_mode():
        pixels = torch.from_numpy(init_image).float() / 127.5 - 1.0
        init_latents = vae.encode(pixels.expand(1, 3, 512, 512)).latent_dist.mean
        round_trip = ((vae.decode(init_latents).sample[0] + 1.0) * 127.5).clamp(0, 255).mean(dim=0).numpy()

    decoded_latents = []
    decode = vae.decode

    def recording_decode(latents, *args, **kwargs):
        decoded_latents.append(latents.clone())
        return decode(latents, *args, **kwargs)

    monkeypatch.setattr(vae, "decode", recording_decode)
    image = paint(generator, JAZZ, JAZZ, 0.0, init_image, keep_columns=keep).astype(np.float64)
    kept, painted = slice(0, keep // 8), slice(keep // 8, None)
    assert torch.allclose(decoded_latents[0][..., kept], init_latents[..., kept], atol=1e-5)
    assert not torch.allclose(decoded_latents[0][..., painted], init_latents[..., painted], atol=0.1)
    # In pixels: the kept columns are the VAE round trip of the init image, up to what the
    # decoder's attention and group norms carry over from the painted side.
    kept_error = np.abs(image[:, :keep] - round_trip[:, :keep]).mean()
    painted_error = np.abs(image[:, keep:] - round_trip[:, keep:]).mean()
    assert kept_error < 0.6 * painted_error


def test_one_target_paints_what_diffusers_img2img_paints(generator, init_image):
    """Same networks, scheduler, seed and settings: diffusers' pipeline is the reference."""
    target = Target.from_text("jazz piano", seed=5, negative_prompt="drums", denoising=0.7, guidance=6.0)
    ours = paint(generator, target, target, 0.0, init_image)
    parts = generator.components
    pipeline = StableDiffusionImg2ImgPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=parts.unet,
        scheduler=SCHEDULERS["dpm++"].from_config(parts.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        pixels = torch.from_numpy(init_image).float() / 127.5 - 1.0
        # Latents in, so that diffusers encodes with the mean as we do (it samples otherwise).
        init_latents = parts.vae.encode(pixels.expand(1, 3, 512, 512)).latent_dist.mean * parts.vae.config.scaling_factor
    theirs = pipeline(
        "jazz piano", image=init_latents, strength=0.7, guidance_scale=6.0, negative_prompt="drums",
        num_inference_steps=STEPS, generator=torch.Generator().manual_seed(5), output_type="np",
    ).images[0]
    theirs = np.round(theirs.mean(axis=2) * 255.0)
    assert np.abs(ours.astype(np.float64) - theirs).max() <= 1.0


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_scheduler_paints_deterministically(scheduler, init_image):
    generator = RiffusionGenerator(build_tiny_random(seed=0), steps=STEPS, scheduler=scheduler)
    first = paint(generator, JAZZ, ROCK, 0.5, init_image)
    assert first.shape == (512, 512) and first.std() > 1.0
    assert np.array_equal(first, paint(generator, JAZZ, ROCK, 0.5, init_image))


def test_rejects_unknown_scheduler_and_bad_image_sizes(generator):
    with pytest.raises(ValueError, match="unknown scheduler"):
        RiffusionGenerator(build_tiny_random(), scheduler="euler")
    with pytest.raises(ValueError, match="multiple of 8"):
        generator.paint(ImageRequest(JAZZ, JAZZ, 0.0, np.zeros((512, 500), dtype=np.uint8)))


@pytest.mark.gpu
@needs_cuda
def test_cuda_paints_like_the_cpu(init_image):
    """Noise is drawn on the CPU, so one seed paints the same chunk on any device (up to float error)."""
    on_cpu = paint(RiffusionGenerator(build_tiny_random(), steps=STEPS), JAZZ, ROCK, 0.5, init_image)
    on_cuda = paint(RiffusionGenerator(build_tiny_random(), device="cuda", steps=STEPS), JAZZ, ROCK, 0.5, init_image)
    assert np.abs(on_cpu.astype(int) - on_cuda.astype(int)).mean() < 2.0


@pytest.mark.gpu
@needs_cuda
def test_cuda_fp16_paints_with_channels_last_and_attention_slicing(init_image):
    generator = RiffusionGenerator(
        build_tiny_random(), device="cuda", dtype=torch.float16, steps=STEPS, channels_last=True, attention_slicing=True
    )
    chunk = generator.paint(ImageRequest(JAZZ, ROCK, 0.5, init_image))
    assert chunk.image.shape == (512, 512) and chunk.image.dtype == np.uint8 and chunk.image.std() > 1.0


@pytest.mark.gpu
@needs_cuda
def test_compiled_unet_paints_like_the_eager_one(init_image):
    eager = paint(RiffusionGenerator(build_tiny_random(), device="cuda", steps=STEPS), JAZZ, ROCK, 0.5, init_image)
    compiled = paint(
        RiffusionGenerator(build_tiny_random(), device="cuda", steps=STEPS, compile_unet=True), JAZZ, ROCK, 0.5, init_image
    )
    assert np.abs(eager.astype(int) - compiled.astype(int)).mean() < 2.0


def test_nan_from_the_model_is_an_error_not_an_image():
    components = build_tiny_random()
    generator = RiffusionGenerator(components, steps=2)
    with torch.no_grad():
        for parameter in components.vae.decoder.conv_out.parameters():
            parameter.fill_(float("nan"))
    target = Target.from_text("noise")
    request = ImageRequest(target, target, 1.0, np.full((512, 512), 128, np.uint8))
    with pytest.raises(FloatingPointError, match="NaN"):
        generator.paint(request)


def test_out_of_memory_lowers_memory_settings_step_by_step(init_image):
    from riffcast.generation.models import ModelError
    from riffcast.generation.riffusion import MEMORY_SAVINGS
    from riffcast.pipeline.producer import ImageProducer

    generator = RiffusionGenerator(build_tiny_random(seed=0), steps=STEPS)
    unet = generator.components.unet
    real_forward = unet.forward
    failures = {"left": 4}

    def forward(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real_forward(*args, **kwargs)

    unet.forward = forward
    target = Target.from_text("jazz")
    with pytest.raises(ModelError, match="from now on: attention slicing \\(auto\\)"):
        generator.paint(ImageRequest(target, target, 0.5, init_image))
    assert generator.memory_savings == 1
    # In a station: the producer retries, then falls back; later chunks paint with less memory.
    producer = ImageProducer(generator, Walk(target), init_image)
    chunks = [producer.next_image() for _ in range(3)]
    assert [chunk.fallback for chunk in chunks] == [True, False, False]
    assert generator.memory_savings == len(MEMORY_SAVINGS)
    assert generator.lower_memory() is None  # all on: nothing left to lower
    assert generator.components.vae.use_tiling


def test_with_a_bpm_asked_the_painted_columns_start_from_the_bed_at_that_tempo(init_image, monkeypatch):
    generator = RiffusionGenerator(build_tiny_random(seed=0), steps=STEPS, bed="techno-141")
    encoded = []
    encode = generator._encode
    monkeypatch.setattr(generator, "_encode", lambda image: encoded.append(image.copy()) or encode(image))
    asked = Target.from_text("smooth jazz piano", seed=1, bpm=120.0)
    painted = generator.paint(ImageRequest(JAZZ, asked, 0.75, init_image, keep_columns=64, start_column=1000))
    assert painted.beats == (BeatGrid(0, 0, 120.0, 4),)
    bed = bed_image_at("techno-141", 120.0, 1000 * RIFFUSION_V1.hop_samples)
    np.testing.assert_array_equal(encoded[0][:, 64:], bed[:, 64:])
    np.testing.assert_array_equal(encoded[0][:, :64], init_image[:, :64])  # the kept context is the image's own
    free = generator.paint(ImageRequest(JAZZ, asked, 0.25, init_image))  # the settings heard ask no tempo yet
    assert free.beats == () and np.array_equal(encoded[1], init_image)
