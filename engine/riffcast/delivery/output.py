"""What every output is to the station: something the clock writes each block to.

The clock makes one :class:`Block` per tick and writes it to each :class:`Output` (the WebSocket
listeners, the encoders with what they feed, the recording, the sound card); nothing else
happens per tick. Each output names what it carries in :meth:`Output.health` — one
:class:`OutputReport` per named output (``ws-pcm``, ``ws-opus``, ``mp3``, ``hls``,
``icecast:/MOUNT``, ``record``, ``speaker``) — which ``/metrics`` and ``/healthz`` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from riffcast.pipeline.records import Aired


@dataclass(frozen=True)
class Block:
    """One tick of the stream: ``samples`` (float32, mono, the station's rate) are stream samples
    [position, position + len); ``emitted_s`` is when the clock emitted them (Unix seconds);
    ``events`` the ``now_playing`` messages (JSON text) due with them; ``title`` what is heard now;
    ``aired`` the images whose new audio starts in them, with the time each start is heard."""

    position: int
    samples: np.ndarray
    emitted_s: float
    events: tuple[str, ...] = ()
    title: str = ""
    aired: tuple[Aired, ...] = ()

    @property
    def end(self) -> int:
        return self.position + self.samples.size


@dataclass(frozen=True)
class OutputReport:
    """One named output now, for ``/metrics`` and ``/healthz``.

    receivers: listeners (or connections) it writes to now; sent_bytes: bytes written, all
    receivers together; dropped_s: seconds of audio skipped by the backlog policy, summed over
    its receivers; up: for an output with a link of its own (an Icecast mount), whether it
    streams (None for the others); problem: one line when it fails, else None.
    """

    output: str
    receivers: int = 0
    sent_bytes: int = 0
    dropped_s: float = 0.0
    up: bool | None = None
    reconnects: int = 0
    problem: str | None = None


class Tally:
    """The counters one named output keeps (plain attributes: read from any thread)."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.sent_bytes = 0
        self.dropped_s = 0.0
        self.closed_too_slow = 0

    def report(self, receivers: int) -> OutputReport:
        return OutputReport(self.output, receivers, self.sent_bytes, self.dropped_s)


class Output(Protocol):
    """What the clock writes to (on the event loop; ``write`` never waits)."""

    def write(self, block: Block) -> None: ...

    def health(self) -> tuple[OutputReport, ...]: ...

    def close(self) -> None: ...
