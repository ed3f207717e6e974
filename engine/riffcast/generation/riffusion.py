"""Riffusion img2img: paint one spectrogram chunk between two targets.

The steps follow diffusers' ``StableDiffusionImg2ImgPipeline`` with Riffusion's blending
(riffusion-hobby's ``RiffusionPipeline.interpolate_img2img``):

1. text: CLIP embeddings of each target (its prompts blended by weight), lerped by alpha;
   the unconditional branch uses the targets' negative prompts the same way;
2. encode: the init image through the VAE (latent mean, so deterministic);
3. noise: one Gaussian per target seed, drawn on the CPU, slerped by alpha;
4. denoise: from the timestep the blended strength reaches, with classifier-free guidance;
   in window mode the context columns are pinned to the init image at every step (RePaint);
5. decode: the VAE back to an image, then greyscale uint8.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, PNDMScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.beats import BeatGrid
from riffcast.generation.interpolation import blend_weighted, lerp, slerp
from riffcast.generation.models import OUT_OF_MEMORY_ADVICE, ModelError, RiffusionComponents, place_components
from riffcast.generation.seeds import bed_beats_at, bed_image_at
from riffcast.generation.types import ImageRequest, Interrupted, PaintedImage
from riffcast.steering.targets import Target

SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "pndm": PNDMScheduler,  # what riffusion-model-v1 ships with
    "dpm++": DPMSolverMultistepScheduler,  # DPM-Solver++(2M): as good in about half the steps
    "ddim": DDIMScheduler,
}
LATENT_SCALE = 8  # image pixels per latent pixel, each way (the VAE downsamples three times)
TEXT_CACHE_SIZE = 64  # prompts whose CLIP embeddings are kept


class MemorySaving(enum.Enum):
    """A way to paint in less GPU memory; the value names it in errors."""

    ATTENTION_SLICING_AUTO = "attention slicing (auto)"
    ATTENTION_SLICING_MAX = "attention slicing (max)"
    VAE_TILING = "VAE tiling"


MEMORY_SAVINGS = tuple(MemorySaving)  # the order lower_memory turns them on


class RiffusionGenerator:
    """Paints spectrogram chunks with a Riffusion (Stable Diffusion 1.x) model.

    steps: denoising steps for strength 1; a chunk at strength s runs ``int(steps·s)`` of them.
    scheduler: ``"pndm"`` (the original), ``"dpm++"`` or ``"ddim"``.
    channels_last: NHWC memory layout for the UNet and VAE (faster convolutions on recent GPUs).
    attention_slicing: compute attention in slices (less GPU memory, a little slower).
    compile_unet: ``torch.compile`` the UNet (a long first chunk, faster ones after).
    bed: the built-in seed bed the init images come from (None: a seed of someone's, or none
        known): while a ``bpm`` is asked, the columns painted (after ``keep_columns``) start from
        that bed played at the asked tempo instead (:func:`~riffcast.generation.seeds.bed_image_at`),
        and the image's ``beats`` say so; the conductor then finds the asked tempo already there.

    One thread paints at a time (the producer's); the networks are moved to ``device`` and
    ``dtype`` in place.
    """

    name = "riffusion"

    def __init__(
        self,
        components: RiffusionComponents,
        *,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        steps: int = 25,
        scheduler: str = "dpm++",
        channels_last: bool = False,
        attention_slicing: bool = False,
        compile_unet: bool = False,
        bed: str | None = None,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}: choose one of {', '.join(SCHEDULERS)}")
        if steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {steps}")
        self.components = components
        self.device = torch.device(device)
        self.dtype = dtype
        self.steps = steps
        self.bed = bed
        self._scheduler_class = SCHEDULERS[scheduler]
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._init_cache: tuple[tuple, torch.Tensor] | None = None  # ((shape, digest), latents)
        place_components(components, device, dtype)
        if channels_last:
            components.unet.to(memory_format=torch.channels_last)
            components.vae.to(memory_format=torch.channels_last)
        self.memory_savings = 0  # how many of MEMORY_SAVINGS are on
        if attention_slicing:
            self.lower_memory()
        if compile_unet:  # compiled on the first paint (slow once), faster after
            components.unet = torch.compile(components.unet)

    def paint(self, request: ImageRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedImage:
        """Paint ``request``'s chunk: (H, W) uint8 greyscale like its init image.

        In overlap mode the first ``keep_columns // 8`` latent columns (whole latent columns, so
        ``keep_columns`` rounded down to a multiple of 8 pixels) are the init image's.
        Raises :class:`Interrupted` when ``should_stop()`` is true before a denoising step, and
        :class:`ModelError` when the GPU runs out of memory.
        """
        height, width = request.init_image.shape
        if height % LATENT_SCALE or width % LATENT_SCALE:
            raise ValueError(f"the init image must be a multiple of {LATENT_SCALE} pixels each way, got {width}×{height}")
        try:
            with torch.inference_mode():
                return self._paint(request, should_stop)
        except torch.cuda.OutOfMemoryError:
            saving = self.lower_memory()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            change = f"; from now on: {saving.value}" if saving is not None else "; every memory saving is already on"
            raise ModelError(f"{OUT_OF_MEMORY_ADVICE} (painting {width}×{height} on {self.device}){change}") from None

    def lower_memory(self) -> MemorySaving | None:
        """Turn on the next of MEMORY_SAVINGS (after an out-of-memory error, so a station
        degrades instead of failing again); which one, or None when all are on."""
        if self.memory_savings == len(MEMORY_SAVINGS):
            return None
        saving = MEMORY_SAVINGS[self.memory_savings]
        unet, vae = self.components.unet, self.components.vae
        if saving is MemorySaving.ATTENTION_SLICING_AUTO:
            unet.set_attention_slice("auto")
        elif saving is MemorySaving.ATTENTION_SLICING_MAX:
            unet.set_attention_slice("max")
        else:  # MemorySaving.VAE_TILING
            vae.enable_tiling()
        self.memory_savings += 1
        return saving

    def _paint(self, request: ImageRequest, should_stop: Callable[[], bool]) -> PaintedImage:
        alpha = request.alpha
        started = self._clock()
        # 1. text: what to paint (conditional) and what to steer away from (unconditional)
        conditional = lerp(self._target_embedding(request.start), self._target_embedding(request.end), alpha)
        unconditional = lerp(
            self._text_embedding(request.start.negative_prompt), self._text_embedding(request.end.negative_prompt), alpha
        )
        guidance = lerp(request.start.guidance, request.end.guidance, alpha)
        text_done = self._clock()

        # 2–3. the init image (the bed at the asked tempo) in latent space and the seeds' noise
        init_image, beats = self._init_at_tempo(request)
        init_latents = self._encode(init_image)
        noise = slerp(_seed_noise(request.start.seed, init_latents.shape), _seed_noise(request.end.seed, init_latents.shape), alpha)
        noise = noise.to(device=self.device, dtype=self.dtype)
        encode_done = self._clock()

        # 4. denoise from the strength's timestep; overlap mode pins the kept columns (RePaint)
        strength = lerp(request.start.denoising, request.end.denoising, alpha)
        scheduler, timesteps = self._img2img_schedule(strength)
        latents = scheduler.add_noise(init_latents, noise, timesteps[:1])
        use_guidance = guidance > 1.0
        text_states = torch.cat([unconditional, conditional]) if use_guidance else conditional
        kept_latent_columns = request.keep_columns // LATENT_SCALE
        for index, timestep in enumerate(timesteps):
            if should_stop():
                raise Interrupted(f"chunk {request.index} stopped before step {index + 1} of {len(timesteps)}")
            model_input = torch.cat([latents, latents]) if use_guidance else latents
            model_input = scheduler.scale_model_input(model_input, timestep)
            noise_prediction = self.components.unet(model_input, timestep, encoder_hidden_states=text_states).sample
            if use_guidance:
                unconditional_prediction, conditional_prediction = noise_prediction.chunk(2)
                noise_prediction = unconditional_prediction + guidance * (conditional_prediction - unconditional_prediction)
            latents = scheduler.step(noise_prediction, timestep, latents).prev_sample
            if kept_latent_columns:
                is_last = index + 1 == len(timesteps)
                # After step() the scheduler stands at the next timestep, where add_noise puts the init.
                kept = init_latents if is_last else scheduler.add_noise(init_latents, noise, timesteps[index + 1 : index + 2])
                latents[..., :kept_latent_columns] = kept[..., :kept_latent_columns]
        denoise_done = self._clock()

        # 5. decode
        image = self._decode(latents)
        decode_done = self._clock()
        timings = {
            "text": text_done - started,
            "encode": encode_done - text_done,
            "denoise": denoise_done - encode_done,
            "decode": decode_done - denoise_done,
        }
        return PaintedImage(image=image, timings_s=timings, beats=beats)

    def _init_at_tempo(self, request: ImageRequest) -> tuple[np.ndarray, tuple[BeatGrid, ...]]:
        """The init image, with the bed at the asked bpm (the settings heard: the end target's
        once alpha passes 0.5) after the kept columns, and its beat grid; as given (and no grid)
        without a bpm or a bed."""
        bpm = (request.end if request.alpha > 0.5 else request.start).bpm
        if bpm is None or self.bed is None or request.init_image.shape != (RIFFUSION_V1.n_mels, RIFFUSION_V1.chunk_columns):
            return request.init_image, ()
        image = request.init_image.copy()
        bed = bed_image_at(self.bed, bpm, request.start_column * RIFFUSION_V1.hop_samples)
        image[:, request.keep_columns :] = bed[:, request.keep_columns :]
        grid = bed_beats_at(self.bed, bpm)
        return image, () if grid is None else (grid,)

    def _img2img_schedule(self, strength: float) -> tuple[SchedulerMixin, torch.Tensor]:
        """A fresh scheduler and the timesteps of img2img at ``strength`` (diffusers' ``get_timesteps``).

        The first ``1 − strength`` of the schedule is skipped; at least one step always runs.
        """
        scheduler = self._scheduler_class.from_config(self.components.scheduler_config)
        scheduler.set_timesteps(self.steps, device=self.device)
        steps_to_run = min(max(int(self.steps * strength), 1), self.steps)
        first = (self.steps - steps_to_run) * scheduler.order
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(first)
        return scheduler, scheduler.timesteps[first:]

    def _target_embedding(self, target: Target) -> torch.Tensor:
        """(1, 77, width) CLIP states of the target's prompts, blended by weight."""
        embeddings = [self._text_embedding(prompt.text) for prompt in target.prompts]
        return blend_weighted(embeddings, [prompt.weight for prompt in target.prompts])

    def _text_embedding(self, text: str) -> torch.Tensor:
        """(1, 77, width) CLIP last hidden states of ``text``; the latest few are cached."""
        if text in self._text_cache:
            self._text_cache.move_to_end(text)
            return self._text_cache[text]
        tokenizer = self.components.tokenizer
        tokens = tokenizer(
            text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        embedding = self.components.text_encoder(tokens.input_ids.to(self.device)).last_hidden_state
        self._text_cache[text] = embedding
        if len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return embedding

    def _encode(self, init_image: np.ndarray) -> torch.Tensor:
        """(H, W) uint8 greyscale → (1, 4, H/8, W/8) scaled latents; the last image's are kept.

        Seed images repeat from chunk to chunk, so the VAE encoder usually runs once.
        """
        key = (init_image.shape, hashlib.blake2b(init_image.tobytes(), digest_size=16).digest())
        if self._init_cache is not None and self._init_cache[0] == key:
            return self._init_cache[1]
        pixels = torch.from_numpy(np.ascontiguousarray(init_image)).to(self.device, self.dtype)
        rgb = (pixels / 127.5 - 1.0).expand(1, 3, *init_image.shape)
        vae = self.components.vae
        latents = vae.encode(rgb).latent_dist.mean * vae.config.scaling_factor
        self._init_cache = (key, latents)
        return latents

    def _decode(self, latents: torch.Tensor) -> np.ndarray:
        """(1, 4, h, w) scaled latents → (8h, 8w) uint8 greyscale, the mean of R, G and B.

        Each channel is clipped to [0, 255] first, as in the RGB image the original pipeline saves.
        Raises FloatingPointError on NaN/infinity (the producer retries, then falls back).
        """
        vae = self.components.vae
        rgb = vae.decode(latents / vae.config.scaling_factor).sample.float()
        if not bool(torch.isfinite(rgb).all()):
            raise FloatingPointError("the model produced NaN or infinite pixels (fp16 overflow?)")
        grey = ((rgb[0] + 1.0) * 127.5).clamp(0.0, 255.0).mean(dim=0).round()
        return grey.to(device="cpu", dtype=torch.uint8).numpy()

    def _clock(self) -> float:
        """Seconds, after the GPU has finished what it was given (so stages time honestly)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def _seed_noise(seed: int, shape: torch.Size) -> torch.Tensor:
    """Standard Gaussian noise of ``shape``, float32 on the CPU: one seed paints alike on any device."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
