"""Choose and build the generator for ``--generator auto|riffusion|synth``."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from riffcast.generation.types import Generator

GENERATOR_KINDS = ("auto", "riffusion", "synth")
RIFFUSION_PACKAGES = ("torch", "diffusers", "transformers", "huggingface_hub")  # the `riffusion` extra (with accelerate)
RIFFUSION_EXTRA = "pip install 'riffcast[riffusion]'"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # as models.py tells a hub id from a path


@dataclass(frozen=True)
class GeneratorSettings:
    """What the command line says about generation."""

    kind: str = "auto"
    model: str = "riffusion/riffusion-model-v1"
    device: str | None = None
    steps: int = 25
    scheduler: str = "dpm++"
    channels_last: bool = False
    attention_slicing: bool = False
    compile_unet: bool = False


def make_generator(settings: GeneratorSettings) -> tuple[Generator, str]:
    """Build the generator; also return one line saying which it is and why (for start-up).

    ``auto`` takes Riffusion when its weights are on this machine and a GPU (CUDA or MPS) is
    present, else the procedural synth.
    """
    if settings.kind not in GENERATOR_KINDS:
        raise ValueError(f"unknown generator {settings.kind!r}: choose one of {', '.join(GENERATOR_KINDS)}")
    if settings.kind == "synth":
        return _synth(), "generator: synth (procedural, CPU only, no model weights)"
    # Weights and packages first: those checks import nothing, so a machine without them starts at once.
    missing = missing_riffusion_packages()
    if settings.kind == "riffusion" and missing:
        raise ValueError(f"--generator riffusion needs {', '.join(missing)}, not installed here: {RIFFUSION_EXTRA} "
                         "(or --generator synth)")
    if not weights_present(settings.model) and (settings.kind == "auto" or _HUB_ID.match(settings.model)):
        if settings.kind == "riffusion":  # not a download from the Hub that may hang offline: say what to do
            raise ValueError(f"--generator riffusion: the weights of {settings.model} are not on this machine: get them "
                             f"once with `riffcast download {settings.model}` (or --model tiny-random to try it)")
        return _synth(), (
            f"generator: synth — the weights of {settings.model} are NOT on this machine; "
            f"playing the built-in procedural generator (get them with `riffcast download {settings.model}`)"
        )
    if missing:
        return _synth(), (
            f"generator: synth — {settings.model} is here but {', '.join(missing)} is not installed; playing the "
            f"built-in procedural generator ({RIFFUSION_EXTRA} for Riffusion)"
        )
    from riffcast.generation.models import pick_device  # imports torch and diffusers (seconds)

    device = pick_device(settings.device)
    if settings.kind == "auto" and device == "cpu":
        return _synth(), (
            "generator: synth — NO GPU (CUDA or MPS) on this machine, so Riffusion cannot keep up; "
            "playing the built-in procedural generator (force it with --generator riffusion)"
        )
    return _riffusion(settings, device), f"generator: riffusion ({settings.model} on {device}, {settings.steps} steps, {settings.scheduler})"


def missing_riffusion_packages() -> list[str]:
    """The packages Riffusion needs that are not installed (found without importing them)."""
    return [name for name in RIFFUSION_PACKAGES if importlib.util.find_spec(name) is None]


def weights_present(model: str) -> bool:
    """Whether ``model`` can be loaded without a download (built in memory, a folder, or cached).
    Imports neither torch nor diffusers; without ``huggingface_hub`` (the ``riffusion`` extra) a
    cache folder named for the model counts."""
    from riffcast.generation.sources import FULL_RANDOM, TINY_RANDOM, cached_snapshot, has_cache_folder

    if model in (TINY_RANDOM, FULL_RANDOM) or Path(model).expanduser().is_dir():
        return True
    if importlib.util.find_spec("huggingface_hub") is None:
        return has_cache_folder(model)
    return cached_snapshot(model, None) is not None


def _synth() -> Generator:
    from riffcast.generation.synth import SynthGenerator

    return SynthGenerator()


def _riffusion(settings: GeneratorSettings, device: str) -> Generator:
    from riffcast.generation.models import load_components, pick_dtype
    from riffcast.generation.riffusion import RiffusionGenerator

    dtype = pick_dtype(device)
    components = load_components(settings.model, device=device, dtype=dtype)
    return RiffusionGenerator(
        components,
        device=device,
        dtype=dtype,
        steps=settings.steps,
        scheduler=settings.scheduler,
        channels_last=settings.channels_last,
        attention_slicing=settings.attention_slicing,
        compile_unet=settings.compile_unet,
    )
