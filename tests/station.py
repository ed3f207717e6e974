"""A real station for tests: the benchmarks' launcher (``benchmarks/harness/station.py``) with the
tests' defaults — a free port, the token ``TOKEN``, the whole log in a file under ``tmp_path``."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Callable, Iterator

from websockets.asyncio.client import connect

from benchmarks.harness.station import Station, free_port

__all__ = ["TOKEN", "RunningStation", "free_port", "running_station", "start_station", "steer"]

TOKEN = "test-token-0123456789"


class RunningStation(Station):
    """A playing station; ``stop()`` returns its exit status, and raises TimeoutExpired (after killing
    it) when it does not exit within ``timeout_s``."""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0, *, raise_on_timeout: bool = True) -> int:
        return super().stop(sig, timeout_s, raise_on_timeout=raise_on_timeout)


def start_station(tmp_path: Path, *args: str, port: int | None = None, token: str | None = TOKEN,
                  ready_timeout_s: float = 180.0, preexec_fn: Callable[[], None] | None = None,
                  env: dict[str, str] | None = None) -> RunningStation:
    """Start ``riffcast serve --generator synth`` and wait until it plays (``/healthz``).
    ``token=None``: the station makes one; ``env``: variables to add to (or replace in) the
    station's environment."""
    port = port or free_port()
    log_path = tmp_path / f"station-{port}-{time.monotonic_ns()}.log"
    station = RunningStation(*args, port=port, token=token, log_path=log_path, env=env, preexec_fn=preexec_fn)
    station.wait_playing(ready_timeout_s)
    return station


@contextlib.contextmanager
def running_station(tmp_path: Path, *args: str, **kwargs) -> Iterator[RunningStation]:
    station = start_station(tmp_path, *args, **kwargs)
    try:
        yield station
    finally:
        station.stop()


async def steer(station: Station, prompt: str, transition_chunks: int = 1) -> dict:
    """One steer over /control with ``TOKEN`` → the reply."""
    async with connect(f"{station.control_url}?token={TOKEN}") as control:
        await control.send(json.dumps({"type": "steer", "prompt": prompt, "transition_chunks": transition_chunks}))
        return json.loads(await control.recv())
