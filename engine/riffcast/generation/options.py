"""The generator options of the command line (``serve`` and ``render`` share them), and the
generator they ask for."""

from __future__ import annotations

import argparse
import sys

from riffcast.generation.factory import GENERATOR_KINDS, GeneratorSettings, make_generator
from riffcast.generation.seeds import BED_NAMES, DEFAULT_BED
from riffcast.generation.sources import DEFAULT_MODEL_ID
from riffcast.generation.types import SYNTH_WINDOW_COLUMNS, Generator

# Defaults of --window-columns, measured in benchmarks/steering.py (latency, cost, seams), for a generator
# that does not name its own (``window_columns``: the synth's SYNTH_WINDOW_COLUMNS).
GPU_WINDOW_COLUMNS = 128
CPU_MODEL_WINDOW_COLUMNS = 512  # a model on the CPU paints an image in seconds: whole chunks


def add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    """``--generator``, ``--model`` and the speed knobs, shared by ``serve`` and ``render``."""
    parser.add_argument(
        "--generator", choices=GENERATOR_KINDS, default="auto",
        help="auto: Riffusion when its weights and a GPU are here, else the procedural synth",
    )
    parser.add_argument(
        "--model", default=DEFAULT_MODEL_ID,
        help="hub id, local diffusers folder, tiny-random or full-random",
    )
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best present)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps at strength 1 (default 25)")
    parser.add_argument("--scheduler", choices=("dpm++", "pndm", "ddim"), default="dpm++", help="sampler")
    parser.add_argument("--attention-slicing", action="store_true", help="less GPU memory, a little slower")
    parser.add_argument("--channels-last", action="store_true", help="NHWC layout (faster on recent GPUs)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet (slow first chunk)")
    parser.add_argument(
        "--window-columns", type=int, default=None,
        help="new columns (10 ms each) painted per image, the rest of its 512 kept as context: 8 … 256, a power "
        "of two, or 512 for whole chunks. Smaller answers steers sooner and paints more images per second of "
        f"audio (default: {SYNTH_WINDOW_COLUMNS} for the synth, {GPU_WINDOW_COLUMNS} for Riffusion on a GPU, "
        f"{CPU_MODEL_WINDOW_COLUMNS} on the CPU)",
    )
    parser.add_argument(
        "--crossfade-columns", type=int, default=None,
        help="window mode: columns before each window's new ones painted again and crossfaded (multiple of 8, default 16)",
    )


def generator_from_args(args: argparse.Namespace) -> Generator:
    """Build the generator the generator options ask for, and say loudly which it is."""
    generator, note = make_generator(
        GeneratorSettings(
            args.generator, args.model, args.device, args.steps, args.scheduler,
            channels_last=args.channels_last, attention_slicing=args.attention_slicing, compile_unet=args.compile,
        )
    )
    if hasattr(generator, "bed"):  # a generator that paints from the seed bed: which bed (a built-in one)
        seed = getattr(args, "seed_image", None) or DEFAULT_BED
        generator.bed = seed if seed in BED_NAMES else None
    print(note, file=sys.stderr)
    return generator
