"""``riffcast replay``: any aired stretch again, painted and stitched from the as-run log.

A station's ``run`` line says how it started (generator, model, seed image, layout, the walk it
started from, the audio chain); each ``steer`` line says which of the producer's images it was
applied at (``image``); each ``image`` line which producer image aired (``index``; null for an
underrun repeat). Replay builds the same producer, paints image after image from the run's start,
steering the walk at each logged image exactly as the station did after its rewind, and stitches
them through the same assembly: for the synth (and for Riffusion on the same hardware and
software) the images are the aired ones and, where no underrun repeat came before, so is the
audio, sample for sample. :func:`plan` is sans I/O; :func:`replay` paints.

Known limit: steers coalesced while the producer was busy (a fader's burst) are logged with the
image of the steer that replaced them; replay applies only the last steer logged for an image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from riffcast.pipeline.producer import ImageProducer
from riffcast.steering.fields import steer_from_fields
from riffcast.steering.state import walk_from_document
from riffcast.steering.targets import Target
from riffcast.steering.walk import Landing, Walk, WalkPosition

OVERLAP_S = 0.002  # an image must overlap the range by more than this (log times are in ms)


@dataclass(frozen=True)
class LoggedSteer:
    """A steer as the producer took it: before painting its image ``image``."""

    image: int
    target: Target
    transition_chunks: int | None
    landing: Landing


@dataclass(frozen=True)
class ReplayPlan:
    """What to paint again: the run's settings (its ``run`` line), its walk at the start, its steers,
    and the producer images ``first``…``last`` that aired in the range, from stream position
    ``position`` on (``repeats``: underrun repeats aired among them, not painted again)."""

    run: Mapping[str, Any]
    walk: WalkPosition
    steers: tuple[LoggedSteer, ...]
    first: int
    last: int
    repeats: int
    position: int


def plan(lines: Iterable[Mapping[str, Any]], since_s: float, until_s: float, *,
         utc_s: Callable[[str], float], sample_rate: int = 44100) -> ReplayPlan:
    """The plan for the images heard in [since_s, until_s) (Unix seconds) → ValueError (one line)
    when the log holds no such images, or not the run they belong to."""
    if not until_s > since_s:
        raise ValueError("--to must be later than --from")
    run: Mapping[str, Any] | None = None
    runs: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for line in lines:
        if line.get("type") == "run":
            run = line
            runs.append((line, []))
        elif run is not None:
            runs[-1][1].append(line)
    for run, logged in reversed(runs):
        aired = [line for line in logged if line.get("type") == "image"]
        # An image is heard until the next one starts (its logged time: the clock's late ticks make
        # start + duration run past it), the last one for its duration.
        ends_s = [utc_s(after["utc"]) for after in aired[1:]] + [
            utc_s(line["utc"]) + line["samples"] / sample_rate for line in aired[-1:]]
        images = [line for line, end_s in zip(aired, ends_s)
                  if utc_s(line["utc"]) < until_s and end_s > since_s + OVERLAP_S]
        if images:
            break
    else:
        raise ValueError("the as-run log holds no aired image in that range (or not the run line before it)")
    painted = [line["index"] for line in images if line.get("index") is not None]
    if not painted:
        raise ValueError("only underrun repeats aired in that range: nothing to paint again")
    first, last = min(painted), max(painted)
    position = next(line["position"] for line in images if line.get("index") == first)
    by_image: dict[int, LoggedSteer] = {}
    for line in logged:
        if line.get("type") == "steer" and line.get("image") is not None:
            fields = dict(line["fields"])
            chunks = fields.pop("transition_chunks", None)
            target = steer_from_fields(fields, Target.from_text("replay")).target
            landing = Landing.BAR if line.get("source") == "playlist" else Landing.BEAT
            by_image[line["image"]] = LoggedSteer(line["image"], target, chunks, landing)  # the last one wins
    return ReplayPlan(run, walk_from_document(run["walk"]), tuple(sorted(by_image.values(), key=lambda s: s.image)),
                      first, last, len(images) - len(painted), position)


def replay(plan: ReplayPlan, *, generator, seed_image: np.ndarray, layout, assembly,
           on_image: Callable[[int, np.ndarray], None] = lambda index, image: None) -> np.ndarray:
    """Paint the producer images from 0 again, steered as logged, and stitch them with ``assembly``
    (a fresh :class:`~riffcast.pipeline.assembly.StreamAssembly` set up as the run was) until the
    audio of images ``plan.first`` … ``plan.last`` is complete (the stitcher's look-ahead reaches
    into the images after, as it did on air) → that audio, float32 mono. ``on_image(index, image)``
    is told each image painted, (512, 512) uint8."""
    producer = ImageProducer(generator, Walk.resume(plan.walk), seed_image, layout=layout)
    steers = {steer.image: steer for steer in plan.steers}
    blocks, start, end, emitted, index = [], 0, None, 0, 0
    while end is None or emitted < end:
        if index in steers:
            steer = steers[index]
            producer.walk.steer(steer.target, steer.transition_chunks, steer.landing)
        chunk = producer.next_image()
        position = assembly.place()
        start = position if index == plan.first else start
        block = assembly.stitch(chunk.image)
        blocks.append(block)
        emitted = block.position + block.samples.size
        end = assembly.next_position if index == plan.last else end
        on_image(index, chunk.image)
        index += 1
    audio = np.concatenate([block.samples for block in blocks if block.samples.size])
    return audio[start - blocks[0].position:end - blocks[0].position]
