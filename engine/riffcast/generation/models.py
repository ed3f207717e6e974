"""Where Riffusion's networks come from: the Hub cache, a local folder, or random weights.

``load_components(source)`` accepts
- a Hugging Face hub id (default ``riffusion/riffusion-model-v1``), read from the local HF
  cache; when it is not cached and downloads are allowed, it is downloaded first;
- a local diffusers folder (``model_index.json`` and ``unet/``, ``vae/``, ``text_encoder/``,
  ``tokenizer/``, ``scheduler/``), such as :func:`save_components` writes;
- ``tiny-random``: a tiny randomly initialised model of the same architecture, built in
  memory in well under a second, that paints a 512 × 512 chunk quickly on a CPU (tests);
- ``full-random``: Stable Diffusion 1.5's full-size architecture with exactly
  riffusion-model-v1's shapes and random weights (GPU timing without the download).

Every failure a user can fix is a :class:`ModelError` whose message says what to do.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from riffcast.generation.sources import DEFAULT_MODEL_ID, FULL_RANDOM, TINY_RANDOM, cached_snapshot  # noqa: F401

COMPONENT_FOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
CLIP_MAX_TOKENS = 77
OUT_OF_MEMORY_ADVICE = "not enough GPU memory: add --attention-slicing, keep fp16 (the CUDA default), or use --device cpu"

# riffusion-model-v1's scheduler/scheduler_config.json (Stable Diffusion 1.x's noise schedule).
RIFFUSION_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
    "trained_betas": None,
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


class ModelError(ValueError):
    """A model that cannot be found, read or placed; the message says what to do."""


@dataclass
class RiffusionComponents:
    """The networks of a Stable-Diffusion-1.x img2img pipeline and the schedule they learnt.

    scheduler_config: the trained noise schedule (as ``scheduler/scheduler_config.json``);
        the generator builds whichever sampler it uses from it.
    source: what ``load_components`` was given, for logs.
    """

    tokenizer: CLIPTokenizer
    text_encoder: CLIPTextModel
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    scheduler_config: dict[str, Any]
    source: str


def pick_device(requested: str | None = None) -> str:
    """``requested`` checked against this machine, or the best present: cuda > mps > cpu."""
    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    try:
        kind = torch.device(requested).type
    except RuntimeError:
        raise ModelError(f"unknown device {requested!r}: use cuda, mps or cpu") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {requested!r} asked for, but no CUDA GPU is available here (use cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"device {requested!r} asked for, but Apple's MPS is not available here (use cpu)")
    return requested


def pick_dtype(device: str) -> torch.dtype:
    """float16 on CUDA (twice as fast, half the memory), float32 on MPS and CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids downloads, read now."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def load_components(
    source: str = DEFAULT_MODEL_ID,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    offline: bool | None = None,
    cache_dir: str | Path | None = None,
) -> RiffusionComponents:
    """Load (or build) the pipeline's networks, in eval mode, on ``device`` in ``dtype``.

    offline: forbid downloads; ``None`` follows ``HF_HUB_OFFLINE``.
    cache_dir: the Hugging Face cache to read (default: the HF default, ``HF_HOME``…).
    """
    if source == TINY_RANDOM:
        components = build_tiny_random()
    elif source == FULL_RANDOM:
        components = build_full_random(device=device)
    elif Path(source).expanduser().exists():
        components = _load_folder(Path(source).expanduser(), dtype, source)
    elif _HUB_ID.match(source):
        offline = is_offline() if offline is None else offline
        folder = cached_snapshot(source, cache_dir)
        if folder is None and offline:
            raise ModelError(
                f"model {source} is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE): "
                f"run `riffcast download {source}` on a machine with internet, then copy the cache"
            )
        components = _load_folder(folder or download(source, cache_dir), dtype, source)
    elif "/" in source or "\\" in source or source.startswith("."):
        raise ModelError(f"no model folder at {source}: check the path (a diffusers folder has model_index.json)")
    else:
        raise ModelError(
            f"unknown model {source!r}: give a hub id such as {DEFAULT_MODEL_ID}, a diffusers folder, "
            f"{TINY_RANDOM} or {FULL_RANDOM}"
        )
    return place_components(components, device, dtype)


def place_components(components: RiffusionComponents, device: str, dtype: torch.dtype) -> RiffusionComponents:
    """Move the networks to ``device`` in ``dtype`` (in place); a full GPU is a ModelError."""
    try:
        for network in (components.text_encoder, components.unet, components.vae):
            if network.dtype != dtype:  # diffusers warns on any dtype given to to(), even its own
                network.to(dtype=dtype)
            network.to(device)
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"{OUT_OF_MEMORY_ADVICE} (loading {components.source} on {device})") from None
    return components


def download(model_id: str = DEFAULT_MODEL_ID, cache_dir: str | Path | None = None) -> Path:
    """Fetch a diffusers model's weights into the Hugging Face cache; returns its folder.

    Only what riffcast loads comes down: configs, the tokenizer and one weights file per
    network (safetensors where the repository has them), not the training checkpoints.
    """
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import httpx as hub_http  # the Hub's HTTP client (httpx or httpx2)

    if is_offline():
        raise ModelError(
            f"no network: HF_HUB_OFFLINE is set, so {model_id} cannot be downloaded; "
            f"run `riffcast download {model_id}` on a machine with internet, then copy the cache"
        )
    try:
        repo_files = HfApi().list_repo_files(model_id)
        folder = snapshot_download(model_id, cache_dir=cache_dir, allow_patterns=_download_patterns(repo_files))
    except GatedRepoError:
        raise ModelError(f"{model_id} is gated on the Hugging Face Hub: accept its terms and log in (hf auth login)") from None
    except RepositoryNotFoundError:
        raise ModelError(f"no model named {model_id} on the Hugging Face Hub: check the id") from None
    except (hub_http.TransportError, OfflineModeIsEnabled, LocalEntryNotFoundError, ConnectionError) as error:
        raise ModelError(
            f"no network: cannot reach the Hugging Face Hub to download {model_id} ({type(error).__name__}); "
            f"run `riffcast download {model_id}` on a machine with internet, then copy the cache"
        ) from None
    return Path(folder)


def save_components(components: RiffusionComponents, folder: str | Path) -> Path:
    """Write ``components`` as a diffusers folder that :func:`load_components` reads back.

    The layout is ``StableDiffusionPipeline``'s (model_index.json and one folder per part),
    so diffusers' own ``from_pretrained`` reads it too.
    """
    import diffusers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    components.tokenizer.save_pretrained(folder / "tokenizer")
    components.text_encoder.save_pretrained(folder / "text_encoder")
    components.unet.save_pretrained(folder / "unet")
    components.vae.save_pretrained(folder / "vae")
    (folder / "scheduler").mkdir(exist_ok=True)
    scheduler_config = dict(components.scheduler_config)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler_config, indent=2))
    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler_config["_class_name"]],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2))
    return folder


def build_tiny_random(seed: int = 0) -> RiffusionComponents:
    """A tiny Riffusion-architecture pipeline with random weights, on the CPU in float32.

    Same families and data shapes as the real one: 512 × 512 × 3 images ↔ 64 × 64 × 4
    latents (the VAE downsamples three times), 77-token CLIP conditioning, a cross-attention
    UNet; only the widths and depths are small. Equal seeds give equal weights.
    """
    tokenizer = byte_level_clip_tokenizer()
    with _seeded(seed):
        text_encoder = CLIPTextModel(
            _clip_text_config(tokenizer, vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=64, projection_dim=32)
        )
        unet = UNet2DConditionModel(
            sample_size=64,
            layers_per_block=1,
            block_out_channels=(32, 64),
            # Cross-attention only at 32 × 32: attention over all 64 × 64 latents costs the most on a CPU.
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,
        )
        vae = _autoencoder((8, 16, 32, 32), layers_per_block=1, norm_num_groups=8)
    return RiffusionComponents(tokenizer, text_encoder.eval(), unet.eval(), vae.eval(),
                               dict(RIFFUSION_SCHEDULER_CONFIG), TINY_RANDOM)


def build_full_random(seed: int = 0, *, device: str = "cpu") -> RiffusionComponents:
    """Stable Diffusion 1.5's architecture at riffusion-model-v1's exact shapes, random weights.

    UNet 860 M parameters (320/640/1280/1280, 768-wide cross-attention, 8 heads), the SD VAE
    (128/256/512/512, 4 latent channels), CLIP ViT-L/14's text encoder (768 wide, 12 layers).
    Only the tokenizer is smaller (bytes, no merges). Built directly on ``device``
    (``"meta"`` gives the shapes without memory); float32.
    """
    tokenizer = byte_level_clip_tokenizer()
    with _seeded(seed, device), torch.device(device):
        text_encoder = CLIPTextModel(
            _clip_text_config(tokenizer, vocab_size=49408, hidden_size=768, num_hidden_layers=12,
                              num_attention_heads=12, intermediate_size=3072, projection_dim=768)
        )
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
        vae = _autoencoder((128, 256, 512, 512), layers_per_block=2)
    return RiffusionComponents(tokenizer, text_encoder.eval(), unet.eval(), vae.eval(),
                               dict(RIFFUSION_SCHEDULER_CONFIG), FULL_RANDOM)


def _autoencoder(channels: tuple[int, ...], **options) -> AutoencoderKL:
    """An SD-style VAE: four blocks (512 px → 64 latents), 4 latent channels."""
    return AutoencoderKL(
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * len(channels),
        up_block_types=("UpDecoderBlock2D",) * len(channels),
        latent_channels=4,
        sample_size=512,
        **options,
    )


def byte_level_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (alone and word-final), no merges.

    Ids: 0–255 byte symbols, 256–511 the same ending a word (``</w>``), 512 start, 513 end
    (also padding). Any text tokenizes, one token per byte.
    """
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": len(symbols) + index for index, symbol in enumerate(symbols)})
    vocab.update({_BOS: len(vocab), _EOS: len(vocab) + 1})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=CLIP_MAX_TOKENS)


def _clip_text_config(tokenizer: CLIPTokenizer, **sizes: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        max_position_embeddings=CLIP_MAX_TOKENS,
        hidden_act="quick_gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **sizes,
    )


@contextmanager
def _seeded(seed: int, device: str = "cpu") -> Iterator[None]:
    """Seed torch's generators for the block, leaving the caller's random state untouched."""
    place = torch.device(device)
    cuda_devices = [place.index or 0] if place.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


def _download_patterns(repo_files: list[str]) -> list[str]:
    """Configs, tokenizer files and one weights format per network folder."""
    patterns = ["model_index.json"]
    for part in COMPONENT_FOLDERS:
        has_safetensors = any(name.startswith(f"{part}/") and name.endswith(".safetensors") for name in repo_files)
        patterns += [f"{part}/*.json", f"{part}/*.txt", f"{part}/*.safetensors" if has_safetensors else f"{part}/*.bin"]
    return patterns


def _load_folder(folder: Path, dtype: torch.dtype, source: str) -> RiffusionComponents:
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"not a diffusers model folder: {folder} has no model_index.json")
    missing = [f"{part}/" for part in COMPONENT_FOLDERS if not (folder / part).is_dir()]
    if missing:
        raise ModelError(f"incomplete model folder: {folder} is missing {', '.join(missing)}")
    try:
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=dtype)
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype)
        scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"incomplete model folder: {folder} could not be read ({first_line})") from None
    return RiffusionComponents(tokenizer, text_encoder.eval(), unet.eval(), vae.eval(), scheduler_config, source)
