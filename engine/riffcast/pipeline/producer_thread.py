"""The producer thread: runs a :class:`~riffcast.pipeline.producer.ImageProducer` ahead of playback and
applies steers as soon as it can.

A steer is applied between two images. The image being painted when it arrives is dropped
and painted again for the new target — unless it is itself such a repaint: then it is
finished first, so steady steering (a fader, a sensor) never starves generation, and the
steers that arrived meanwhile coalesce into the latest. Applying a steer asks the feed (the
``rewind`` hook) how far back unplayed images can be replaced in time; the producer goes
back there and paints on for the new target, so the steer is heard after a fraction of a
window rather than after the whole lead.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

from riffcast.generation.types import Interrupted
from riffcast.pipeline.producer import ImageProducer, ProducedImage
from riffcast.pipeline.schedule import RewindRequest, Rewound
from riffcast.steering.targets import Target
from riffcast.steering.walk import Landing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingSteer:
    """A steer waiting for the producer to be between images. ``futures``: its own and those of
    the steers it replaced (coalesced), all resolved together when it is applied."""

    target: Target
    transition_chunks: int | None
    futures: list[Future[int]]  # shared with the steer that replaces this one (appended to)
    landing: Landing = Landing.BEAT

    def resolve(self, index: int) -> None:
        for future in self.futures:
            future.set_result(index)


RewindHook = Callable[[RewindRequest], Rewound]


def no_rewind(request: RewindRequest) -> Rewound:
    """Apply steers from the next image on, replacing nothing already published."""
    return Rewound(request.next_index, 0)


class ProducerThread(threading.Thread):
    """Run a :class:`ImageProducer` ahead of playback, publishing images to ``publish``.

    ``publish(chunk)`` is called from this thread; it must be quick (hand the image over).
    The thread paints while fewer than ``lead_chunks`` images are waiting to be played
    (the consumer calls :meth:`played` as images start playing), and stops on :meth:`stop`.
    ``painting_since`` (monotonic seconds, None when idle) tells a watcher how long the
    current paint has taken; :meth:`successor` continues a thread that died.
    """

    def __init__(
        self, producer: ImageProducer, publish: Callable[[ProducedImage], None], *, lead_chunks: int = 2,
        rewind: RewindHook = no_rewind,
    ) -> None:
        super().__init__(name="riffcast-producer", daemon=True)
        if lead_chunks < 1:
            raise ValueError("lead_chunks must be at least 1")
        self.producer = producer
        self.publish = publish
        self.lead_chunks = lead_chunks
        self.rewind = rewind
        self.error: BaseException | None = None
        self.published = 0  # images handed to ``publish`` so far
        self.painting_since: float | None = None
        self._condition = threading.Condition()
        self._waiting = 0
        self._stopping = False
        self._pending: PendingSteer | None = None
        self._applying: PendingSteer | None = None

    def successor(self) -> ProducerThread:
        """A new, unstarted thread that carries on where this (dead) one stopped: the same
        producer (walk, seed, last good image), publication count, lead and pending steer."""
        if self.is_alive():
            raise RuntimeError("only a thread that has stopped can be succeeded")
        thread = ProducerThread(self.producer, self.publish, lead_chunks=self.lead_chunks, rewind=self.rewind)
        with self._condition:
            thread.published, thread._waiting = self.published, self._waiting
            thread._pending = self._pending or self._applying
        return thread

    def steer(self, target: Target, transition_chunks: int | None = None,
              landing: Landing = Landing.BEAT) -> Future[int]:
        """Head for ``target`` as soon as possible (see the module docstring). Returns a future
        resolved, when the target is applied, with the index of the first image painted
        towards it. A steer replaced before it was applied resolves with the same index as the
        one that replaced it. The future cannot be cancelled: a caller that stops waiting
        never disturbs this thread.
        """
        future: Future[int] = Future()
        future.set_running_or_notify_cancel()  # running futures refuse cancel()
        with self._condition:
            futures = self._pending.futures if self._pending is not None else []
            futures.append(future)
            self._pending = PendingSteer(target, transition_chunks, futures, landing)
            self._condition.notify_all()
        return future

    def latest_target(self) -> Target:
        """The target of the latest steer not yet applied, else the one the walk heads to:
        what a new steer's unnamed settings are taken from (steers coalesce into the latest)."""
        with self._condition:
            pending = self._pending or self._applying
        return pending.target if pending is not None else self.producer.walk.heading_to

    @property
    def waiting(self) -> int:
        """Images published and not yet started playing."""
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

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self) -> None:
        repaint = False  # the next image answers a steer: it is finished whatever comes
        try:
            while True:
                with self._condition:
                    while not (self._stopping or self._pending is not None or self._waiting < self.lead_chunks):
                        self._condition.wait()
                    if self._stopping:
                        return
                    steer, self._pending = self._pending, None
                    self._applying = steer
                if steer is not None:
                    self._apply(steer)
                    repaint = True
                    continue
                self.painting_since = time.monotonic()
                try:
                    chunk = self.producer.next_image(self._stop_requested if repaint else self._superseded)
                except Interrupted:
                    continue  # a steer came: applied at the top of the loop
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

    def _apply(self, steer: PendingSteer) -> None:
        """Steer the walk now, from the earliest image the feed can still replace (no image
        is being painted; the lock is not held: the feed may take a moment to answer)."""
        producer = self.producer
        rewound = self.rewind(RewindRequest(producer.paint_estimate_s, producer.oldest_rewindable, producer.images_made))
        producer.rewind(rewound.index)
        producer.walk.steer(steer.target, steer.transition_chunks, steer.landing)
        with self._condition:
            self._waiting = max(0, self._waiting - rewound.discarded)
            self._applying = None
        steer.resolve(rewound.index)

    def _superseded(self) -> bool:
        return self._stopping or self._pending is not None

    def _stop_requested(self) -> bool:
        return self._stopping
