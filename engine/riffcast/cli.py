"""The ``riffcast`` command line. Each subcommand imports only what it needs, so
``encode``/``decode`` start without torch or diffusers, and this module imports nothing but the
standard library before :func:`main` runs: Ctrl-C at any moment is exit 130 without a traceback."""

from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    try:
        from riffcast.ops.interrupts import watch_interrupts

        watch_interrupts()
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting (imports, parsing) or anywhere outside a command
        return 130


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, not the top level's, with the option that was meant
        _unknown_arguments(parser, args.command, unknown)
    from riffcast.ops.interrupts import interrupted_while_starting

    if interrupted_while_starting():  # a Ctrl-C came while the parser's imports ran
        raise KeyboardInterrupt
    from riffcast.ops.blas import use_one_blas_thread

    use_one_blas_thread()
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # `riffcast seeds | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail
        return 1
    except ValueError as error:
        from riffcast_client.output_file import EXIT_BAD_OUTPUT, OutputFileError

        print(f"riffcast {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_OUTPUT if isinstance(error, OutputFileError) else 1
    except OSError as error:
        print(f"riffcast {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _unknown_arguments(parser: argparse.ArgumentParser, command: str, unknown: list[str]) -> None:
    """Exit as the subcommand's parser does for arguments it does not know, naming the closest option."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = subparsers.choices[command]
    options = [s for action in sub._actions for s in action.option_strings]
    first = next((u.split("=", 1)[0] for u in unknown if u.startswith("-")), None)
    close = difflib.get_close_matches(first, options, n=2) if first else []
    sub.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))


def _parser() -> argparse.ArgumentParser:
    from riffcast import __version__
    from riffcast.dsp.phase_settings import DEFAULT_ITERATIONS
    from riffcast.generation.options import add_generator_arguments
    from riffcast.history.replay_command import add_replay_command
    from riffcast.loudness_options import add_bandwidth_argument, add_loudness_argument
    from riffcast.steering.options import add_control_arguments, add_steering_arguments
    from riffcast_client.output_file import EXTENSIONS

    parser = argparse.ArgumentParser(
        prog="riffcast", description="Riffusion spectrograms → one seamless music stream."
    )
    parser.add_argument("--version", action="version", version=f"riffcast {__version__}")
    output_help = (f"the audio file to write: {EXTENSIONS} (the extension picks the format); an existing file is "
                   "refused unless --force")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    encode = commands.add_parser(
        "encode", help="audio file → Riffusion spectrogram image(s)",
        description="Encode audio as Riffusion spectrogram PNGs (5.12 s per image). Audio "
        "longer than one image gives OUT-000.png, OUT-001.png, … in time order.",
    )
    encode.add_argument("audio", type=Path, help="WAV, FLAC or OGG; any rate, mono or stereo")
    encode.add_argument("-o", "--output", type=Path, required=True, help="OUT.png")
    encode.add_argument("--force", action="store_true", help="overwrite existing images")
    encode.set_defaults(run=_run_encode)

    decode = commands.add_parser(
        "decode", help="spectrogram image(s) → one stitched audio file",
        description="Decode Riffusion spectrogram images, stitched seamlessly in the order given.",
    )
    decode.add_argument("images", type=Path, nargs="+", help="PNG or JPEG, 512 pixels high")
    decode.add_argument("-o", "--output", type=Path, required=True, help=output_help)
    decode.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                        help=f"phase iterations per 40 ms round (default {DEFAULT_ITERATIONS})")
    add_loudness_argument(decode, default=None)
    add_bandwidth_argument(decode)
    add_control_arguments(decode)
    decode.add_argument("--force", action="store_true", help="replace an existing output file")
    decode.set_defaults(run=_run_decode)

    render = commands.add_parser(
        "render", help="the engine offline into an audio file",
        description="Generate music offline with the same producer and stream assembly as the station, "
        "as fast as the machine allows. Several --prompt values are blended, as on a station; a "
        "--playlist is followed by stream time. Same arguments → same file, bit for bit.",
    )
    render.add_argument("--duration", type=float, default=30.0, help="seconds of audio (default 30)")
    render.add_argument("-o", "--output", type=Path, required=True, help=output_help)
    add_steering_arguments(render)
    add_generator_arguments(render)
    add_loudness_argument(render)
    add_bandwidth_argument(render)
    render.add_argument("--force", action="store_true", help="replace an existing output file")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    render.set_defaults(run=_run_render)

    add_replay_command(commands)

    seeds = commands.add_parser("seeds", help="list the built-in seed images (beds)")
    seeds.set_defaults(run=_run_seeds)

    download = commands.add_parser("download", help="fetch model weights once, for offline use")
    download.add_argument("model", nargs="?", default="riffusion/riffusion-model-v1", help="hub id")
    download.set_defaults(run=_run_download)

    serve = commands.add_parser(
        "serve", help="run a station: generate music and stream it to listeners",
        description="Run a station: generate an endless stream and serve it over WebSockets "
        "(/stream), with steering (/control), a browser player (/), /healthz and /metrics.",
    )
    from riffcast.station.options import add_serve_arguments

    add_serve_arguments(serve)
    add_bandwidth_argument(serve)
    add_generator_arguments(serve)
    serve.set_defaults(run=_run_serve)

    listen = commands.add_parser(
        "listen", help="play and/or record a station",
        description="Listen to a riffcast/1 station: play it on the sound card and/or record it.",
    )
    from riffcast_client.cli import add_listen_arguments, run_listen

    add_listen_arguments(listen)
    listen.set_defaults(run=run_listen)
    return parser


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(path) for path in paths if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} exists; pass --force to overwrite")


def _run_encode(args: argparse.Namespace) -> int:
    from riffcast.audio_io import read_audio
    from riffcast.dsp.codec import audio_to_mel, image_from_mel, save_png, split_chunks
    from riffcast.dsp.params import RIFFUSION_V1 as params

    if args.output.suffix.lower() != ".png":
        raise ValueError(f"{args.output}: output must be a .png file")
    audio = read_audio(args.audio, params.sample_rate)
    chunks = split_chunks(audio_to_mel(audio, params), params)
    if len(chunks) == 1:
        outputs = [args.output]
    else:
        stem = args.output.with_suffix("")
        outputs = [Path(f"{stem}-{index:03d}.png") for index in range(len(chunks))]
    _refuse_overwrite(outputs, args.force)
    for mel, path in zip(chunks, outputs):
        save_png(image_from_mel(mel, params), path)
    print(f"{args.audio} → {len(outputs)} image(s): {outputs[0]}" + (f" … {outputs[-1]}" if len(outputs) > 1 else ""))
    return 0


def _run_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from riffcast.dsp.codec import mel_image_from, open_image
    from riffcast.dsp.params import RIFFUSION_V1 as params
    from riffcast.loudness_options import bandwidth_from_args, level_from_args
    from riffcast.pipeline.conducting import conducted_images, controls_of
    from riffcast.pipeline.stitcher import Stitcher
    from riffcast.steering.options import controls_target
    from riffcast_client.output_file import check_output_file, write_file

    if args.iterations < 0:
        raise ValueError("--iterations must be ≥ 0")
    controls = controls_of(controls_target(args))
    check_output_file(args.output, "-o", force=args.force)
    level = level_from_args(args)
    bandwidth = bandwidth_from_args(args)
    chunks = []
    for path in args.images:
        try:
            chunks.append(mel_image_from(open_image(path), params))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") if str(path) not in str(error) else error
    stitcher = Stitcher(params, iterations=args.iterations, level=level, bandwidth=bandwidth)
    images = len(chunks)
    if controls.active:  # tempo, key, brightness or stems asked: the conductor between images and stitcher
        chunks = list(conducted_images(chunks, controls, params))
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    samples = np.concatenate([block.samples for block in blocks])
    write_file(args.output, samples, params.sample_rate, option="-o", force=args.force)
    print(f"{images} image(s) → {args.output} ({samples.size / params.sample_rate:.2f} s)")
    return 0


def _run_render(args: argparse.Namespace) -> int:
    try:
        return _render(args)
    except KeyboardInterrupt:  # before the first image: still nothing written
        print(f"riffcast render: interrupted; nothing written to {args.output}", file=sys.stderr)
        return 130


def _render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from riffcast.dsp.params import RIFFUSION_V1 as params
    from riffcast.generation.options import generator_from_args
    from riffcast.generation.seeds import DEFAULT_BED, load_seed
    from riffcast.loudness_options import bandwidth_from_args, level_from_args
    from riffcast.pipeline.layout_options import check_layout_arguments, layout_from_args
    from riffcast.pipeline.producer import ImageProducer
    from riffcast.pipeline.render import render
    from riffcast.station.main import plan_in_option_words
    from riffcast.steering.walk import Walk
    from riffcast_client.output_file import check_output_file, write_file

    # Check everything the user gave before anything runs.
    check_output_file(args.output, "-o", force=args.force)
    if not (0 < args.duration <= 24 * 3600):
        raise ValueError("--duration must be between 0 and 86400 seconds")
    plan = plan_in_option_words(args)
    level = level_from_args(args)
    bandwidth = bandwidth_from_args(args)
    check_layout_arguments(args)
    seed_image = load_seed(args.seed_image or DEFAULT_BED, params)
    generator = generator_from_args(args)
    walk = Walk(plan.target, transition_chunks=plan.transition_chunks)
    layout = layout_from_args(args, generator)
    producer = ImageProducer(generator, walk, seed_image, layout=layout)
    total = layout.windows_for(math.ceil(args.duration * params.sample_rate / params.hop_samples))
    with tqdm(total=total, unit="image", desc="render", disable=args.quiet, file=sys.stderr) as bar:
        try:
            samples, summary = render(
                producer, duration_s=args.duration, params=params, playlist=plan.playlist,
                on_chunk=lambda chunk: bar.update(1), level=level, bandwidth=bandwidth,
            )
        except KeyboardInterrupt:  # nothing is written until the end: say so, rather than nothing
            bar.close()
            print(f"riffcast render: interrupted after {bar.n} of {total} images; nothing written to {args.output}",
                  file=sys.stderr)
            return 130
    write_file(args.output, samples, params.sample_rate, option="-o", force=args.force)
    print(f"{args.output}: {summary.describe()}")
    return 0


def _run_seeds(args: argparse.Namespace) -> int:
    from riffcast.generation.seeds import describe_beds

    print(describe_beds())
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from riffcast.generation.factory import RIFFUSION_EXTRA, missing_riffusion_packages

    if missing := missing_riffusion_packages():
        raise ValueError(f"the weights are for Riffusion, which needs {', '.join(missing)}: {RIFFUSION_EXTRA}")
    from riffcast.generation.models import download

    folder = download(args.model)
    print(f"{args.model} → {folder}")
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    from riffcast.station.main import run_serve

    return run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
