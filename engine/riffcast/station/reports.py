"""What a station reports about itself: ``/healthz``, the settings and status of control replies, and
``/history`` (what aired, from the as-run log), and the stream's ``now_playing`` and ``beat`` events."""

from __future__ import annotations

import asyncio
import os
import resource
from typing import Any, Protocol

from websockets.http11 import Response

from riffcast.generation.beats import Beat
from riffcast.history.segments import parse_query, report_text
from riffcast.ops.health import Assessment
from riffcast.pipeline.beat_clock import next_downbeat_heard
from riffcast.pipeline.records import ImageRecord
from riffcast.station import http, routes
from riffcast.steering.walk import heard_prompts
from riffcast_client import protocol


class Station(Protocol):
    """What the reports read of a station (riffcast.station.server.Station)."""

    config: Any
    params: Any
    feed: Any
    listeners: Any
    outputs: Any
    generator_name: str
    position: int | None
    epoch_s: float | None
    starved_frames: int
    as_run: Any
    rewind: Any

    @property
    def lead_s(self) -> float: ...

    @property
    def generator_ok(self) -> bool: ...

    def assessment(self) -> Assessment: ...


def health(station: Station) -> dict:
    """``/healthz``'s JSON."""
    playing = station.position is not None
    assessment = station.assessment()
    return {
        "status": assessment.status.value,
        "problems": list(assessment.problems),
        "station": station.config.name,
        "generator": station.generator_name,
        "generator_ok": station.generator_ok,
        "producer_restarts": station.feed.producer_restarts,
        "playing": playing,
        "position": station.position or 0,
        "epoch_s": station.epoch_s,
        "sample_rate": station.params.sample_rate,
        "frame_samples": station.config.frame_samples,
        "lead_s": round(station.lead_s, 3),
        "listeners": station.stream_listeners,
        "live_mp3_listeners": len(station.outputs.live_mp3),
        "underruns": station.feed.underruns,
        "starved_frames": station.starved_frames,
        "generator_faults": station.feed.generator_faults(),
        "tasks": len(asyncio.all_tasks()),
        "open_files": _open_files(),
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "max_listeners": station.config.max_listeners,
    }


def settings(station: Station) -> dict:
    """Where the station is heading: the target (with its musical controls: ``bpm`` a float or
    None, ``key`` a name such as "A minor" or None) and the transition length."""
    target = station.feed.heading_to
    return {
        "prompts": [{"text": p.text, "weight": p.weight} for p in target.prompts],
        "seed": target.seed,
        "negative_prompt": target.negative_prompt,
        "denoising": target.denoising,
        "guidance": target.guidance,
        "transition_chunks": station.feed.transition_chunks,
        "bpm": target.bpm,
        "key": target.key_name,
        "brightness": target.brightness,
        "drums": target.drums.value,
        "bass": target.bass.value,
    }


def status(station: Station) -> dict:
    """The fields of a control status reply (besides its id)."""
    return {
        "position": station.position or 0, **settings(station), "lead_s": round(station.lead_s, 3),
        "listeners": station.stream_listeners, "underruns": station.feed.underruns, "generator": station.generator_name,
        "generator_ok": station.generator_ok,
        "next_downbeat": next_downbeat_heard(station.feed.records(), station.position or 0, station.params.sample_rate),
        "window": station.rewind.window(),
    }


def _open_files() -> int | None:
    """File descriptors this process holds (Linux; None elsewhere), for leak checks."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def now_playing_event(record: ImageRecord, picture: ImageRecord, next_downbeat: int | None) -> str:
    """The event for ``record``, showing ``picture`` (see :meth:`Feed.picture_for`)."""
    step = record.step
    heard = step.end if step.alpha >= 0.5 else step.start  # seed, bpm and key switch half-way
    return protocol.now_playing(
        position=record.position, prompts=heard_prompts(step), seed=heard.seed, alpha=round(step.alpha, 4),
        image=routes.picture_path(picture.serial), image_position=picture.image_position, bpm=heard.bpm,
        key=heard.key_name, next_downbeat=next_downbeat,
    )


def beat_event(beat: Beat) -> str:
    return protocol.beat(position=beat.position, bar=beat.bar, beat=beat.beat, bpm=beat.bpm)


def history(station: Station, query: str, *, text: bool) -> Response:
    """``GET /history`` (JSON) and ``/history.txt``: the as-run log's segments (riffcast.history.segments)."""
    def picture_url(serial: int) -> str | None:  # while the station still holds the image
        return routes.picture_path(serial) if any(r.serial == serial for r in station.feed.records()) else None

    try:
        found = station.as_run.history(parse_query(query), sample_rate=station.params.sample_rate,
                                       picture=picture_url)  # merged as logged: the cost does not grow with the memory
    except ValueError as error:
        return http.text_response(400, str(error))
    if text:
        return http.response(200, report_text(found).encode(), "text/plain; charset=utf-8", cache="no-cache")
    return http.json_response({"segments": found}, 200)
