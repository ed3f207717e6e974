"""``riffcast listen URL``: play a station and/or record it, with a status line on stderr.

Wired into the ``riffcast`` command by :func:`add_listen_arguments` and :func:`run_listen`.
Errors are raised as OSError/ValueError with one clear line (the command prints it and exits
with status 1; 2 for a --record file it cannot write, :class:`OutputFileError`); a recording is
finalised on every way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from riffcast_client.executor import DaemonThreadExecutor
from riffcast_client.jitter import JitterBuffer
from riffcast_client.output_file import EXIT_BAD_OUTPUT, EXTENSIONS, OutputFileError, check_output_file
from riffcast_client.protocol import SAMPLE_DTYPES
from riffcast_client.rawpcm import RawPcmWriter
from riffcast_client.record import StreamRecorder, Timeline
from riffcast_client.stream import Listener, ListenerState, UntrustedCertificate
from riffcast_client.tls import UNTRUSTED_HINT, client_context

PREFILL_S = 0.2  # audio held before playback (re)starts
CAPACITY_S = 1.0  # most audio held for playback; more arriving drops the oldest
STATUS_EVERY_S = 0.5  # status line refresh on a terminal
STATUS_LINE_EVERY_S = 5.0  # status line period when stderr is not a terminal
NOW_PLAYING_KEPT = 16  # now_playing events remembered for the status line


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``riffcast listen``."""
    parser.add_argument("url", help="the station's stream, ws://HOST:PORT/stream (http://HOST:PORT/ works too)")
    parser.add_argument(
        "--record", type=Path, metavar="FILE",
        help=f"write what arrives to an audio file, the extension picking the format ({EXTENSIONS}); missing "
        "stretches become silence, so its time line matches the stream's. An existing file is refused unless --force",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --record file")
    parser.add_argument(
        "--output", choices=["-"], metavar="-",
        help="write raw PCM (s16le, the station's rate and channels, gaps as silence) to standard output, for "
        "ffmpeg or Liquidsoap; does not play unless --play",
    )
    parser.add_argument("--no-play", action="store_true", help="do not play on the sound card (headless)")
    parser.add_argument("--play", action="store_true", help="play on the sound card even with --output -")
    parser.add_argument(
        "--format", choices=sorted(SAMPLE_DTYPES), default=None,
        help="sample format on the wire (default: the URL's ?format=, else s16le)",
    )
    parser.add_argument(
        "--duration", type=_seconds, metavar="SECONDS",
        help="stop after SECONDS of stream (a recording is then exactly this long), or SECONDS after "
        "the first audio when the stream falls behind; an error if no audio arrives in SECONDS",
    )
    parser.add_argument("--device", default=None, help="sound output device: index or part of its name (default: the system's)")
    parser.add_argument("--quiet", action="store_true", help="no status line")
    parser.add_argument(
        "--cacert", type=Path, metavar="FILE.pem",
        help="trust this certificate (or CA) for a wss:// station, e.g. the PEM a self-signed station gives --tls-cert",
    )
    parser.add_argument(
        "--insecure", action="store_true",
        help="do not check a wss:// station's certificate at all (a test station only: anyone on the way can listen in)",
    )


def run_listen(args: argparse.Namespace) -> int:
    """Run ``riffcast listen``; returns the exit status."""
    listener = Listener(args.url, args.format)
    listener.ssl_context = client_context(listener.url, args.cacert, args.insecure)
    if args.record is not None:
        check_output_file(args.record, "--record", force=args.force)
    device = _device(args.device)
    if args.play and args.no_play:
        raise ValueError("give --play or --no-play, not both")
    play = args.play or not (args.no_play or args.output == "-")
    if play:
        from riffcast_client.player import check_output_device

        check_output_device(device)
    status = StatusLine(sys.stderr, quiet=args.quiet)
    recorder = None
    if args.record is not None:
        recorder = StreamRecorder(args.record, force=args.force, max_seconds=args.duration, log=status.log)
    if args.output == "-" and sys.stdout.isatty():
        raise ValueError("--output - writes raw audio: pipe it into a program (ffmpeg, Liquidsoap) or a file, not a terminal")
    pcm_out = RawPcmWriter(sys.stdout.buffer) if args.output == "-" else None
    session = ListenSession(
        listener, recorder=recorder, play=play, device=device, status=status, duration_s=args.duration, pcm_out=pcm_out,
    )
    if args.insecure:  # a warning: shown with --quiet too
        print("not checking the station's certificate (--insecure)", file=sys.stderr)
    try:
        asyncio.run(session.run())
    except UntrustedCertificate as error:
        raise UntrustedCertificate(f"{error}: {UNTRUSTED_HINT}") from None
    finally:
        session.close()
        status.finish()
    status.log(session.summary())
    return 0


class ListenSession:
    """Feeds frames from a Listener to the sound card and/or a recorder, and shows the status.

    duration_s: stop after this much stream (``Timeline`` seconds), or this long after the
    first audio by the wall clock, whichever comes first (None: until stopped).
    """

    def __init__(
        self, listener: Listener, *, recorder: StreamRecorder | None, play: bool, device: int | str | None,
        status: StatusLine, duration_s: float | None, pcm_out: RawPcmWriter | None = None,
    ) -> None:
        self.listener = listener
        self.recorder = recorder
        self.play = play
        self.device = device
        self.status = status
        self.duration_s = duration_s
        self.pcm_out = pcm_out
        self.buffer: JitterBuffer | None = None
        self.player: Any = None  # riffcast_client.player.Player, imported only when playing
        self.timeline: Timeline | None = None  # stream received, placed like the recording
        self.sample_rate: int | None = None
        self._now_playing: list[dict[str, Any]] = []
        self._stop: asyncio.Event | None = None  # set by SIGTERM
        self._first_audio_at: float | None = None
        self._drop_logged = 0  # the latest connection (numbered from 1) whose end was logged

    async def run(self) -> None:
        """Receive until the duration is reached (then play out what is buffered), SIGTERM, or
        an error (raised)."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.set_default_executor(DaemonThreadExecutor())  # host name lookups (see the class)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        started = time.monotonic()
        receiving = asyncio.create_task(self._receive())
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while not receiving.done() and not stopping.done():
                await asyncio.wait({receiving, stopping}, timeout=STATUS_EVERY_S, return_when=asyncio.FIRST_COMPLETED)
                self._show_status()
                if self.duration_s is not None:
                    since = self._first_audio_at if self._first_audio_at is not None else started
                    if time.monotonic() - since >= self.duration_s:
                        if self._first_audio_at is None:
                            reason = f": {self.listener.last_error}" if self.listener.last_error else ""
                            raise OSError(f"no audio from {self.listener.url} in {self.duration_s:g} s{reason}")
                        break
            if receiving.done():
                receiving.result()  # an error, raised here
            else:
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
            if not stopping.done():
                await self._play_out()
        finally:
            for task in (receiving, stopping):
                task.cancel()
            await asyncio.gather(receiving, stopping, return_exceptions=True)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGTERM)

    async def _play_out(self) -> None:
        """Wait until what is buffered for the sound card has been played."""
        deadline = time.monotonic() + CAPACITY_S + 1.0
        while self.buffer is not None and self.buffer.playing and self.buffer.level and time.monotonic() < deadline:
            if self._stop is not None and self._stop.is_set():  # SIGTERM meanwhile
                return
            await asyncio.sleep(0.02)

    async def _receive(self) -> None:
        async with self.listener:
            await self._receive_frames()

    async def _receive_frames(self) -> None:
        async for position, samples, events in self.listener:
            for event in events:
                self._on_event(event)
            if self._first_audio_at is None:
                self._first_audio_at = time.monotonic()
            assert self.timeline is not None and self.sample_rate is not None
            placement = self.timeline.place(position, samples.shape[0], self.listener.server_time)
            if self.recorder is not None:
                self.recorder.write(position, samples, self.sample_rate, self.listener.server_time)
            if self.buffer is not None:
                self.buffer.write(samples[: placement.keep])
            if self.pcm_out is not None:
                self.pcm_out.write(placement.silence, samples[: placement.keep])
            if self.timeline.full:
                return

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "hello":
            self._on_hello(event)
        elif kind == "now_playing" and isinstance(event.get("position"), int):
            self._now_playing = [*self._now_playing, event][-NOW_PLAYING_KEPT:]

    def _on_hello(self, hello: dict[str, Any]) -> None:
        sample_rate, channels = hello["sample_rate"], hello["channels"]
        self._now_playing = []  # the server sends the current now_playing again
        if self.timeline is None:
            max_frames = None if self.duration_s is None else round(self.duration_s * sample_rate)
            self.timeline = Timeline(sample_rate=sample_rate, max_frames=max_frames)
        elif sample_rate != self.sample_rate:
            raise ValueError(f"the station changed its sample rate from {self.sample_rate} to {sample_rate} Hz")
        self.sample_rate = sample_rate
        if self.listener.connections > 1:
            self._log_drop(self.listener.connections - 1)
        frame_ms = 1000 * hello["frame_samples"] / sample_rate
        self.status.log(
            f"connected to {hello.get('station') or 'a station'} at {self.listener.url}: "
            f"{sample_rate} Hz, {'mono' if channels == 1 else f'{channels} channels'}, {hello['format']}, "
            f"{frame_ms:.0f} ms frames"
        )
        if self.play and (self.buffer is None or self.buffer.channels != channels):
            from riffcast_client.player import Player

            if self.player is not None:
                self.player.close()
            self.buffer = JitterBuffer(
                channels=channels, prefill=round(PREFILL_S * sample_rate), capacity=round(CAPACITY_S * sample_rate)
            )
            self.player = Player(self.buffer, sample_rate=sample_rate, device=self.device)

    def now_playing(self) -> dict[str, Any] | None:
        """The latest now_playing event at or before what is being heard now."""
        if self.listener.next_position is None:
            return None
        heard = self.listener.next_position - (self.buffer.level if self.buffer is not None else 0)
        started = [event for event in self._now_playing if event["position"] <= heard]
        return started[-1] if started else None

    def status_text(self) -> str:
        """One line: what is playing, buffer level, underruns, gaps, reconnects."""
        listener = self.listener
        if listener.state is ListenerState.WAITING:
            wait = max(0.0, listener.retry_at - time.monotonic())
            head = f"… reconnecting in {wait:.1f} s ({listener.last_error})"
        elif listener.state is ListenerState.CONNECTING:
            head = f"… connecting to {listener.url}"
        else:
            head = f"▶ {describe(self.now_playing())}"
        parts = [head]
        if self.timeline is not None and self.sample_rate:
            parts.append(_clock(self.timeline.length / self.sample_rate))
        if self.buffer is not None and self.sample_rate:
            parts.append(f"buffer {1000 * self.buffer.level / self.sample_rate:.0f} ms")
            parts.append(f"underruns {self.buffer.underruns}")
        parts.append(f"gaps {listener.gaps}")
        parts.append(f"reconnects {listener.reconnects}")
        return " │ ".join(parts)

    def _show_status(self) -> None:
        if self.listener.state is not ListenerState.STREAMING:
            self._log_drop(self.listener.connections)
        self.status.show(self.status_text())

    def _log_drop(self, connection: int) -> None:
        """Say once that connection number ``connection`` (from 1) ended, and why."""
        if self._drop_logged < connection and self.listener.last_drop is not None:
            self._drop_logged = connection
            self.status.log(f"connection lost: {self.listener.last_drop}; reconnecting")

    def summary(self) -> str:
        """One line on how it went, for the end."""
        parts = []
        if self.recorder is not None and self.recorder.sample_rate:
            parts.append(f"recorded {self.recorder.seconds:.2f} s to {self.recorder.path}")
        elif self.timeline is not None and self.sample_rate:
            parts.append(f"received {self.timeline.length / self.sample_rate:.2f} s")
        else:
            parts.append("received nothing")
        if self.buffer is not None:
            parts.append(f"underruns {self.buffer.underruns}")
        parts.append(f"gaps {self.listener.gaps}")
        parts.append(f"reconnects {self.listener.reconnects}")
        return ", ".join(parts)

    def close(self) -> None:
        """Stop playing and finalise the recording."""
        try:
            if self.player is not None:
                self.player.close()
        finally:
            if self.recorder is not None:
                self.recorder.close()


def describe(now_playing: dict[str, Any] | None) -> str:
    """A now_playing event in a few words: its prompts (with weights when several)."""
    if not now_playing:
        return "(nothing announced yet)"
    prompts = [p for p in now_playing.get("prompts") or [] if isinstance(p, dict)]
    if not prompts:
        return "(no prompt)"
    if len(prompts) == 1:
        return str(prompts[0].get("text", ""))
    return " + ".join(f"{p.get('text', '')} ×{float(p.get('weight', 0)):.2f}" for p in prompts)


class StatusLine:
    """A status line on ``stream``: redrawn in place on a terminal, a plain line every
    ``STATUS_LINE_EVERY_S`` otherwise; ``log`` prints a message above it. ``quiet``: nothing."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._text = ""  # the status line on screen (terminal only)
        self._printed_at = float("-inf")

    def show(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)
            self._text = text[:width]
            self.stream.write("\r\x1b[K" + self._text)
        elif time.monotonic() - self._printed_at >= STATUS_LINE_EVERY_S:
            self._printed_at = time.monotonic()
            self.stream.write(text + "\n")
        self.stream.flush()

    def log(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[K" + message + "\n" + self._text)
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Leave the terminal on a fresh line."""
        if self.tty and self._text and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._text = ""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _device(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{seconds:04.1f}" if hours else f"{minutes:02d}:{seconds:04.1f}"


def main(argv: list[str] | None = None, prog: str = "riffcast-listen") -> int:
    """``riffcast-listen URL`` (or ``python -m riffcast_client URL``): ``riffcast listen`` on its own."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Play and/or record a riffcast station (protocol riffcast/1).",
    )
    add_listen_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_listen(args)
    except OutputFileError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_BAD_OUTPUT
    except (OSError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
