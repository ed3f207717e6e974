"""The procedural generator ``synth``: CPU-only, weight-free music painted as spectrograms.

A prompt chooses a style (:mod:`riffcast.generation.style`), the seed chooses the song inside
it (:mod:`riffcast.generation.compose`), and the voices render it
(:mod:`riffcast.generation.voices`); an image is exactly the stretch of one endless song at
its stream columns, so consecutive images continue each other. This module only paints:
render the columns asked for (across a transition's change on the bar grid:
:mod:`riffcast.generation.changes`), encode them (tilted by the brightness control:
:mod:`riffcast.generation.controls`), and return the image.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from riffcast.dsp.codec import CHUNK_CONTEXT_COLUMNS, audio_to_mel, pixels_from_mel
from riffcast.dsp.params import RIFFUSION_V1, SpectrogramParams
from riffcast.generation.beats import BeatGrid
from riffcast.generation.changes import change_at, render_across
from riffcast.generation.controls import tilt_mel, transition_styles
from riffcast.generation.style import Style, chunk_style
from riffcast.generation.types import SYNTH_WINDOW_COLUMNS, BarGrid, ImageRequest, Interrupted, PaintedImage
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

    With the request's columns known, the transition's new settings take over on the first beat
    at or after its first new sample (a bar line for a playlist entry or a change of tempo, meter
    or key, a phrase line for a seed change: :func:`~riffcast.generation.changes.change_at`), on
    the bar grid of ``request.grid``; the painted chunk reports the new settings' grid as ``next_grid``. Without
    it, the whole image plays the start's or the end's settings by ``alpha`` (bars from 0).
    """

    name = "synth"
    window_columns = SYNTH_WINDOW_COLUMNS  # its default --window-columns
    lands_on_beats = True  # a steer is heard from the first beat at or after its first new sample
    honours_controls = True  # tempo, key, brightness and parts played natively: no conductor

    def __init__(self, params: SpectrogramParams = RIFFUSION_V1) -> None:
        self.params = params

    def paint(self, request: ImageRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedImage:
        """Render the requested columns' audio, then encode it; raises :class:`Interrupted` in between."""
        p = self.params
        began = time.perf_counter()
        keep = request.keep_columns
        columns = request.init_image.shape[1] - keep
        start = (request.start_column + keep - CHUNK_CONTEXT_COLUMNS) * p.hop_samples
        samples = (columns + 2 * CHUNK_CONTEXT_COLUMNS) * p.hop_samples
        audio, tilt, next_grid, beats = self._render(request, start, samples)
        rendered = time.perf_counter()
        if should_stop():
            raise Interrupted(f"synth image {request.index} went stale")
        mel = audio_to_mel(audio, p)[:, CHUNK_CONTEXT_COLUMNS : CHUNK_CONTEXT_COLUMNS + columns]
        image = request.init_image.copy()
        image[:, keep:] = pixels_from_mel(tilt_mel(mel, tilt, p), p)
        timings_s = {"render": rendered - began, "encode": time.perf_counter() - rendered}
        return PaintedImage(image, timings_s, next_grid, beats)

    def _render(self, request: ImageRequest, start: int, samples: int
                ) -> tuple[np.ndarray, float, BarGrid | None, tuple[BeatGrid, ...]]:
        """(audio of samples [start, start + samples), the brightness tilt, the new settings'
        grid, the beat grids the audio follows)."""
        p = self.params
        if request.switch_column is None:
            style, seed = chunk_style(request)
            audio = render_audio(style, seed, start, samples, p.sample_rate)
            return audio, style.tilt, None, (beat_grid(BarGrid(), style),)
        before, after = transition_styles(request)
        end = None if request.end_column is None else request.end_column * p.hop_samples
        change = change_at(before, after, request.grid, p.sample_rate,
                           transition_sample=request.transition_column * p.hop_samples,
                           switch_sample=request.switch_column * p.hop_samples, end_sample=end, landing=request.landing)
        audio = render_across((before, request.start.seed), request.grid, (after, request.end.seed), change,
                              start, samples, p.sample_rate)
        beats = (beat_grid(request.grid, before), beat_grid(change.grid, after))
        return audio, before.tilt, change.grid, beats if change.grid.sample < start + samples else beats[:1]


def beat_grid(bars: BarGrid, style: Style) -> BeatGrid:
    """The beats of ``style``'s tempo and meter on the bar grid ``bars``."""
    return BeatGrid(bars.sample, bars.bar, style.tempo_bpm, style.beats_per_bar)
