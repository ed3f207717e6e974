"""The soak's client process: a population of listeners joining and leaving (``benchmarks/soak.py``).

Each of ``listeners`` slots loops: connect to ``/stream``, read the ``hello``, read frames for a
random lifetime (exponential), then leave in one of four ways (``clean``, ``rst``, ``fin``,
``stall``; ``soak.py``'s docstring says what each does and how gaps are judged), and a
replacement joins at once. Run by the soak as ``python benchmarks/soak_clients.py CONFIG_JSON``
(``ClientProcess``): stdin takes ``stop``, stdout gives JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

HEADER = struct.Struct("<Qd")  # riffcast/1 frame header: position, server time
KEPT_UP_LAG_S = 1.0  # the station's backlog: a listener reading within this cannot be skipped
MIN_LIFETIME_S = 0.2
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
FIN_WAIT_S = 10.0  # a half-closed listener waits this long for the station to close its end
STALL_HOLD_S = 15.0  # a stalled listener reads nothing for this long
STALL_DRAIN_S = 5.0  # then reads until its connection ends, for at most this long
RETRY_AFTER_FAILURE_S = 1.0
LAG_BIN_S = 0.01
LAG_BINS = 3000  # 10 ms bins up to 30 s; later reads fall in the last bin
LEAVE_MODES = ("clean", "rst", "fin", "stall")

@dataclass
class ClientConfig:
    url: str
    listeners: int
    mean_lifetime_s: float
    abrupt_fraction: float
    stall_fraction: float
    ramp_s: float
    seed: int


@dataclass
class Ear:
    """One listener's connection: what it read."""

    expected: int  # the next position it should read
    frames: int = 0
    gaps: int = 0
    max_lag_s: float = 0.0
    bad: int = 0  # messages that are not riffcast/1
    stalled: bool = False  # reading again after a stall: its lags are left out


@dataclass
class Totals:
    """Everything the client process saw, aggregated over all listeners (JSON-able)."""

    joins: int = 0
    connect_failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    client_errors: int = 0  # exceptions in this benchmark's own listener code
    client_error_examples: list[str] = field(default_factory=list)
    leaves: dict[str, int] = field(default_factory=lambda: {mode: 0 for mode in (*LEAVE_MODES, "final")})
    frames: int = 0
    bad_messages: int = 0
    kept_up: int = 0
    kept_up_with_gaps: int = 0
    kept_up_gaps: int = 0
    fell_behind: int = 0
    fell_behind_with_gaps: int = 0
    fell_behind_gaps: int = 0
    max_lag_s: float = 0.0  # over listeners not stalled on purpose
    lost: dict[str, int] = field(default_factory=dict)  # close code → listeners closed by the station mid-listen
    fin_closed_by_station: int = 0
    fin_not_closed: int = 0
    stalls_closed_by_station: dict[str, int] = field(default_factory=dict)  # close code → count
    stalls_not_closed: int = 0  # still receiving after the hold: the station never closed them
    stalls_interrupted: int = 0  # the run ended during the hold
    stall_gaps: int = 0
    lag_bins: list[int] = field(default_factory=lambda: [0] * LAG_BINS)
    population: list[int] = field(default_factory=list)  # listeners connected, once a second

    def failure(self, error: BaseException) -> None:
        self.connect_failures += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(f"{type(error).__name__}: {error}")

    def add(self, ear: Ear, stalled: bool) -> None:
        self.frames += ear.frames
        self.bad_messages += ear.bad
        if stalled:
            self.stall_gaps += ear.gaps
        elif ear.max_lag_s < KEPT_UP_LAG_S:
            self.kept_up += 1
            self.kept_up_gaps += ear.gaps
            self.kept_up_with_gaps += ear.gaps > 0
        else:
            self.fell_behind += 1
            self.fell_behind_gaps += ear.gaps
            self.fell_behind_with_gaps += ear.gaps > 0
        if not stalled:
            self.max_lag_s = max(self.max_lag_s, ear.max_lag_s)


class Population:
    """Keeps ``config.listeners`` listeners connected, each for a random lifetime (``soak.py``'s docstring)."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.totals = Totals()
        self.active = 0
        self.stopping: asyncio.Event | None = None

    async def run(self, stop_requested: asyncio.Event) -> Totals:
        self.stopping = stop_requested
        slots = [asyncio.create_task(self._slot(index)) for index in range(self.config.listeners)]
        sampler = asyncio.create_task(self._count_population())
        await self.stopping.wait()
        await asyncio.wait(slots, timeout=STALL_DRAIN_S + FIN_WAIT_S + 2 * CLOSE_TIMEOUT_S)
        for task in (*slots, sampler):
            task.cancel()
        await asyncio.gather(*slots, sampler, return_exceptions=True)
        return self.totals

    async def _count_population(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.totals.population.append(self.active)

    async def _slot(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1_000_003 + index)
        await self._wait_or_stop(index * self.config.ramp_s / self.config.listeners)
        while not self.stopping.is_set():
            try:
                await self._listen_once(rng)
            except Exception as error:  # noqa: BLE001 — a client bug must show, not shrink the population
                self.totals.client_errors += 1
                if len(self.totals.client_error_examples) < 5:
                    self.totals.client_error_examples.append(f"{type(error).__name__}: {error}")

    async def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until the run stops → whether it stopped."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()

    def _pick_mode(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < self.config.stall_fraction:
            return "stall"
        if draw < self.config.stall_fraction + self.config.abrupt_fraction:
            return rng.choice(("rst", "fin"))
        return "clean"

    async def _listen_once(self, rng: random.Random) -> None:
        from websockets.asyncio.client import connect

        lifetime = max(rng.expovariate(1.0 / self.config.mean_lifetime_s), MIN_LIFETIME_S)
        mode = self._pick_mode(rng)
        try:
            ws = await connect(self.config.url, compression=None, proxy=None, ping_interval=None,
                               open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S, max_size=2**20)
        except Exception as error:  # noqa: BLE001 — any failure to connect is counted and shown
            self.totals.failure(error)
            await self._wait_or_stop(RETRY_AFTER_FAILURE_S)
            return
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
            if hello.get("type") != "hello" or hello.get("protocol") != "riffcast/1":
                raise ValueError(f"first message is not a riffcast/1 hello: {hello!r:.200}")
        except Exception as error:  # noqa: BLE001
            self.totals.failure(error)
            ws.transport.abort()
            await self._wait_or_stop(RETRY_AFTER_FAILURE_S)
            return
        ear = Ear(expected=int(hello["position"]))
        self.totals.joins += 1
        self.active += 1
        try:
            await self._live(ws, ear, lifetime, mode)
        finally:
            self.active -= 1
            ws.transport.abort()  # a no-op once closed; never leaves a socket behind

    async def _live(self, ws, ear: Ear, lifetime: float, mode: str) -> None:
        reader = asyncio.create_task(self._read(ws, ear))
        stopped = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({reader, stopped}, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if reader.done():  # the connection ended while the listener meant to stay
            code = reader.result()
            self.totals.lost[str(code)] = self.totals.lost.get(str(code), 0) + 1
            self.totals.add(ear, stalled=False)
            return
        reader.cancel()  # recv() is safe to cancel: no message is lost
        await asyncio.gather(reader, return_exceptions=True)
        if self.stopping.is_set():
            self.totals.leaves["final"] += 1
            with contextlib.suppress(Exception):
                await ws.close()
            self.totals.add(ear, stalled=False)
            return
        self.totals.leaves[mode] += 1
        if mode == "clean":
            with contextlib.suppress(Exception):
                await ws.close()
        elif mode == "rst":
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
        elif mode == "fin":
            ws.transport.write_eof()  # FIN, no close frame; keep reading until the station closes its end
            ended = await self._read_until_closed(ws, ear, FIN_WAIT_S)
            if ended is None:
                self.totals.fin_not_closed += 1
            else:
                self.totals.fin_closed_by_station += 1
        else:
            await self._stall(ws, ear)
        self.totals.add(ear, stalled=mode == "stall")

    async def _stall(self, ws, ear: Ear) -> None:
        """Read nothing for STALL_HOLD_S (the websockets queue fills, then the kernel buffers), then drain."""
        if await self._wait_or_stop(STALL_HOLD_S):
            self.totals.stalls_interrupted += 1
            return
        ear.stalled = True
        code = await self._read_until_closed(ws, ear, STALL_DRAIN_S)
        if code is None:
            self.totals.stalls_not_closed += 1
            with contextlib.suppress(Exception):
                await ws.close()
        else:
            closed = self.totals.stalls_closed_by_station
            closed[str(code)] = closed.get(str(code), 0) + 1

    async def _read_until_closed(self, ws, ear: Ear, timeout_s: float) -> int | None:
        """Read frames until the connection ends → its close code (1006: no close frame), or None."""
        reader = asyncio.create_task(self._read(ws, ear))
        done, _ = await asyncio.wait({reader}, timeout=timeout_s)
        if done:
            return reader.result()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return None

    async def _read(self, ws, ear: Ear) -> int:
        """Read and check messages until the connection ends → the close code it ended with."""
        from websockets.exceptions import ConnectionClosed

        bins = self.totals.lag_bins
        try:
            while True:
                message = await ws.recv()
                now = time.time()
                if isinstance(message, str):
                    with contextlib.suppress(ValueError):
                        if isinstance(json.loads(message).get("type"), str):
                            continue
                    ear.bad += 1
                    continue
                if len(message) < HEADER.size or (len(message) - HEADER.size) % 2:
                    ear.bad += 1
                    continue
                position, server_time = HEADER.unpack_from(message)
                if position != ear.expected:
                    ear.gaps += 1
                ear.expected = position + (len(message) - HEADER.size) // 2
                ear.frames += 1
                if ear.stalled:
                    continue
                lag = now - server_time
                if lag > ear.max_lag_s:
                    ear.max_lag_s = lag
                bins[min(max(int(lag / LAG_BIN_S), 0), LAG_BINS - 1)] += 1
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return frame.code if frame is not None else 1006


def client_process_main(config_json: str) -> None:
    """Entry of the client process: reads ``stop`` (or EOF) on stdin, writes JSON lines on stdout."""
    config = ClientConfig(**json.loads(config_json))

    async def main() -> Totals:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def watch_stdin() -> None:
            for line in sys.stdin:
                if line.strip() == "stop":
                    break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
        print(json.dumps({"event": "started"}), flush=True)
        return await Population(config).run(stop)

    totals = asyncio.run(main())
    print(json.dumps({"event": "result", "totals": asdict(totals)}), flush=True)


class ClientProcess:
    """This file run as a script with a ``ClientConfig`` as JSON: stdin takes ``stop``, stdout gives JSON lines."""

    def __init__(self, config: ClientConfig) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(asdict(config))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.pid = self.process.pid
        self._lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self._lines.put(json.loads(line))
        self._lines.put(None)

    def wait_for(self, event: str, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise RuntimeError(f"the client process exited ({self.process.poll()}) before {event!r}")
            if message.get("event") == event:
                return message
        raise RuntimeError(f"the client process sent no {event!r} in {timeout_s:g} s")

    def stop(self) -> Totals:
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        totals = Totals(**self.wait_for("result", 60.0)["totals"])
        self.process.wait(10)
        return totals

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    client_process_main(sys.argv[1])
