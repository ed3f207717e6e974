"""OSC steering, sans I/O: a UDP datagram in, validated steers (or refusals with a reason) out.

Addresses (docs/osc.md), each validated exactly like ``/control`` — through
:func:`~riffcast.steering.fields.steer_from_fields` — against the target the stream heads to:

| address | arguments | steer |
|---|---|---|
| ``/riffcast/prompt`` | ``s`` | one prompt, weight 1 |
| ``/riffcast/prompts`` | ``s f [s f …]`` | texts with weights |
| ``/riffcast/weights`` | ``f …`` | the current prompts re-weighted, in order (one weight each) |
| ``/riffcast/seed`` | ``i`` | the current prompts with this seed |
| ``/riffcast/denoising`` | ``f`` | … with this denoising |
| ``/riffcast/guidance`` | ``f`` | … with this guidance |
| ``/riffcast/transition`` | ``i`` | … reached over this many chunks |
| ``/riffcast/bpm`` | ``f`` | … at this tempo (40–240 bpm) |
| ``/riffcast/key`` | ``s`` | … in this key ("A minor", "F# major", "Bb major") |
| ``/riffcast/brightness`` | ``f`` | … this bright (−1 … 1, 0 as painted) |
| ``/riffcast/drums`` | ``s`` | … with the drums "on", "off" or "only" |
| ``/riffcast/bass`` | ``s`` | … with the bass "on", "off" or "only" |
| ``/riffcast/steer`` | ``s`` | a JSON ``steer`` request, as on ``/control`` |

OSC bundles are opened (their time tags are ignored: a steer applies at once). Each datagram is
first checked by :func:`~riffcast.steering.osc_scan.scan_datagram` (size, nesting, counts, type
tags), so the parser's cost is bounded and it never logs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pythonosc.osc_packet import OscPacket, ParseError

from riffcast.steering.control import ControlError, SteerRequest, parse_request
from riffcast.steering.fields import Steer, steer_from_fields
from riffcast.steering.osc_scan import scan_datagram
from riffcast.steering.targets import Target

PREFIX = "/riffcast/"
SETTING_ADDRESSES = {"seed": "seed", "denoising": "denoising", "guidance": "guidance", "transition": "transition_chunks",
                     "bpm": "bpm", "key": "key", "brightness": "brightness", "drums": "drums", "bass": "bass"}
FREE_CONTROLS = frozenset({"bpm", "key"})  # a nil argument (type tag N) frees them


class RefusalReason(enum.Enum):
    """Why an OSC datagram or message changed nothing (the label of the refusal counter)."""

    NOT_OSC = "not_osc"  # the datagram is not an OSC packet
    TOO_LARGE = "too_large"  # over osc_scan.MAX_DATAGRAM_BYTES
    TOO_DEEP = "too_deep"  # bundles nested over osc_scan.MAX_BUNDLE_DEPTH
    TOO_MANY = "too_many"  # messages in a datagram, or arguments in a message
    UNREADABLE_TYPE = "unreadable_type"  # a type tag the parser does not read
    UNKNOWN_ADDRESS = "unknown_address"
    INVALID = "invalid"  # wrong types, count or range of arguments
    FLOOD = "flood"  # more messages than the station takes per second
    NOT_GENERATING = "not_generating"  # the generator is down: the stream plays its fallback


class OscRefused(ValueError):
    """A message (or datagram) refused; ``reason`` says which kind, the text says why."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class OscMessage:
    address: str
    arguments: tuple[Any, ...]


def messages_in(datagram: bytes) -> list[OscMessage]:
    """The OSC messages of one datagram (bundles opened); OscRefused if it is not OSC or
    exceeds a limit of :mod:`riffcast.steering.osc_scan` (checked before parsing)."""
    refused = scan_datagram(datagram)
    if refused is not None:
        raise OscRefused(RefusalReason(refused.reason.value), f"not taken: {refused.detail}")
    try:
        packet = OscPacket(datagram)
    except (ParseError, ValueError, IndexError, TypeError, OverflowError, RecursionError) as error:
        raise OscRefused(RefusalReason.NOT_OSC, f"not an OSC packet ({str(error)[:200]})") from None
    return [OscMessage(timed.message.address, tuple(timed.message.params)) for timed in packet.messages]


def steer_from_osc(message: OscMessage, current: Target) -> Steer:
    """One message → the steer it asks for, validated against ``current``; OscRefused otherwise."""
    name = message.address[len(PREFIX):] if message.address.startswith(PREFIX) else None
    if name not in {"prompt", "prompts", "weights", "steer", *SETTING_ADDRESSES}:
        raise OscRefused(RefusalReason.UNKNOWN_ADDRESS, f"unknown OSC address {message.address[:100]!r}")
    try:
        if name == "steer":
            return _json_steer(message.arguments, current)
        return steer_from_fields(_fields(name, message.arguments, current), current)
    except ValueError as error:
        raise OscRefused(RefusalReason.INVALID, f"{message.address}: {error}") from None


def _fields(name: str, arguments: tuple[Any, ...], current: Target) -> dict[str, Any]:
    prompts = [{"text": prompt.text, "weight": prompt.weight} for prompt in current.prompts]
    if name == "prompt":
        _count(arguments, 1, "one text")
        return {"prompt": arguments[0]}
    if name == "prompts":
        if not arguments or len(arguments) % 2:
            raise ValueError("give text and weight pairs: s f [s f …]")
        return {"prompts": [{"text": text, "weight": weight} for text, weight in zip(arguments[::2], arguments[1::2])]}
    if name == "weights":
        _count(arguments, len(prompts), f"one weight for each of the {len(prompts)} current prompts")
        return {"prompts": [{**prompt, "weight": weight} for prompt, weight in zip(prompts, arguments)]}
    _count(arguments, 1, "one value")
    if arguments[0] is None and name not in FREE_CONTROLS:
        raise ValueError("expected a value, got nil")
    return {"prompts": prompts, SETTING_ADDRESSES[name]: arguments[0]}


def _count(arguments: tuple[Any, ...], expected: int, what: str) -> None:
    if len(arguments) != expected:
        raise ValueError(f"expected {what}, got {len(arguments)} argument(s)")


def _json_steer(arguments: tuple[Any, ...], current: Target) -> Steer:
    _count(arguments, 1, "one JSON text")
    if not isinstance(arguments[0], str):
        raise ValueError("expected a JSON steer request as text")
    try:
        request = parse_request(arguments[0], current)
    except ControlError as error:
        raise ValueError(str(error)) from None
    if not isinstance(request, SteerRequest):
        raise ValueError("only steer requests are taken over OSC")
    return Steer(request.target, request.transition_chunks)
