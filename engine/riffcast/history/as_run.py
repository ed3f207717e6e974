"""What the as-run log says, sans I/O: one JSON object per line (see docs/history.md).

- ``image``: an image as it aired — the UTC time of its first new sample as heard, its span of
  the stream (``position``, ``samples``; consecutive images are contiguous), what it was painted
  for (the prompts heard, seed, denoising, guidance, musical controls), the generator and
  model, whether it was a fallback, and the id of the steer whose first image it is;
- ``steer``: a steer taken — when, its ack position, where from (:class:`Source`), its id and
  the settings it asked for (never a token);
- ``listeners``: once a minute, the listeners by output;
- ``run``: once at each start, what ``riffcast replay`` needs to paint the run's images again.

Images painted and then replaced by a steer never air, so they are never logged; an image placed
after the frame holding its first sample went out (an underrun repeat stitched after the clock
reached its position: those frames went out as silence) is logged in the next tick
(:class:`AiredOnce`), so that the log's spans stay contiguous.
"""

from __future__ import annotations

import enum
import math
import time
from typing import Any, Iterable, Mapping

from riffcast.pipeline.records import Aired, PlacedT
from riffcast.steering.targets import Target
from riffcast.steering.walk import heard_prompts


class AiredOnce:
    """Which images started airing, each once, in stream order: those placed before a tick's end
    and after the last one logged (a late one too; see the module docstring)."""

    def __init__(self) -> None:
        self._last: int = -1  # the stream position of the last record logged

    def new(self, records: Iterable[PlacedT], end: int) -> list[PlacedT]:
        """Records placed before ``end`` (samples) and after the last one logged, in stream order;
        they count as logged from now on."""
        found = sorted((r for r in records if self._last < r.position < end), key=lambda r: r.position)
        if found:
            self._last = found[-1].position
        return found


class Source(enum.Enum):
    """Where a steer came from."""

    CONTROL = "control"
    OSC = "osc"
    PLAYLIST = "playlist"
    CLI = "cli"


def utc_iso(time_s: float) -> str:
    """Unix seconds → ``2026-12-06T21:14:03.120Z`` (milliseconds, UTC)."""
    whole = math.floor(time_s)
    millis = min(999, round((time_s - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def target_fields(target: Target) -> dict[str, Any]:
    """A target's settings as the log and ``/history`` name them."""
    fields = {
        "prompts": [{"text": prompt.text, "weight": prompt.weight} for prompt in target.prompts],
        "seed": target.seed, "negative_prompt": target.negative_prompt, "denoising": target.denoising,
        "guidance": target.guidance,
    }
    return {**fields, "bpm": target.bpm, "key": target.key_name, "brightness": target.brightness,
            "drums": target.drums.value, "bass": target.bass.value}


def image_line(aired: Aired, *, generator: str, model: str, steer_id: Any = None) -> dict[str, Any]:
    """The ``image`` line of ``aired``."""
    record = aired.record
    step = record.step
    heard = step.end if step.alpha >= 0.5 else step.start  # the target nearer what is heard
    return {
        "type": "image", "utc": utc_iso(aired.utc_s), "position": record.position, "samples": record.samples,
        **target_fields(heard),
        "prompts": [{"text": text, "weight": weight} for text, weight in heard_prompts(step)],
        "alpha": round(step.alpha, 4), "generator": generator, "model": model, "fallback": record.fallback,
        "steer": steer_id, "index": record.index,
    }


def steer_line(*, utc_s: float, position: int, source: Source, steer_id: Any, target: Target,
               transition_chunks: int | None, image: int | None = None) -> dict[str, Any]:
    """The ``steer`` line of a steer acknowledged at ``position`` (its first image: the producer's ``image``)."""
    fields = target_fields(target)
    if transition_chunks is not None:
        fields["transition_chunks"] = transition_chunks
    return {"type": "steer", "utc": utc_iso(utc_s), "position": position, "source": source.value, "id": steer_id,
            "fields": fields, "image": image}


def run_line(*, utc_s: float, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run`` line a station writes when it starts: what a replay needs to paint and stitch
    its images again (generator, model, seed image, layout, the walk it starts from, the audio chain)."""
    return {"type": "run", "utc": utc_iso(utc_s), **settings}


def listeners_line(*, utc_s: float, by_output: Mapping[str, int]) -> dict[str, Any]:
    """The ``listeners`` line: receivers by output now."""
    return {"type": "listeners", "utc": utc_iso(utc_s), "count": sum(by_output.values()), "by_output": dict(by_output)}
