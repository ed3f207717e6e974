"""Window mode's seams and cost: the same steered stream rendered in whole chunks and in windows.

For each generator and window width the stream is rendered offline (``riffcast render``'s
path) with a steer half-way. Seams: spectral flux (Σ over mel bands of |Δ log-mel| between
consecutive columns of the output), its peak within ±3 columns of each join (the middle of the
crossfade; the cut for whole chunks) over its median elsewhere — 1 is a join that cannot be
told from the music around it. Cost: columns painted and paint seconds per second of audio.
"""

from __future__ import annotations

import numpy as np

from riffcast.dsp.codec import audio_to_mel
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.generation.seeds import DEFAULT_BED, load_seed
from riffcast.generation.types import Generator
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.producer import ImageProducer
from riffcast.pipeline.render import render
from riffcast.steering.playlist import PlaylistEntry
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

JOIN_HALF_WIDTH = 3  # columns each side of a join
WINDOWS = (512, 128, 64)
START = Target.from_text("lofi hip hop beat", seed=1)
END = Target.from_text("jazz piano, brushed drums", seed=2)


def flux_ratio_at_joins(audio: np.ndarray, joins: list[tuple[int, int]]) -> float:
    """Mean over joins of the largest column flux in each join's span (columns [low, high)),
    over the median flux outside them."""
    mel = audio_to_mel(audio, PARAMS)
    log_mel = 20 * np.log10(np.maximum(mel, mel.max() * 1e-4))
    flux = np.concatenate([[0.0], np.sum(np.abs(np.diff(log_mel, axis=1)), axis=0)])
    inside = np.zeros(flux.size, bool)
    peaks = []
    for low, high in joins:
        inside[low:high] = True
        peaks.append(flux[low:high].max())
    return float(np.mean(peaks) / np.median(flux[~inside]))


def window_rows(generators: list[tuple[str, Generator]], chunks: int) -> list[tuple]:
    """(generator, window columns, flux ratio at joins, columns painted per audio s, paint s per
    audio s, cost vs whole chunks) for every generator and width of :data:`WINDOWS`."""
    rows = []
    bed = load_seed(DEFAULT_BED, PARAMS)
    duration_s = chunks * PARAMS.chunk_seconds
    columns = round(duration_s * PARAMS.sample_rate / PARAMS.hop_samples)
    for name, generator in generators:
        ImageProducer(generator, Walk(START), bed).next_image()  # warm caches: no setting pays for them
        base_cost = None
        for window in WINDOWS:
            layout = StreamLayout.windows(window)
            producer = ImageProducer(generator, Walk(START), bed, layout=layout)
            halves = [PlaylistEntry(target, duration_s / 2, None) for target in (START, END)]
            paint_s = []
            audio, summary = render(producer, duration_s=duration_s, params=PARAMS, playlist=halves,
                                    on_chunk=lambda chunk: paint_s.append(chunk.wall_s))
            centres = [layout.start_column(k) - layout.crossfade_columns // 2 for k in range(1, summary.chunks)]
            joins = [(c - JOIN_HALF_WIDTH, c + JOIN_HALF_WIDTH + 1) for c in centres if c + JOIN_HALF_WIDTH < columns]
            cost = sum(paint_s[1:]) / (summary.audio_seconds - PARAMS.chunk_seconds)  # the first image is whole
            base_cost = base_cost or cost
            columns_per_s = (summary.chunks - 1) * PARAMS.chunk_columns / (summary.audio_seconds - PARAMS.chunk_seconds)
            rows.append((name, window, flux_ratio_at_joins(audio, joins), columns_per_s, cost, cost / base_cost))
    return rows


def print_window_rows(rows: list[tuple]) -> None:
    print("\n## Window mode: seams at joins and cost (a steer half-way)\n")
    print("| generator | window columns | flux at joins / median | columns painted per audio s | paint s per audio s | cost |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, window, flux, columns_per_s, cost, ratio in rows:
        print(f"| {name} | {window}{' (whole chunks)' if window == 512 else ''} | {flux:.2f} | {columns_per_s:.0f} | "
              f"{cost:.3f} | {ratio:.2f}× |")
