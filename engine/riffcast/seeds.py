"""Seed beds: the init images Riffusion's img2img starts each chunk from.

A bed is a drum/bass/chord loop rendered by the synth (:mod:`riffcast.generation.voices`) at a
tempo where a whole number of bars fills one chunk exactly (5.12 s = 225 792 samples), so a
stream seeded with it stays on one beat grid from chunk to chunk, and the loop wraps
seamlessly: sounds running past its end continue at its start, and the image's edge columns
are computed from the wrapped audio. A seed can also be any 512 × 512 spectrogram image, or
an audio file (its first 5.12 s; shorter audio is looped to fill).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from riffcast.audio_io import read_audio
from riffcast.codec import (
    CHUNK_CONTEXT_COLUMNS,
    ImageFormatError,
    audio_to_mel,
    chunk_from_image,
    chunk_pixels,
    open_image,
    pixels_from_mel,
)
from riffcast.generation.style import Style
from riffcast.generation.voices import render_loop
from riffcast.params import RIFFUSION_V1, SpectrogramParams

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
BED_SEED = 0  # the synth seed every bed is composed with


@dataclass(frozen=True)
class SeedBed:
    """A built-in loop: ``bars`` bars of ``meter`` at ``tempo_bpm`` fill one chunk exactly."""

    name: str
    tempo_bpm: float
    bars: int
    meter: str
    description: str

    @property
    def beats_per_bar(self) -> int:
        return int(self.meter.split("/")[0])


# Tempi: beats in 5.12 s = tempo × 5.12 / 60 = bars × beats per bar, exactly.
BEDS: tuple[SeedBed, ...] = (
    SeedBed("boom-bap-94", 93.75, 2, "4/4", "swung boom-bap drums, syncopated bass, jazzy comped chords"),
    SeedBed("trap-141", 140.625, 3, "4/4", "half-time trap: 808 sub, clap on 3, rolling hats, pad"),
    SeedBed("techno-141", 140.625, 3, "4/4", "four-on-the-floor kick, off-beat bass, chord stabs"),
    SeedBed("dnb-188", 187.5, 4, "4/4", "two-step breakbeat, sub bass, pad"),
    SeedBed("waltz-105", 105.46875, 3, "3/4", "oom-pah-pah: bass on 1, chords on 2 and 3, brushed hats"),
    SeedBed("ambient-pad", 93.75, 2, "4/4", "no beat: one sustained chord over a soft sub"),
)
DEFAULT_BED = "boom-bap-94"  # a plain mid-tempo beat, like the original app's "og_beat"
_STYLES: dict[str, Style] = {
    "boom-bap-94": Style(93.75, 9, "minor", 0.2, 0.5, 0.4, "boom_bap", "syncopated", "comp", "none", True),
    "trap-141": Style(140.625, 5, "minor", 0.0, 0.6, 0.5, "trap", "sub", "pad", "none"),
    "techno-141": Style(140.625, 7, "minor", 0.0, 0.6, 0.6, "four_floor", "offbeat", "stabs", "none", True),
    "dnb-188": Style(187.5, 2, "minor", 0.0, 0.7, 0.6, "breakbeat", "sub", "pad", "none"),
    "waltz-105": Style(105.46875, 0, "major", 0.0, 0.5, 0.5, "waltz", "waltz", "waltz", "none", beats_per_bar=3),
    "ambient-pad": Style(93.75, 4, "major", 0.0, 0.2, 0.35, "none", "sustain", "pad", "none", True),
}


def _bed(name: str) -> SeedBed:
    for bed in BEDS:
        if bed.name == name:
            return bed
    known = ", ".join(bed.name for bed in BEDS)
    raise ValueError(f"unknown seed bed {name!r}; known beds: {known} (or give a path to an image or audio file)")


def bed_style(name: str) -> Style:
    """The synth style a bed is composed in (its tempo fills one chunk with whole bars)."""
    return _STYLES[_bed(name).name]


def bed_audio(name: str, params: SpectrogramParams = RIFFUSION_V1) -> np.ndarray:
    """One lap of the bed's loop: (params.chunk_samples,) float32 mono."""
    return render_loop(bed_style(name), BED_SEED, _bed(name).bars, params.chunk_samples, params.sample_rate)


@lru_cache(maxsize=16)
def _bed_image(name: str, params: SpectrogramParams) -> np.ndarray:
    loop = bed_audio(name, params)
    context = CHUNK_CONTEXT_COLUMNS * params.hop_samples
    image = chunk_pixels(np.concatenate([loop[-context:], loop, loop[:context]]), params)  # wrapped: loops seamlessly
    image.setflags(write=False)
    return image


def bed_image(name: str, params: SpectrogramParams = RIFFUSION_V1) -> np.ndarray:
    """The bed's spectrogram, (n_mels, chunk_columns) uint8 greyscale in image orientation.

    Cached and read-only; the same name always gives the same pixels.
    """
    return _bed_image(_bed(name).name, params)


def _image_seed(path: Path, params: SpectrogramParams) -> np.ndarray:
    image = open_image(path)
    expected = (params.chunk_columns, params.n_mels)
    if image.size != expected:
        size = f"{image.width}×{image.height}"
        raise ImageFormatError(f"{path}: image is {size}; a seed image must be {expected[0]}×{expected[1]}")
    try:
        chunk = chunk_from_image(image, params)
    except ImageFormatError as error:
        raise ImageFormatError(f"{path}: {error}") from None
    if chunk.columns != params.chunk_columns:
        raise ImageFormatError(
            f"{path}: holds only {chunk.columns} columns of audio; a seed image must be full ({params.chunk_columns})"
        )
    return pixels_from_mel(chunk.mel, params, max_value=1.0)


def _audio_seed(path: Path, params: SpectrogramParams) -> np.ndarray:
    audio = read_audio(path, params.sample_rate)
    looped = np.resize(audio, params.chunk_samples)  # repeats shorter audio from its start
    return pixels_from_mel(audio_to_mel(looped, params), params)


def load_seed(spec: str, params: SpectrogramParams = RIFFUSION_V1) -> np.ndarray:
    """A seed image from a bed name, an image file or an audio file → (512, 512) uint8.

    Raises ``FileNotFoundError`` for a path that does not exist and ``ValueError`` (one line
    naming the bed or file) for an unknown bed, an image of the wrong size or parameters,
    or an unreadable file.
    """
    path = Path(spec)
    looks_like_a_path = bool(path.suffix) or path.parent != Path(".") or path.exists()
    if not looks_like_a_path:
        return bed_image(spec, params).copy()  # an unknown name raises, listing the beds
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _image_seed(path, params)
    return _audio_seed(path, params)


def describe_beds() -> str:
    """A table of the built-in beds, for ``riffcast seeds``."""
    rows = [("name", "tempo", "meter", "bars", "sound")]
    rows += [(b.name, f"{b.tempo_bpm:g} bpm", b.meter, str(b.bars), b.description) for b in BEDS]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows)
