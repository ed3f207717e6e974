"""How many connections this process can hold: the open-files limit, and handshakes in flight.

Every socket is a file descriptor. A station started with the common soft limit of 1024 and a
listener cap of thousands runs out of descriptors long before the cap: accepts fail, new listeners
are locked out. So at start-up the soft limit is raised to the hard one, and the listener cap
is derived from what is left after a reserve for everything else and for the connections
still in their opening handshake — which are themselves bounded: when that many are waiting,
the oldest is dropped for the newcomer (a real client finishes its handshake in
milliseconds; a slow or idle one is what gets dropped).
"""

from __future__ import annotations

import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, Hashable, TypeVar

RESERVED_FILES = 64  # logs, recordings, the state file, numba's cache, pipes of threads
MAX_HANDSHAKES = 256  # connections not yet past their opening handshake, at most

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class ListenerCap:
    """The listener cap in effect and why. open_files: the soft limit after raising it."""

    listeners: int
    open_files: int
    lowered_from: int | None = None  # the cap asked for, when it had to be lowered


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (where allowed); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def listener_cap(asked: int | None, open_files: int, *, default: int = 10_000) -> ListenerCap:
    """The listener cap: ``asked`` (or ``default``) but never more than the descriptors left
    after the reserve and the handshakes in flight allow. ValueError when none are left."""
    room = open_files - RESERVED_FILES - MAX_HANDSHAKES
    if room < 1:
        raise ValueError(
            f"the open-files limit ({open_files}) leaves no room for listeners; raise it (ulimit -n, LimitNOFILE=)"
        )
    wanted = default if asked is None else asked
    if wanted <= room:
        return ListenerCap(wanted, open_files)
    return ListenerCap(room, open_files, lowered_from=wanted if asked is not None else None)


class HandshakeQueue(Generic[Key]):
    """Connections still in their opening handshake, oldest first, at most ``capacity``."""

    def __init__(self, capacity: int = MAX_HANDSHAKES) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.evicted = 0
        self._waiting: OrderedDict[Key, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def admit(self, key: Key) -> Key | None:
        """Track a new connection; return the oldest one to drop when over capacity."""
        self._waiting[key] = None
        if len(self._waiting) <= self.capacity:
            return None
        oldest, _ = self._waiting.popitem(last=False)
        self.evicted += 1
        return oldest

    def finish(self, key: Key) -> None:
        """The connection finished its handshake or went away."""
        self._waiting.pop(key, None)
