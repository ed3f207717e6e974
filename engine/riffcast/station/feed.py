"""The feed: produced chunks → stream assembly (placing and stitching) → PCM ring, with the
underrun fallback.

One thread owns the :class:`~riffcast.assembly.StreamAssembly`. It stitches every chunk the
producer publishes as soon as it arrives, and when the PCM ahead of the playhead drops below
``low_water_s`` with nothing to stitch (the generator is late), it stitches the last chunk
again — the seamless fallback — and counts an underrun. The pacing clock reads the ring and
moves the playhead; it never waits for this thread.

Each chunk's start position in the stream is fixed when the chunk is handed over, so a
steer can be acknowledged with the position where it will be heard.

The feed thread also supervises the producer thread: one that dies is replaced at once by a
successor with the state it had (walk, seed, lead, pending steer), counted in
``producer_restarts``; one that dies more than ``MAX_RESTARTS`` times within
``RESTART_WINDOW_S`` is beyond saving, and ``fatal`` says why — the station then exits so
that its supervisor (systemd) starts it afresh. Never a silent loop of the last chunk.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from riffcast.assembly import StreamAssembly
from riffcast.dsp.level_settings import LevelSettings
from riffcast.memory import release_free_memory
from riffcast.params import SpectrogramParams
from riffcast.producer import ChunkProducer, ProducedChunk, ProducerThread
from riffcast.ring import PcmRing
from riffcast.steering.targets import Target
from riffcast.steering.walk import Step, WalkPosition

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
STALL_LIMIT_S = 60.0  # a paint running longer than this: the station is not generating


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk placed in the stream: it is heard from sample ``position`` on.

    png: the painted spectrogram image (512×512 greyscale PNG bytes).
    fallback: True when this repeats the previous chunk because the generator was late
    or failed.
    """

    position: int
    step: Step
    png: bytes
    fallback: bool


def encode_png(image: np.ndarray) -> bytes:
    """(rows, columns) uint8 greyscale → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


class Feed:
    """Keep the PCM ring filled ahead of the playhead (see the module docstring).

    lead_chunks: chunks painted ahead of the one playing.
    ring_s: seconds of PCM kept (ahead of the playhead and behind it, for late joiners).
    low_water_s: below this much PCM ahead of the playhead, the fallback chunk is stitched.
    level: the output level stage (loudness target, true-peak ceiling).
    """

    def __init__(
        self,
        producer: ChunkProducer,
        params: SpectrogramParams,
        *,
        lead_chunks: int = 1,
        ring_s: float = 40.0,
        low_water_s: float = 2.5,
        kept_chunks: int = 8,
        level: LevelSettings | None = LevelSettings(),
    ) -> None:
        self.params = params
        self.producer_thread = ProducerThread(producer, self._accept, lead_chunks=lead_chunks)
        self.assembly = StreamAssembly(params, overlap_columns=producer.overlap_columns, level=level)
        self.ring = PcmRing(round(ring_s * params.sample_rate))
        self.low_water_samples = round(low_water_s * params.sample_rate)
        self.underruns = 0
        # Hooks for metrics, called from the feed and producer threads.
        self.on_generated: Callable[[float], None] = lambda seconds: None
        self.on_stitched: Callable[[float], None] = lambda seconds: None
        self.on_underrun: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[int, ProducedChunk] | None] = queue.SimpleQueue()
        self._chunk_starts: deque[tuple[int, int]] = deque(maxlen=64)  # (producer's chunk index, position)
        self._unplayed_published: deque[int] = deque()  # start positions, oldest first
        self._records: deque[ChunkRecord] = deque(maxlen=kept_chunks)
        self._last_image: np.ndarray | None = None
        self._last_step: Step | None = None
        self._playhead = 0
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
    def end(self) -> int:
        """One past the last stitched sample."""
        with self._lock:
            return self.ring.end

    @property
    def held_from(self) -> int:
        """The oldest sample still held (late joiners' pre-roll starts no earlier)."""
        with self._lock:
            return self.ring.start

    def read(self, position: int, count: int) -> np.ndarray | None:
        """Samples [position, position + count) if stitched and still held, else None."""
        with self._lock:
            if position < self.ring.start or position + count > self.ring.end:
                return None
            return self.ring.read(position, count)

    def lead_samples(self) -> int:
        with self._lock:
            return max(0, self.ring.end - self._playhead)

    def move_playhead(self, position: int) -> None:
        """The clock has emitted everything before ``position``: chunks that started count
        as played, so the producer paints the next."""
        started = 0
        with self._lock:
            self._playhead = position
            while self._unplayed_published and self._unplayed_published[0] <= position:
                self._unplayed_published.popleft()
                started += 1
        if started:
            self.producer_thread.played(started)

    def records(self) -> list[ChunkRecord]:
        """The last few chunks placed in the stream, oldest first."""
        with self._lock:
            return list(self._records)

    def record_at(self, position: int) -> ChunkRecord | None:
        """The chunk heard at ``position`` (None if not among the last few)."""
        with self._lock:
            for record in reversed(self._records):
                if record.position <= position:
                    return record
        return None

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

    def steer(self, target: Target, transition_chunks: int | None = None) -> Future[int]:
        """Head for ``target`` from the next chunk painted → a future of the stream position
        where the first chunk painted towards it starts (see :meth:`ProducerThread.steer`)."""
        position: Future[int] = Future()
        position.set_running_or_notify_cancel()  # cannot be cancelled by a caller that stops waiting
        first_chunk = self.producer_thread.steer(target, transition_chunks)
        first_chunk.add_done_callback(lambda done: position.set_result(self.position_of_chunk(done.result())))
        return position

    def position_of_chunk(self, index: int) -> int:
        """Where the producer's chunk ``index`` starts (or will, if no fallback comes first)."""
        with self._lock:
            for chunk_index, position in self._chunk_starts:
                if chunk_index == index:
                    return position
            return self.assembly.next_position

    # -- inside ---------------------------------------------------------------------------
    def _accept(self, chunk: ProducedChunk) -> None:
        """Producer thread: take a painted chunk (quick)."""
        with self._lock:
            position = self.assembly.place()
            self._chunk_starts.append((chunk.index, position))
            self._unplayed_published.append(position)
        self.on_generated(chunk.wall_s)
        self._queue.put((position, chunk))

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._supervise()
                try:
                    item = self._queue.get(timeout=0.05)
                except queue.Empty:
                    self._maybe_fall_back()
                    continue
                if item is None:
                    return
                position, chunk = item
                self._stitch(position, chunk.image, chunk.step, chunk.fallback)
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
        self.producer_restarts += 1
        log.error("producer thread died (%r); restarting it where it stopped (restart %d)",
                  thread.error, self.producer_restarts)
        self.producer_thread = thread.successor()
        self.producer_thread.start()

    def _maybe_fall_back(self) -> None:
        if self._last_image is None or self.lead_samples() >= self.low_water_samples:
            return
        with self._lock:
            position = self.assembly.place()
        self.underruns += 1
        self.on_underrun()
        log.warning("generator late: repeating the last chunk at position %d (underrun %d)", position, self.underruns)
        self._stitch(position, self._last_image, self._last_step, True)

    def _stitch(self, position: int, image: np.ndarray, step: Step, fallback: bool) -> None:
        started = time.perf_counter()
        block = self.assembly.stitch(image)
        record = ChunkRecord(position, step, encode_png(image), fallback)
        with self._lock:
            self.ring.write(block.position, block.samples)
            self._records.append(record)
        self._last_image, self._last_step = image, step
        self.on_stitched(time.perf_counter() - started)
        release_free_memory()  # once per chunk (about 1 ms): keeps resident memory flat for weeks
