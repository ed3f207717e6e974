"""Offline rendering: the station's producer and stream schedule
(:mod:`riffcast.pipeline.schedule`), driven synchronously as fast as they go, into samples. A
playlist is followed by stream time (each entry for its ``duration_s``, looped), as the station
follows it by the clock."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.level import LevelStats
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.params import SpectrogramParams
from riffcast.pipeline.assembly import StreamAssembly
from riffcast.pipeline.producer import ImageProducer, ProducedImage
from riffcast.pipeline.schedule import StreamSchedule
from riffcast.steering.playlist import PlaylistEntry
from riffcast.steering.walk import Landing


@dataclass(frozen=True)
class RenderSummary:
    chunks: int
    audio_seconds: float
    wall_seconds: float
    fallbacks: int
    level: LevelStats | None = None  # the level stage's work (None without one)

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio made per second of wall time."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf

    def describe(self) -> str:
        text = (
            f"{self.chunks} images, {self.audio_seconds:.2f} s of audio in {self.wall_seconds:.1f} s "
            f"({self.real_time_factor:.2f}× real time), {self.fallbacks} fallback image(s)"
        )
        if self.level is not None:
            text += (f"; loudness gain {self.level.agc_gain_db:+.1f} dB, limiter active "
                     f"{100 * self.level.limited_fraction:.0f} % of the time (mean {self.level.mean_reduction_db:.1f} dB, "
                     f"max {self.level.max_reduction_db:.1f} dB)")
            if self.level.shortfall_lu > 0.05:
                text += f"; {self.level.shortfall_lu:.1f} LU under the target, where the peaks allow no more gain"
        return text


def playlist_steers(playlist: Sequence[PlaylistEntry], assembly: StreamAssembly, chunks: int) -> dict[int, PlaylistEntry]:
    """Chunk index → the playlist entry to steer to from that chunk on: each entry plays for
    its ``duration_s`` of stream time (looping), and the next one starts at the first chunk
    heard at or after that. The first entry is where the producer starts, so it appears only
    when the playlist loops back to it."""
    steering: dict[int, PlaylistEntry] = {}
    if not playlist:
        return steering
    rate = assembly.params.sample_rate
    number, entry_end_s = 0, playlist[0].duration_s
    for index in range(1, chunks):
        while assembly.start_sample(index) >= round(entry_end_s * rate):
            number += 1
            entry = playlist[number % len(playlist)]
            entry_end_s += entry.duration_s
            steering[index] = entry
    return steering


def render(
    producer: ImageProducer,
    *,
    duration_s: float,
    params: SpectrogramParams,
    playlist: Sequence[PlaylistEntry] = (),
    on_chunk: Callable[[ProducedImage], None] = lambda chunk: None,
    level: LevelSettings | None = LevelSettings(),
    bandwidth: BandwidthSettings | None = BandwidthSettings(),
) -> tuple[np.ndarray, RenderSummary]:
    """Render ``duration_s`` of the stream → float32 mono samples at ``params.sample_rate``.

    ``producer`` starts where its walk is (the playlist's first entry, if there is one); the
    playlist's entries follow by stream time (see :func:`schedule`). ``level``: the output level
    stage (None: none, the raw stitched stream); ``bandwidth``: the band above 10 kHz (None: none).
    """
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s!r}")
    started = time.perf_counter()
    total_samples = round(duration_s * params.sample_rate)
    schedule = StreamSchedule(params, producer.layout, ring_samples=params.chunk_columns * params.hop_samples,
                              kept_images=1, level=level, bandwidth=bandwidth)
    assembly = schedule.assembly
    chunks = assembly.images_for(total_samples)
    steering = playlist_steers(playlist, assembly, chunks)
    blocks = []
    for index in range(chunks):
        if index in steering:
            producer.walk.steer(steering[index].target, steering[index].transition_chunks, Landing.BAR)
        chunk = producer.next_image()
        position = schedule.place(chunk.index)
        stitched = schedule.stitch(position, chunk.image, chunk.step, chunk.fallback, chunk.beats, chunk.index)
        schedule.commit(stitched)
        schedule.move_playhead(schedule.ring.end)  # played as soon as stitched: the ledger keeps only the last
        blocks.append(stitched.block.samples)
        on_chunk(chunk)
    blocks.append(schedule.flush().samples)
    samples = np.concatenate(blocks)[:total_samples]
    summary = RenderSummary(
        chunks=chunks,
        audio_seconds=samples.size / params.sample_rate,
        wall_seconds=time.perf_counter() - started,
        fallbacks=producer.counters.fallbacks,
        level=assembly.stitcher.level_stats,
    )
    return samples, summary
