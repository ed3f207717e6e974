"""Fault injection for resilience drills: a generator that misbehaves on chosen chunks.

``riffcast serve --inject-faults "raise@2,nan@3,stall:30@5"`` wraps the real generator; on
the chunk indices named it fails the way real ones do:

- ``raise@N``: the paint raises (every attempt at chunk N: the producer retries, then falls back);
- ``nan@N``: the paint returns an image of NaN (what an fp16 overflow gives);
- ``blank@N``: the paint returns a blank image;
- ``stall:S@N``: the first paint of chunk N hangs S seconds (a stuck GPU) before it answers;
- ``oom@N``: the paint raises an out-of-memory error (``torch.cuda.OutOfMemoryError`` when torch
  is loaded, else ``MemoryError``);
- ``crash@N``: the producer thread itself dies (:class:`ProducerCrash`, which no retry catches),
  once per chunk index: the feed restarts the thread where it stopped, and a station whose
  producer dies again and again exits for its supervisor to restart it.

``N`` may be a range ``A-B``. Nothing is injected on chunks not named.
"""

from __future__ import annotations

import enum
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from riffcast.generation.types import Generator, ImageRequest, PaintedImage

_FAULT = re.compile(r"^(raise|nan|blank|oom|crash|stall:(\d+(?:\.\d+)?))@(\d+)(?:-(\d+))?$")
MAX_STALL_S = 3600.0


class FaultKind(str, enum.Enum):
    """How an injected fault fails (the module docstring describes each); the spec's word."""

    RAISE = "raise"
    NAN = "nan"
    BLANK = "blank"
    OOM = "oom"
    CRASH = "crash"
    STALL = "stall"


class ProducerCrash(BaseException):
    """An injected death of the producer thread (BaseException: no retry catches it)."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    first: int
    last: int
    stall_s: float = 0.0


def parse_faults(spec: str) -> list[Fault]:
    """``"raise@2,stall:30@5-6"`` → faults; ValueError naming the bad item."""
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        match = _FAULT.match(item)
        if not match:
            raise ValueError(
                f"--inject-faults: {item!r} is not KIND@CHUNK (KIND: raise, nan, blank, oom, crash, stall:SECONDS; "
                "CHUNK: N or A-B)"
            )
        kind, stall, first, last = match.groups()
        first_index, last_index = int(first), int(last if last is not None else first)
        if last_index < first_index:
            raise ValueError(f"--inject-faults: {item!r}: the range is backwards")
        stall_s = float(stall) if stall else 0.0
        if stall_s > MAX_STALL_S:
            raise ValueError(f"--inject-faults: {item!r}: a stall may last at most {MAX_STALL_S:.0f} s")
        faults.append(Fault(FaultKind.STALL if stall else FaultKind(kind), first_index, last_index, stall_s))
    if not faults:
        raise ValueError("--inject-faults: no faults given")
    return faults


class FaultyGenerator:
    """Wrap ``inner`` and inject ``faults`` (see the module docstring)."""

    def __init__(self, inner: Generator, faults: list[Fault]) -> None:
        self.inner = inner
        self.faults = faults
        self.name = f"{inner.name} (with injected faults)"
        self.injected = 0
        self._struck: set[tuple[FaultKind, int]] = set()  # crash and stall strike once per chunk

    def __getattr__(self, attribute: str):
        """What the wrapped generator says of itself (``lands_on_beats``, ``honours_controls``,
        ``device``): the faults change how it paints, not what it is."""
        if attribute == "inner":  # not set yet (copying, unpickling): no recursion through it
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)

    def paint(self, request: ImageRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedImage:
        fault = next((f for f in self.faults if f.first <= request.index <= f.last), None)
        once = fault is not None and fault.kind in (FaultKind.CRASH, FaultKind.STALL)
        if fault is None or (once and (fault.kind, request.index) in self._struck):
            return self.inner.paint(request, should_stop)
        self.injected += 1
        if once:
            self._struck.add((fault.kind, request.index))
        if fault.kind is FaultKind.CRASH:
            raise ProducerCrash(f"injected producer crash at chunk {request.index}")
        if fault.kind is FaultKind.RAISE:
            raise RuntimeError(f"injected fault at chunk {request.index}")
        if fault.kind is FaultKind.OOM:
            torch = sys.modules.get("torch")
            error = torch.cuda.OutOfMemoryError if torch is not None else MemoryError
            raise error(f"injected out-of-memory at chunk {request.index}")
        if fault.kind is FaultKind.NAN:
            return PaintedImage(np.full(request.init_image.shape, np.nan, dtype=np.float32))
        if fault.kind is FaultKind.BLANK:
            return PaintedImage(np.full(request.init_image.shape, 255, dtype=np.uint8))
        time.sleep(fault.stall_s)  # a hung device does not listen to should_stop
        return self.inner.paint(request, should_stop)
