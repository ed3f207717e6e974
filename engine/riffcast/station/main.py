"""``riffcast serve``: check every option, build the station, run it until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import errno
import faulthandler
import logging
import os
import re
import secrets
import signal
import socket
import ssl
import sys
from pathlib import Path

from riffcast.delivery.icecast import parse_target
from riffcast.loudness_options import bandwidth_from_args, level_from_args
from riffcast.ops.interrupts import interrupted_while_starting
from riffcast.ops.limits import listener_cap, raise_open_files_limit
from riffcast.steering.options import Plan, plan_from_args
from riffcast.steering.programme import Programme
from riffcast.steering.state import StationState, check_state_path, resume
from riffcast.steering.walk import Walk

TOKEN_ENV = "RIFFCAST_CONTROL_TOKEN"
MIN_TOKEN_CHARS = 8
STOP_DEADLINE_S = 8.0  # a shutdown takes under 2 s; past this, stacks are printed and the process exits



MAX_HLS_WINDOW_S = 24 * 3600.0


def run_settings(args, producer, seed: str, generator_name: str, sample_rate: int) -> dict:
    """The as-run log's ``run`` line: what ``riffcast replay`` needs to paint and stitch this run's
    images again (riffcast.history.replay)."""
    from riffcast.steering.state import walk_document

    return {"generator": generator_name, "model": args.model if generator_name == "riffusion" else "",
            "seed_image": seed, "window_columns": producer.layout.window_columns,
            "crossfade_columns": producer.layout.crossfade_columns, "walk": walk_document(producer.walk.position),
            "loudness": args.loudness, "bandwidth": args.bandwidth, "sample_rate": sample_rate,
            "steps": args.steps, "scheduler": args.scheduler}


def link_latency_s(args) -> float | None:
    """``--link``'s latency in seconds (None without ``--link``); one line and nothing started when
    the latency is out of range or Link's binding is missing."""
    if not 0 <= args.link_latency_ms <= 10_000:
        raise ValueError(f"--link-latency-ms must be from 0 to 10000, got {args.link_latency_ms:g}")
    if not args.link:
        return None
    from riffcast.station.link import load_aalink

    load_aalink()
    return args.link_latency_ms / 1000.0

def control_token(given: str | None) -> tuple[str, bool]:
    """The token from the option or the environment, or a new random one → (token, generated)."""
    from riffcast.station.http import valid_token

    token = given if given is not None else os.environ.get(TOKEN_ENV)
    if token is None:
        made = secrets.token_urlsafe(24)
        while made.startswith("-"):  # pasted after --control-token, it would read as an option
            made = secrets.token_urlsafe(24)
        return made, True
    if len(token) < MIN_TOKEN_CHARS or not valid_token(token):
        # The player sends it as the subprotocol "bearer.<token>": HTTP token characters only.
        raise ValueError(f"the control token must be at least {MIN_TOKEN_CHARS} characters among A-Z a-z 0-9 "
                         "and - . _ ~ ! # $ % & ' * + ^ ` | (no spaces, quotes, slashes or =)")
    return token, False


# A steer field as the command line names it (serve and render): the checks speak /control's words.
_FIELD_OPTIONS = (
    (re.compile(r"^prompts\[\d+\]\.text must not be empty"), "--prompt must not be empty: say what should play, "
                                                                "e.g. --prompt 'lo-fi piano, rain'"),
    (re.compile(r"^prompts\[\d+\]\.text"), "--prompt"),
    (re.compile(r"^negative_prompt"), "--negative-prompt"),
    (re.compile(r"^(seed|denoising|guidance)\b"), r"--\1"),
)


def plan_in_option_words(args: argparse.Namespace) -> Plan:
    """:func:`plan_from_args`, its errors naming the option given (``--prompt``), not the field."""
    try:
        return plan_from_args(args)
    except ValueError as error:
        message = str(error)
        for field, option in _FIELD_OPTIONS:
            if field.search(message):
                raise ValueError(field.sub(option, message, count=1)) from None
        raise


def check_address(host: str, port: int) -> None:
    """ValueError in one line, naming the option, unless the station could listen on ``host``:``port``
    now: a host name that does not resolve, an address not on this machine, a port in use."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise ValueError(f"--host {host}: not an address of this machine nor a name it can resolve "
                         "(use 127.0.0.1 for this machine only, 0.0.0.0 for every network)") from None
    unavailable = 0  # addresses of a family this machine lacks: the server skips them too (bpo-30945)
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise ValueError(f"--port {port}: already in use on {host} (another station?): stop it, or "
                                     "choose another --port (0: any free one)") from None
                if error.errno == errno.EACCES:
                    raise ValueError(f"--port {port}: ports below 1024 need root; choose --port 1024 or above") from None
                if error.errno != errno.EADDRNOTAVAIL:
                    raise ValueError(f"--host {host} --port {port}: cannot listen there ({error.strerror})") from None
                unavailable += 1
    if unavailable == len(addresses):
        raise ValueError(f"--host {host}: not an address of this machine "
                         "(use 127.0.0.1 for this machine only, 0.0.0.0 for every network)")


def frame_samples(frame_ms: float, sample_rate: int) -> int:
    if not 10.0 <= frame_ms <= 1000.0:
        raise ValueError(f"--frame-ms must be from 10 to 1000, got {frame_ms:g}")
    return round(frame_ms * sample_rate / 1000.0)


def run_serve(args: argparse.Namespace) -> int:
    if args.systemd_unit:
        from riffcast.station.systemd_unit import unit_for_this_command

        print(unit_for_this_command(args), end="")
        return 0
    from riffcast.delivery.sinks import RecordingSink, SpeakerSink
    from riffcast.dsp.params import RIFFUSION_V1 as params
    from riffcast.generation.faults import FaultyGenerator, parse_faults
    from riffcast.generation.options import generator_from_args
    from riffcast.generation.seeds import DEFAULT_BED, bed_beats, load_seed
    from riffcast.ops.systemd import log_formatter
    from riffcast.pipeline.feed import Feed
    from riffcast.pipeline.layout_options import check_layout_arguments, layout_from_args
    from riffcast.pipeline.producer import ImageProducer
    from riffcast.station.server import Station, StationConfig, StationFailure

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(sys.stderr))  # time and level; under journald the level only
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("websockets").setLevel(logging.WARNING)
    from riffcast.ops.memory import tune_allocator

    # Before any worker thread; with the feed's malloc_trim per chunk this keeps resident memory
    # flat over weeks (16 MiB: a quarter of the page faults a 1 MiB threshold costs).
    tune_allocator(mmap_threshold=16 << 20)
    logging.getLogger("riffcast.access").setLevel(logging.INFO if args.verbose else logging.WARNING)
    if args.verbose:  # listener joins and leaves are debug lines
        logging.getLogger("riffcast.station").setLevel(logging.DEBUG)

    # Check everything the user gave before anything runs or is written.
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535, got {args.port}")
    if args.osc_port is not None and not 0 <= args.osc_port <= 65535:
        raise ValueError(f"--osc-port must be from 0 to 65535, got {args.osc_port}")
    check_address(args.host, args.port)  # before the generator's banner and its seconds of start-up
    frame = frame_samples(args.frame_ms, params.sample_rate)
    level, bandwidth = level_from_args(args), bandwidth_from_args(args)
    icecast = tuple(parse_target(url) for url in args.icecast or ())
    tls = tls_context(args.tls_cert, args.tls_key)
    if not 1 <= args.lead_chunks <= 8:
        raise ValueError("--lead-chunks must be from 1 to 8")
    check_layout_arguments(args)
    if args.max_listeners is not None and not 1 <= args.max_listeners <= 100_000:
        raise ValueError("--max-listeners must be from 1 to 100000")
    cap = listener_cap(args.max_listeners, raise_open_files_limit())
    if cap.lowered_from is not None:
        print(f"riffcast serve: --max-listeners {cap.lowered_from} lowered to {cap.listeners}: the open-files "
              f"limit is {cap.open_files} (raise it with ulimit -n or LimitNOFILE=)", file=sys.stderr)
    token, generated = control_token(args.control_token)
    plan = plan_in_option_words(args)
    walk = Walk(plan.target, transition_chunks=plan.transition_chunks)
    programme = Programme(list(plan.playlist), configured=plan.configured, state_path=args.state)
    if args.state is not None:
        resumed = _resume(args.state, plan.configured)
        if resumed is not None:  # carry on exactly where the walk was when the state was saved
            walk = Walk.resume(resumed.walk)
            programme = Programme(list(plan.playlist), configured=plan.configured, state_path=args.state,
                                  index=resumed.playlist_index, elapsed_s=resumed.entry_elapsed_s)
    record_split_s = None
    if args.record is not None:
        from riffcast.delivery.archive import check_record_path

        check_record_path(args.record)  # an existing file is fine: the next part goes beside it
    if args.as_run is not None:
        from riffcast.history.log_file import check_as_run_path

        check_as_run_path(args.as_run)
    if args.record_split is not None:
        from riffcast.delivery.archive import parse_duration

        if args.record is None and args.as_run is None:
            raise ValueError("--record-split needs --record or --as-run")
        record_split_s = parse_duration(args.record_split, "--record-split")
    from riffcast.delivery.archive import parse_duration

    hls_window_s = parse_duration(args.hls_window, "--hls-window")
    if hls_window_s > MAX_HLS_WINDOW_S:
        raise ValueError(f"--hls-window: at most {MAX_HLS_WINDOW_S / 3600:g}h (about 9 GB on disk), got {args.hls_window!r}")
    if args.hls_window_dir is not None:
        from riffcast.delivery.segment_store import check_folder

        check_folder(args.hls_window_dir)
    faults = parse_faults(args.inject_faults) if args.inject_faults else []
    if args.play:
        from riffcast_client.player import check_output_device

        check_output_device(hint="(leave out --play to serve without this machine's sound card)")
    seed = args.seed_image or DEFAULT_BED
    seed_image = load_seed(seed, params)
    osc_socket = None
    if args.osc_port is not None:
        from riffcast.station.osc_endpoint import bind_osc_socket

        osc_socket = bind_osc_socket(args.osc_host, args.osc_port)  # a port in use: one line, nothing written

    generator = generator_from_args(args)
    if faults:
        generator = FaultyGenerator(generator, faults)
        print(f"riffcast serve: injecting faults: {args.inject_faults}", file=sys.stderr)
    producer = ImageProducer(generator, walk, seed_image, layout=layout_from_args(args, generator),
                             bed_beats=bed_beats(seed))
    feed = Feed(producer, params, lead_chunks=args.lead_chunks, level=level, bandwidth=bandwidth)
    sinks = [RecordingSink(args.record, params.sample_rate, split_s=record_split_s)] if args.record else []
    if args.play:
        sinks.append(SpeakerSink(params.sample_rate))
    config = StationConfig(
        control_token=token, name=args.station, host=args.host, port=args.port, frame_samples=frame,
        max_listeners=cap.listeners, allowed_origins=tuple(args.allow_origin or ()), icecast=icecast,
        tls=tls, link_latency_s=link_latency_s(args), hls_window_s=hls_window_s, hls_window_dir=args.hls_window_dir,
    )
    generator_name = getattr(generator, "name", type(generator).__name__)
    from riffcast.history.log_file import AsRunLog

    as_run = AsRunLog(args.as_run, generator=generator_name, model=args.model if generator_name == "riffusion" else "",
                      split_s=record_split_s)
    as_run.started(run_settings(args, producer, seed, generator_name, params.sample_rate))
    station = Station(config, feed, generator_name=generator_name, sinks=sinks, as_run=as_run)
    station.checks.append(programme.problem)
    from riffcast.ops.systemd import notifier

    # Type=notify: systemd counts the station as started when it plays (the model loaded, the first
    # chunk painted), and from then on expects WATCHDOG=1, sent only while the clock ticks and the
    # producer paints.
    station.on_playing = notifier().ready
    station.on_alive = notifier().watchdog
    try:
        asyncio.run(_serve(station, programme, token if generated else None, osc_socket))
    except StationFailure as failure:
        print(f"riffcast serve: error: {failure}; exiting for the supervisor to restart the station", file=sys.stderr)
        _exit_past_busy_workers(1)
        return 1
    print("riffcast serve: stopped", file=sys.stderr)
    _exit_past_busy_workers(0)
    return 0


def _exit_past_busy_workers(code: int, wait_s: float = 1.0) -> None:
    """Everything is saved and closed; if a generator or stitcher thread is still inside native
    code (a paint, a numba kernel, torch's thread pool), wait up to ``wait_s`` for it, then leave
    with ``os._exit``: finalizing the interpreter under a running native thread pool aborts the
    process ("terminate called without an active exception", SIGABRT) instead of exiting."""
    import threading
    import time

    deadline = time.monotonic() + wait_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _resume(path: Path, configured: str) -> StationState | None:
    """The saved state if it is for this configuration; a damaged file is set aside."""
    check_state_path(path)
    return resume(path, configured, lambda line: print(f"riffcast serve: {line}", file=sys.stderr))


async def _serve(station, programme: Programme, generated_token: str | None, osc_socket=None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop() -> None:
        """Ctrl-C or SIGTERM: stop, and should the shutdown ever hang, print every thread's stack
        and exit (code 1) after STOP_DEADLINE_S rather than hold the supervisor's restart."""
        stop.set()
        faulthandler.dump_traceback_later(STOP_DEADLINE_S, exit=True)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, request_stop)
    if interrupted_while_starting():  # a Ctrl-C during start-up that Python's import machinery swallowed
        request_stop()
    loop.set_exception_handler(_quiet_loop_errors())

    def announce(station) -> None:
        host = station.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        secure = station.config.tls is not None
        base = f"{'https' if secure else 'http'}://{shown}:{station.bound_port}/"
        sockets = f"{'wss' if secure else 'ws'}://{shown}:{station.bound_port}"
        print(f'riffcast serve: station "{station.config.name}" on {base} '
              f"(listeners: {sockets}/stream)", file=sys.stderr)
        print(f"riffcast serve: for any player: {base}live.mp3 · HLS: {base}hls/live.m3u8", file=sys.stderr)
        if generated_token:
            print("riffcast serve: control token made for this run; open the player with control at:\n"
                  f"    {base}#token={generated_token}", file=sys.stderr)
        else:
            print(f"riffcast serve: control at {sockets}/control with the token you gave",
                  file=sys.stderr)

    from riffcast.history.as_run import Source
    from riffcast.history.steers import LoggedSteering

    scheduler = asyncio.create_task(programme.run(LoggedSteering(station.feed, station.as_run, Source.PLAYLIST),
                                                  station.playing))
    osc = None
    if osc_socket is not None:
        from riffcast.station.osc_endpoint import OscEndpoint, serve_osc

        host, port = osc_socket.getsockname()[:2]
        osc = await serve_osc(osc_socket, OscEndpoint(LoggedSteering(station.feed, station.as_run, Source.OSC), station.metrics,
                                                         lambda: station.generator_ok))
        print(f"riffcast serve: OSC steering on udp://{host}:{port} (/riffcast/prompt s, /riffcast/seed i, … "
              "as in docs/osc.md of the source)", file=sys.stderr)
    try:
        await station.run(stop, on_ready=announce)
    finally:
        scheduler.cancel()
        if osc is not None:
            osc.close()
        programme.save(station.feed)


def _quiet_loop_errors():
    """An asyncio exception handler that logs one line per kind of error a second, without the
    traceback: a flood of failing accepts or sends must not flood the log (nor the disk)."""
    from riffcast.ops.ratelimit import LogLimiter

    limiter = LogLimiter(logging.getLogger("riffcast.station"), 1.0, level=logging.ERROR)

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        detail = f": {type(error).__name__}: {error}" if error is not None else ""
        limiter.log(context.get("message", "?"), "event loop: %s%s", context.get("message", "?"), detail)

    return handle


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The server's TLS context from ``--tls-cert``/``--tls-key`` (None without them); ValueError
    in one line when only one is given or they cannot be loaded."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"--tls-cert/--tls-key: cannot load {cert} with {key}: {error.strerror or error}") from None
    return context
