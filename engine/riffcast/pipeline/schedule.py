"""The stream schedule, sans I/O: images placed, stitched, played, repeated and replaced.

The one core both ``riffcast serve`` (the feed's threads, :mod:`riffcast.pipeline.feed`) and
``riffcast render`` (:mod:`riffcast.pipeline.render`, synchronously) drive. It owns the stream
assembly (placing and stitching, :mod:`riffcast.pipeline.assembly`), the PCM ring the clock reads
(:mod:`riffcast.pipeline.ring`) and the ledger of images (:mod:`riffcast.pipeline.ledger`), and
answers every question about them:

- **events in**: an image placed (:meth:`StreamSchedule.place`: its position is fixed then, so a
  steer can be acknowledged), stitched (:meth:`~StreamSchedule.stitch`, the heavy part, then
  :meth:`~StreamSchedule.commit`), the playhead moved (:meth:`~StreamSchedule.move_playhead`), a
  stitch's duration measured (:meth:`~StreamSchedule.stitch_took`), a steer asking how far back it
  may replace the stream (:meth:`~StreamSchedule.rewind`);
- **actions out**, as return values: how many images started playing (the producer paints as many
  more), whether the fallback is due (:meth:`~StreamSchedule.fallback_due`) and what to repeat
  (:meth:`~StreamSchedule.place_fallback`), from which image the producer paints again after a
  steer (:class:`Rewound`), which records to announce (:meth:`~StreamSchedule.records`).

Nothing here reads a clock, takes a lock or starts a thread: times are passed in (seconds of
stitching, the paint time of a steer's producer), so every rule — the fallback, the rewind, the
announcements of windows — is tested directly (tests/test_schedule.py). The feed holds its lock
around the calls the clock's thread may race with; :meth:`stitch` touches only the assembly, so
the clock reads the ring while an image is being stitched.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.params import SpectrogramParams
from riffcast.generation.beats import BeatGrid
from riffcast.pipeline.assembly import AssemblyMark, StreamAssembly
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.lead import rewind_safety_s, window_low_water_s
from riffcast.pipeline.ledger import ImageLedger
from riffcast.pipeline.records import ImageRecord
from riffcast.pipeline.ring import PcmRing
from riffcast.pipeline.stitcher import PcmBlock
from riffcast.steering.walk import Step

CHUNK_LOW_WATER_S = 2.5  # whole chunks: a fallback chunk is stitched below this lead
STITCH_HISTORY = 8  # stitch times remembered for the low water and the rewind's safety margin


@dataclass(frozen=True)
class Rewound:
    """The answer to a steer: paint again from the producer's image ``index`` on; ``discarded``
    of the published images were not played yet and are gone."""

    index: int
    discarded: int


@dataclass(frozen=True)
class RewindRequest:
    """A steer is being applied: the producer can paint again any image from ``oldest`` up to
    ``next_index`` (the next one); its paints take up to ``paint_s`` (None before the first)."""

    paint_s: float | None
    oldest: int
    next_index: int


@dataclass(frozen=True)
class Stitched:
    """An image stitched and not yet committed: the PCM it completed and what the ledger keeps."""

    slot: int
    mark: AssemblyMark  # the assembly just before it
    block: PcmBlock
    record: ImageRecord
    before: tuple[np.ndarray, Step] | None  # the image and step stitched before it


@dataclass(frozen=True)
class Repeat:
    """The fallback: the last image and step, placed again at ``position``."""

    position: int
    image: np.ndarray
    step: Step


class StreamSchedule:
    """The stream's images from placement to playing (see the module docstring).

    ring_samples: PCM kept, ahead of the playhead and behind it (late joiners).
    kept_images: played images remembered (``now_playing`` of a joiner, pictures).
    low_water_s: below this lead (seconds) the fallback is due; None: 2.5 s for whole chunks,
        for windows :func:`~riffcast.pipeline.lead.window_low_water_s` of the recent stitch times.
    level, bandwidth: the stitcher's level stage and high band (None: none).
    """

    def __init__(
        self, params: SpectrogramParams, layout: StreamLayout, *, ring_samples: int, kept_images: int,
        low_water_s: float | None = None, level: LevelSettings | None = LevelSettings(),
        bandwidth: BandwidthSettings | None = BandwidthSettings(),
    ) -> None:
        self.params = params
        self.layout = layout
        self.assembly = StreamAssembly(params, layout=layout, level=level, bandwidth=bandwidth)
        self.ring = PcmRing(ring_samples)
        self.ledger = ImageLedger(kept=kept_images)
        if low_water_s is None and layout.whole_chunks:
            low_water_s = CHUNK_LOW_WATER_S
        self._fixed_low_water_s = low_water_s
        self.playhead = 0  # samples: everything before it has been emitted
        self.underruns = 0  # fallback repeats placed
        self.rewinds = 0  # steers that replaced stitched images
        self.rewound_samples = 0  # samples of stream replaced by them
        self._serial = 0  # images stitched so far: the next record's number
        self._stitch_s: deque[float] = deque(maxlen=STITCH_HISTORY)
        self._last: tuple[np.ndarray, Step] | None = None  # the image and step stitched last
        self._waiting: dict[int, list[object]] = {}  # producer index → tokens waiting for its placement

    # -- reads ------------------------------------------------------------------------------
    @property
    def lead_samples(self) -> int:
        """Samples stitched ahead of the playhead."""
        return max(0, self.ring.end - self.playhead)

    def read(self, position: int, count: int) -> np.ndarray | None:
        """Samples [position, position + count) if stitched and still held, else None."""
        if position < self.ring.start or position + count > self.ring.end:
            return None
        return self.ring.read(position, count)

    def position_of(self, producer_index: int) -> int:
        """Where the producer's image ``producer_index`` is heard from (or will be, if no fallback
        comes first)."""
        position = self.ledger.position_of(producer_index)
        return self.assembly.next_position if position is None else position

    @property
    def low_water_s(self) -> float:
        """Below this lead (seconds) the fallback image is stitched."""
        if self._fixed_low_water_s is not None:
            return self._fixed_low_water_s
        return window_low_water_s(max(self._stitch_s, default=0.0))

    def rewind_safety_s(self, paint_s: float | None) -> float:
        """How far ahead of the playhead (seconds) a steer may start replacing the stream."""
        return rewind_safety_s(paint_s or 0.0, max(self._stitch_s, default=0.0), self.low_water_s)

    def when_placed(self, producer_index: int, token: object) -> int | None:
        """Where the producer's image ``producer_index`` is heard from if it is placed already; else
        None, and ``token`` is handed back by :meth:`placed_tokens` once it is. (A steer's ack: the
        image's position is known only when it is placed — a fallback placed first takes the slot
        the image would have had.)"""
        position = self.ledger.position_of(producer_index)
        if position is None:
            self._waiting.setdefault(producer_index, []).append(token)
        return position

    def placed_tokens(self, producer_index: int | None) -> list[object]:
        """The tokens waiting for ``producer_index``'s placement (call after :meth:`place`)."""
        return [] if producer_index is None else self._waiting.pop(producer_index, [])

    # -- events -----------------------------------------------------------------------------
    def place(self, producer_index: int | None) -> int:
        """Reserve the next image's place (``producer_index`` None: the fallback's repeat) → its
        stream position (samples)."""
        slot = self.assembly.placed
        position = self.assembly.place()
        self.ledger.placed(slot, position, producer_index)
        return position

    def stitch(self, position: int, image: np.ndarray, step: Step, fallback: bool,
               beats: tuple[BeatGrid, ...] = (), index: int | None = None) -> Stitched:
        """Stitch the image placed at ``position`` (the next placed), (512, 512) uint8: the heavy
        part, touching only the assembly. ``fallback``: it repeats an earlier image; ``beats``: its
        beat grids; ``index``: the producer's number for it. :meth:`commit` the result."""
        mark = self.assembly.mark()
        block = self.assembly.stitch(image)
        layout = self.layout
        announced = layout.whole_chunks or step.new_settings or fallback or mark.slot % layout.windows_per_chunk == 0
        record = ImageRecord(position, step, image, fallback,
                             layout.image_start_column(mark.slot) * self.params.hop_samples, self._serial, announced,
                             self.assembly.start_sample(mark.slot + 1) - position, beats, index)
        self._serial += 1
        return Stitched(mark.slot, mark, block, record, self._last)

    def commit(self, stitched: Stitched) -> None:
        """The stitched image's PCM into the ring and its record into the ledger."""
        self.ring.write(stitched.block.position, stitched.block.samples)
        self.ledger.stitched(stitched.slot, stitched.mark, stitched.record, stitched.before)
        self._last = (stitched.record.image, stitched.record.step)

    def stitch_took(self, seconds: float) -> None:
        """One stitch took ``seconds`` of wall time (not one that waited for kernels to compile:
        counted, it would raise the low water for the next images and repeat the fallback)."""
        self._stitch_s.append(seconds)

    def move_playhead(self, position: int) -> int:
        """Everything before ``position`` has been emitted → how many images started playing
        (the producer may paint as many more)."""
        self.playhead = position
        return self.ledger.move_playhead(position)

    def fallback_due(self) -> bool:
        """The lead is under the low water with nothing on its way: the last image must be
        repeated (never while an image is placed and not stitched: a repeat would take its slot)."""
        return (self._last is not None and self.assembly.placed == self.assembly.stitched
                and self.lead_samples < self.low_water_s * self.params.sample_rate)

    def place_fallback(self) -> Repeat:
        """Place the last image again (an underrun) → where, and what to :meth:`stitch` there."""
        assert self._last is not None, "nothing stitched yet to repeat"
        self.underruns += 1
        image, step = self._last
        return Repeat(self.place(None), image, step)

    def rewind(self, request: RewindRequest) -> Rewound:
        """A steer is applied: go back to the oldest image that can be painted and stitched again
        before the playhead reaches it (:func:`~riffcast.pipeline.lead.rewind_safety_s`), if any."""
        earliest = self.playhead + round(self.rewind_safety_s(request.paint_s) * self.params.sample_rate)
        point = self.ledger.rewind_point(earliest, request.oldest)
        if point is None:
            return Rewound(request.next_index, 0)
        self.assembly.rewind(point.mark)
        dropped = self.ledger.drop_from(point.slot)
        cut = point.mark.emitted_from
        self.rewound_samples += self.ring.end - cut
        self.ring.truncate(cut)
        if point.before is not None:
            self._last = point.before
        self.rewinds += 1
        return Rewound(point.producer_index, sum(1 for entry in dropped if not entry.played))

    def flush(self) -> PcmBlock:
        """The end of the stream (a render): the samples the stitcher still held back."""
        return self.assembly.flush()
