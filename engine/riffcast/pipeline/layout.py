"""How painted images tile the stream: whole chunks, or windows of new columns painted with the
rest of the image as context. Pure arithmetic, shared by the producer, the stitcher's caller
and the station.

Window ``k`` (k = 0, 1, …) is one painted image of ``chunk_columns`` (W) columns. Window 0 is
painted whole. Every later window keeps its first ``keep_columns`` = W − N − C columns from
what was painted before (the context; a generator pins them), repaints the C columns after
them (``crossfade_columns``, crossfaded by the stitcher with the version already painted) and
paints N (``window_columns``) new columns at its end. So window ``k`` covers stream columns
[k·N, k·N + W) and brings new music from column ``start_column(k)`` = 0, W, W + N, W + 2N, …

Whole-chunk mode is N = W (C = 0, no context): every chunk is painted from the seed bed alone,
as the original Riffusion app did. One column is one hop of audio (``params.hop_samples``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PIXEL_MULTIPLE = 8  # Riffusion's latents are 1/8 of the image: column counts are multiples of 8


@dataclass(frozen=True)
class StreamLayout:
    """``window_columns`` new columns per painted image of ``chunk_columns``, the
    ``crossfade_columns`` before them repainted and crossfaded (see the module docstring)."""

    chunk_columns: int = 512
    window_columns: int = 512
    crossfade_columns: int = 0

    def __post_init__(self) -> None:
        width, new, fade = self.chunk_columns, self.window_columns, self.crossfade_columns
        if new % PIXEL_MULTIPLE or not PIXEL_MULTIPLE <= new <= width or width % new:
            raise ValueError(f"window columns must be a multiple of {PIXEL_MULTIPLE} that divides {width}, got {new}")
        if fade % PIXEL_MULTIPLE or fade < 0 or new + fade > width or (new == width and fade):
            raise ValueError(f"crossfade columns must be a multiple of {PIXEL_MULTIPLE} from 0 to "
                             f"{width - new} ({'none in whole-chunk mode' if new == width else 'chunk − window'}), got {fade}")
        if new < width and not fade:
            raise ValueError("window mode needs crossfade columns (at least 8) to join windows seamlessly")

    @classmethod
    def windows(cls, window_columns: int, chunk_columns: int = 512, crossfade_columns: int | None = None) -> StreamLayout:
        """The layout for ``window_columns`` new columns per paint; ``crossfade_columns`` defaults
        to :data:`DEFAULT_CROSSFADE_COLUMNS` in window mode (none for whole chunks)."""
        if crossfade_columns is None:
            crossfade_columns = 0 if window_columns == chunk_columns else DEFAULT_CROSSFADE_COLUMNS
        return cls(chunk_columns, window_columns, crossfade_columns)

    @property
    def whole_chunks(self) -> bool:
        return self.window_columns == self.chunk_columns

    @property
    def windows_per_chunk(self) -> int:
        return self.chunk_columns // self.window_columns

    def keep_columns(self, index: int) -> int:
        """Columns of window ``index``'s init image that are context, kept as they are."""
        return 0 if index == 0 else self.chunk_columns - self.window_columns - self.crossfade_columns

    def image_start_column(self, index: int) -> int:
        """Stream column of window ``index``'s first image column."""
        return index * self.window_columns

    def start_column(self, index: int) -> int:
        """Stream column where window ``index`` starts bringing new music (= the columns that
        the first ``index`` windows make)."""
        return 0 if index <= 0 else self.chunk_columns + (index - 1) * self.window_columns

    def stitched_part(self, image: np.ndarray, index: int) -> np.ndarray:
        """The columns of window ``index``'s image that go to the stitcher: all of window 0,
        else the crossfade columns and the new ones. image: (rows, chunk_columns)."""
        return image if index == 0 else image[:, self.chunk_columns - self.window_columns - self.crossfade_columns :]

    def windows_for(self, columns: int) -> int:
        """How many windows make at least ``columns`` columns of stream (at least one)."""
        if columns <= self.chunk_columns:
            return 1
        return 1 + -(-(columns - self.chunk_columns) // self.window_columns)


DEFAULT_CROSSFADE_COLUMNS = 16  # 160 ms: see benchmarks/steering.py (seams at window joins)
WHOLE_CHUNKS = StreamLayout()
