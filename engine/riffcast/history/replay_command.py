"""The ``riffcast replay`` command: its options and its run (the work is :mod:`riffcast.history.replay`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPLAY_DESCRIPTION = (
    "Paint and stitch again what a station aired between two moments, from its as-run log "
    "(--as-run): the same generator, seeds, steers and audio chain. For the synth the images are "
    "the aired ones, and so is the audio, sample for sample, where no underrun repeat aired before.")


def add_replay_command(commands) -> None:
    """``replay --as-run PATH --from ISO --to ISO -o OUT.wav`` (and the generator options, for Riffusion)."""
    from riffcast.dsp.phase_settings import DEFAULT_ITERATIONS
    from riffcast.generation.options import add_generator_arguments

    replay = commands.add_parser("replay", help="any aired stretch again, from the as-run log",
                                 description=REPLAY_DESCRIPTION)
    replay.add_argument("--as-run", type=Path, required=True, metavar="PATH", help="the station's as-run log")
    replay.add_argument("--from", dest="since", required=True, metavar="ISO",
                        help="UTC start, e.g. 2026-12-07T21:14:03Z")
    replay.add_argument("--to", dest="until", required=True, metavar="ISO", help="UTC end")
    replay.add_argument("-o", "--output", type=Path, required=True, help="OUT.wav (or .flac, .ogg, .opus, .mp3)")
    replay.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                        help=f"phase iterations per 40 ms round (default {DEFAULT_ITERATIONS}, as the station)")
    replay.add_argument("--force", action="store_true", help="overwrite an existing output file")
    replay.add_argument("--images", type=Path, metavar="DIR",
                        help="also write the range's images into DIR (an existing folder), INDEX.png each, as the "
                             "station served them")
    add_generator_arguments(replay)
    replay.set_defaults(run=run_replay)


def read_lines(path: Path) -> list[dict]:
    """The log's JSON lines (a line cut short by a crash, the last, is left out)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such as-run log")
    lines = []
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, 1):
            try:
                lines.append(json.loads(text))
            except ValueError:
                if text.endswith("\n"):
                    raise ValueError(f"{path}, line {number}: not a JSON line of an as-run log") from None
    return lines


def run_replay(args: argparse.Namespace) -> int:
    from riffcast.dsp.bandwidth_settings import BandwidthSettings
    from riffcast.dsp.level_settings import LevelSettings
    from riffcast.dsp.params import RIFFUSION_V1 as params
    from riffcast.generation.options import generator_from_args
    from riffcast.generation.seeds import load_seed
    from riffcast.history.replay import plan, replay
    from riffcast.history.segments import parse_time
    from riffcast.pipeline.assembly import StreamAssembly
    from riffcast.pipeline.layout_options import layout_from
    from riffcast.pipeline.records import encode_png
    from riffcast_client.output_file import check_output_file, write_file

    check_output_file(args.output, "-o", force=args.force)  # the one rule for every audio file (docs/outputs.md)
    if args.images is not None and not args.images.is_dir():
        raise FileNotFoundError(f"--images {args.images}: no such folder")
    since_s, until_s = parse_time(args.since, "--from"), parse_time(args.until, "--to")
    found = plan(read_lines(args.as_run), since_s, until_s, utc_s=lambda text: parse_time(text, "utc"))
    run = found.run
    args.generator = "synth" if run["generator"].startswith("synth") else "riffusion"
    args.model = run["model"] or args.model
    args.steps, args.scheduler = run.get("steps", args.steps), run.get("scheduler", args.scheduler)  # as painted
    args.seed_image = run["seed_image"]  # a generator that paints from a built-in bed at an asked bpm needs its name
    generator = generator_from_args(args)
    layout = layout_from(run["crossfade_columns"], run["window_columns"])
    level = None if run["loudness"] is None else LevelSettings(target_lufs=run["loudness"])
    bandwidth = None if run["bandwidth"] is None else BandwidthSettings(top_hz=run["bandwidth"])
    if args.iterations < 0:
        raise ValueError("--iterations must be ≥ 0")
    assembly = StreamAssembly(params, layout=layout, level=level, bandwidth=bandwidth, iterations=args.iterations)
    def keep(index: int, image) -> None:
        if args.images is not None and found.first <= index <= found.last:
            (args.images / f"{index}.png").write_bytes(encode_png(image))

    audio = replay(found, generator=generator, seed_image=load_seed(run["seed_image"], params), layout=layout,
                   assembly=assembly, on_image=keep)
    write_file(args.output, audio, params.sample_rate, option="-o", force=args.force)
    repeats = f"; {found.repeats} underrun repeat(s) in the range painted as the generator would have" \
        if found.repeats else ""
    print(f"{args.output}: {audio.size / params.sample_rate:.2f} s from stream position {found.position} "
          f"(images {found.first}–{found.last} of the run started {run['utc']}){repeats}")
    return 0
