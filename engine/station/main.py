"""``riffcast serve``: check every option, build the station, run it until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys

from pathlib import Path

from riffcast.station.options import DEFAULT_PROMPT
from riffcast.station.programme import Programme
from riffcast.station.state import StateError, StationState, fingerprint, load_state

TOKEN_ENV = "RIFFCAST_CONTROL_TOKEN"
MIN_TOKEN_CHARS = 8


def control_token(given: str | None) -> tuple[str, bool]:
    """The token from the option or the environment, or a new random one → (token, generated)."""
    token = given if given is not None else os.environ.get(TOKEN_ENV)
    if token is None:
        return secrets.token_urlsafe(24), True
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise ValueError(f"the control token must be at least {MIN_TOKEN_CHARS} printable characters without spaces")
    return token, False


def frame_samples(frame_ms: float, sample_rate: int) -> int:
    if not 10.0 <= frame_ms <= 1000.0:
        raise ValueError(f"--frame-ms must be from 10 to 1000, got {frame_ms:g}")
    return round(frame_ms * sample_rate / 1000.0)


def run_serve(args: argparse.Namespace) -> int:
    if args.systemd_unit:
        from importlib import resources

        print(resources.files("riffcast.station").joinpath("riffcast.service").read_text(), end="")
        return 0
    from riffcast.generation.faults import FaultyGenerator, parse_faults
    from riffcast.cli import make_generator_from_args
    from riffcast.generation.types import Target
    from riffcast.params import RIFFUSION_V1 as params
    from riffcast.producer import ChunkProducer
    from riffcast.seeds import DEFAULT_BED, load_seed
    from riffcast.station.feed import Feed
    from riffcast.station.playlist import load_playlist
    from riffcast.station.server import Station, StationConfig
    from riffcast.station.sinks import RecordingSink, SpeakerSink
    from riffcast.stitcher import Stitcher
    from riffcast.walk import check_transition_chunks

    logging.basicConfig(level=logging.INFO, format="riffcast serve: %(message)s", stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("riffcast.access").setLevel(logging.INFO if args.verbose else logging.WARNING)

    # Check everything the user gave before anything runs or is written.
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535, got {args.port}")
    frame = frame_samples(args.frame_ms, params.sample_rate)
    if not 1 <= args.lead_chunks <= 8:
        raise ValueError("--lead-chunks must be from 1 to 8")
    if not 1 <= args.max_listeners <= 100_000:
        raise ValueError("--max-listeners must be from 1 to 100000")
    token, generated = control_token(args.control_token)
    check_transition_chunks(args.transition_chunks)
    defaults = Target.from_text(
        DEFAULT_PROMPT, seed=args.seed, negative_prompt=args.negative_prompt, denoising=args.denoising,
        guidance=args.guidance,
    )
    if args.playlist and args.prompt:
        raise ValueError("give --prompt or --playlist, not both")
    playlist = load_playlist(args.playlist, defaults) if args.playlist else []
    if playlist:
        first = playlist[0]
        target = first.target
        transition = first.transition_chunks or args.transition_chunks
        configured = fingerprint("playlist", str(args.playlist.resolve()), args.playlist.read_text())
    else:
        target = Target.from_text(*(args.prompt or [DEFAULT_PROMPT]), seed=args.seed,
                                  negative_prompt=args.negative_prompt, denoising=args.denoising,
                                  guidance=args.guidance)
        transition = args.transition_chunks
        configured = fingerprint("prompts", repr(target), str(transition))
    programme = Programme(playlist, configured=configured, state_path=args.state)
    if args.state is not None:
        resumed = _resume(args.state, configured)
        if resumed is not None:
            # Walk(target) heads for seed + 1 of its start target: start one seed back, so the
            # station heads exactly where it was heading when the state was saved.
            target = resumed.target.with_seed(resumed.target.seed - 1)
            transition = resumed.transition_chunks
            programme = Programme(playlist, configured=configured, state_path=args.state,
                                  index=resumed.playlist_index, elapsed_s=resumed.entry_elapsed_s)
    if args.record is not None:
        if args.record.suffix.lower() != ".wav":
            raise ValueError(f"{args.record}: --record writes a .wav file")
        if args.record.exists() and not args.force:
            raise FileExistsError(f"{args.record} exists; pass --force to overwrite it")
        if not args.record.parent.is_dir():
            raise FileNotFoundError(f"{args.record.parent}: no such folder for --record")
    faults = parse_faults(args.inject_faults) if args.inject_faults else []
    if args.play:
        from riffcast.client.player import check_output_device

        check_output_device()
    seed_image = load_seed(args.seed_image or DEFAULT_BED, params)

    generator = make_generator_from_args(args)
    if faults:
        generator = FaultyGenerator(generator, faults)
        print(f"riffcast serve: injecting faults: {args.inject_faults}", file=sys.stderr)
    producer = ChunkProducer(generator, target, seed_image, transition_chunks=transition)
    feed = Feed(producer, Stitcher(params), params, lead_chunks=args.lead_chunks)
    sinks = [RecordingSink(args.record, params.sample_rate)] if args.record else []
    if args.play:
        sinks.append(SpeakerSink(params.sample_rate))
    config = StationConfig(
        control_token=token, name=args.station, host=args.host, port=args.port, frame_samples=frame,
        max_listeners=args.max_listeners,
    )
    station = Station(config, feed, generator_name=getattr(generator, "name", type(generator).__name__), sinks=sinks)
    asyncio.run(_serve(station, programme, token if generated else None))
    print("riffcast serve: stopped", file=sys.stderr)
    return 0


def _resume(path: Path, configured: str) -> StationState | None:
    """The saved state if it is for this configuration; a damaged file is kept aside."""
    if path.suffix.lower() != ".json" or not path.parent.is_dir():
        raise ValueError(f"{path}: --state needs a .json file in an existing folder")
    try:
        saved = load_state(path)
    except StateError as error:
        aside = path.with_name(path.name + ".damaged")
        os.replace(path, aside)
        print(f"riffcast serve: {error}; kept as {aside}, starting fresh", file=sys.stderr)
        return None
    if saved is None:
        return None
    if saved.configured != configured:
        print(f"riffcast serve: {path} was saved for other prompts or another playlist: starting fresh",
              file=sys.stderr)
        return None
    print(f"riffcast serve: resuming from {path}: target {saved.playlist_index + 1}, "
          f"{saved.entry_elapsed_s:.0f} s in, seed {saved.target.seed}", file=sys.stderr)
    return saved


async def _serve(station, programme: Programme, generated_token: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def announce(station) -> None:
        host = station.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        base = f"http://{shown}:{station.bound_port}/"
        print(f'riffcast serve: station "{station.config.name}" on {base} '
              f"(listeners: ws://{shown}:{station.bound_port}/stream)", file=sys.stderr)
        if generated_token:
            print("riffcast serve: control token made for this run; open the player with control at:\n"
                  f"    {base}#token={generated_token}", file=sys.stderr)
        else:
            print(f"riffcast serve: control at ws://{shown}:{station.bound_port}/control with the token you gave",
                  file=sys.stderr)

    scheduler = asyncio.create_task(programme.run(station))
    try:
        await station.run(stop, on_ready=announce)
    finally:
        scheduler.cancel()
        programme.save(station)
