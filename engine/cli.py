"""The ``riffcast`` command line. Each subcommand imports only what it needs, so
``encode``/``decode`` start without torch or diffusers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from riffcast import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (OSError, ValueError) as error:
        print(f"riffcast {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riffcast", description="Riffusion spectrograms → one seamless music stream."
    )
    parser.add_argument("--version", action="version", version=f"riffcast {__version__}")
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
    decode.add_argument("-o", "--output", type=Path, required=True, help="OUT.wav (or .flac, .ogg)")
    decode.add_argument("--iterations", type=int, default=8, help="Fast Griffin-Lim iterations (default 8)")
    decode.add_argument("--force", action="store_true", help="overwrite an existing output file")
    decode.set_defaults(run=_run_decode)

    serve = commands.add_parser("serve", help="run a station (not available yet)")
    serve.set_defaults(run=_run_serve)
    return parser


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(path) for path in paths if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} exists; pass --force to overwrite")


def _run_encode(args: argparse.Namespace) -> int:
    from riffcast.audio_io import read_audio
    from riffcast.codec import audio_to_mel, image_from_mel, save_png, split_chunks
    from riffcast.params import RIFFUSION_V1 as params

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

    from riffcast.audio_io import check_writable_suffix, write_audio
    from riffcast.codec import chunk_from_image, open_image
    from riffcast.params import RIFFUSION_V1 as params
    from riffcast.stitcher import Stitcher

    if args.iterations < 0:
        raise ValueError("--iterations must be ≥ 0")
    check_writable_suffix(args.output)
    _refuse_overwrite([args.output], args.force)
    chunks = []
    for path in args.images:
        try:
            chunks.append(chunk_from_image(open_image(path), params))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") if str(path) not in str(error) else error
    stitcher = Stitcher(params, iterations=args.iterations)
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    samples = np.concatenate([block.samples for block in blocks])
    write_audio(args.output, samples, params.sample_rate)
    print(f"{len(chunks)} image(s) → {args.output} ({samples.size / params.sample_rate:.2f} s)")
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    print(
        "riffcast serve: not available yet — the station (WebSocket server) is the next "
        "milestone. Try `riffcast encode` / `riffcast decode` meanwhile.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
