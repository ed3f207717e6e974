"""The one station launcher: ``python -m riffcast serve`` in a subprocess on 127.0.0.1, stopped by PID.

Used by every benchmark that runs a station and, through ``tests/station.py``, by the tests.
The station's output (stdout and stderr together) is read by a thread as it comes: the bound
port (with ``port=0``) and a control token the station made are read from it, the last lines
are kept (``log_tail``), lines that look like errors are counted (``problems``), and with
``log_path`` every byte is written to that file as well.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from .endpoints import get_json, get_text, wait_playing

PORT_LINE = re.compile(r" on https?://127\.0\.0\.1:(\d+)/")
TOKEN_LINE = re.compile(r"https?://127\.0\.0\.1:\d+/#token=(\S+)")
LOG_PROBLEM = re.compile(r"Traceback|Error|Exception|exception|never retrieved|destroyed but it is pending")
PROBLEMS_KEPT = 20  # the first lines that look like errors, kept verbatim
DRAIN_WAIT_S = 2.0  # after the process ends, for the reader to reach the end of its output


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer ``port=0`` where it can be used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_token() -> str:
    """A control token (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


class Station:
    """``riffcast serve --host 127.0.0.1 --port PORT [--generator synth] [--control-token TOKEN] *args``.

    ``--generator synth`` is added unless ``args`` name a generator; ``token=None`` lets the
    station make one (read from its log). ``env`` adds to (or replaces in) the environment, from
    which ``RIFFCAST_CONTROL_TOKEN`` is always removed. Starting returns at once:
    ``wait_playing()`` waits until ``/healthz`` says it plays."""

    def __init__(self, *args: str, port: int = 0, token: str | None = None, name: str = "",
                 log_path: Path | None = None, env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None, tail_lines: int = 40) -> None:
        self.name = name
        self.token = token
        self.tls = "--tls-cert" in args  # then https and wss
        self.log_path = log_path
        self.port: int | None = port or None  # None until read from the log (port 0)
        self.log_tail: deque[str] = deque(maxlen=tail_lines)
        self.problems: list[str] = []  # lines that look like errors (the first 20); "[while stopping] " after stop()
        self.problem_count = 0
        self.stopping = False
        self.exit_code: int | None = None  # after stop(): the exit status (None: killed after the timeout)
        command = [sys.executable, "-m", "riffcast", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if "--generator" not in args:
            command += ["--generator", "synth"]
        if token is not None:
            command.append(f"--control-token={token}")  # one word: a token may begin with "-"
        environment = {k: v for k, v in os.environ.items() if k != "RIFFCAST_CONTROL_TOKEN"} | (env or {})
        self._log_file = open(log_path, "wb") if log_path is not None else None
        self.process = subprocess.Popen([*command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, env=environment, preexec_fn=preexec_fn)
        self.pid = self.process.pid
        self._port_found = threading.Event()
        if self.port is not None:
            self._port_found.set()
        self._drained = threading.Event()
        threading.Thread(target=self._drain, name=f"station-log-{self.pid}", daemon=True).start()

    # -- the log ------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Read the output to its end, so the station never blocks on a full pipe."""
        try:
            for raw in self.process.stdout:
                if self._log_file is not None:
                    self._log_file.write(raw)
                    self._log_file.flush()
                self._line(raw.decode(errors="replace"))
        finally:
            if self._log_file is not None:
                self._log_file.close()
            self._drained.set()

    def _line(self, line: str) -> None:
        self.log_tail.append(line)
        if self.port is None and (match := PORT_LINE.search(line)):
            self.port = int(match.group(1))
            self._port_found.set()
        if self.token is None and (match := TOKEN_LINE.search(line)):
            self.token = match.group(1)
        if LOG_PROBLEM.search(line) or line.startswith("terminate called"):
            self.problem_count += 1
            if len(self.problems) < PROBLEMS_KEPT:
                self.problems.append(("[while stopping] " if self.stopping else "") + line.rstrip())

    def log(self) -> str:
        """The whole log with ``log_path``; otherwise its last ``tail_lines`` lines. Once the process has
        exited, its last lines are waited for (at most DRAIN_WAIT_S)."""
        if self.process.poll() is not None:
            self._drained.wait(DRAIN_WAIT_S)
        if self.log_path is not None:
            return self.log_path.read_text(errors="replace")
        return "".join(list(self.log_tail))

    def _described(self, what: str) -> str:
        return f"{self.name + ': ' if self.name else ''}riffcast serve {what}:\n{self.log()}"

    # -- addresses and endpoints --------------------------------------------------------------

    @property
    def http(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/stream"

    @property
    def control_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/control"

    def health(self) -> dict:
        """``/healthz`` as a dict."""
        return get_json(f"{self.http}/healthz")

    def metrics(self) -> str:
        """``/metrics``, Prometheus text."""
        return get_text(f"{self.http}/metrics")

    # -- life ---------------------------------------------------------------------------------

    def wait_playing(self, timeout_s: float = 180.0) -> dict:
        """Wait until ``/healthz`` says it plays → that health. Raises RuntimeError (with the log) if
        the station exits first, or kills it and raises if it does not play within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s

        def alive() -> bool:
            return self.process.poll() is None

        while not self._port_found.wait(0.2):
            if not alive() or time.monotonic() > deadline:
                break
        if self.port is not None and alive():
            health = wait_playing(self.http, deadline - time.monotonic(), alive)
            if health is not None:
                return health
        if not alive():
            self._drained.wait(DRAIN_WAIT_S)
            raise RuntimeError(self._described(f"exited with {self.process.returncode}"))
        self.stop(signal.SIGKILL)
        raise RuntimeError(self._described(f"did not start playing in {timeout_s:g} s"))

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0, *, raise_on_timeout: bool = False) -> int | None:
        """Send ``sig`` (if it still runs) and wait up to ``timeout_s`` → its exit status. If it is still
        running then, kill it: ``exit_code`` stays None, and TimeoutExpired is raised if asked."""
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.exit_code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._drained.wait(DRAIN_WAIT_S)
            if raise_on_timeout:
                raise
            return None
        self._drained.wait(DRAIN_WAIT_S)  # the log's last lines
        return self.exit_code
