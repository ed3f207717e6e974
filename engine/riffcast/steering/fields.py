"""One validation for every way of steering: a mapping of fields → a :class:`Steer`.

``/control`` requests (JSON), playlist entries (TOML) and OSC messages all arrive as plain
fields — ``prompt`` or ``prompts``, ``seed``, ``negative_prompt``, ``denoising``, ``guidance``,
``transition_chunks`` — and go through :func:`steer_from_fields`. A field not given keeps the
current target's value. Any problem raises ValueError with a message for the user; nothing is
half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from riffcast.steering.targets import (
    DENOISING,
    GUIDANCE,
    MAX_PROMPTS,
    SEED,
    TRANSITION_CHUNKS,
    WEIGHT,
    Limit,
    Target,
    WeightedPrompt,
    check_text,
)

STEER_FIELDS = frozenset({"prompt", "prompts", "seed", "negative_prompt", "denoising", "guidance", "transition_chunks"})


@dataclass(frozen=True)
class Steer:
    """A change of course: head for ``target`` over ``transition_chunks`` chunks (None: the
    walk's current transition length)."""

    target: Target
    transition_chunks: int | None = None


def steer_from_fields(fields: Mapping[str, Any], current: Target) -> Steer:
    """Validate ``fields`` (see the module docstring) against ``current`` → :class:`Steer`."""
    unknown = sorted(set(fields) - STEER_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(map(repr, unknown))}")
    if ("prompt" in fields) == ("prompts" in fields):
        raise ValueError("give either 'prompt' (text) or 'prompts' (a list of {text, weight})")
    if "prompt" in fields:
        prompts = (WeightedPrompt(check_text(fields["prompt"], "prompt")),)
    else:
        prompts = _prompts(fields["prompts"])
    target = Target(
        prompts=prompts,
        seed=_value(fields, SEED, current.seed),
        negative_prompt=check_text(fields.get("negative_prompt", current.negative_prompt), "negative_prompt",
                                   allow_empty=True),
        denoising=float(_value(fields, DENOISING, current.denoising)),
        guidance=float(_value(fields, GUIDANCE, current.guidance)),
    )
    return Steer(target, _value(fields, TRANSITION_CHUNKS, None))


def _value(fields: Mapping[str, Any], limit: Limit, default: Any) -> Any:
    value = fields.get(limit.name)
    if value is None:
        return default
    limit.check(value)
    return value


def _prompts(value: Any) -> tuple[WeightedPrompt, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PROMPTS:
        raise ValueError(f"prompts must be a list of 1 to {MAX_PROMPTS} objects {{text, weight}}")
    prompts = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or "text" not in item or set(item) - {"text", "weight"}:
            raise ValueError(f"prompts[{index}] must be an object with 'text' and an optional 'weight'")
        weight = item.get("weight", 1.0)
        WEIGHT.check(weight, f"prompts[{index}].weight")
        prompts.append(WeightedPrompt(check_text(item["text"], f"prompts[{index}].text"), float(weight)))
    return tuple(prompts)
