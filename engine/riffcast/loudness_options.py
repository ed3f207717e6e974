"""``--loudness`` and ``--bandwidth``: the sound options of ``riffcast serve``, ``render`` and ``decode``."""

from __future__ import annotations

import argparse

from riffcast.dsp.bandwidth_settings import DEFAULT_BANDWIDTH_HZ, BandwidthSettings
from riffcast.dsp.level_settings import DEFAULT_TARGET_LUFS, LevelSettings

OFF = "off"


def _number_or_off(option: str, unit: str):
    def parse(text: str) -> float | None:
        if text.strip().lower() == OFF:
            return None
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a number of {unit} or off, got {text!r}") from None
    parse.__name__ = option  # argparse names the option itself in its message
    return parse


def add_loudness_argument(parser: argparse.ArgumentParser, *, default: float | None = DEFAULT_TARGET_LUFS) -> None:
    """``--loudness LUFS|off`` (default ``default``; None: off, as ``decode`` has it)."""
    shown = OFF if default is None else f"{default:g}"
    parser.add_argument(
        "--loudness", type=_number_or_off("--loudness", "LUFS"), default=default, metavar="LUFS|off",
        help=f"integrated loudness to hold, ITU-R BS.1770 (default {shown}; -16 as streaming services, -23 for "
        "EBU R128 broadcast), from the first second, raised only as far as the peaks allow; true peak stays "
        "under -1 dBTP. off: the stitched sound as it is, no level stage",
    )


def level_from_args(args: argparse.Namespace) -> LevelSettings | None:
    """The level stage ``--loudness`` asks for (None: off); ValueError naming the option otherwise."""
    if args.loudness is None:
        return None
    try:
        return LevelSettings(target_lufs=args.loudness)
    except ValueError as error:
        raise ValueError(f"--loudness: {error}") from None


def add_bandwidth_argument(parser: argparse.ArgumentParser) -> None:
    """``--bandwidth HZ|off`` (default 16000)."""
    parser.add_argument(
        "--bandwidth", type=_number_or_off("--bandwidth", "Hz"), default=float(DEFAULT_BANDWIDTH_HZ), metavar="HZ|off",
        help=f"fill the band above the image's 10 kHz up to HZ (default {DEFAULT_BANDWIDTH_HZ}, up to 20000), "
        "its envelope predicted from the image; off: nothing above 10 kHz",
    )


def bandwidth_from_args(args: argparse.Namespace) -> BandwidthSettings | None:
    """The bandwidth extension ``--bandwidth`` asks for (None: off); ValueError naming the option otherwise."""
    top_hz = getattr(args, "bandwidth", float(DEFAULT_BANDWIDTH_HZ))
    if top_hz is None:
        return None
    try:
        return BandwidthSettings(top_hz=top_hz)
    except ValueError as error:
        raise ValueError(f"--bandwidth: {error}") from None
