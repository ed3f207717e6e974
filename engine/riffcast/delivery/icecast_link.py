"""How a source client keeps its link to Icecast, sans I/O: when to try again, what is worth a log
line, when Icecast has stopped reading, and the state ``/healthz`` and ``/metrics`` show.

- The waits between tries (:class:`riffcast.ops.backoff.Backoff`): 1 s, doubling to 60 s, back to
  1 s only after a connection streamed for ``STABLE_S``.
- The mount's backlog policy (:data:`BACKLOG`, the one rule of :mod:`riffcast.delivery.backlog`):
  once more than ``backlog_s`` of the mount's audio is unacknowledged (written but not yet taken
  by Icecast's TCP stack; the kernel's send queue counts too) audio is dropped, and after
  ``stall_close_s`` of that the link is given up (:func:`stopped_reading`) and made anew. With a
  small send buffer (``SEND_BUFFER_BYTES``) a server that stops reading is found in about
  ``backlog_s`` plus the time its receive buffer (about 130 KiB) takes to fill plus
  ``stall_close_s``: 14 to 18 s at 128 to 96 kbit/s.
- :class:`LinkStatus`: what happened to one mount's link; a failure is worth a line when it differs
  from the last one said (a refused password retried for hours is said once), as is coming up.

Nothing here reads a clock or touches a socket: times are passed in (seconds on any monotonic
clock), so all of it is tested with numbers (tests/test_icecast_faults.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from riffcast.delivery.backlog import BacklogPolicy
from riffcast.delivery.output import OutputReport

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
STABLE_S = 30.0  # a connection that streamed this long starts the back-off again from RETRY_FIRST_S
BACKLOG = BacklogPolicy(backlog_s=4.0, stall_close_s=2.0)  # of the mount's audio Icecast may leave unacknowledged
SEND_BUFFER_BYTES = 64 * 1024  # SO_SNDBUF: the kernel then holds ~128 KiB at most, not megabytes
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 10.0  # for Icecast's whole answer head, however it trickles in
WRITE_EVERY_S = 0.5  # a streaming link writes what was fed, and looks whether Icecast still reads, this often


@dataclass(frozen=True)
class LinkLimits:
    """Every limit of a source's link in one place (tests shrink them)."""

    retry_first_s: float = RETRY_FIRST_S
    retry_max_s: float = RETRY_MAX_S
    stable_s: float = STABLE_S
    backlog: BacklogPolicy = BACKLOG
    send_buffer_bytes: int = SEND_BUFFER_BYTES
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    answer_timeout_s: float = ANSWER_TIMEOUT_S
    write_every_s: float = WRITE_EVERY_S


DEFAULT_LIMITS = LinkLimits()


def stopped_reading(policy: BacklogPolicy) -> str:
    """Why a link the backlog policy closed is given up, in words."""
    return (f"Icecast stopped reading (over {policy.backlog_s:g} s of audio unacknowledged "
            f"for over {policy.stall_close_s:g} s)")


@dataclass(frozen=True)
class LinkState:
    """One output's link, as ``/healthz`` and ``/metrics`` show it."""

    output: str  # "icecast:/live.mp3"
    up: bool  # streaming now
    problem: str | None  # why it is down (None while up, and while the first try is under way)
    down_for_s: float  # seconds since it went down (0 while up)
    reconnects: int  # tries after a failure or a lost connection
    bytes_sent: int  # audio bytes written to Icecast, all connections together
    dropped_s: float  # seconds of audio dropped while Icecast was behind (the backlog policy)

    def report(self) -> OutputReport:
        """The link as one of the station's outputs (one receiver: Icecast, while up)."""
        return OutputReport(self.output, int(self.up), self.bytes_sent, self.dropped_s, self.up, self.reconnects,
                            self.problem_line())

    def problem_line(self) -> str | None:
        """One line for ``/healthz``'s problems, or None while the link is fine (or starting)."""
        if self.up or self.problem is None:
            return None
        return f"{self.output}: down for {self.down_for_s:.0f} s ({self.problem})"


class LinkStatus:
    """The history of one output's link, kept from the events the edge reports with their times,
    and the decision whether each is worth a log line (only a change of state or of reason is)."""

    def __init__(self, output: str) -> None:
        self.output = output
        self._up = False
        self._problem: str | None = None
        self._since_s = 0.0  # when it went up, or down
        self._reconnects = 0
        self._bytes_sent = 0
        self._dropped_s = 0.0
        self._said: tuple[bool, str | None] | None = None  # the state last logged

    def connected(self, now_s: float) -> bool:
        """The link streams from ``now_s`` → whether to say so."""
        self._up, self._problem, self._since_s = True, None, now_s
        return self._say()

    def failed(self, problem: str, now_s: float) -> bool:
        """A try failed, or the connection ended, for ``problem`` (one line; the same failure has the
        same words); a retry follows → whether to say so."""
        if self._up or self._problem is None:
            self._since_s = now_s
        self._up, self._problem = False, problem
        self._reconnects += 1
        return self._say()

    def sent(self, count: int) -> None:
        self._bytes_sent += count

    def dropped(self, seconds: float) -> None:
        self._dropped_s += seconds

    def streamed_s(self, now_s: float) -> float:
        """How long the link has streamed (0 while down)."""
        return now_s - self._since_s if self._up else 0.0

    def state(self, now_s: float) -> LinkState:
        down_for_s = 0.0 if self._up or self._problem is None else now_s - self._since_s
        return LinkState(self.output, self._up, self._problem, down_for_s, self._reconnects, self._bytes_sent,
                         self._dropped_s)

    def _say(self) -> bool:
        now = (self._up, self._problem)
        said, self._said = self._said != now, now
        return said
