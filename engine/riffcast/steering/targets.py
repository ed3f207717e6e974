"""Where the music should go: weighted prompts, a seed, img2img settings and the musical
controls (tempo, key, brightness, drums and bass) — and the one place where the range of every
steerable value is written down.

Everything that sets a target (the command line, ``/control``, playlists, a saved state,
OSC) validates through :func:`riffcast.steering.fields.settings_from_fields` or the
constructors below, which read the same :data:`LIMITS`.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, replace

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
BPM = Limit("bpm", 40.0, 240.0)  # beats per minute; None (null) leaves the tempo free
BRIGHTNESS = Limit("brightness", -1.0, 1.0)  # −1 dark … 0 as painted … +1 bright
LIMITS = {limit.name: limit for limit in (SEED, DENOISING, GUIDANCE, WEIGHT, TRANSITION_CHUNKS, BPM, BRIGHTNESS)}


class Part(str, enum.Enum):
    """What a part (the drums, the bass) does: play, stay silent, or play alone (solo)."""

    ON = "on"
    OFF = "off"
    ONLY = "only"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object, label: str) -> Part:
        """``value`` ("on", "off" or "only") → a member; ValueError naming ``label`` otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in {member.value for member in cls}:
            return cls(value)
        raise ValueError(f"{label} must be \"on\", \"off\" or \"only\", got {value!r}")


class KeyMode(str, enum.Enum):
    """The mode of a :class:`Key`."""

    MAJOR = "major"
    MINOR = "minor"

    def __str__(self) -> str:
        return self.value


_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_TEXT = re.compile(r"([A-Ga-g])([#b♯♭]?)\s+(major|minor)", re.IGNORECASE)


class Key(str, enum.Enum):
    """One of the 24 keys, equal to and shown as its name: the tonic spelled as its usual key
    signature has it (``"F# major"``, ``"Eb minor"``). :meth:`parse` reads sharps or flats."""

    C_MAJOR = "C major"
    D_FLAT_MAJOR = "Db major"
    D_MAJOR = "D major"
    E_FLAT_MAJOR = "Eb major"
    E_MAJOR = "E major"
    F_MAJOR = "F major"
    F_SHARP_MAJOR = "F# major"
    G_MAJOR = "G major"
    A_FLAT_MAJOR = "Ab major"
    A_MAJOR = "A major"
    B_FLAT_MAJOR = "Bb major"
    B_MAJOR = "B major"
    C_MINOR = "C minor"
    C_SHARP_MINOR = "C# minor"
    D_MINOR = "D minor"
    E_FLAT_MINOR = "Eb minor"
    E_MINOR = "E minor"
    F_MINOR = "F minor"
    F_SHARP_MINOR = "F# minor"
    G_MINOR = "G minor"
    G_SHARP_MINOR = "G# minor"
    A_MINOR = "A minor"
    B_FLAT_MINOR = "Bb minor"
    B_MINOR = "B minor"

    def __str__(self) -> str:
        return self.value

    @property
    def mode(self) -> KeyMode:
        return KeyMode(self.value.split()[1])

    @property
    def tonic(self) -> int:
        """The tonic's pitch class, C = 0 … B = 11."""
        return list(Key).index(self) % 12

    @classmethod
    def of(cls, tonic: int, mode: KeyMode) -> Key:
        """The key of pitch class ``tonic`` (0–11) in ``mode``."""
        return list(cls)[tonic % 12 + (12 if KeyMode(mode) is KeyMode.MINOR else 0)]

    @classmethod
    def parse(cls, text: object) -> Key:
        """``"A minor"``, ``"F# major"``, ``"Gb major"``, ``"bb MINOR"`` → a Key; ValueError otherwise."""
        if isinstance(text, cls):
            return text
        match = _KEY_TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"key must be a tonic A–G with an optional # or b, then major or minor "
                             f"(e.g. \"A minor\", \"F# major\", \"Bb major\"), got {text!r}")
        letter, accidental, mode = match.groups()
        shift = 1 if accidental in ("#", "♯") else -1 if accidental in ("b", "♭") else 0
        return cls.of(_LETTER_PC[letter.upper()] + shift, KeyMode(mode.lower()))


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


CONTROL_DEFAULTS = {"bpm": None, "key": None, "brightness": 0.0, "drums": Part.ON, "bass": Part.ON}


@dataclass(frozen=True, repr=False)
class Target:
    """Where the music should go: 1 to MAX_PROMPTS weighted prompts (blended), a seed,
    img2img settings and the musical controls.

    bpm: beats per minute (40–240), or None: the tempo the prompts ask for.
    key: the :class:`Key` to play in, or None: the prompts' key.
    brightness: −1 (dark) … 0 (as painted) … +1 (bright).
    drums, bass: :class:`Part` — on, off (muted) or only (soloed).
    """

    prompts: tuple[WeightedPrompt, ...]
    seed: int = 0
    negative_prompt: str = ""
    denoising: float = 0.75
    guidance: float = 7.0
    bpm: float | None = None
    key: Key | None = None
    brightness: float = 0.0
    drums: Part = Part.ON
    bass: Part = Part.ON

    def __post_init__(self) -> None:
        if not 1 <= len(self.prompts) <= MAX_PROMPTS:
            raise ValueError(f"a target needs 1 to {MAX_PROMPTS} prompts, got {len(self.prompts)}")
        SEED.check(self.seed)
        check_text(self.negative_prompt, "the negative prompt", allow_empty=True)
        DENOISING.check(self.denoising)
        GUIDANCE.check(self.guidance)
        if self.bpm is not None:
            BPM.check(self.bpm)
            object.__setattr__(self, "bpm", float(self.bpm))
        if self.key is not None:
            object.__setattr__(self, "key", Key.parse(self.key))
        BRIGHTNESS.check(self.brightness)
        object.__setattr__(self, "brightness", float(self.brightness))
        object.__setattr__(self, "drums", Part.parse(self.drums, "drums"))
        object.__setattr__(self, "bass", Part.parse(self.bass, "bass"))

    def __repr__(self) -> str:
        """As a dataclass shows itself; the musical controls only where they are not their
        defaults (so a fingerprint of a target without them is what it was before they existed)."""
        shown = [f"prompts={self.prompts!r}", f"seed={self.seed!r}", f"negative_prompt={self.negative_prompt!r}",
                 f"denoising={self.denoising!r}", f"guidance={self.guidance!r}"]
        shown += [f"{name}={getattr(self, name)!r}" for name, default in CONTROL_DEFAULTS.items()
                  if getattr(self, name) != default]
        return f"Target({', '.join(shown)})"

    @property
    def key_name(self) -> str | None:
        """The key as announced (``"A minor"``), or None when free."""
        return None if self.key is None else self.key.value

    @classmethod
    def from_text(cls, *texts: str, **settings) -> Target:
        """Equal-weight prompts from plain strings."""
        return cls(prompts=tuple(WeightedPrompt(text) for text in texts), **settings)

    def with_seed(self, seed: int) -> Target:
        """The same target with ``seed`` (wrapped into [0, MAX_SEED])."""
        return replace(self, seed=seed % (MAX_SEED + 1))


def check_transition_chunks(chunks: object) -> None:
    """Raise ValueError unless ``chunks`` is a usable transition length (1–64)."""
    TRANSITION_CHUNKS.check(chunks)
