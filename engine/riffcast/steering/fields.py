"""One validation for every way of steering: a mapping of fields → a :class:`Steer`.

``/control`` requests (JSON), playlist entries (TOML), OSC messages and the command line all
arrive as plain fields — ``prompt`` or ``prompts``, ``seed``, ``negative_prompt``, ``denoising``,
``guidance``, ``transition_chunks`` and the musical controls ``bpm``, ``key``, ``brightness``,
``drums``, ``bass`` — and go through :func:`steer_from_fields`. A field not given keeps the
current target's value (``bpm`` or ``key`` given as null/None: free, the prompts' own); a steer
that names only musical controls keeps the prompts. Any problem raises ValueError with a
message for the user; nothing is half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from riffcast.steering.targets import (
    BPM,
    BRIGHTNESS,
    DENOISING,
    GUIDANCE,
    MAX_PROMPTS,
    SEED,
    TRANSITION_CHUNKS,
    WEIGHT,
    Key,
    Limit,
    Part,
    Target,
    WeightedPrompt,
    check_text,
)

CONTROL_FIELDS = frozenset({"bpm", "key", "brightness", "drums", "bass"})  # the musical controls
STEER_FIELDS = frozenset({"prompt", "prompts", "seed", "negative_prompt", "denoising", "guidance", "transition_chunks",
                          *CONTROL_FIELDS})


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
    named_prompts = ("prompt" in fields) + ("prompts" in fields)
    if named_prompts == 2 or (named_prompts == 0 and not CONTROL_FIELDS & set(fields)):
        raise ValueError("give either 'prompt' (text) or 'prompts' (a list of {text, weight})")
    if "prompt" in fields:
        prompts = (WeightedPrompt(check_text(fields["prompt"], "prompt")),)
    elif "prompts" in fields:
        prompts = _prompts(fields["prompts"])
    else:  # only musical controls: the prompts play on
        prompts = current.prompts
    target = Target(
        prompts=prompts,
        seed=_value(fields, SEED, current.seed),
        negative_prompt=check_text(fields.get("negative_prompt", current.negative_prompt), "negative_prompt",
                                   allow_empty=True),
        denoising=float(_value(fields, DENOISING, current.denoising)),
        guidance=float(_value(fields, GUIDANCE, current.guidance)),
        **controls_from_fields(fields, current),
    )
    return Steer(target, _value(fields, TRANSITION_CHUNKS, None))


def controls_from_fields(fields: Mapping[str, Any], current: Target) -> dict[str, Any]:
    """The musical controls of ``fields``, checked, with ``current``'s where not named →
    keyword arguments of :class:`Target` (bpm, key, brightness, drums, bass)."""
    bpm = fields.get("bpm", current.bpm)
    if bpm is not None:
        BPM.check(bpm)
    key = fields.get("key", current.key)
    brightness = fields.get("brightness", current.brightness)
    if brightness is None:
        raise ValueError("brightness must be a number from -1 to 1 (0: as painted), not null")
    BRIGHTNESS.check(brightness)
    return {
        "bpm": None if bpm is None else float(bpm),
        "key": None if key is None else Key.parse(key),
        "brightness": float(brightness),
        "drums": Part.parse(fields.get("drums", current.drums), "drums"),
        "bass": Part.parse(fields.get("bass", current.bass), "bass"),
    }


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
