"""What the station remembers of each image placed in the stream: where it is heard from,
what it was painted for, and its picture (for ``now_playing`` and ``/chunks/…png``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, TypeVar

import numpy as np
from PIL import Image

from riffcast.generation.beats import BeatGrid
from riffcast.steering.walk import Step


class Placed(Protocol):
    """Something placed in the stream from sample ``position`` on (an image's record)."""

    @property
    def position(self) -> int: ...


PlacedT = TypeVar("PlacedT", bound=Placed)


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """An image placed in the stream: it is heard from sample ``position`` on.

    image: the painted spectrogram, (512, 512) uint8 greyscale (never modified).
    image_position: the sample position of the image's first column (before ``position`` for a
    window: its context).
    serial: the image's number in this run (never reused, also when a steer replaces images).
    announced: whether a ``now_playing`` names it — every chunk; in window mode, a window that
    starts a transition, repeats one (fallback) or starts a new 5.12 s page of pictures.
    fallback: True when this repeats the previous image because the generator was late
    or failed.
    samples: the stream samples its new audio fills, from ``position`` (the next image starts there).
    beats: the beat grids its music follows (:attr:`~riffcast.generation.types.PaintedImage.beats`);
    empty when unknown (a fallback repeat, a generator that keeps no time).
    """

    position: int
    step: Step
    image: np.ndarray
    fallback: bool
    image_position: int
    serial: int
    announced: bool
    samples: int
    beats: tuple[BeatGrid, ...] = ()
    index: int | None = None  # the producer's number for the image; None for the feed's underrun repeat

    @cached_property
    def png(self) -> bytes:
        """The image as PNG bytes, encoded the first time it is asked for (by a listener)."""
        return encode_png(self.image)


@dataclass(frozen=True)
class SteerHeard:
    """Where a steer is heard from (stream ``position``) and the producer's first image painted
    for it (``image``: where a replay applies it)."""

    position: int
    image: int


@dataclass(frozen=True)
class Aired:
    """An image that started airing: its record and the Unix time its first new sample was heard."""

    record: ImageRecord
    utc_s: float


def encode_png(image: np.ndarray) -> bytes:
    """(rows, columns) uint8 greyscale → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
