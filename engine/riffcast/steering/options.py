"""What plays: the command-line options shared by ``riffcast serve`` and ``riffcast render``,
declared once, and the plan they make.

``--prompt`` means the same everywhere, as the ``prompts`` of a ``/control`` steer: several
are blended (equal weights). A sequence of targets over time is a ``--playlist``.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

from riffcast.steering.fields import steer_from_fields
from riffcast.steering.playlist import PlaylistEntry, load_playlist
from riffcast.steering.targets import Target

DEFAULT_PROMPT = "lo-fi hip hop beat with warm piano"


def add_steering_arguments(parser: argparse.ArgumentParser) -> None:
    music = parser.add_argument_group("what plays")
    music.add_argument(
        "--prompt", action="append",
        help=f"text prompt; repeat it to blend several equally (default {DEFAULT_PROMPT!r})",
    )
    music.add_argument(
        "--playlist", type=Path, help="TOML playlist of [[target]] tables with duration_s, played in order and looped",
    )
    music.add_argument("--negative-prompt", default="", help="what the music should not be")
    music.add_argument("--seed", type=int, default=0, help="noise seed; the stream walks on from it")
    music.add_argument("--denoising", type=float, default=0.75, help="img2img strength 0–1 (default 0.75)")
    music.add_argument("--guidance", type=float, default=7.0, help="classifier-free guidance (default 7)")
    music.add_argument("--transition-chunks", type=int, default=4, help="chunks per transition (default 4)")
    add_control_arguments(music)
    music.add_argument("--seed-image", default=None, help="a built-in bed (see `riffcast seeds`), an image or an audio file")


def add_control_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The musical controls: ``--bpm``, ``--key``, ``--brightness``, ``--drums``, ``--bass``."""
    parser.add_argument("--bpm", type=float, default=None, help="tempo, 40–240 beats per minute (default: the prompt's)")
    parser.add_argument("--key", default=None, help="key, e.g. 'A minor', 'F# major', 'Bb major' (default: the prompt's)")
    parser.add_argument("--brightness", type=float, default=0.0, help="-1 dark … 0 as painted … +1 bright (default 0)")
    parser.add_argument("--drums", default="on", help="drums: on, off or only (default on)")
    parser.add_argument("--bass", default="on", help="bass: on, off or only (default on)")


def controls_target(args: argparse.Namespace) -> Target:
    """The options of :func:`add_control_arguments`, checked as every steer is → a target that
    carries them (its prompt is the default's); ValueError (one line) for a bad value."""
    fields = {name: getattr(args, name) for name in ("bpm", "key", "brightness", "drums", "bass")
              if getattr(args, name, None) is not None}
    return steer_from_fields(fields, Target.from_text(DEFAULT_PROMPT)).target


@dataclass(frozen=True)
class Plan:
    """Where the stream starts (``target``, ``transition_chunks``), the playlist that follows
    (empty: the target plays on, walking its seed) and ``configured``, a fingerprint of what
    the command line asked for (a saved state is resumed only for the same one)."""

    target: Target
    transition_chunks: int
    playlist: tuple[PlaylistEntry, ...]
    configured: str


def plan_from_args(args: argparse.Namespace) -> Plan:
    """Check the options of :func:`add_steering_arguments` → :class:`Plan`; ValueError (one
    line) for anything out of range."""
    if args.playlist and args.prompt:
        raise ValueError("give --prompt or --playlist, not both")
    fields = {
        "prompts": [{"text": text} for text in args.prompt or [DEFAULT_PROMPT]],
        "seed": args.seed, "negative_prompt": args.negative_prompt, "denoising": args.denoising,
        "guidance": args.guidance, "transition_chunks": args.transition_chunks,
        **{name: getattr(args, name, None) for name in ("bpm", "key", "brightness", "drums", "bass")
           if getattr(args, name, None) is not None},
    }
    steer = steer_from_fields(fields, Target.from_text(DEFAULT_PROMPT))
    if not args.playlist:
        configured = fingerprint("prompts", repr(steer.target), str(steer.transition_chunks))
        return Plan(steer.target, steer.transition_chunks, (), configured)
    playlist = tuple(load_playlist(args.playlist, steer.target))
    first = playlist[0]
    configured = fingerprint("playlist", str(args.playlist.resolve()), args.playlist.read_text())
    return Plan(first.target, first.transition_chunks or steer.transition_chunks, playlist, configured)


def fingerprint(*parts: str) -> str:
    """A short stable digest of ``parts`` (16 hex digits)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]
