"""Control requests (``/control``), sans I/O: JSON text in, validated requests out.

See docs/control.md. Every field is checked — type, range, length, weight — and a bad
request raises :class:`ControlError` with a message for the ``error`` reply; nothing is
changed by a request that fails.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Union

from riffcast.generation.types import MAX_PROMPT_CHARS, MAX_SEED, Target, WeightedPrompt

MAX_PROMPTS = 8
MAX_WEIGHT = 100.0
MAX_ID_CHARS = 200
MAX_TRANSITION_CHUNKS = 64
STEER_FIELDS = {"type", "id", "prompt", "prompts", "seed", "denoising", "guidance", "negative_prompt", "transition_chunks"}
STATUS_FIELDS = {"type", "id"}

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
        _refuse_unknown(request, STATUS_FIELDS, request_id)
        return StatusRequest(request_id)
    if kind == "steer":
        _refuse_unknown(request, STEER_FIELDS, request_id)
        try:
            return _steer(request, request_id, current)
        except ControlError:
            raise
        except ValueError as error:
            raise ControlError(str(error), request_id) from None
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


def _steer(request: dict, request_id: RequestId, current: Target) -> SteerRequest:
    if ("prompt" in request) == ("prompts" in request):
        raise ControlError("give either 'prompt' (text) or 'prompts' (a list of {text, weight})", request_id)
    if "prompt" in request:
        prompts = (WeightedPrompt(_text(request["prompt"], "prompt")),)
    else:
        prompts = _prompts(request["prompts"])
    target = Target(
        prompts=prompts,
        seed=_integer(request, "seed", current.seed, 0, MAX_SEED),
        negative_prompt=_text(request.get("negative_prompt", current.negative_prompt), "negative_prompt", allow_empty=True),
        denoising=_number(request, "denoising", current.denoising, 0.0, 1.0, low_open=True),
        guidance=_number(request, "guidance", current.guidance, 0.0, 50.0),
    )
    transition = _integer(request, "transition_chunks", None, 1, MAX_TRANSITION_CHUNKS)
    return SteerRequest(request_id, target, transition)


def _prompts(value: Any) -> tuple[WeightedPrompt, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PROMPTS:
        raise ValueError(f"prompts must be a list of 1 to {MAX_PROMPTS} objects {{text, weight}}")
    prompts = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or "text" not in item or set(item) - {"text", "weight"}:
            raise ValueError(f"prompts[{index}] must be an object with 'text' and an optional 'weight'")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"prompts[{index}].weight must be a number")
        if not math.isfinite(weight) or not 0 < weight <= MAX_WEIGHT:
            raise ValueError(f"prompts[{index}].weight must be > 0 and at most {MAX_WEIGHT:g}, got {weight!r}")
        prompts.append(WeightedPrompt(_text(item["text"], f"prompts[{index}].text"), float(weight)))
    return tuple(prompts)


def _text(value: Any, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"{name} may have at most {MAX_PROMPT_CHARS} characters, got {len(value)}")
    return value


def _integer(request: dict, name: str, default: int | None, low: int, high: int) -> int | None:
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {value}")
    return value


def _number(request: dict, name: str, default: float, low: float, high: float, *, low_open: bool = False) -> float:
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)


def status_reply(request_id: RequestId, **fields: Any) -> str:
    return json.dumps({"type": "status", "id": request_id, **fields})


def ack_reply(request_id: RequestId, position: int) -> str:
    return json.dumps({"type": "ack", "id": request_id, "position": position})


def error_reply(request_id: RequestId, message: str) -> str:
    return json.dumps({"type": "error", "id": request_id, "error": message})
