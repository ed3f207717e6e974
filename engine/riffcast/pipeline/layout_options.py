"""The stream layout the command line asks for (``--window-columns``, ``--crossfade-columns``,
defined with the generator options), or the default for the generator that paints."""

from __future__ import annotations

import argparse

from riffcast.generation.options import CPU_MODEL_WINDOW_COLUMNS, GPU_WINDOW_COLUMNS
from riffcast.generation.types import Generator
from riffcast.pipeline.layout import StreamLayout


def check_layout_arguments(args: argparse.Namespace) -> None:
    """Refuse window settings that cannot work, before anything runs (one-line ValueError)."""
    if args.window_columns is None:
        if args.crossfade_columns is not None:
            layout_from(args.crossfade_columns, GPU_WINDOW_COLUMNS)
        return
    layout_from(args.crossfade_columns, args.window_columns)


def layout_from(crossfade_columns: int | None, window_columns: int) -> StreamLayout:
    try:
        return StreamLayout.windows(window_columns, crossfade_columns=crossfade_columns)
    except ValueError as error:
        raise ValueError(f"--window-columns/--crossfade-columns: {error}") from None


def layout_from_args(args: argparse.Namespace, generator: Generator) -> StreamLayout:
    """The stream layout the options ask for, or the default for ``generator``: the window it names
    (``window_columns``, also through a wrapper such as the faults'), else by its device."""
    window = args.window_columns
    if window is None:
        device = getattr(getattr(generator, "device", None), "type", None)
        window = getattr(generator, "window_columns", None) or (
            GPU_WINDOW_COLUMNS if device in ("cuda", "mps") else CPU_MODEL_WINDOW_COLUMNS)
    return layout_from(args.crossfade_columns, window)
