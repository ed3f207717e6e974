"""``--loudness``: the level option of ``riffcast serve``, ``render`` and ``decode``."""

from __future__ import annotations

import argparse

from riffcast.dsp.level_settings import DEFAULT_TARGET_LUFS, LevelSettings


def add_loudness_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loudness", type=float, default=DEFAULT_TARGET_LUFS, metavar="LUFS",
        help=f"integrated loudness to hold, ITU-R BS.1770 (default {DEFAULT_TARGET_LUFS:g}, as streaming "
        "services; -23 for EBU R128 broadcast), from the first second; true peak stays under -1 dBTP",
    )


def level_from_args(args: argparse.Namespace) -> LevelSettings:
    """The level stage ``--loudness`` asks for; ValueError naming the option otherwise."""
    try:
        return LevelSettings(target_lufs=args.loudness)
    except ValueError as error:
        raise ValueError(f"--loudness: {error}") from None
