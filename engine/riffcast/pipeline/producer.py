"""The producer: asks a generator for image after image along the walk, and survives it.

:class:`ImageProducer` is synchronous and deterministic (``riffcast render`` drives it as fast
as it can); :class:`ProducerThread` runs one in the background, keeps a lead of images
ahead of playback, applies steering at the next image (replacing unplayed ones, with the
feed's help) and interrupts an image whose target has been superseded.

Layout (:mod:`riffcast.pipeline.layout`): whole chunks are painted from the seed bed; in window mode
every image after the first continues the one before it: its init image is that image moved
left by the window's N columns, the seed bed (at the loop's phase there) in the N columns
freed at the end, and the generator keeps the context columns as they are.

Rewinding: the producer remembers, for each of its last images, what it was just before
painting it (walk position, the image before it); :meth:`ImageProducer.rewind` goes back
there, so a steer can have images that were painted but not yet played painted again.

Changes on the beat grid: each request says where its transition's settings switch
(``switch_column``: where its first image with alpha > 0.5 brings new music), where the
transition ends (``end_column``) and the bar grid of the transition's start settings (``grid``:
the ``next_grid`` the generator reported for the transition before), so a generator that keeps
time can land the change on a bar line. All are worked out from the walk's position, so a
rewind paints the same requests again.

The conductor: for a generator that does not honour the musical controls itself (Riffusion),
each painted image's stitched columns go through :class:`~riffcast.dsp.conductor.Conductor`
(tempo, key, brightness, stems) while any control is asked; the image painted, not the one
conducted, is what the next paint continues from.

Faults: a generation that raises or returns a NaN-born or blank image is retried once, then
replaced by the last good image again (the stitcher joins it like any other) and counted.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from riffcast.dsp.codec import mel_from_pixels, pixels_from_mel
from riffcast.dsp.conductor import Conductor, ConductorState, Controls
from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.beats import BeatGrid
from riffcast.generation.types import BarGrid, Generator, ImageRequest, Interrupted, PaintedImage
from riffcast.pipeline.conducting import controls_of, honours_controls
from riffcast.pipeline.layout import WHOLE_CHUNKS, StreamLayout
from riffcast.steering.walk import Step, Walk, WalkPosition

log = logging.getLogger(__name__)

BLANK_SPREAD = 2  # an image whose pixels span fewer levels than this is blank
PAINT_HISTORY = 8  # recent paint times kept for the estimate
HOP_SAMPLES = RIFFUSION_V1.hop_samples  # a column of every generator's images
MARKS_KEPT = 32  # the last images that can be painted again (a steer replaces at most these)


@dataclass(frozen=True)
class ProducedImage:
    """A painted image with its place in the stream.

    image: (512, 512) uint8 greyscale, Riffusion's convention.
    fallback: True when generation failed and this repeats the last good image.
    wall_s: seconds spent painting it, retries included.
    beats: the beat grids its music follows: the conductor's while it conducts a tempo (it warps
    the image onto that grid), else :attr:`PaintedImage.beats`, else the seed bed's for a
    generator that keeps no time; empty for a fallback, whose repeat is off the grid.
    """

    index: int
    step: Step
    image: np.ndarray
    fallback: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    beats: tuple[BeatGrid, ...] = ()


@dataclass
class ProducerCounters:
    chunks: int = 0
    retries: int = 0
    fallbacks: int = 0
    interrupted: int = 0
    rewound: int = 0  # images painted, then replaced by a steer before they were played


@dataclass(frozen=True)
class ProducerMark:
    """The producer just before painting image ``index``: enough to paint it again."""

    index: int
    walk: WalkPosition
    walk_fresh: bool
    previous: np.ndarray | None
    last_good: np.ndarray | None
    grid: BarGrid = BarGrid()
    next_grid: BarGrid | None = None
    conductor: ConductorState | None = None


class ImageProducer:
    """Paint the stream image by image: ``next_image()`` → :class:`ProducedImage`."""

    def __init__(
        self,
        generator: Generator,
        walk: Walk,
        seed_image: np.ndarray,
        *,
        layout: StreamLayout = WHOLE_CHUNKS,
        bed_beats: BeatGrid | None = None,
    ) -> None:
        if seed_image.shape[1] != layout.chunk_columns:
            raise ValueError(f"the seed image must be {layout.chunk_columns} columns wide, got {seed_image.shape[1]}")
        self.generator = generator
        self.walk = walk
        walk.step_chunks = 1.0 / layout.windows_per_chunk
        self.seed_image = seed_image
        self.layout = layout
        self.bed_beats = bed_beats  # the seed bed's beats: an image from the bed at its phase keeps them
        self.counters = ProducerCounters()
        self._last_good: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._marks: deque[ProducerMark] = deque(maxlen=MARKS_KEPT)
        self._paint_s: deque[float] = deque(maxlen=PAINT_HISTORY)
        self._grid = BarGrid()  # the bar grid of the current transition's start settings
        self._next_grid: BarGrid | None = None  # … of its end settings, as the generator reported it
        self._conductor = None if honours_controls(generator) else Conductor(RIFFUSION_V1)

    @property
    def images_made(self) -> int:
        """Images painted so far (fallbacks included): the next image's index."""
        return self.counters.chunks

    @property
    def oldest_rewindable(self) -> int:
        """The oldest image :meth:`rewind` can go back to."""
        return self._marks[0].index if self._marks else self.images_made

    @property
    def paint_estimate_s(self) -> float | None:
        """The longest of the last few paints (seconds), None before the first."""
        return max(self._paint_s) if self._paint_s else None

    def _init_image(self) -> tuple[np.ndarray, int]:
        """The img2img start for the next image and how many of its columns to keep.

        The seed bed at the phase of its loop where the image starts (so the beat grid carries
        on), with the previous image's columns moved in as context in window mode.
        """
        layout, index = self.layout, self.images_made
        keep = layout.keep_columns(index) if self._previous is not None else 0
        image = np.roll(self.seed_image, -(layout.image_start_column(index) % layout.chunk_columns), axis=1)
        if keep:
            context = layout.chunk_columns - layout.window_columns
            image[:, :context] = self._previous[:, layout.window_columns :]
        return image, keep

    def next_image(self, should_stop: Callable[[], bool] = lambda: False) -> ProducedImage:
        """Paint the next image. Raises :class:`Interrupted` (and does not advance) when
        ``should_stop()`` turns true while painting."""
        step = self.walk.peek()
        init_image, keep = self._init_image()
        index = self.images_made
        mark = ProducerMark(index, self.walk.position, self.walk.fresh, self._previous, self._last_good,
                            self._grid, self._next_grid, self._conductor.state if self._conductor else None)
        first, switch, end = self._transition_images(index)
        if first == index:  # a new transition: its start settings' bars are where the last one's end took over …
            landed = self._next_grid is not None and self._next_grid.sample <= self.layout.start_column(index) * HOP_SAMPLES
            self._grid = self._next_grid if landed else self._grid  # … unless a steer came first: the bars go on
            self._next_grid = None
        request = ImageRequest(step.start, step.end, step.alpha, init_image, keep_columns=keep, index=index,
                               start_column=self.layout.image_start_column(index),
                               transition_column=self.layout.start_column(first),
                               switch_column=self.layout.start_column(switch), end_column=self.layout.start_column(end),
                               grid=self._grid, landing=self.walk.landing)
        started = time.perf_counter()
        try:
            painted = self._paint_with_retry(request, should_stop)
        except Interrupted:
            self.counters.interrupted += 1
            raise
        wall_s = time.perf_counter() - started
        self.walk.advance()
        fallback = painted is None
        if fallback:
            self.counters.fallbacks += 1
            painted = PaintedImage(self._last_good if self._last_good is not None else init_image)
        else:
            self._last_good = painted.image
            self._paint_s.append(wall_s)
            self._next_grid = painted.next_grid
        self._previous = painted.image
        self._marks.append(mark)
        self.counters.chunks += 1
        controls = controls_of(step.end if step.alpha > 0.5 else step.start)  # the settings heard
        image = self._conducted(painted.image, index, controls)
        beats = () if fallback else self._conducted_beats(controls) or painted.beats or \
            ((self.bed_beats,) if self.bed_beats else ())
        return ProducedImage(index, step, image, fallback, painted.timings_s, wall_s, beats)

    def _conducted_beats(self, controls: Controls) -> tuple[BeatGrid, ...]:
        """The beats the conductor put the image on when a tempo is asked (else none): its grid,
        bars counted from the grid's first beat."""
        bpm = controls.bpm
        grid = self._conductor.state.grid if self._conductor is not None and bpm is not None else None
        return () if grid is None else (BeatGrid(round(grid.origin_column * HOP_SAMPLES), 0, bpm),)

    def _conducted(self, image: np.ndarray, index: int, controls: Controls) -> np.ndarray:
        """``image`` with its stitched columns conducted to ``controls`` (the step's settings: the
        end target's once alpha passes 0.5), or as it is (no conductor, no control asked)."""
        if self._conductor is None or not controls.active:
            return image
        first = image.shape[1] - self.layout.stitched_part(image, index).shape[1]
        mel = mel_from_pixels(image[:, first:], RIFFUSION_V1)
        out = self._conductor.conduct(mel, self.layout.image_start_column(index) + first, controls)
        conducted = image.copy()
        conducted[:, first:] = pixels_from_mel(out, RIFFUSION_V1, max_value=max(float(out.max()), 1e-12))
        return conducted

    def rewind(self, index: int) -> None:
        """Go back to just before image ``index`` was painted (from :attr:`oldest_rewindable`
        to the next image, which is nothing to do); the images from there on are painted
        again, from where the walk was then."""
        if index == self.images_made:
            return
        mark = next((mark for mark in self._marks if mark.index == index), None)
        if mark is None:
            raise ValueError(f"cannot go back to image {index}: the next is {self.images_made}")
        while self._marks and self._marks[-1].index >= index:
            self._marks.pop()
        self.counters.rewound += self.images_made - index
        self.counters.chunks = index
        self.walk.restore(mark.walk, mark.walk_fresh)
        self._previous, self._last_good = mark.previous, mark.last_good
        self._grid, self._next_grid = mark.grid, mark.next_grid
        if self._conductor is not None and mark.conductor is not None:
            self._conductor.restore(mark.conductor)

    def _transition_images(self, index: int) -> tuple[int, int, int]:
        """For image ``index`` (the next), the indices of its transition's first image, of the
        first whose alpha passes 0.5 (where the settings switch) and of the next transition's
        first image (if no steer comes): from the walk's position, in steps of a window."""
        at, step = self.walk.position, self.walk.step_chunks
        taken = 0 if at.taken >= at.transition_chunks else round(at.taken / step)
        first = index - taken
        steps = round(at.transition_chunks / step)
        return first, first + steps // 2, first + steps

    def _paint_with_retry(self, request: ImageRequest, should_stop: Callable[[], bool]) -> PaintedImage | None:
        for attempt in (1, 2):
            try:
                painted = self.generator.paint(request, should_stop)
                problem = image_problem(painted.image, request.init_image.shape)
                if problem is None:
                    return painted
                log.warning("image %d, attempt %d: %s", request.index, attempt, problem)
            except Interrupted:
                raise
            except Exception:  # any generator failure must not stop the stream
                log.exception("image %d, attempt %d: generation failed", request.index, attempt)
            if attempt == 1:
                self.counters.retries += 1
        return None


def image_problem(image: np.ndarray, shape: tuple[int, ...]) -> str | None:
    """Why ``image`` is not a usable chunk (wrong shape or type, or blank), or None."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        return "the generator returned something other than a uint8 image"
    if image.shape != shape:
        return f"the generator returned an image of shape {image.shape}, expected {shape}"
    if int(image.max()) - int(image.min()) < BLANK_SPREAD:
        return "the generator returned a blank image"
    return None
