"""Offline rendering: the station's producer and stitcher, as fast as they go, into samples."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from riffcast.codec import SpectrogramChunk, mel_from_pixels
from riffcast.generation.types import Target
from riffcast.params import SpectrogramParams
from riffcast.producer import ChunkProducer, ProducedChunk
from riffcast.stitcher import Stitcher


@dataclass(frozen=True)
class RenderSummary:
    chunks: int
    audio_seconds: float
    wall_seconds: float
    fallbacks: int

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio made per second of wall time."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf

    def describe(self) -> str:
        return (
            f"{self.chunks} chunks, {self.audio_seconds:.2f} s of audio in {self.wall_seconds:.1f} s "
            f"({self.real_time_factor:.2f}× real time), {self.fallbacks} fallback chunk(s)"
        )


def schedule(targets: Sequence[Target], chunks: int) -> dict[int, Target]:
    """Chunk index → target to steer to there: equal time for each target, in order."""
    return {round(k * chunks / len(targets)): target for k, target in enumerate(targets) if k > 0}


def chunks_for(producer: ChunkProducer, samples: int, params: SpectrogramParams) -> int:
    """How many chunks make at least ``samples`` samples of stream."""
    columns = math.ceil(samples / params.hop_samples)
    chunks = 1
    while producer.columns_after(chunks) < columns:
        chunks += 1
    return chunks


def render(
    producer: ChunkProducer,
    targets: Sequence[Target],
    *,
    duration_s: float,
    params: SpectrogramParams,
    on_chunk: Callable[[ProducedChunk], None] = lambda chunk: None,
) -> tuple[np.ndarray, RenderSummary]:
    """Render ``duration_s`` of the stream → float32 mono samples at ``params.sample_rate``.

    ``producer`` starts on ``targets[0]``; the others follow in order, each given an equal
    share of the time (a transition starts at each share's first chunk).
    """
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s!r}")
    started = time.perf_counter()
    total_samples = round(duration_s * params.sample_rate)
    chunks = chunks_for(producer, total_samples, params)
    steering = schedule(targets, chunks)
    stitcher = Stitcher(params, overlap_columns=producer.overlap_columns)
    blocks = []
    for index in range(chunks):
        if index in steering:
            producer.walk.steer(steering[index])
        chunk = producer.next_chunk()
        mel = mel_from_pixels(chunk.image, params)
        blocks.append(stitcher.push(SpectrogramChunk(mel, None)).samples)
        on_chunk(chunk)
    blocks.append(stitcher.flush().samples)
    samples = np.concatenate(blocks)[:total_samples]
    summary = RenderSummary(
        chunks=chunks,
        audio_seconds=samples.size / params.sample_rate,
        wall_seconds=time.perf_counter() - started,
        fallbacks=producer.counters.fallbacks,
    )
    return samples, summary
