"""The control WebSocket (``/control``): each request read, answered in order, rate-limited.

Validation and the reply texts are :mod:`riffcast.steering.control`'s; this module only
reads, waits for a steer to be placed in the stream, and writes.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from riffcast.steering.control import (
    ControlError, StatusRequest, ack_reply, error_reply, parse_request, status_reply,
)
from riffcast.station.ratelimit import TokenBucket

if TYPE_CHECKING:
    from riffcast.station.metrics import StationMetrics
    from riffcast.steering.targets import Target

log = logging.getLogger("riffcast.station")

STEER_APPLY_TIMEOUT_S = 10.0
REFUSED_IN_A_ROW_LIMIT = 100  # requests refused for the rate in a row before the connection is closed


class Steerable(Protocol):
    """What steering needs from the feed (here and in :mod:`riffcast.station.osc_endpoint`)."""

    def latest_target(self) -> Target: ...

    def steer(self, target: Target, transition_chunks: int | None = None) -> Future[int]: ...


class Controlled(Protocol):
    """What control needs from the station."""

    @property
    def feed(self) -> Steerable: ...

    @property
    def metrics(self) -> StationMetrics: ...

    @property
    def generator_ok(self) -> bool: ...

    def status(self) -> dict: ...  # the fields of a status reply besides its id


async def serve_control(connection: ServerConnection, station: Controlled, rate_per_s: float) -> None:
    """Answer each message on ``connection`` until it closes; at most ``rate_per_s`` requests
    a second (bursts of 4 s worth), the others refused, the connection closed with 1008 after
    ``REFUSED_IN_A_ROW_LIMIT`` refusals in a row."""
    bucket = TokenBucket(rate_per_s, burst=4 * round(rate_per_s))
    refused_in_a_row = 0
    try:
        async for message in connection:
            if bucket.take():
                refused_in_a_row = 0
                await connection.send(await answer(message, station))
                continue
            station.metrics.control_errors.inc()
            refused_in_a_row += 1
            if refused_in_a_row > REFUSED_IN_A_ROW_LIMIT:
                await connection.close(1008, "too many requests")
                break
            await connection.send(error_reply(None, f"too many requests: at most {rate_per_s:g} per second"))
    except ConnectionClosed:
        pass


async def answer(message: str | bytes, station: Controlled) -> str:
    """The reply to one control message: status, an ack with the stream position where a
    steer is heard (after waiting up to ``STEER_APPLY_TIMEOUT_S``), or an error."""
    try:
        request = parse_request(message, station.feed.latest_target())
    except ControlError as error:
        station.metrics.control_errors.inc()
        return error_reply(error.request_id, str(error))
    if isinstance(request, StatusRequest):
        return status_reply(request.request_id, **station.status())
    if not station.generator_ok:
        station.metrics.control_errors.inc()
        return error_reply(request.request_id, "the generator is not running; the stream plays its fallback")
    future = station.feed.steer(request.target, request.transition_chunks)
    try:
        position = await asyncio.wait_for(asyncio.wrap_future(future), STEER_APPLY_TIMEOUT_S)
    except asyncio.TimeoutError:
        return error_reply(request.request_id, "the generator did not take the change in time; it is queued")
    station.metrics.steers.inc()
    log.info("steer: %s", ", ".join(f"{p.text!r}×{p.weight:g}" for p in request.target.prompts))
    return ack_reply(request.request_id, position)
