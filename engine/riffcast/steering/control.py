"""Control requests (``/control``), sans I/O: JSON text in, validated requests out.

See docs/control.md. Every field is checked by :func:`~riffcast.steering.fields.steer_from_fields`
(type, range, length, weight) and a bad
request raises :class:`ControlError` with a message for the ``error`` reply; nothing is
changed by a request that fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from riffcast.steering.fields import steer_from_fields
from riffcast.steering.targets import Target

MAX_ID_CHARS = 200
REQUEST_FIELDS = {"type", "id"}

RequestId = Union[str, int, None]


class ControlError(ValueError):
    """A request that cannot be carried out; ``request_id`` is echoed in the reply."""

    def __init__(self, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class SteerRequest:
    request_id: RequestId
    target: Target
    transition_chunks: int | None


@dataclass(frozen=True)
class StatusRequest:
    request_id: RequestId


def parse_request(message: str | bytes, current: Target) -> SteerRequest | StatusRequest:
    """Parse one control message. ``current``: the target the stream is heading to, whose
    settings a steer keeps where it gives none."""
    if isinstance(message, bytes):
        raise ControlError("control messages are JSON text, not binary")
    request = _load_json(message)
    if not isinstance(request, dict):
        raise ControlError("a request must be a JSON object")
    request_id = _request_id(request.get("id"))
    kind = request.get("type")
    if kind == "status":
        _refuse_unknown(request, REQUEST_FIELDS, request_id)
        return StatusRequest(request_id)
    if kind == "steer":
        fields = {name: value for name, value in request.items() if name not in REQUEST_FIELDS}
        try:
            steer = steer_from_fields(fields, current)
        except ValueError as error:
            raise ControlError(str(error), request_id) from None
        return SteerRequest(request_id, steer.target, steer.transition_chunks)
    raise ControlError(f"unknown request type {kind!r}: use 'steer' or 'status'", request_id)


def _load_json(message: str) -> Any:
    """JSON → Python. NaN and ±Infinity parse (so the request's id can be echoed) and are
    refused by the range checks."""
    try:
        return json.loads(message)
    except RecursionError:
        raise ControlError("the request is nested too deeply") from None
    except ValueError as error:
        raise ControlError(f"not valid JSON: {error}") from None


def _request_id(value: Any) -> RequestId:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ControlError("id must be a string or an integer")
    if isinstance(value, str) and len(value) > MAX_ID_CHARS:
        raise ControlError(f"id may have at most {MAX_ID_CHARS} characters")
    if isinstance(value, int) and abs(value) > 2**53:
        raise ControlError("id is too large")
    return value


def _refuse_unknown(request: dict, allowed: set[str], request_id: RequestId) -> None:
    unknown = sorted(set(request) - allowed)
    if unknown:
        raise ControlError(f"unknown field(s): {', '.join(map(repr, unknown))}", request_id)


def status_reply(request_id: RequestId, **fields: Any) -> str:
    return json.dumps({"type": "status", "id": request_id, **fields})


def ack_reply(request_id: RequestId, position: int) -> str:
    return json.dumps({"type": "ack", "id": request_id, "position": position})


def error_reply(request_id: RequestId, message: str) -> str:
    return json.dumps({"type": "error", "id": request_id, "error": message})
