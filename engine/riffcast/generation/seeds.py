"""Seed beds: the init images Riffusion's img2img starts each chunk from.

A bed is a drum/bass/chord loop rendered by the synth (:mod:`riffcast.generation.voices`) at a
tempo where a whole number of bars fills one chunk exactly (5.12 s = 225 792 samples), so a
stream seeded with it stays on one beat grid from chunk to chunk, and the loop wraps
seamlessly: sounds running past its end continue at its start, and the image's edge columns
are computed from the wrapped audio. A seed can also be any 512 × 512 spectrogram image, or
an audio file (its first 5.12 s; shorter audio is looped to fill).

Rendering a bed and encoding it takes about half a second, on every start of a station or a
render: :func:`load_seed` keeps each bed's pixels on disk (:func:`cache_dir`, 256 KiB a bed)
under a key of everything that makes them — every source file of the riffcast package, the
parameters, numpy's version, the machine — so a change to any of those renders
it afresh, and a cache that cannot be read or written is only skipped.

A bed at another tempo (a ``bpm`` asked of a generator that paints from the bed, Riffusion):
:func:`bed_image_at` renders the bed's style at that tempo as a loop of whole bars (as many as
come nearest one chunk) and cuts the image at any stream position from it, the loop laid from
the stream's start, so every image starts from the asked beat grid (:func:`bed_beats_at`). The
loop is kept in memory (a few per process); each image is one STFT of its 5.12 s.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from riffcast.audio_io import read_audio
from riffcast.dsp.codec import (
    CHUNK_CONTEXT_COLUMNS,
    ImageFormatError,
    audio_to_mel,
    chunk_pixels,
    mel_image_from,
    open_image,
    pixels_from_mel,
)
from riffcast.dsp.params import RIFFUSION_V1, SpectrogramParams
from riffcast.generation.beats import BeatGrid
from riffcast.generation.style import BassStyle, DrumFamily, KeysStyle, LeadVoice, Mode, Style

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
BED_NAMES = frozenset(bed.name for bed in BEDS)
DEFAULT_BED = "boom-bap-94"  # a plain mid-tempo beat, like the original app's "og_beat"
_STYLES: dict[str, Style] = {
    "boom-bap-94": Style(tempo_bpm=93.75, root=9, mode=Mode.MINOR, swing=0.2, density=0.5, brightness=0.4, sevenths=True,
                         drums=DrumFamily.BOOM_BAP, bass=BassStyle.SYNCOPATED, keys=KeysStyle.COMP, lead=LeadVoice.NONE),
    "trap-141": Style(tempo_bpm=140.625, root=5, mode=Mode.MINOR, swing=0.0, density=0.6, brightness=0.5,
                      drums=DrumFamily.TRAP, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.NONE),
    "techno-141": Style(tempo_bpm=140.625, root=7, mode=Mode.MINOR, swing=0.0, density=0.6, brightness=0.6, sevenths=True,
                        drums=DrumFamily.FOUR_FLOOR, bass=BassStyle.OFFBEAT, keys=KeysStyle.STABS, lead=LeadVoice.NONE),
    "dnb-188": Style(tempo_bpm=187.5, root=2, mode=Mode.MINOR, swing=0.0, density=0.7, brightness=0.6,
                     drums=DrumFamily.BREAKBEAT, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.NONE),
    "waltz-105": Style(tempo_bpm=105.46875, root=0, mode=Mode.MAJOR, swing=0.0, density=0.5, brightness=0.5, beats_per_bar=3,
                       drums=DrumFamily.WALTZ, bass=BassStyle.WALTZ, keys=KeysStyle.WALTZ, lead=LeadVoice.NONE),
    "ambient-pad": Style(tempo_bpm=93.75, root=4, mode=Mode.MAJOR, swing=0.0, density=0.2, brightness=0.35, sevenths=True,
                         drums=DrumFamily.NONE, bass=BassStyle.SUSTAIN, keys=KeysStyle.PAD, lead=LeadVoice.NONE),
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
    return _render_loop(bed_style(name), _bed(name).bars, params.chunk_samples, params)


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
        chunk = mel_image_from(image, params)
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


def bed_beats(spec: str) -> BeatGrid | None:
    """The beat grid of the seed ``spec`` from the stream's start (a bed is rolled to the stream's
    phase, so images painted from it keep its beats): a built-in bed with drums; None for a bed
    without a beat, a path (someone's image or audio: its tempo is unknown) or an unknown name."""
    bed = next((bed for bed in BEDS if bed.name == spec), None)
    if bed is None or _STYLES[bed.name].drums is DrumFamily.NONE:
        return None
    return BeatGrid(0, 0, bed.tempo_bpm, bed.beats_per_bar)


def bed_beats_at(spec: str, bpm: float) -> BeatGrid | None:
    """The beat grid of :func:`bed_image_at`'s images at ``bpm``: bar 0 at the stream's start;
    None where :func:`bed_beats` has none (a bed without a beat, a path, an unknown name)."""
    grid = bed_beats(spec)
    return None if grid is None else replace(grid, bpm=float(bpm))


@lru_cache(maxsize=4)
def _loop_at(name: str, bpm: float, params: SpectrogramParams) -> np.ndarray:
    bar_s = 60.0 / bpm * _bed(name).beats_per_bar
    bars = max(1, round(params.chunk_samples / params.sample_rate / bar_s))
    loop = _render_loop(replace(bed_style(name), tempo_bpm=float(bpm)), bars, round(bars * bar_s * params.sample_rate), params)
    loop.setflags(write=False)
    return loop


def _render_loop(style: Style, bars: int, samples: int, params: SpectrogramParams) -> np.ndarray:
    from riffcast.generation.voices import render_loop  # scipy.signal: imported only to render

    return render_loop(style, BED_SEED, bars, samples, params.sample_rate)


def bed_image_at(name: str, bpm: float, start_sample: int, params: SpectrogramParams = RIFFUSION_V1) -> np.ndarray:
    """The bed ``name`` played at ``bpm`` (a loop of whole bars laid from stream sample 0), the
    chunk from stream sample ``start_sample`` → (n_mels, chunk_columns) uint8 greyscale in image
    orientation. Raises ``ValueError`` for an unknown bed or a bpm outside 20 … 400."""
    if not 20.0 <= bpm <= 400.0:
        raise ValueError(f"a bed's tempo must be 20 … 400 bpm, got {bpm}")
    loop = _loop_at(_bed(name).name, float(bpm), params)
    context = CHUNK_CONTEXT_COLUMNS * params.hop_samples
    samples = np.arange(start_sample - context, start_sample + params.chunk_samples + context) % loop.size
    return chunk_pixels(loop[samples], params)


def load_seed(spec: str, params: SpectrogramParams = RIFFUSION_V1) -> np.ndarray:
    """A seed image from a bed name, an image file or an audio file → (512, 512) uint8.

    Raises ``FileNotFoundError`` for a path that does not exist and ``ValueError`` (one line
    naming the bed or file) for an unknown bed, an image of the wrong size or parameters,
    or an unreadable file.
    """
    path = Path(spec)
    looks_like_a_path = bool(path.suffix) or path.parent != Path(".") or path.exists()
    if not looks_like_a_path:
        return _stored_bed_image(_bed(spec).name, params).copy()  # an unknown name raises, listing the beds
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _image_seed(path, params)
    return _audio_seed(path, params)


CACHE_ENV = "RIFFCAST_CACHE_DIR"


def cache_dir() -> Path | None:
    """Where riffcast keeps what it derives once per machine: ``$RIFFCAST_CACHE_DIR`` (empty:
    no cache), else ``$XDG_CACHE_HOME/riffcast``, else ``~/.cache/riffcast``."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "riffcast"


@lru_cache(maxsize=1)
def _code_key() -> str:
    """A digest of every source file of the riffcast package, the versions of numpy and Python,
    and the machine (some milliseconds)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{np.__version__} {sys.version} {platform.machine()} {platform.node()}".encode())
    return digest.hexdigest()


def _stored_bed_image(name: str, params: SpectrogramParams) -> np.ndarray:
    """:func:`bed_image`, from the disk cache when it holds this exact bed (see the module
    docstring), else rendered and stored."""
    try:
        folder = cache_dir()
        key = hashlib.sha256(f"{_code_key()} {name} {params!r}".encode()).hexdigest()[:24]
    except (OSError, RuntimeError):  # no home folder, an unreadable package file
        folder = None
    if folder is None:
        return _bed_image(name, params)
    path = folder / "beds" / f"{name}-{key}.npy"
    try:
        image = np.load(path, allow_pickle=False)
        if image.shape == (params.n_mels, params.chunk_columns) and image.dtype == np.uint8:
            return image
    except (OSError, ValueError):  # absent, unreadable or damaged: render it
        pass
    image = _bed_image(name, params)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{name}-", suffix=".npy", delete=False) as file:
            np.save(file, image, allow_pickle=False)
        os.replace(file.name, path)
        for stale in path.parent.glob(f"{name}-*.npy"):  # made by other code: never read again
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk: the next start renders it again
        pass
    return image


def describe_beds() -> str:
    """A table of the built-in beds, for ``riffcast seeds``."""
    rows = [("name", "tempo", "meter", "bars", "sound")]
    rows += [(b.name, f"{b.tempo_bpm:g} bpm", b.meter, str(b.bars), b.description) for b in BEDS]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows)
