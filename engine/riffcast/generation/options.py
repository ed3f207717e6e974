"""The generator options of the command line (``serve`` and ``render`` share them), and the
generator they ask for."""

from __future__ import annotations

import argparse
import sys

from riffcast.generation.factory import GENERATOR_KINDS, GeneratorSettings, make_generator
from riffcast.generation.sources import DEFAULT_MODEL_ID
from riffcast.generation.types import Generator


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


def generator_from_args(args: argparse.Namespace) -> Generator:
    """Build the generator the generator options ask for, and say loudly which it is."""
    generator, note = make_generator(
        GeneratorSettings(
            args.generator, args.model, args.device, args.steps, args.scheduler,
            channels_last=args.channels_last, attention_slicing=args.attention_slicing, compile_unet=args.compile,
        )
    )
    print(note, file=sys.stderr)
    return generator
