"""Start to first audio: ``riffcast serve`` launched → the first binary frame a listener gets.

Each run launches ``python -m riffcast serve --port 0`` (on 127.0.0.1, a fresh process),
reads the bound port from its ``riffcast serve: station "…" on http://127.0.0.1:PORT/`` line,
connects a WebSocket listener to ``/stream`` (``compression=None``) and times from just
before the launch to the first binary frame. The listener stays for ``--hash-seconds`` of
audio and hashes those frames (position + samples): the stream is deterministic, so the
digest is the same in every run and before and after a change (an honest check that a
faster start did not change what is heard).

Rows (the same clock, the same machine, interleaved run by run):

- ``serve`` — the default generator (``auto``: the synth on a machine without weights or GPU);
- ``serve --generator synth``;
- ``serve, numba cache cold`` — ``NUMBA_CACHE_DIR`` (and ``RIFFCAST_CACHE_DIR``, where the
  seed beds are kept) set to an empty temporary folder: a machine's first start, every kernel
  compiled (``--cold-runs``, default 1, 0 to skip);
- the floors, launch → exit: the bare interpreter (``python -c pass``) and the interpreter
  plus ``import riffcast.station.main`` (what ``riffcast serve`` imports before it runs).

Breakdown: ``--phase-runs`` (default 3) more runs of the default row with a probe inside the
station process (a post-import hook; nothing in riffcast is changed for it) that stamps, on
the same system-wide monotonic clock: when imports of the heavy packages start and end,
``run_serve`` entered, the generator built, the seed image made, each numba kernel load
(``Dispatcher.compile``: a cache load when warm), the first paint (``ImageProducer.next_image``)
and the first stitch (``Stitcher.push``). The medians are printed as a time line. One more
run under ``python -X importtime`` lists the costliest imports (cumulative, as the
interpreter reports them: they overlap when threads import at once).

Besides the wall time, each row shows the CPU time (user + system, all threads) the station
process had used by its first frame (median): on a shared machine it moves far less with the
load than the wall time does, and it shows work removed rather than work overlapped.

Run: ``python benchmarks/startup.py`` (about 3 minutes on 2 shared cores, the cold run
included; ``--runs N``), and ``--before CHECKOUT`` to put another checkout's default row (e.g.
``git worktree add /tmp/before HEAD~1``) in the same table, run by run. On a shared machine,
compare figures taken in the same conditions only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ANNOUNCE = re.compile(r'riffcast serve: station ".*" on http://127\.0\.0\.1:(\d+)/')
COMPILE_LINE = "riffcast: compiling"

# Runs inside the station process (``python -c``): stamps events into the file named by
# RIFFCAST_STARTUP_EVENTS, then runs ``python -m riffcast`` with the given arguments.
PROBE = r'''
import importlib.abc, json, os, sys, threading, time
_out = open(os.environ["RIFFCAST_STARTUP_EVENTS"], "a", buffering=1)
def emit(name, start, end=None):
    _out.write(json.dumps({"name": name, "start": start, "end": end, "thread": threading.current_thread().name}) + "\n")
emit("interpreter up", time.monotonic())
WATCH = ("numpy", "numba", "PIL.Image", "websockets.asyncio.server",
         "prometheus_client", "riffcast.cli", "riffcast.station.main", "riffcast.station.server", "riffcast.pipeline.feed",
         "riffcast.generation.voices", "riffcast.generation.synth", "riffcast.dsp.kernels", "riffcast.dsp.level",
         "riffcast.dsp.phase", "riffcast.pipeline.stitcher", "riffcast.pipeline.producer", "riffcast.generation.seeds", "riffcast.generation.factory",
         "riffcast.station.routes", "riffcast.ops.metrics", "torch")
def timed(name, function, once=False):
    seen = []
    def wrapper(*args, **kwargs):
        if once and seen:
            return function(*args, **kwargs)
        seen.append(1)
        start = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            emit(name, start, time.monotonic())
    return wrapper
def patch(name, module):
    if name == "riffcast.station.main" and hasattr(module, "run_serve"):
        module.run_serve = timed("run_serve", module.run_serve, once=True)
        emit("run_serve patched", time.monotonic())
    elif name == "riffcast.generation.factory" and hasattr(module, "make_generator"):
        module.make_generator = timed("make generator", module.make_generator, once=True)
    elif name == "riffcast.generation.seeds" and hasattr(module, "load_seed"):
        module.load_seed = timed("seed image", module.load_seed, once=True)
    elif name == "riffcast.pipeline.producer" and hasattr(module, "ImageProducer"):
        module.ImageProducer.next_image = timed("first paint", module.ImageProducer.next_image, once=True)
    elif name == "riffcast.pipeline.stitcher" and hasattr(module, "Stitcher"):
        module.Stitcher.push = timed("first stitch", module.Stitcher.push, once=True)
    elif name == "numba":
        from numba.core import dispatcher
        original = dispatcher.Dispatcher.compile
        local = threading.local()
        def compile(self, sig):
            if getattr(local, "depth", 0):
                return original(self, sig)
            local.depth = 1
            start = time.monotonic()
            try:
                return original(self, sig)
            finally:
                local.depth = 0
                emit("numba kernel " + getattr(self.py_func, "__name__", "?"), start, time.monotonic())
        dispatcher.Dispatcher.compile = compile
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in WATCH:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module
        def exec_module(module):
            start = time.monotonic()
            original(module)
            emit("import " + name, start, time.monotonic())
            patch(name, module)
        loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
import runpy
sys.argv = ["riffcast"] + json.loads(os.environ["RIFFCAST_STARTUP_ARGS"])
runpy.run_module("riffcast", run_name="__main__", alter_sys=True)
'''


@dataclass
class Run:
    seconds: float | None  # launch → first binary frame (None: failed)
    cpu_s: float | None = None  # CPU time the station process had used by then (all its threads)
    digest: str = ""
    compile_line: bool = False
    events: list[dict] = field(default_factory=list)
    launched: float = 0.0
    error: str = ""
    stderr: str = ""


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


async def _listen(port: int, hash_seconds: float, timeout_s: float, pid: int) -> tuple[float, float | None, str]:
    """Connect to /stream → (monotonic time of the first binary frame, the station's CPU
    seconds then, digest of the first frames)."""
    from websockets.asyncio.client import connect

    digest = hashlib.sha256()
    first = None
    heard = 0
    async with connect(f"ws://127.0.0.1:{port}/stream", compression=None, open_timeout=timeout_s,
                       max_size=None) as connection:
        deadline = time.monotonic() + timeout_s
        while True:
            message = await asyncio.wait_for(connection.recv(), max(0.1, deadline - time.monotonic()))
            if not isinstance(message, bytes):
                continue
            if first is None:
                first = time.monotonic()
                cpu = _cpu_seconds(pid)
                deadline = first + hash_seconds + 10.0
            digest.update(message[:8])  # position (the server time that follows differs per run)
            digest.update(message[16:])  # samples
            heard += (len(message) - 16) // 2  # s16le by default
            if heard >= hash_seconds * 44100:
                return first, cpu, digest.hexdigest()[:16]


def tree_env(tree: str | None) -> dict[str, str]:
    """The environment that runs riffcast from another checkout (``--before``)."""
    if tree is None:
        return {}
    root = Path(tree).resolve()
    return {"PYTHONPATH": os.pathsep.join([str(root / "engine"), str(root / "clients" / "python")])}


def serve_once(extra: list[str], *, env: dict[str, str] | None = None, probe: bool = False,
               importtime: bool = False, hash_seconds: float = 1.0, timeout_s: float = 180.0) -> Run:
    """Launch one station, time it to the first binary frame, stop it."""
    args = ["serve", "--port", "0", "--host", "127.0.0.1", *extra]
    environment = dict(os.environ, **(env or {}))
    environment.pop("RIFFCAST_CONTROL_TOKEN", None)
    events_file = None
    command = [sys.executable]
    if importtime:
        command += ["-X", "importtime"]
    if probe:
        events_file = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
        events_file.close()
        environment["RIFFCAST_STARTUP_EVENTS"] = events_file.name
        environment["RIFFCAST_STARTUP_ARGS"] = json.dumps(args)
        command += ["-c", PROBE]
    else:
        command += ["-m", "riffcast", *args]
    lines: list[str] = []
    port_found = threading.Event()
    port: list[int] = []
    launched = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=environment, text=True, errors="replace")

    def read_stderr() -> None:
        for line in process.stderr:
            lines.append(line)
            match = ANNOUNCE.search(line)
            if match and not port:
                port.append(int(match.group(1)))
                port_found.set()
        port_found.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    run = Run(None, launched=launched)
    try:
        if not port_found.wait(timeout_s) or not port:
            run.error = "no announce line: " + "".join(lines[-5:]).strip()
            return run
        first, run.cpu_s, run.digest = asyncio.run(_listen(port[0], hash_seconds, timeout_s, process.pid))
        run.seconds = first - launched
    except Exception as error:  # noqa: BLE001 - reported in the table
        run.error = f"{type(error).__name__}: {error}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        run.compile_line = any(COMPILE_LINE in line for line in lines)
        if events_file is not None:
            with open(events_file.name) as file:
                run.events = [json.loads(line) for line in file if line.strip()]
            os.unlink(events_file.name)
        run.stderr = "".join(lines)
    return run


def exit_once(code: str) -> float:
    """Launch ``python -c code`` → seconds to its exit (the floors)."""
    launched = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, stdin=subprocess.DEVNULL)
    return time.monotonic() - launched


def _stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def phase_table(runs: list[Run]) -> list[tuple[str, float, float | None]]:
    """Median (start, end) of each event, relative to launch, sorted by start."""
    starts: dict[str, list[float]] = {}
    ends: dict[str, list[float]] = {}
    for run in runs:
        seen = set()
        for event in run.events:
            name = event["name"]
            if name in seen:  # the first occurrence only (kernels load once)
                continue
            seen.add(name)
            starts.setdefault(name, []).append(event["start"] - run.launched)
            if event["end"] is not None:
                ends.setdefault(name, []).append(event["end"] - run.launched)
        if run.seconds is not None:
            starts.setdefault("FIRST BINARY FRAME (listener)", []).append(run.seconds)
    rows = []
    for name, values in starts.items():
        end = statistics.median(ends[name]) if name in ends else None
        rows.append((name, statistics.median(values), end))
    return sorted(rows, key=lambda row: row[1])


def importtime_top(stderr: str, limit: int = 25) -> list[tuple[str, float]]:
    """The costliest imports (cumulative ms) among packages and riffcast modules."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        cumulative, name = int(match.group(2)) / 1000.0, match.group(4)
        depth = len(match.group(3)) // 2
        if depth == 0 or name.startswith("riffcast") or name in ("scipy.signal", "scipy.fft", "scipy.linalg", "numba",
                                                                 "PIL.Image", "prometheus_client", "websockets"):
            found[name] = max(found.get(name, 0.0), cumulative)
    return sorted(found.items(), key=lambda item: -item[1])[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per warm row (default 5)")
    parser.add_argument("--cold-runs", type=int, default=1, help="runs with an empty numba cache (default 1; 0: skip)")
    parser.add_argument("--phase-runs", type=int, default=3, help="probed runs for the breakdown (default 3; 0: skip)")
    parser.add_argument("--hash-seconds", type=float, default=1.0, help="audio hashed per run (default 1 s)")
    parser.add_argument("--no-importtime", action="store_true", help="skip the -X importtime run")
    parser.add_argument("--before", metavar="CHECKOUT", default=None,
                        help="another checkout of riffcast (e.g. a git worktree of the previous commit): its default "
                        "row is run interleaved with this one's, in the same conditions")
    args = parser.parse_args()

    rows: dict[str, list[Run]] = {"serve (default generator)": [], "serve --generator synth": []}
    extra = {"serve (default generator)": [], "serve --generator synth": ["--generator", "synth"]}
    trees = {"serve (default generator)": None, "serve --generator synth": None}
    if args.before:
        rows["BEFORE: serve (default generator)"] = []
        extra["BEFORE: serve (default generator)"] = []
        trees["BEFORE: serve (default generator)"] = args.before
        serve_once([], env=tree_env(args.before), hash_seconds=0.1)  # its numba cache and file cache
    floors: dict[str, list[float]] = {"floor: python -c pass": [], "floor: + import riffcast.station.main": []}
    floor_code = {"floor: python -c pass": "pass", "floor: + import riffcast.station.main": "import riffcast.station.main"}
    serve_once([], hash_seconds=0.1)  # warm the OS file cache and the numba cache; not counted
    for _ in range(args.runs):  # interleaved, so a load change on the machine hits every row alike
        for name in rows:
            rows[name].append(serve_once(extra[name], env=tree_env(trees[name]), hash_seconds=args.hash_seconds))
        for name in floors:
            floors[name].append(exit_once(floor_code[name]))
    cold: list[Run] = []
    for _ in range(args.cold_runs):
        with tempfile.TemporaryDirectory(prefix="riffcast-numba-cold-") as folder:
            cold.append(serve_once([], env={"NUMBA_CACHE_DIR": folder, "RIFFCAST_CACHE_DIR": folder},
                                   hash_seconds=args.hash_seconds, timeout_s=600))
    if cold:
        rows["serve, numba cache cold"] = cold

    reference = statistics.median([r.seconds for r in rows["serve (default generator)"] if r.seconds is not None])
    print(f"\nstart → first audio (launch → first binary frame), {args.runs} runs per warm row; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'row':42s} {'median s':>9s} {'min':>7s} {'max':>7s} {'ratio':>6s} {'cpu s':>6s}  {'audio digest':16s}  "
          "compile line")
    for name, runs in rows.items():
        good = [r.seconds for r in runs if r.seconds is not None]
        failed = [r.error for r in runs if r.seconds is None]
        if not good:
            print(f"{name:42s} FAILED: {failed[0] if failed else '?'}")
            continue
        median, low, high = _stats(good)
        digests = sorted({r.digest for r in runs if r.digest})
        compiled = sum(r.compile_line for r in runs)
        cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
        cpu = f"{statistics.median(cpus):6.2f}" if cpus else "     ?"
        print(f"{name:42s} {median:9.2f} {low:7.2f} {high:7.2f} {median / reference:6.2f} {cpu}  {','.join(digests):16s}  "
              f"{compiled}/{len(runs)}" + (f"  ({len(failed)} failed: {failed[0]})" if failed else ""))
    for name, values in floors.items():
        median, low, high = _stats(values)
        print(f"{name:42s} {median:9.2f} {low:7.2f} {high:7.2f} {median / reference:6.2f}")

    if args.phase_runs:
        probed = [serve_once([], probe=True, hash_seconds=0.1) for _ in range(args.phase_runs)]
        print(f"\nbreakdown of the default row (median of {len(probed)} probed runs; seconds from launch; "
              f"probed first frame {statistics.median([r.seconds for r in probed if r.seconds]):.2f} s)")
        print(f"{'event':48s} {'start':>7s} {'end':>7s} {'took':>7s}")
        for name, start, end in phase_table(probed):
            took = f"{end - start:7.3f}" if end is not None else ""
            print(f"{name:48s} {start:7.3f} {end if end is not None else float('nan'):7.3f} {took}")
    if not args.no_importtime:
        timed = serve_once([], importtime=True, hash_seconds=0.1)
        print("\ncostliest imports in one `python -X importtime -m riffcast serve` run (cumulative ms, as reported):")
        for name, ms in importtime_top(timed.stderr):
            print(f"  {name:48s} {ms:8.1f}")


if __name__ == "__main__":
    main()
