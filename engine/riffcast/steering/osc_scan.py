"""A bounded look at a UDP datagram before any OSC parser sees it, sans I/O.

python-osc parses whatever it is given: it recurses once per nested bundle (a datagram of
bundles 3000 deep raises RecursionError and takes hundreds of MB) and logs a warning through the
root logger for every type tag it does not know (one 60 kB datagram: 60 000 log lines). So each
datagram is first walked here, in one pass with no recursion and no allocation per element, and
refused unless it is small, shallow and made only of messages whose type tags python-osc reads
silently. The cost is linear in the datagram's size, which is capped: :data:`MAX_DATAGRAM_BYTES`.

Layout (OSC 1.0): a message is an address (``/…``), a type tag string (``,…``) and the
arguments, each string NUL-terminated and padded to 4 bytes; a bundle is ``#bundle\\0``, an
8-byte time tag, then elements, each a big-endian int32 size and that many bytes (a message or a
bundle).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_DATAGRAM_BYTES = 32 * 1024  # a /riffcast/steer of 8 prompts × 1000 characters fits
MAX_BUNDLE_DEPTH = 4  # bundles inside bundles: 1 is the datagram's own
MAX_MESSAGES = 32  # in one datagram, bundles opened
MAX_ARGUMENTS = 64  # per message
READABLE_TAGS = frozenset("ihfdsbrmtTFN")  # what python-osc reads without logging (arrays refused)
BUNDLE_PREFIX = b"#bundle\x00"
BUNDLE_HEAD_BYTES = len(BUNDLE_PREFIX) + 8  # the prefix and the time tag


class ScanRefusal(enum.Enum):
    """Why a datagram was refused before parsing (the refusal counter's reason label)."""

    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    TOO_MANY = "too_many"  # messages in a datagram, or arguments in a message
    UNREADABLE_TYPE = "unreadable_type"  # a type tag python-osc does not read
    NOT_OSC = "not_osc"


@dataclass(frozen=True)
class Refused:
    reason: ScanRefusal
    detail: str


def scan_datagram(datagram: bytes) -> Refused | None:
    """None when ``datagram`` is a well-formed OSC packet within the limits above (so parsing it
    is cheap and silent), else why not. Never raises."""
    if len(datagram) > MAX_DATAGRAM_BYTES:
        return Refused(ScanRefusal.TOO_LARGE, f"{len(datagram)} bytes; at most {MAX_DATAGRAM_BYTES} are read")
    messages = 0
    pending = [(0, len(datagram), 1)]  # (start, end, bundle depth) of elements still to look at
    while pending:
        start, end, depth = pending.pop()
        if datagram.startswith(BUNDLE_PREFIX, start):
            if depth > MAX_BUNDLE_DEPTH:
                return Refused(ScanRefusal.TOO_DEEP, f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
            elements = _bundle_elements(datagram, start, end)
            if isinstance(elements, Refused):
                return elements
            pending.extend((element_start, element_end, depth + 1) for element_start, element_end in elements)
            continue
        messages += 1
        if messages > MAX_MESSAGES:
            return Refused(ScanRefusal.TOO_MANY, f"more than {MAX_MESSAGES} messages in one datagram")
        problem = _check_message(datagram, start, end)
        if problem is not None:
            return problem
    return None


def _bundle_elements(datagram: bytes, start: int, end: int) -> list[tuple[int, int]] | Refused:
    """The (start, end) of each element of the bundle at ``start``."""
    elements = []
    index = start + BUNDLE_HEAD_BYTES
    if index > end:
        return Refused(ScanRefusal.NOT_OSC, "a bundle shorter than its time tag")
    while index < end:
        if index + 4 > end:
            return Refused(ScanRefusal.NOT_OSC, "a bundle element without its size")
        size = int.from_bytes(datagram[index : index + 4], "big", signed=True)
        index += 4
        if size <= 0 or size % 4 or index + size > end:
            return Refused(ScanRefusal.NOT_OSC, f"a bundle element of {size} bytes does not fit")
        elements.append((index, index + size))
        index += size
    return elements


def _check_message(datagram: bytes, start: int, end: int) -> Refused | None:
    if not datagram.startswith(b"/", start):
        return Refused(ScanRefusal.NOT_OSC, "neither a message (/address) nor a bundle")
    tags_start = _padded_end(datagram, start, end)
    if tags_start is None:
        return Refused(ScanRefusal.NOT_OSC, "the address is not NUL-terminated")
    if tags_start >= end:
        return None  # no arguments
    if datagram[tags_start] != ord(","):
        return Refused(ScanRefusal.NOT_OSC, "the type tag string must start with a comma")
    tags_end = datagram.find(b"\x00", tags_start, end)
    if tags_end < 0:
        return Refused(ScanRefusal.NOT_OSC, "the type tag string is not NUL-terminated")
    if tags_end - tags_start - 1 > MAX_ARGUMENTS:
        return Refused(ScanRefusal.TOO_MANY, f"more than {MAX_ARGUMENTS} arguments in one message")
    tags = datagram[tags_start + 1 : tags_end].decode("latin-1")
    unreadable = set(tags) - READABLE_TAGS
    if unreadable:
        shown = "".join(sorted(unreadable))[:8]
        return Refused(ScanRefusal.UNREADABLE_TYPE, f"unsupported OSC type tag(s) {shown!r}; use i h f d s b T F N")
    return None


def _padded_end(datagram: bytes, start: int, end: int) -> int | None:
    """Where the next field starts after the NUL-terminated, 4-byte padded string at ``start``."""
    nul = datagram.find(b"\x00", start, end)
    if nul < 0:
        return None
    return start + ((nul - start) // 4 + 1) * 4
