"""The one backlog policy every output applies to each of its receivers, sans I/O.

A receiver is whatever one output writes to: a WebSocket listener, a ``/live.mp3`` player, an
Icecast mount. Writes never wait, so a receiver that reads slower than real time piles up unsent
bytes (the transport's buffer, and for Icecast the kernel's send queue too). The rule, the same
for all of them:

- up to ``backlog_s`` seconds of its audio unsent: the audio is written (:attr:`Verdict.SEND`);
- more: this audio is skipped for that receiver and counted as dropped seconds
  (:attr:`Verdict.DROP`; its next audio shows the jump in positions);
- behind for longer than ``stall_close_s``: the receiver is closed (:attr:`Verdict.CLOSE`), or
  for an Icecast mount, the connection is given up and made anew.

Nothing here reads a clock or touches a socket: times are passed in (monotonic seconds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    SEND = "send"
    DROP = "drop"  # behind: skip this audio for this receiver (counted)
    CLOSE = "close"  # behind for over stall_close_s: close the receiver


@dataclass(frozen=True)
class BacklogPolicy:
    """How far behind a receiver may fall: ``backlog_s`` of its audio unsent before audio is
    dropped for it, and ``stall_close_s`` of being behind before it is closed."""

    backlog_s: float
    stall_close_s: float

    def limit_bytes(self, bytes_per_s: float) -> int:
        """The unsent bytes allowed for a receiver whose audio takes ``bytes_per_s``."""
        return round(self.backlog_s * bytes_per_s)


class Lag:
    """One receiver's standing under a :class:`BacklogPolicy`: since when it is behind."""

    def __init__(self, policy: BacklogPolicy, bytes_per_s: float) -> None:
        self.policy = policy
        self.limit_bytes = policy.limit_bytes(bytes_per_s)
        self.behind_since: float | None = None

    def judge(self, unsent_bytes: int, now_s: float) -> Verdict:
        """What to do with the next audio for this receiver, which has ``unsent_bytes`` unsent now."""
        if unsent_bytes <= self.limit_bytes:
            self.behind_since = None
            return Verdict.SEND
        if self.behind_since is None:
            self.behind_since = now_s
        elif now_s - self.behind_since > self.policy.stall_close_s:
            return Verdict.CLOSE
        return Verdict.DROP
