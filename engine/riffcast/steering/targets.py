"""Where the music should go: weighted prompts, a seed and img2img settings — and the one
place where the range of every steerable value is written down.

Everything that sets a target (the command line, ``/control``, playlists, a saved state,
OSC) validates through :func:`riffcast.steering.fields.settings_from_fields` or the
constructors below, which read the same :data:`LIMITS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_PROMPT_CHARS = 1000
MAX_PROMPTS = 8
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Limit:
    """The allowed range of one steerable number: ``low`` ≤ value ≤ ``high`` (``low`` excluded
    when ``low_open``); ``integer`` values must be ints (never bools)."""

    name: str
    low: float
    high: float
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        if self.integer:
            return f"an integer from {int(self.low)} to {int(self.high)}"  # all digits: 4294967295, not 4.29497e+09
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def check(self, value: object, label: str | None = None) -> None:
        """Raise ValueError naming ``label`` (default: the limit's name) unless ``value`` fits."""
        if not self.contains(value):
            raise ValueError(f"{label or self.name} must be {self.describe()}, got {value!r}")


SEED = Limit("seed", 0, MAX_SEED, integer=True)
DENOISING = Limit("denoising", 0.0, 1.0, low_open=True)  # img2img strength: how far from the seed image
GUIDANCE = Limit("guidance", 0.0, 50.0)  # classifier-free guidance scale; 1 turns it off
WEIGHT = Limit("weight", 0.0, 100.0, low_open=True)  # a prompt's share of the blend
TRANSITION_CHUNKS = Limit("transition_chunks", 1, 64, integer=True)  # chunks per transition
LIMITS = {limit.name: limit for limit in (SEED, DENOISING, GUIDANCE, WEIGHT, TRANSITION_CHUNKS)}


def check_text(value: object, label: str, *, allow_empty: bool = False) -> str:
    """``value`` if it is usable prompt text (≤ MAX_PROMPT_CHARS), else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text")
    if not allow_empty and not value.strip():
        raise ValueError(f"{label} must not be empty")
    if len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"{label} may have at most {MAX_PROMPT_CHARS} characters, got {len(value)}")
    return value


@dataclass(frozen=True)
class WeightedPrompt:
    """A text prompt and its weight (> 0, at most 100) in the blend of several prompts."""

    text: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        check_text(self.text, "a prompt")
        WEIGHT.check(self.weight, "prompt weight")


@dataclass(frozen=True)
class Target:
    """Where the music should go: 1 to MAX_PROMPTS weighted prompts (blended), a seed and
    img2img settings."""

    prompts: tuple[WeightedPrompt, ...]
    seed: int = 0
    negative_prompt: str = ""
    denoising: float = 0.75
    guidance: float = 7.0

    def __post_init__(self) -> None:
        if not 1 <= len(self.prompts) <= MAX_PROMPTS:
            raise ValueError(f"a target needs 1 to {MAX_PROMPTS} prompts, got {len(self.prompts)}")
        SEED.check(self.seed)
        check_text(self.negative_prompt, "the negative prompt", allow_empty=True)
        DENOISING.check(self.denoising)
        GUIDANCE.check(self.guidance)

    @classmethod
    def from_text(cls, *texts: str, **settings) -> Target:
        """Equal-weight prompts from plain strings."""
        return cls(prompts=tuple(WeightedPrompt(text) for text in texts), **settings)

    def with_seed(self, seed: int) -> Target:
        """The same target with ``seed`` (wrapped into [0, MAX_SEED])."""
        return Target(self.prompts, seed % (MAX_SEED + 1), self.negative_prompt, self.denoising, self.guidance)


def check_transition_chunks(chunks: object) -> None:
    """Raise ValueError unless ``chunks`` is a usable transition length (1–64)."""
    TRANSITION_CHUNKS.check(chunks)
