"""The control WebSocket (``/control``): each request read, answered in order, rate-limited.

Validation and the reply texts are :mod:`riffcast.steering.control`'s; this module only
reads, waits for a steer to be placed in the stream, and writes. Requests are pipelined: each
steer is handed to the feed as soon as it is read, while the replies wait for earlier steers
to be placed, so a fader sending several steers a second coalesces them in the producer (all
are acknowledged, in order, with the position of the steer that replaced them).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Awaitable, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from riffcast.ops.ratelimit import LogLimiter, TokenBucket
from riffcast.steering.control import (
    ControlError,
    RequestId,
    StatusRequest,
    ack_reply,
    error_reply,
    parse_request,
    status_reply,
)

if TYPE_CHECKING:
    from riffcast.ops.metrics import StationMetrics
    from riffcast.steering.targets import Target

log = logging.getLogger("riffcast.station")

STEER_APPLY_TIMEOUT_S = 10.0
REFUSED_IN_A_ROW_LIMIT = 100  # requests refused for the rate in a row before the connection is closed
REPLIES_IN_FLIGHT = 64  # requests read ahead of their replies (then reading waits)
_steer_log = LogLimiter(log, 1.0, level=logging.INFO)


class Steerable(Protocol):
    """What steering needs from the feed (here and in :mod:`riffcast.station.osc_endpoint`)."""

    def latest_target(self) -> Target: ...

    def steer(self, target: Target, transition_chunks: int | None = None) -> Future[int]: ...


class LoggedSteerable(Steerable, Protocol):
    """The feed's steering for control, which logs each steer with its request's id."""

    def steer(self, target: Target, transition_chunks: int | None = None, steer_id: Any = None) -> Future[int]: ...


class Controlled(Protocol):
    """What control needs from the station."""

    @property
    def control_steering(self) -> LoggedSteerable: ...

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
    replies: asyncio.Queue[Awaitable[str] | None] = asyncio.Queue(REPLIES_IN_FLIGHT)
    writer = asyncio.create_task(_write_replies(connection, replies))
    refused_in_a_row = 0
    try:
        async for message in connection:
            if bucket.take():
                refused_in_a_row = 0
                await replies.put(start_answer(message, station))
                continue
            station.metrics.control_errors.inc()
            refused_in_a_row += 1
            if refused_in_a_row > REFUSED_IN_A_ROW_LIMIT:
                await replies.put(None)
                await writer
                await connection.close(1008, "too many requests")
                break
            await replies.put(_ready(error_reply(None, f"too many requests: at most {rate_per_s:g} per second")))
    except ConnectionClosed:
        pass
    finally:  # the connection is closed: replies still waiting cannot be delivered
        writer.cancel()
        try:
            await writer
        except (asyncio.CancelledError, ConnectionClosed):
            pass


async def _write_replies(connection: ServerConnection, replies: asyncio.Queue[Awaitable[str] | None]) -> None:
    """Send each reply when it is ready, in the order the requests came; None ends."""
    while (reply := await replies.get()) is not None:
        await connection.send(await reply)


async def _ready(text: str) -> str:
    return text


def start_answer(message: str | bytes, station: Controlled) -> Awaitable[str]:
    """Act on one control message now → its reply, when ready: status, an ack with the stream
    position where a steer is heard (after waiting up to ``STEER_APPLY_TIMEOUT_S``), or an error."""
    try:
        request = parse_request(message, station.control_steering.latest_target())
    except ControlError as error:
        station.metrics.control_errors.inc()
        return _ready(error_reply(error.request_id, str(error)))
    if isinstance(request, StatusRequest):
        return _ready(status_reply(request.request_id, **station.status()))
    if not station.generator_ok:
        station.metrics.control_errors.inc()
        return _ready(error_reply(request.request_id, "the generator is not running; the stream plays its fallback"))
    future = station.control_steering.steer(request.target, request.transition_chunks, steer_id=request.request_id)
    station.metrics.steers.inc()
    _steer_log.log("steer", "steer: %s", ", ".join(f"{p.text!r}×{p.weight:g}" for p in request.target.prompts))
    return _acknowledge(request.request_id, future)


async def _acknowledge(request_id: RequestId, future: Future[int]) -> str:
    try:
        position = await asyncio.wait_for(asyncio.wrap_future(future), STEER_APPLY_TIMEOUT_S)
    except asyncio.TimeoutError:
        return error_reply(request_id, "the generator did not take the change in time; it is queued")
    return ack_reply(request_id, position)
