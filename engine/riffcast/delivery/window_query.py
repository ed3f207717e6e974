"""What a request asks of the rewind window, sans I/O: ``/stream?from=POSITION`` or
``?since=ISO`` (where a listener starts) and ``/clip?from=ISO&to=ISO&format=wav|mp3`` (a range to
cut), checked against the window; each refusal is one line (a ``ValueError``, or
:class:`OutsideWindow` for a well-formed ask the window does not hold)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import parse_qs

from riffcast.delivery.window_index import Span
from riffcast.history.segments import parse_time

MAX_CLIP_S = 600.0  # the longest /clip: 10 minutes (53 MB of WAV)
CLIP_FIELDS = frozenset({"from", "to", "format"})


class OutsideWindow(ValueError):
    """Well formed, but the window does not hold it (HTTP 416)."""


class ClipFormat(enum.Enum):
    WAV = "wav"
    MP3 = "mp3"

    @property
    def content_type(self) -> str:
        return {ClipFormat.WAV: "audio/wav", ClipFormat.MP3: "audio/mpeg"}[self]


@dataclass(frozen=True)
class Clip:
    span: Span
    format: ClipFormat


def _fields(query: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}


def position_of(time_s: float, *, epoch_s: float, sample_rate: int) -> int:
    """The stream position due at Unix time ``time_s`` (position 0 was due at ``epoch_s``)."""
    return round((time_s - epoch_s) * sample_rate)


def stream_start(query: str, *, epoch_s: float, sample_rate: int) -> int | None:
    """``from=POSITION`` (samples) or ``since=ISO`` → the position asked; None for neither (live)."""
    fields = _fields(query)
    if "from" in fields and "since" in fields:
        raise ValueError("give from= (a stream position) or since= (an ISO time), not both")
    if "from" in fields:
        text = fields["from"].strip()
        if not text.isdigit() or len(text) > 15:
            raise ValueError(f"from must be a stream position (a whole number of samples), got {text[:40]!r}")
        return int(text)
    if "since" in fields:
        return position_of(parse_time(fields["since"], "since"), epoch_s=epoch_s, sample_rate=sample_rate)
    return None


def check_start(position: int, window: Span | None, *, sample_rate: int) -> None:
    """Refuse (:class:`OutsideWindow`) a start the window does not hold: before its first sample,
    or after the live position (``window.end``)."""
    if window is None:
        raise OutsideWindow("the rewind window holds nothing yet; join live")
    if not window.first <= position <= window.end:
        raise OutsideWindow(f"position {position} is outside the rewind window: it holds {window.first} to "
                            f"{window.end} (the last {window.samples / sample_rate:.1f} s)")


def clip_request(query: str, window: Span | None, *, epoch_s: float, sample_rate: int,
                 max_s: float = MAX_CLIP_S) -> Clip:
    """``from=ISO&to=ISO&format=wav|mp3`` → the :class:`Clip`, exact to the sample."""
    fields = _fields(query)
    unknown = sorted(set(fields) - CLIP_FIELDS)
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0][:40]!r}: /clip takes from, to and format")
    if "from" not in fields or "to" not in fields:
        raise ValueError("/clip needs from=ISO and to=ISO, e.g. from=2026-12-07T08:00:00Z&to=2026-12-07T08:01:00Z")
    names = ", ".join(f.value for f in ClipFormat)
    try:
        clip_format = ClipFormat(fields.get("format", ClipFormat.WAV.value))
    except ValueError:
        raise ValueError(f"format must be one of {names}, got {fields['format'][:20]!r}") from None
    first_s, end_s = parse_time(fields["from"], "from"), parse_time(fields["to"], "to")
    if not end_s > first_s:
        raise ValueError("to must be later than from")
    if not end_s - first_s <= max_s:
        raise ValueError(f"a clip is at most {max_s:g} s; asked for {end_s - first_s:.1f} s")
    span = Span(position_of(first_s, epoch_s=epoch_s, sample_rate=sample_rate),
                position_of(end_s, epoch_s=epoch_s, sample_rate=sample_rate))
    if window is None or not (window.first <= span.first and span.end <= window.end):
        held = "nothing yet" if window is None else f"{window.samples / sample_rate:.1f} s"
        raise OutsideWindow(f"from–to is outside the rewind window (it holds {held}; /window says when)")
    return Clip(span, clip_format)
