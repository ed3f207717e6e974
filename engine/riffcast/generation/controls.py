"""The synth's musical controls beyond tempo and key: parts muted or soloed, and the spectral
tilt of the brightness control. Pure numpy.

``drums`` and ``bass`` (:class:`~riffcast.steering.targets.Part`) decide which voices sound:
a part set to ``only`` is soloed (with any other part set to ``only``), a part set to ``off`` is
muted. ``brightness`` (−1 … 1) moves the style's brightness (filter cut-offs, overtones: see
:func:`~riffcast.generation.style.style_for_target`) and tilts the painted mel image by
``TILT_DB_PER_OCTAVE`` dB per octave per unit around ``TILT_PIVOT_HZ``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from riffcast.dsp.mel import hz_to_mel, mel_to_hz
from riffcast.dsp.params import SpectrogramParams
from riffcast.generation.grid import DRUMS, Voice
from riffcast.generation.style import Style, blend_styles, style_for_target
from riffcast.generation.types import ImageRequest
from riffcast.steering.targets import Part

BASS_VOICES = frozenset({Voice.BASS, Voice.SUB, Voice.UPRIGHT})
TILT_DB_PER_OCTAVE = 3.0  # the image's tilt per unit of brightness, dB (of mel magnitude) per octave
TILT_PIVOT_HZ = 1000.0  # the tilt's fixed point
TILT_FLOOR_HZ = 40.0  # bands below this are tilted as this one


def audible(voice: Voice, style: Style) -> bool:
    """Whether ``voice`` sounds with the style's drum and bass parts (on, off, only)."""
    return style.drum_part is Part.ON and style.bass_part is Part.ON or _audible(voice, style.drum_part, style.bass_part)


@lru_cache(maxsize=None)
def _audible(voice: Voice, drum_part: Part, bass_part: Part) -> bool:
    parts = ((DRUMS, drum_part), (BASS_VOICES, bass_part))
    soloed = [voices for voices, part in parts if part is Part.ONLY]
    if soloed and not any(voice in voices for voices in soloed):
        return False
    return not any(voice in voices and part is Part.OFF for voices, part in parts)


def transition_styles(request: ImageRequest) -> tuple[Style, Style]:
    """The styles before and after the switch of the transition from ``request.start`` to
    ``request.end``: each target's own tempo, key, instruments and parts, with the numeric
    fields (swing, density, brightness, tilt) blended by ``alpha``, as in
    :func:`~riffcast.generation.style.chunk_style`."""
    start, end = style_for_target(request.start), style_for_target(request.end)
    blended = blend_styles([(start, 1.0 - request.alpha), (end, request.alpha)])
    numbers = {name: getattr(blended, name) for name in ("swing", "density", "brightness", "tilt")}
    return replace(start, **numbers), replace(end, **numbers)


@lru_cache(maxsize=8)
def _octaves_from_pivot(params: SpectrogramParams) -> np.ndarray:
    """(n_mels, 1) octaves of each mel band's centre above ``TILT_PIVOT_HZ`` (lowest band first)."""
    edges = np.linspace(hz_to_mel(params.f_min_hz), hz_to_mel(params.f_max_hz), params.n_mels + 2)
    centres = np.maximum(mel_to_hz(edges[1:-1]), TILT_FLOOR_HZ)
    octaves = np.log2(centres / TILT_PIVOT_HZ)[:, None]
    octaves.setflags(write=False)
    return octaves


def tilt_mel(mel: np.ndarray, tilt: float, params: SpectrogramParams) -> np.ndarray:
    """Mel magnitudes (n_mels, columns), lowest band first, tilted by ``tilt`` × TILT_DB_PER_OCTAVE
    dB per octave around TILT_PIVOT_HZ (``tilt`` in −1 … 1; 0 returns ``mel`` as it is)."""
    if tilt == 0.0:
        return mel
    gain = 10.0 ** (TILT_DB_PER_OCTAVE * tilt * _octaves_from_pivot(params) / 20.0)
    return (mel * gain).astype(np.float32)
