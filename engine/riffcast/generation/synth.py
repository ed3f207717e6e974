"""The procedural generator ``synth``: CPU-only, weight-free music painted as spectrograms.

A prompt chooses a style (:mod:`riffcast.generation.style`), the seed chooses the song inside
it (:mod:`riffcast.generation.compose`), and the voices render it
(:mod:`riffcast.generation.voices`); an image is exactly the stretch of one endless song at
its stream columns, so consecutive images continue each other. This module only paints:
render the columns asked for, encode them, and return the image.
"""

from __future__ import annotations

import time
from typing import Callable

from riffcast.dsp.codec import CHUNK_CONTEXT_COLUMNS, chunk_pixels
from riffcast.dsp.params import RIFFUSION_V1, SpectrogramParams
from riffcast.generation.style import chunk_style
from riffcast.generation.types import ChunkRequest, Interrupted, PaintedChunk
from riffcast.generation.voices import render_audio


class SynthGenerator:
    """The procedural generator: paints the stretch of the song its request asks for, at the
    request's ``start_column``.

    The columns of ``init_image`` before ``keep_columns`` (window mode's context) are kept as
    they are and only the rest is rendered, normalised to its own maximum (the stitcher reads
    the scale from the repainted crossfade columns); ``denoising``, ``guidance`` and the
    negative prompt are ignored: the song continues by itself. The edge columns are computed
    from the real audio on either side (not padding), so the images equal one continuous
    spectrogram cut into pieces. Deterministic: the same request always paints the same image.
    """

    name = "synth"

    def __init__(self, params: SpectrogramParams = RIFFUSION_V1) -> None:
        self.params = params

    def paint(self, request: ChunkRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedChunk:
        """Render the requested columns' audio, then encode it; raises :class:`Interrupted` in between."""
        p = self.params
        began = time.perf_counter()
        style, seed = chunk_style(request)
        keep = request.keep_columns
        columns = request.init_image.shape[1] - keep
        start = (request.start_column + keep - CHUNK_CONTEXT_COLUMNS) * p.hop_samples
        audio = render_audio(style, seed, start, (columns + 2 * CHUNK_CONTEXT_COLUMNS) * p.hop_samples, p.sample_rate)
        rendered = time.perf_counter()
        if should_stop():
            raise Interrupted(f"synth image {request.index} went stale")
        image = request.init_image.copy()
        image[:, keep:] = chunk_pixels(audio, p, columns)
        return PaintedChunk(image, {"render": rendered - began, "encode": time.perf_counter() - rendered})
