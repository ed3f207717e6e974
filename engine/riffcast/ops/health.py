"""What ``/healthz`` says, sans I/O: the station's state from a few facts, and its HTTP code.

A load balancer or a supervisor reads the code: 200 while the station plays and generates
(``ok``, or ``degraded`` when something beside the stream has failed — a recording, the state
file — named in ``problems``), 503 while it is starting or not generating (the producer died
or a paint has hung: the listeners hear the seamless fallback, not new music).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HealthStatus(enum.Enum):
    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    NOT_GENERATING = "not generating"

    @property
    def http_status(self) -> int:
        return 200 if self in (HealthStatus.OK, HealthStatus.DEGRADED) else 503


@dataclass(frozen=True)
class Assessment:
    status: HealthStatus
    problems: tuple[str, ...]


def assess(*, playing: bool, generating: bool, problems: tuple[str, ...]) -> Assessment:
    """The station's status. problems: one line each, for failures beside the stream."""
    if not playing:
        return Assessment(HealthStatus.STARTING, problems)
    if not generating:
        return Assessment(HealthStatus.NOT_GENERATING, problems)
    return Assessment(HealthStatus.DEGRADED if problems else HealthStatus.OK, problems)
