"""The producer: asks a generator for chunk after chunk along the walk, and survives it.

:class:`ChunkProducer` is synchronous and deterministic (``riffcast render`` drives it as fast
as it can); :class:`ProducerThread` runs one in the background, keeps a lead of chunks
ahead of playback, applies steering at the next chunk and interrupts a chunk whose target
has been superseded.

Overlap mode (``overlap_columns`` = K): each chunk after the first is painted from an init
image that begins with the previous chunk's last K columns, kept by the generator's mask, so
a note held across the join can carry on; the stitcher crossfades the repeated columns.

Faults: a generation that raises or returns a NaN-born or blank image is retried once, then
replaced by the last good chunk again (the stitcher joins it like any other) and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from riffcast.assembly import chunk_start_column
from riffcast.generation.types import ChunkRequest, Generator, Interrupted, PaintedChunk
from riffcast.steering.targets import Target
from riffcast.steering.walk import Step, Walk

log = logging.getLogger(__name__)

BLANK_SPREAD = 2  # an image whose pixels span fewer levels than this is blank


@dataclass(frozen=True)
class ProducedChunk:
    """A painted chunk with its place in the stream.

    image: (512, 512) uint8 greyscale, Riffusion's convention.
    fallback: True when generation failed and this repeats the last good chunk.
    wall_s: seconds spent painting it, retries included.
    """

    index: int
    step: Step
    image: np.ndarray
    fallback: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


@dataclass
class ProducerCounters:
    chunks: int = 0
    retries: int = 0
    fallbacks: int = 0
    interrupted: int = 0


class ChunkProducer:
    """Paint the stream chunk by chunk: ``next_chunk()`` → :class:`ProducedChunk`."""

    def __init__(
        self,
        generator: Generator,
        walk: Walk,
        seed_image: np.ndarray,
        *,
        overlap_columns: int = 0,
    ) -> None:
        if not 0 <= overlap_columns < seed_image.shape[1]:
            raise ValueError(f"overlap_columns must be in [0, {seed_image.shape[1]}), got {overlap_columns}")
        self.generator = generator
        self.walk = walk
        self.seed_image = seed_image
        self.overlap_columns = overlap_columns
        self.counters = ProducerCounters()
        self._last_good: np.ndarray | None = None
        self._previous: np.ndarray | None = None

    @property
    def chunks_made(self) -> int:
        """Chunks painted so far (fallbacks included): the next chunk's index."""
        return self.counters.chunks

    def _init_image(self) -> tuple[np.ndarray, int]:
        """The img2img start for the next chunk and how many columns to keep.

        Overlap mode: the previous chunk's last K columns, then the seed bed at the phase of
        the loop where this chunk starts (chunks advance by width − K columns), so the beat
        grid carries on.
        """
        keep = self.overlap_columns if self._previous is not None else 0
        if not keep:
            return self.seed_image, 0
        width = self.seed_image.shape[1]
        start_column = chunk_start_column(self.chunks_made, width, self.overlap_columns) - keep
        image = np.roll(self.seed_image, -(start_column % width), axis=1)
        image[:, :keep] = self._previous[:, -keep:]
        return image, keep

    def next_chunk(self, should_stop: Callable[[], bool] = lambda: False) -> ProducedChunk:
        """Paint the next chunk. Raises :class:`Interrupted` (and does not advance) when
        ``should_stop()`` turns true while painting."""
        step = self.walk.peek()
        init_image, keep = self._init_image()
        request = ChunkRequest(step.start, step.end, step.alpha, init_image, keep_columns=keep, index=self.chunks_made)
        started = time.perf_counter()
        try:
            painted = self._paint_with_retry(request, should_stop)
        except Interrupted:
            self.counters.interrupted += 1
            raise
        self.walk.advance()
        fallback = painted is None
        if fallback:
            self.counters.fallbacks += 1
            painted = PaintedChunk(self._last_good if self._last_good is not None else init_image)
        else:
            self._last_good = painted.image
        self._previous = painted.image
        chunk = ProducedChunk(
            self.chunks_made, step, painted.image, fallback, painted.timings_s, time.perf_counter() - started
        )
        self.counters.chunks += 1
        return chunk

    def _paint_with_retry(self, request: ChunkRequest, should_stop: Callable[[], bool]) -> PaintedChunk | None:
        for attempt in (1, 2):
            try:
                painted = self.generator.paint(request, should_stop)
                problem = image_problem(painted.image, request.init_image.shape)
                if problem is None:
                    return painted
                log.warning("chunk %d, attempt %d: %s", request.index, attempt, problem)
            except Interrupted:
                raise
            except Exception:  # any generator failure must not stop the stream
                log.exception("chunk %d, attempt %d: generation failed", request.index, attempt)
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


@dataclass(frozen=True)
class PendingSteer:
    """A steer waiting for the producer to be between chunks."""

    target: Target
    transition_chunks: int | None
    future: Future[int]


class ProducerThread(threading.Thread):
    """Run a :class:`ChunkProducer` ahead of playback, publishing chunks to ``publish``.

    ``publish(chunk)`` is called from this thread; it must be quick (hand the chunk over).
    The thread paints while fewer than ``lead_chunks`` chunks are waiting to be played
    (the consumer calls :meth:`played` as chunks start playing), and stops on :meth:`stop`.
    ``painting_since`` (monotonic seconds, None when idle) tells a watcher how long the
    current paint has taken; :meth:`successor` continues a thread that died.
    """

    def __init__(
        self, producer: ChunkProducer, publish: Callable[[ProducedChunk], None], *, lead_chunks: int = 2
    ) -> None:
        super().__init__(name="riffcast-producer", daemon=True)
        if lead_chunks < 1:
            raise ValueError("lead_chunks must be at least 1")
        self.producer = producer
        self.publish = publish
        self.lead_chunks = lead_chunks
        self.error: BaseException | None = None
        self.published = 0  # chunks handed to ``publish`` so far
        self.painting_since: float | None = None
        self._condition = threading.Condition()
        self._waiting = 0
        self._stopping = False
        self._pending: PendingSteer | None = None

    def successor(self) -> ProducerThread:
        """A new, unstarted thread that carries on where this (dead) one stopped: the same
        producer (walk, seed, last good chunk), publication count, lead and pending steer."""
        if self.is_alive():
            raise RuntimeError("only a thread that has stopped can be succeeded")
        thread = ProducerThread(self.producer, self.publish, lead_chunks=self.lead_chunks)
        with self._condition:
            thread.published, thread._waiting, thread._pending = self.published, self._waiting, self._pending
        return thread

    def steer(self, target: Target, transition_chunks: int | None = None) -> Future[int]:
        """Apply ``target`` from the next chunk started.

        The chunk being painted is dropped and repainted for the new target — unless it is
        itself such a repaint: then it is finished, and the steer (with any that follow it,
        coalesced into the latest) applies to the chunk after it, so steady steering never
        starves generation. Returns a future resolved, when the target is applied, with the
        index of the first chunk painted towards it. A steer replaced before it was applied
        resolves with the same index as the one that replaced it. The
        future cannot be cancelled: a caller that stops waiting never disturbs this thread.
        """
        future: Future[int] = Future()
        future.set_running_or_notify_cancel()  # running futures refuse cancel()
        with self._condition:
            if self._pending is not None:
                replaced = self._pending.future
                future.add_done_callback(lambda done: replaced.set_result(done.result()))
            self._pending = PendingSteer(target, transition_chunks, future)
            self._condition.notify_all()
        return future

    def latest_target(self) -> Target:
        """The target of the latest steer not yet applied, else the one the walk heads to:
        what a new steer's unnamed settings are taken from (steers coalesce into the latest)."""
        with self._condition:
            pending = self._pending
        return pending.target if pending is not None else self.producer.walk.heading_to

    @property
    def waiting(self) -> int:
        """Chunks published and not yet started playing."""
        with self._condition:
            return self._waiting

    def played(self, chunks: int = 1) -> None:
        with self._condition:
            self._waiting = max(0, self._waiting - chunks)
            self._condition.notify_all()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)

    def run(self) -> None:
        repaint = False  # the chunk about to be painted replaces one dropped for a steer
        try:
            while True:
                with self._condition:
                    while True:
                        self._apply_pending()
                        if self._stopping or self._waiting < self.lead_chunks:
                            break
                        self._condition.wait()
                    if self._stopping:
                        return
                    self.painting_since = time.monotonic()
                superseded = self._stop_requested if repaint else self._superseded
                try:
                    chunk = self.producer.next_chunk(superseded)
                except Interrupted:
                    repaint = True
                    continue
                finally:
                    self.painting_since = None
                repaint = False
                with self._condition:
                    self._waiting += 1
                    self.published += 1
                self.publish(chunk)
        except BaseException as error:  # never die silently: the feed restarts a successor
            self.error = error
            log.exception("producer stopped")

    def _apply_pending(self) -> None:
        """Steer the walk now (the lock is held and no chunk is being painted)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        self.producer.walk.steer(pending.target, pending.transition_chunks)
        pending.future.set_result(self.producer.chunks_made)

    def _superseded(self) -> bool:
        return self._stopping or self._pending is not None

    def _stop_requested(self) -> bool:
        return self._stopping
