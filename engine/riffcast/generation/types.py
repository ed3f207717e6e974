"""Values passed between steering, the producer and the generators.

A generator paints one spectrogram image (Riffusion's convention, 512 × 512) per
:class:`ImageRequest`; the producer decides what to request and hands the images to the
stitcher. Both generators (Riffusion and the procedural ``synth``) meet here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from riffcast.generation.beats import BeatGrid
from riffcast.steering.targets import Target
from riffcast.steering.walk import Landing


class Interrupted(Exception):
    """A generation stopped between steps because its request went stale."""


@dataclass(frozen=True)
class BarGrid:
    """Where a tempo's bars lie in the stream: bar number ``bar`` begins at stream sample
    ``sample`` (the bars before and after it follow at the tempo's bar length). The default is
    the grid from the stream's start."""

    sample: int = 0
    bar: int = 0


@dataclass(frozen=True)
class ImageRequest:
    """One chunk to paint: the blend ``alpha`` (0 → ``start``, 1 → ``end``) of two targets.

    init_image: (512, 512) uint8 greyscale spectrogram image in image orientation (low
        frequencies at the bottom), the img2img starting point (the seed bed).
    keep_columns: window mode (:mod:`riffcast.pipeline.layout`) — the first ``keep_columns`` columns of
        ``init_image`` are context, to be kept (masked) and the rest painted to continue them;
        0 paints everything.
    index: the image's number in the stream (for logs and determinism checks).
    start_column: the stream column of the image's first column (a column is one hop).
    transition_column: the stream column where the current transition began bringing new music.
    switch_column: the stream column where the current transition's settings switch from
        ``start``'s to ``end``'s (its first image with alpha > 0.5 starts its new columns there);
        a generator that keeps time moves the switch to the next bar line at or after it. None:
        unknown (switch with the whole image when alpha passes 0.5).
    end_column: the stream column where the current transition ends (the next one begins),
        if no steer comes first; None when unknown.
    grid: where ``start``'s tempo's bar grid lies (reported by the generator in
        :attr:`PaintedImage.next_grid` at the transition before).
    landing: where the transition's new settings may take over — on a beat (a live steer) or a
        bar line (a playlist entry) — for a generator that keeps time.
    """

    start: Target
    end: Target
    alpha: float
    init_image: np.ndarray
    keep_columns: int = 0
    index: int = 0
    start_column: int = 0
    transition_column: int = 0
    switch_column: int | None = None
    end_column: int | None = None
    grid: BarGrid = BarGrid()
    landing: Landing = Landing.BEAT

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha) or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if self.init_image.dtype != np.uint8 or self.init_image.ndim != 2:
            raise ValueError("init_image must be a 2-D uint8 greyscale image")
        if not 0 <= self.keep_columns < self.init_image.shape[1]:
            raise ValueError("keep_columns must be within the image width")


@dataclass(frozen=True)
class PaintedImage:
    """A generated spectrogram image and where the time went.

    image: (512, 512) uint8 greyscale, Riffusion's convention (as ``ImageRequest.init_image``).
    timings_s: seconds per stage, e.g. ``{"text": …, "denoise": …, "decode": …}``.
    next_grid: where the transition's ``end`` settings' bars lie (from the bar line where they
        take over), for the requests of the next transition; None from a generator that does
        not keep a bar grid.
    beats: the beat grids the image's music follows, in order, each from its ``sample`` on (the
        first from the image's start; a change inside the image adds one): the beat clock.
        Empty from a generator that does not keep time.
    """

    image: np.ndarray
    timings_s: dict[str, float] = field(default_factory=dict)
    next_grid: BarGrid | None = None
    beats: tuple[BeatGrid, ...] = ()


# The synth's window (``SynthGenerator.window_columns``, its default --window-columns), measured in
# benchmarks/steering.py (latency, cost, seams); here so the command line's help can say it without
# importing the synth.
SYNTH_WINDOW_COLUMNS = 64


class Generator(Protocol):
    """Anything that paints spectrogram chunks: Riffusion or the procedural synth."""

    name: str

    def paint(self, request: ImageRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedImage:
        """Paint one chunk. Raises :class:`Interrupted` when ``should_stop()`` turns true."""
        ...
