"""Values passed between steering, the producer and the generators.

A generator paints one spectrogram image (Riffusion's convention, 512 × 512) per
:class:`ChunkRequest`; the producer decides what to request and hands the images to the
stitcher. Both generators (Riffusion and the procedural ``synth``) meet here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1


class Interrupted(Exception):
    """A generation stopped between steps because its request went stale."""


@dataclass(frozen=True)
class WeightedPrompt:
    """A text prompt and its weight (> 0) in the blend of several prompts."""

    text: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a prompt must be non-empty text")
        if len(self.text) > MAX_PROMPT_CHARS:
            raise ValueError(f"a prompt may have at most {MAX_PROMPT_CHARS} characters")
        if not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight) or self.weight <= 0:
            raise ValueError(f"prompt weight must be a finite number > 0, got {self.weight!r}")


@dataclass(frozen=True)
class Target:
    """Where the music should go: weighted prompts, a seed and img2img settings."""

    prompts: tuple[WeightedPrompt, ...]
    seed: int = 0
    negative_prompt: str = ""
    denoising: float = 0.75  # img2img strength: how far from the seed image, 0–1
    guidance: float = 7.0  # classifier-free guidance scale; 1 turns it off

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("a target needs at least one prompt")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed!r}")
        if len(self.negative_prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"the negative prompt may have at most {MAX_PROMPT_CHARS} characters")
        if not math.isfinite(self.denoising) or not 0.0 < self.denoising <= 1.0:
            raise ValueError(f"denoising must be in (0, 1], got {self.denoising!r}")
        if not math.isfinite(self.guidance) or not 0.0 <= self.guidance <= 50.0:
            raise ValueError(f"guidance must be in [0, 50], got {self.guidance!r}")

    @classmethod
    def from_text(cls, *texts: str, **settings) -> Target:
        """Equal-weight prompts from plain strings."""
        return cls(prompts=tuple(WeightedPrompt(text) for text in texts), **settings)

    def with_seed(self, seed: int) -> Target:
        return Target(self.prompts, seed % (MAX_SEED + 1), self.negative_prompt, self.denoising, self.guidance)


@dataclass(frozen=True)
class ChunkRequest:
    """One chunk to paint: the blend ``alpha`` (0 → ``start``, 1 → ``end``) of two targets.

    init_image: (512, 512) uint8 greyscale spectrogram image in image orientation (low
        frequencies at the bottom), the img2img starting point (the seed bed).
    keep_columns: overlap mode — the first ``keep_columns`` columns of ``init_image`` are to
        be kept (masked) and the rest painted to continue them; 0 paints everything.
    index: the chunk's number in the stream (for logs and determinism checks).
    """

    start: Target
    end: Target
    alpha: float
    init_image: np.ndarray
    keep_columns: int = 0
    index: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha) or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if self.init_image.dtype != np.uint8 or self.init_image.ndim != 2:
            raise ValueError("init_image must be a 2-D uint8 greyscale image")
        if not 0 <= self.keep_columns < self.init_image.shape[1]:
            raise ValueError("keep_columns must be within the image width")


@dataclass(frozen=True)
class PaintedChunk:
    """A generated spectrogram image and where the time went.

    image: (512, 512) uint8 greyscale, Riffusion's convention (as ``ChunkRequest.init_image``).
    timings_s: seconds per stage, e.g. ``{"text": …, "denoise": …, "decode": …}``.
    """

    image: np.ndarray
    timings_s: dict[str, float] = field(default_factory=dict)


class Generator(Protocol):
    """Anything that paints spectrogram chunks: Riffusion or the procedural synth."""

    name: str

    def paint(self, request: ChunkRequest, should_stop: Callable[[], bool] = lambda: False) -> PaintedChunk:
        """Paint one chunk. Raises :class:`Interrupted` when ``should_stop()`` turns true."""
        ...
