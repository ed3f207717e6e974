"""The feed: the stream schedule's threads — produced images in, PCM for the clock out, with
the underrun fallback, the rewind that lets a steer be heard at once, and the producer's supervision.

What happens to the images (placing, stitching, the fallback's rule, how far back a steer may
replace the stream, which image plays where) is the sans-I/O
:class:`~riffcast.pipeline.schedule.StreamSchedule`'s; this module is its shell. One thread (the
feed thread) stitches every image the producer publishes as soon as it arrives, answers the
producer's rewind requests in turn with the images, and when the schedule says the fallback is due
(the generator is late) stitches the last image again and counts an underrun. The pacing clock
reads the ring and moves the playhead under the feed's lock; it never waits for this thread.

The feed thread also supervises the producer thread: one that dies is replaced at once by a
successor with the state it had (walk, seed, lead, pending steer), counted in
``producer_restarts``; one that dies more than ``MAX_RESTARTS`` times within
``RESTART_WINDOW_S`` is beyond saving, and ``fatal`` says why — the station then exits so
that its supervisor (systemd) starts it afresh. Never a silent loop of the last chunk.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.params import SpectrogramParams
from riffcast.generation.beats import BeatGrid
from riffcast.ops.memory import release_free_memory
from riffcast.pipeline.assembly import StreamAssembly
from riffcast.pipeline.beat_clock import next_beat_heard
from riffcast.pipeline.lead import FEED_POLL_S
from riffcast.pipeline.producer import ImageProducer, ProducedImage
from riffcast.pipeline.producer_thread import ProducerThread
from riffcast.pipeline.records import ImageRecord, SteerHeard
from riffcast.pipeline.schedule import RewindRequest, Rewound, StreamSchedule
from riffcast.steering.targets import Target
from riffcast.steering.walk import Landing, Step, WalkPosition

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
STALL_LIMIT_S = 60.0  # a paint running longer than this: the station is not generating
REWIND_WAIT_S = 5.0  # the producer waits this long at most for the feed's answer


@dataclass(frozen=True)
class _Stitch:
    """Queue item: a published image and its position."""

    position: int
    chunk: ProducedImage


@dataclass(frozen=True)
class _Rewind:
    """Queue item: a steer is being applied; answer with where the producer paints from."""

    request: RewindRequest
    answer: Future[Rewound]


class Feed:
    """Keep the PCM ring filled ahead of the playhead (see the module docstring).

    lead_chunks: chunks of audio (5.12 s) painted ahead of the image playing.
    ring_s: seconds of PCM kept (ahead of the playhead and behind it, for late joiners).
    low_water_s: below this much PCM ahead of the playhead, the fallback image is stitched
        (default: 2.5 s for whole chunks; for windows, :func:`window_low_water_s` of the
        recent stitch times).
    level: the output level stage (loudness target, true-peak ceiling).
    bandwidth: the band above 10 kHz, synthesised (None: left empty).
    """

    def __init__(
        self,
        producer: ImageProducer,
        params: SpectrogramParams,
        *,
        lead_chunks: int = 1,
        ring_s: float = 40.0,
        low_water_s: float | None = None,
        kept_chunks: int = 8,
        level: LevelSettings | None = LevelSettings(),
        bandwidth: BandwidthSettings | None = BandwidthSettings(),
    ) -> None:
        self.params = params
        layout = producer.layout
        self.producer_thread = ProducerThread(producer, self._accept, lead_chunks=lead_chunks * layout.windows_per_chunk,
                                              rewind=self._rewind_for_steer)
        self.schedule = StreamSchedule(params, layout, ring_samples=round(ring_s * params.sample_rate),
                                       kept_images=kept_chunks * layout.windows_per_chunk, low_water_s=low_water_s,
                                       level=level, bandwidth=bandwidth)  # under self._lock where the clock reads it
        # Hooks for metrics, called from the feed and producer threads.
        self.on_generated: Callable[[float], None] = lambda seconds: None
        self.on_stitched: Callable[[float], None] = lambda seconds: None
        self.on_underrun: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Stitch | _Rewind | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="riffcast-feed", daemon=True)
        self.error: BaseException | None = None
        self.producer_restarts = 0
        self.fatal: str | None = None  # why the stream can no longer be generated
        self._restart_times: deque[float] = deque(maxlen=MAX_RESTARTS + 1)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self.producer_thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        self.producer_thread.stop(timeout_s)
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def generating(self, now_s: float | None = None) -> bool:
        """The feed and producer threads run, and no paint has taken over ``STALL_LIMIT_S``."""
        thread = self.producer_thread
        if self.fatal or not self.alive or not thread.is_alive():
            return False
        since = thread.painting_since
        now_s = time.monotonic() if now_s is None else now_s
        return since is None or now_s - since < STALL_LIMIT_S

    # -- read by the clock and the server ---------------------------------------------------
    @property
    def assembly(self) -> StreamAssembly:
        return self.schedule.assembly

    @property
    def underruns(self) -> int:
        return self.schedule.underruns

    @property
    def rewinds(self) -> int:
        """Steers that replaced stitched images."""
        return self.schedule.rewinds

    @property
    def rewound_samples(self) -> int:
        """Samples of stream replaced by steers."""
        return self.schedule.rewound_samples

    @property
    def end(self) -> int:
        """One past the last stitched sample."""
        with self._lock:
            return self.schedule.ring.end

    @property
    def held_from(self) -> int:
        """The oldest sample still held (late joiners' pre-roll starts no earlier)."""
        with self._lock:
            return self.schedule.ring.start

    def read(self, position: int, count: int) -> np.ndarray | None:
        """Samples [position, position + count) if stitched and still held, else None."""
        with self._lock:
            return self.schedule.read(position, count)

    def ready_to_play(self) -> bool:
        """The first samples are stitched and the stitcher's kernels loaded: playback can start
        without the compiling of a machine's first run making the generator late."""
        return self.assembly.stitcher.kernels_ready and self.end > 0

    def lead_samples(self) -> int:
        with self._lock:
            return self.schedule.lead_samples

    def move_playhead(self, position: int) -> None:
        """The clock has emitted everything before ``position``: chunks that started count
        as played, so the producer paints the next."""
        with self._lock:
            started = self.schedule.move_playhead(position)
        if started:
            self.producer_thread.played(started)

    def records(self) -> list[ImageRecord]:
        """The last few chunks placed in the stream, oldest first."""
        with self._lock:
            return self.schedule.ledger.records()

    def picture_for(self, record: ImageRecord) -> ImageRecord:
        """The newest image whose picture starts at or before ``record``'s position: the picture
        that shows the most of what follows it (a window's own picture ends where it does)."""
        with self._lock:
            return self.schedule.ledger.picture_for(record)

    def record_at(self, position: int) -> ImageRecord | None:
        """The chunk heard at ``position`` (None if not among the last few)."""
        with self._lock:
            return self.schedule.ledger.record_at(position)

    # -- narrow handles for the station (the producer thread is replaced when it dies) -------
    @property
    def walk_position(self) -> WalkPosition:
        """Where the walk is (read whole: safe while the producer thread walks on)."""
        return self.producer_thread.producer.walk.position

    @property
    def heading_to(self) -> Target:
        """The target the stream is heading to (or has reached)."""
        return self.walk_position.end

    def latest_target(self) -> Target:
        """The latest steer's target if it is not applied yet, else :attr:`heading_to`."""
        return self.producer_thread.latest_target()

    @property
    def transition_chunks(self) -> int:
        return self.walk_position.transition_chunks

    def generator_faults(self) -> int:
        """Paints retried or replaced by the fallback so far."""
        counters = self.producer_thread.producer.counters
        return counters.retries + counters.fallbacks

    def steer(self, target: Target, transition_chunks: int | None = None,
              landing: Landing = Landing.BEAT) -> Future[SteerHeard]:
        """Head for ``target`` as soon as it can be heard → a future of the stream position it
        is heard from (:meth:`heard_from`) and its first image, resolved once that image is placed
        in the stream (see the module docstring and :meth:`ProducerThread.steer`)."""
        heard: Future[SteerHeard] = Future()
        heard.set_running_or_notify_cancel()  # cannot be cancelled by a caller that stops waiting
        first_image = self.producer_thread.steer(target, transition_chunks, landing)
        first_image.add_done_callback(lambda done: self._ack_when_placed(done.result(), landing, heard))
        return heard

    def _ack_when_placed(self, index: int, landing: Landing, heard: Future[SteerHeard]) -> None:
        """Producer thread, as the steer is applied: its first image ``index`` is painted next (or
        again, after a rewind); answer once it is placed."""
        with self._lock:
            placed = self.schedule.when_placed(index, (heard, landing))
        if placed is not None:
            heard.set_result(SteerHeard(self.heard_from(index, landing), index))

    def heard_from(self, index: int, landing: Landing = Landing.BEAT) -> int:
        """Where a steer whose first image is the producer's ``index`` is heard from: the image's
        start, or for a generator whose changes land on beats the first beat (bar line, for
        ``landing`` BAR) at or after it."""
        position = self.position_of_image(index)
        if not getattr(self.producer_thread.producer.generator, "lands_on_beats", False):
            return position
        beat = next_beat_heard(self.records(), position, self.params.sample_rate, downbeat=landing is Landing.BAR)
        return position if beat is None else beat

    def position_of_image(self, index: int) -> int:
        """Where the producer's chunk ``index`` starts (or will, if no fallback comes first)."""
        with self._lock:
            return self.schedule.position_of(index)

    @property
    def low_water_s(self) -> float:
        """Below this lead (seconds) the fallback image is stitched."""
        return self.schedule.low_water_s

    def rewind_safety_s(self, paint_s: float | None) -> float:
        """How far ahead of the playhead (seconds) a steer may start replacing the stream."""
        return self.schedule.rewind_safety_s(paint_s)

    # -- inside ---------------------------------------------------------------------------
    def _accept(self, chunk: ProducedImage) -> None:
        """Producer thread: take a painted image (quick)."""
        with self._lock:
            position = self.schedule.place(chunk.index)
            waiting = self.schedule.placed_tokens(chunk.index)
        self.on_generated(chunk.wall_s)
        self._queue.put(_Stitch(position, chunk))
        for heard, landing in waiting:  # steers whose first image this is: their ack now
            heard.set_result(SteerHeard(self.heard_from(chunk.index, landing), chunk.index))

    def _rewind_for_steer(self, request: RewindRequest) -> Rewound:
        """Producer thread: where to paint from for a steer (asked of the feed thread, in turn
        with the images published before)."""
        answer: Future[Rewound] = Future()
        self._queue.put(_Rewind(request, answer))
        deadline = time.monotonic() + REWIND_WAIT_S
        while time.monotonic() < deadline and not self._stopping.is_set() and self.alive:
            try:
                return answer.result(timeout=FEED_POLL_S)
            except TimeoutError:
                continue
        return Rewound(request.next_index, 0)  # the feed is stopping or stuck: replace nothing

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._supervise()
                try:
                    item = self._queue.get(timeout=FEED_POLL_S)
                except queue.Empty:
                    self._maybe_fall_back()
                    continue
                if item is None:
                    return
                if isinstance(item, _Rewind):
                    with self._lock:
                        item.answer.set_result(self.schedule.rewind(item.request))
                    continue
                chunk = item.chunk
                self._stitch(item.position, chunk.image, chunk.step, chunk.fallback, chunk.beats, chunk.index)
                self._maybe_fall_back()  # a burst of rewinds must not starve the fallback check
        except BaseException as error:
            self.error = error
            self.fatal = f"the feed thread failed: {error!r}"
            log.exception("feed stopped")

    def _supervise(self) -> None:
        """Replace a producer thread that died (see the module docstring)."""
        thread = self.producer_thread
        if thread.is_alive() or thread.ident is None or self._stopping.is_set() or self.fatal:
            return
        now = time.monotonic()
        self._restart_times.append(now)
        if len(self._restart_times) > MAX_RESTARTS and now - self._restart_times[0] < RESTART_WINDOW_S:
            self.fatal = (f"the producer thread died {len(self._restart_times)} times in "
                          f"{RESTART_WINDOW_S:.0f} s; last error: {thread.error!r}")
            log.critical("%s", self.fatal)
            return
        successor = thread.successor()
        successor.start()
        self.producer_thread = successor  # before the count: whoever sees the restart sees its thread
        self.producer_restarts += 1
        log.error("producer thread died (%r); restarting it where it stopped (restart %d)",
                  thread.error, self.producer_restarts)

    def _maybe_fall_back(self) -> None:
        """Stitch the last image again if the schedule says the lead has run low (an underrun)."""
        with self._lock:
            if not self.schedule.fallback_due():
                return
            repeat = self.schedule.place_fallback()
        self.on_underrun()
        log.warning("generator late: repeating the last image at position %d (underrun %d)",
                    repeat.position, self.schedule.underruns)
        self._stitch(repeat.position, repeat.image, repeat.step, True)

    def _stitch(self, position: int, image: np.ndarray, step: Step, fallback: bool,
                beats: tuple[BeatGrid, ...] = (), index: int | None = None) -> None:
        """Stitch the image placed at ``position`` (outside the lock: the clock reads on), then
        commit it (under the lock), timing it."""
        started = time.perf_counter()
        kernels_ready = self.assembly.stitcher.kernels_ready
        stitched = self.schedule.stitch(position, image, step, fallback, beats, index)
        with self._lock:
            self.schedule.commit(stitched)
        elapsed_s = time.perf_counter() - started
        if kernels_ready:
            self.schedule.stitch_took(elapsed_s)
        self.on_stitched(elapsed_s)
        release_free_memory()  # once per image (about 1 ms): keeps resident memory flat for weeks
