"""``GET /history`` and ``/history.txt``, sans I/O: the as-run log's image lines merged into
segments — consecutive images whose settings did not change — newest last.

:class:`Segments` merges the lines as they are logged, so a request only walks back from the
newest segment to the ones it asks for (a station's memory holds hours of lines: merging them all
again for each request cost over 100 ms at 3 hours)."""

from __future__ import annotations

import datetime
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs

from riffcast.history.as_run import utc_iso

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_SEGMENTS = 100_000  # segments() of a list of lines keeps this many
SETTINGS = ("prompts", "seed", "denoising", "guidance", "bpm", "key", "brightness", "drums", "bass", "generator",
            "model")


@dataclass(frozen=True)
class HistoryQuery:
    """``since``/``until`` (Unix seconds, either may be open) and ``limit`` (the newest that many)."""

    since_s: float = -math.inf
    until_s: float = math.inf
    limit: int = DEFAULT_LIMIT


def parse_time(text: str, name: str) -> float:
    """An ISO 8601 time (``2026-12-06T21:14:03Z``, ``…+01:00``; no zone = UTC) → Unix seconds;
    ValueError naming ``name`` otherwise."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 time such as 2026-12-06T21:14:03Z, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def parse_query(query: str) -> HistoryQuery:
    """A request's query string → the :class:`HistoryQuery`; ValueError with one line if it is wrong."""
    fields = {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(fields) - {"since", "until", "limit"})
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}: /history takes since, until and limit")
    since_s = parse_time(fields["since"], "since") if "since" in fields else -math.inf
    until_s = parse_time(fields["until"], "until") if "until" in fields else math.inf
    limit = fields.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit[:20]!r}")
    return HistoryQuery(since_s, until_s, int(limit))


def _settings(line: Mapping[str, Any]) -> tuple:
    return tuple(repr(line.get(name)) for name in SETTINGS)


class Segments:
    """Image lines (with ``utc_s`` and ``serial``, oldest first), merged as they are added; the
    newest ``max_segments`` are kept. Not thread-safe: its owner holds a lock."""

    def __init__(self, max_segments: int) -> None:
        self._merged: deque[dict[str, Any]] = deque(maxlen=max_segments)
        self._key: tuple | None = None

    def add(self, line: Mapping[str, Any]) -> None:
        """One as-run line (other kinds than ``image`` are passed over)."""
        if line.get("type") != "image":
            return
        key = _settings(line)
        last = self._merged[-1] if self._merged else None
        if last is not None and key == self._key and last["position"] + last["samples"] == line["position"]:
            last["samples"] += line["samples"]
            last["last_utc_s"], last["last_samples"] = line["utc_s"], line["samples"]
            return
        self._key = key
        self._merged.append({"start_s": line["utc_s"], "last_utc_s": line["utc_s"], "last_samples": line["samples"],
                             "position": line["position"], "samples": line["samples"],
                             "serial": line.get("serial"),  # None: an earlier run's
                             **{name: line.get(name) for name in SETTINGS}})

    def find(self, query: HistoryQuery, *, sample_rate: int) -> list[dict[str, Any]]:
        """The segments that overlap [since, until], newest ``limit``, oldest first (copies, each with
        ``end_s``): walked back from the newest."""
        found: list[dict[str, Any]] = []
        for segment in reversed(self._merged):
            end_s = segment["last_utc_s"] + segment["last_samples"] / sample_rate
            if end_s < query.since_s or len(found) == query.limit:
                break
            if segment["start_s"] <= query.until_s:
                found.append({**segment, "end_s": end_s})
        return found[::-1]


def shown(found: list[dict[str, Any]], picture: Callable[[int], str | None] = lambda serial: None) -> list[dict[str, Any]]:
    """Segments from :meth:`Segments.find` as ``/history`` shows them. ``picture(serial)``: the URL of
    an image's picture while the station still holds it, else None."""
    return [{"start": utc_iso(s["start_s"]), "end": utc_iso(s["end_s"]), "position": s["position"],
             "samples": s["samples"], **{name: s[name] for name in SETTINGS}, "image": picture(s["serial"])}
            for s in found]


def segments(lines: Iterable[Mapping[str, Any]], query: HistoryQuery, *, sample_rate: int,
             picture: Callable[[int], str | None] = lambda serial: None) -> list[dict[str, Any]]:
    """Image lines (with ``utc_s`` and ``serial``, oldest first) → the segments that overlap
    [since, until], newest ``limit``, oldest first, as ``/history`` shows them."""
    merged = Segments(max_segments=MAX_SEGMENTS)
    for line in lines:
        merged.add(line)
    return shown(merged.find(query, sample_rate=sample_rate), picture)


def report_text(found: list[dict[str, Any]]) -> str:
    """A plain as-run report: one line per segment (start, length, what played)."""
    rows = ["start (UTC)               length   what played"]
    for segment in found:
        seconds = round(parse_time(segment["end"], "end") - parse_time(segment["start"], "start"))
        prompts = " + ".join(f"{p['text']} ({100 * p['weight']:.0f} %)" if len(segment["prompts"]) > 1 else p["text"]
                             for p in segment["prompts"])
        extras = "".join(f", {name} {segment[name]}" for name in ("bpm", "key") if segment.get(name) is not None)
        rows.append(f"{segment['start']:<25} {seconds // 60:3d}:{seconds % 60:02d}  {prompts} (seed {segment['seed']}"
                    f"{extras}{', ' + segment['generator'] if segment.get('generator') else ''})")
    return "\n".join(rows) + "\n"
