"""The procedural generator ``synth``: CPU-only, weight-free music painted as spectrograms.

A prompt chooses a style (:mod:`riffcast.generation.style`), the seed chooses the song inside
it (:mod:`riffcast.generation.compose`), and the voices render it
(:mod:`riffcast.generation.voices`); chunk ``k`` is exactly the window [k·5.12 s,
(k+1)·5.12 s) of one endless song, so consecutive chunks continue each other. This module
only paints: render the chunk's window, encode it, and return the image.
"""

from __future__ import annotations

import time
from typing import Callable

from riffcast.codec import CHUNK_CONTEXT_COLUMNS, chunk_pixels
from riffcast.generation.style import chunk_style
from riffcast.generation.types import ChunkRequest, Interrupted, PaintedChunk
from riffcast.generation.voices import render_audio
from riffcast.params import RIFFUSION_V1, SpectrogramParams



class SynthGenerator:
    """The procedural generator: paints chunk ``request.index`` of the song its request asks for.

    ``request.init_image``, ``keep_columns``, ``denoising``, ``guidance`` and the negative
    prompt are ignored: the synth's chunks already continue each other. The edge columns
    of each image are computed from the real audio on either side (not padding), so the
    images equal one continuous spectrogram cut into chunks. Deterministic: the same request
    always paints the same image.
    """

    name = "synth"

    def __init__(self, params: SpectrogramParams = RIFFUSION_V1) -> None:
        self.params = params

    def paint(self, request: ChunkRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedChunk:
        """Render the chunk's audio, then encode it; raises :class:`Interrupted` in between."""
        p = self.params
        began = time.perf_counter()
        style, seed = chunk_style(request)
        context = CHUNK_CONTEXT_COLUMNS * p.hop_samples
        start = request.index * p.chunk_samples - context
        audio = render_audio(style, seed, start, p.chunk_samples + 2 * context, p.sample_rate)
        rendered = time.perf_counter()
        if should_stop():
            raise Interrupted(f"synth chunk {request.index} went stale")
        image = chunk_pixels(audio, p)
        return PaintedChunk(image, {"render": rendered - began, "encode": time.perf_counter() - rendered})
