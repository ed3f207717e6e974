"""A real station for tests: ``riffcast serve`` in a subprocess on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningStation:
    process: subprocess.Popen
    port: int
    token: str
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    @property
    def control_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/control"

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.http}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_station(tmp_path: Path, *args: str, port: int | None = None, token: str | None = TOKEN,
                  ready_timeout_s: float = 180.0, preexec_fn=None,
                  env: dict[str, str] | None = None) -> RunningStation:
    """Start ``riffcast serve --generator synth`` and wait until it plays (``/healthz``).
    ``env``: variables to add to (or replace in) the station's environment."""
    port = port or free_port()
    log_path = tmp_path / f"station-{port}-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "riffcast", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if "--generator" not in args:
        command += ["--generator", "synth"]
    if token is not None:
        command += ["--control-token", token]
    environment = {k: v for k, v in os.environ.items() if k != "RIFFCAST_CONTROL_TOKEN"} | (env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*command, *args], stdout=log, stderr=subprocess.STDOUT, env=environment,
                                   preexec_fn=preexec_fn)
    station = RunningStation(process, port, token or "", log_path)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"riffcast serve exited with {process.returncode}:\n{station.log()}")
        with contextlib.suppress(OSError, ValueError):
            if station.health().get("playing"):
                return station
        time.sleep(0.2)
    station.stop(signal.SIGKILL)
    raise RuntimeError(f"riffcast serve did not start playing in {ready_timeout_s} s:\n{station.log()}")


@contextlib.contextmanager
def running_station(tmp_path: Path, *args: str, **kwargs) -> Iterator[RunningStation]:
    station = start_station(tmp_path, *args, **kwargs)
    try:
        yield station
    finally:
        station.stop()
