"""Prompts → :class:`Style`: what the synth should play, in musical terms, and how styles blend.

A prompt's genre words (``GENRE_WORDS``) pick the groove and instruments, mood words move
mode, density, brightness and tempo, and "90 bpm" / "in D minor" are honoured exactly;
anything not named comes from a hash of the text, so every prompt has one deterministic
style. Weighted prompts average their numeric fields and take everything else from the
heaviest, and :func:`chunk_style` moves a transition's style and seed with ``alpha``. A
target's musical controls (``bpm``, ``key``, ``brightness``, ``drums``, ``bass``) win over what
its prompts say (:func:`style_for_target`).
"""

from __future__ import annotations

import enum
import re
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from riffcast.generation.types import ImageRequest
from riffcast.steering.targets import KeyMode, Part, Target

MIN_BPM, MAX_BPM = 30.0, 300.0


class Choice(str, enum.Enum):
    """One of a closed set of choices, equal to and shown as its string value (``enum.StrEnum``,
    which Python 3.10 lacks)."""

    def __str__(self) -> str:
        return self.value


class Mode(Choice):
    """The key's mode: it picks the scale and the chord progressions (:mod:`~riffcast.generation.harmony`)."""

    MAJOR = "major"
    MINOR = "minor"
    DORIAN = "dorian"
    MIXOLYDIAN = "mixolydian"
    LYDIAN = "lydian"
    PHRYGIAN = "phrygian"


class DrumFamily(Choice):
    """The groove: a family of drum patterns (``compose.DRUM_PATTERNS``)."""

    NONE = "none"
    FOUR_FLOOR = "four_floor"
    BOOM_BAP = "boom_bap"
    BREAKBEAT = "breakbeat"
    ROCK = "rock"
    TRAP = "trap"
    JAZZ = "jazz"
    ONE_DROP = "one_drop"
    WALTZ = "waltz"


class BassStyle(Choice):
    """The bass line: a pattern family (``compose.BASS_PATTERNS``), a walking line or a held root."""

    ROOT8 = "root8"
    SYNCOPATED = "syncopated"
    OFFBEAT = "offbeat"
    SUB = "sub"
    WALKING = "walking"
    OCTAVE = "octave"
    SUSTAIN = "sustain"
    WALTZ = "waltz"


class KeysStyle(Choice):
    """How the chords are played: held pads, off-beat stabs, comped rhythms, waltz 2-and-3."""

    PAD = "pad"
    STABS = "stabs"
    COMP = "comp"
    WALTZ = "waltz"
    NONE = "none"


class Kit(Choice):
    """The drum kit's sound (:mod:`riffcast.generation.kits`); by default the groove's."""

    EIGHT_OH_EIGHT = "808"
    ACOUSTIC = "acoustic"
    BRUSHED = "brushed"
    BREAKBEAT = "breakbeat"
    ELECTRONIC = "electronic"
    METAL = "metal"


class Band(Choice):
    """The instrument set that plays bass and chords; by default the groove's."""

    SYNTH = "synth"  # saw bass, sine pads, electric piano
    ROCK = "rock"  # picked bass, distorted guitar chords
    JAZZ = "jazz"  # upright bass, piano
    CLUB = "club"  # saw bass, plucked stabs, sine pads
    METAL = "metal"  # picked bass, palm-muted power-chord chugs, double kick
    LOFI = "lofi"  # electric piano and a dusty record's crackle


class LeadVoice(Choice):
    """The melody's instrument, or none."""

    TRIANGLE = "triangle"
    BELL = "bell"
    SAW = "saw"
    NONE = "none"


_CHOICES: dict[str, type[Choice]] = {"drums": DrumFamily, "bass": BassStyle, "keys": KeysStyle, "lead": LeadVoice,
                                     "kit": Kit, "band": Band}


@dataclass(frozen=True, kw_only=True)
class Style:
    """What a prompt asks for, in musical terms (built with keywords only).

    tempo_bpm: beats per minute. root: pitch class of the key (C = 0 … B = 11).
    swing: how late the off-beat of each swing pair lands, as a fraction of half the pair
        (0 straight, 1/3 triplet feel, at most 0.5); the pair is a beat for jazz and walking
        bass (swung 8ths), an 8th note otherwise (swung 16ths).
    density: 0 sparse … 1 busy (ghost notes, fills, melody rests).
    brightness: 0 dark … 1 bright (filter cut-offs, hi-hat level, keys' overtones).
    mode, drums, bass, keys, lead: members of the enums above; their string values are
        accepted too and turned into members.
    sevenths: chords of four notes instead of triads. beats_per_bar: 4 or 3.
    kit, band: the drums' and the other instruments' sound; ``None`` takes the groove's
        (``DEFAULT_KITS``, ``DEFAULT_BANDS``).
    tilt: the brightness control, −1 … 1: the painted image's spectral tilt
        (:mod:`~riffcast.generation.controls`; 0: none).
    drum_part, bass_part: the drums and the bass on, off (muted) or only (soloed).
    """

    tempo_bpm: float = 100.0
    root: int = 9
    mode: Mode = Mode.MINOR
    swing: float = 0.0
    density: float = 0.5
    brightness: float = 0.5
    drums: DrumFamily = DrumFamily.ROCK
    bass: BassStyle = BassStyle.ROOT8
    keys: KeysStyle = KeysStyle.PAD
    lead: LeadVoice = LeadVoice.TRIANGLE
    sevenths: bool = False
    beats_per_bar: int = 4
    kit: Kit | None = None
    band: Band | None = None
    tilt: float = 0.0
    drum_part: Part = Part.ON
    bass_part: Part = Part.ON

    def __post_init__(self) -> None:
        if not -1.0 <= self.tilt <= 1.0:
            raise ValueError(f"tilt must be in [-1, 1], got {self.tilt!r}")
        object.__setattr__(self, "drum_part", Part(self.drum_part))
        object.__setattr__(self, "bass_part", Part(self.bass_part))
        if not MIN_BPM <= self.tempo_bpm <= MAX_BPM:
            raise ValueError(f"tempo must be {MIN_BPM:g}–{MAX_BPM:g} bpm, got {self.tempo_bpm!r}")
        if self.root not in range(12) or self.mode not in _values(Mode) or self.beats_per_bar not in (3, 4):
            raise ValueError(f"bad key or meter: root {self.root!r}, {self.mode!r}, {self.beats_per_bar!r}/4")
        if not (0.0 <= self.swing <= 0.5 and 0.0 <= self.density <= 1.0 and 0.0 <= self.brightness <= 1.0):
            raise ValueError("swing must be in [0, 0.5], density and brightness in [0, 1]")
        object.__setattr__(self, "mode", Mode(self.mode))
        drums = DrumFamily(self.drums) if self.drums in _values(DrumFamily) else None
        if self.kit is None and drums is not None:
            object.__setattr__(self, "kit", DEFAULT_KITS[drums])
        if self.band is None and drums is not None:
            object.__setattr__(self, "band", DEFAULT_BANDS[drums])
        for name, kind in _CHOICES.items():
            value = getattr(self, name)
            if value not in _values(kind):
                raise ValueError(f"unknown style choice {value!r} (known: {', '.join(kind)})")
            object.__setattr__(self, name, kind(value))


def _values(kind: type[Choice]) -> tuple[str, ...]:
    return tuple(member.value for member in kind)


DEFAULT_KITS = {DrumFamily.NONE: Kit.ACOUSTIC, DrumFamily.FOUR_FLOOR: Kit.ELECTRONIC, DrumFamily.BOOM_BAP: Kit.BREAKBEAT,
                DrumFamily.BREAKBEAT: Kit.BREAKBEAT, DrumFamily.ROCK: Kit.ACOUSTIC, DrumFamily.TRAP: Kit.EIGHT_OH_EIGHT,
                DrumFamily.JAZZ: Kit.BRUSHED, DrumFamily.ONE_DROP: Kit.ACOUSTIC, DrumFamily.WALTZ: Kit.BRUSHED}
DEFAULT_BANDS = {DrumFamily.NONE: Band.SYNTH, DrumFamily.FOUR_FLOOR: Band.CLUB, DrumFamily.BOOM_BAP: Band.SYNTH,
                 DrumFamily.BREAKBEAT: Band.SYNTH, DrumFamily.ROCK: Band.ROCK, DrumFamily.TRAP: Band.SYNTH,
                 DrumFamily.JAZZ: Band.JAZZ, DrumFamily.ONE_DROP: Band.SYNTH, DrumFamily.WALTZ: Band.JAZZ}
_TRIPLET = 1 / 3
# Each genre's recipe; the root is the prompt's key or comes from its hash (style_from_prompt).
GENRES: dict[str, Style] = {
    "lofi": Style(tempo_bpm=86, mode=Mode.MINOR, swing=0.3, density=0.4, brightness=0.25, sevenths=True, band=Band.LOFI,
                  drums=DrumFamily.BOOM_BAP, bass=BassStyle.SYNCOPATED, keys=KeysStyle.COMP, lead=LeadVoice.BELL),
    "hip hop": Style(tempo_bpm=90, mode=Mode.MINOR, swing=0.2, density=0.55, brightness=0.4, sevenths=True, kit=Kit.EIGHT_OH_EIGHT,
                     drums=DrumFamily.BOOM_BAP, bass=BassStyle.SYNCOPATED, keys=KeysStyle.COMP, lead=LeadVoice.TRIANGLE),
    "trap": Style(tempo_bpm=140, mode=Mode.MINOR, swing=0.0, density=0.6, brightness=0.5,
                  drums=DrumFamily.TRAP, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.BELL),
    "house": Style(tempo_bpm=124, mode=Mode.MINOR, swing=0.0, density=0.7, brightness=0.6, sevenths=True,
                   drums=DrumFamily.FOUR_FLOOR, bass=BassStyle.OFFBEAT, keys=KeysStyle.STABS, lead=LeadVoice.BELL),
    "techno": Style(tempo_bpm=128, mode=Mode.MINOR, swing=0.0, density=0.75, brightness=0.65,
                    drums=DrumFamily.FOUR_FLOOR, bass=BassStyle.OFFBEAT, keys=KeysStyle.PAD, lead=LeadVoice.SAW),
    "trance": Style(tempo_bpm=138, mode=Mode.MINOR, swing=0.0, density=0.75, brightness=0.7,
                    drums=DrumFamily.FOUR_FLOOR, bass=BassStyle.OFFBEAT, keys=KeysStyle.PAD, lead=LeadVoice.SAW),
    "disco": Style(tempo_bpm=118, mode=Mode.MAJOR, swing=0.0, density=0.8, brightness=0.7, sevenths=True,
                   drums=DrumFamily.FOUR_FLOOR, bass=BassStyle.OCTAVE, keys=KeysStyle.STABS, lead=LeadVoice.TRIANGLE),
    "funk": Style(tempo_bpm=104, mode=Mode.MINOR, swing=0.15, density=0.75, brightness=0.65, sevenths=True,
                  drums=DrumFamily.ROCK, bass=BassStyle.SYNCOPATED, keys=KeysStyle.STABS, lead=LeadVoice.TRIANGLE,
                  band=Band.SYNTH),
    "drum and bass": Style(tempo_bpm=172, mode=Mode.MINOR, swing=0.0, density=0.75, brightness=0.6,
                           drums=DrumFamily.BREAKBEAT, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.BELL),
    "jungle": Style(tempo_bpm=165, mode=Mode.MINOR, swing=0.0, density=0.85, brightness=0.55,
                    drums=DrumFamily.BREAKBEAT, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.TRIANGLE),
    "dubstep": Style(tempo_bpm=140, mode=Mode.MINOR, swing=0.0, density=0.7, brightness=0.6,
                     drums=DrumFamily.TRAP, bass=BassStyle.SUB, keys=KeysStyle.PAD, lead=LeadVoice.SAW),
    "ambient": Style(tempo_bpm=70, mode=Mode.MAJOR, swing=0.0, density=0.2, brightness=0.35,
                     drums=DrumFamily.NONE, bass=BassStyle.SUSTAIN, keys=KeysStyle.PAD, lead=LeadVoice.BELL),
    "classical": Style(tempo_bpm=84, mode=Mode.MAJOR, swing=0.0, density=0.45, brightness=0.45,
                       drums=DrumFamily.NONE, bass=BassStyle.SUSTAIN, keys=KeysStyle.COMP, lead=LeadVoice.TRIANGLE, band=Band.JAZZ),
    "jazz": Style(tempo_bpm=132, mode=Mode.MAJOR, swing=_TRIPLET, density=0.6, brightness=0.45, sevenths=True,
                  drums=DrumFamily.JAZZ, bass=BassStyle.WALKING, keys=KeysStyle.COMP, lead=LeadVoice.TRIANGLE),
    "blues": Style(tempo_bpm=96, mode=Mode.MAJOR, swing=_TRIPLET, density=0.55, brightness=0.5, sevenths=True,
                   drums=DrumFamily.ROCK, bass=BassStyle.WALKING, keys=KeysStyle.COMP, lead=LeadVoice.TRIANGLE, band=Band.JAZZ),
    "rock": Style(tempo_bpm=120, mode=Mode.MAJOR, swing=0.0, density=0.75, brightness=0.75,
                  drums=DrumFamily.ROCK, bass=BassStyle.ROOT8, keys=KeysStyle.PAD, lead=LeadVoice.SAW),
    "metal": Style(tempo_bpm=150, mode=Mode.MINOR, swing=0.0, density=0.9, brightness=0.85, kit=Kit.METAL,
                   drums=DrumFamily.ROCK, bass=BassStyle.ROOT8, keys=KeysStyle.PAD, lead=LeadVoice.SAW, band=Band.METAL),
    "punk": Style(tempo_bpm=175, mode=Mode.MAJOR, swing=0.0, density=0.9, brightness=0.8,
                  drums=DrumFamily.ROCK, bass=BassStyle.ROOT8, keys=KeysStyle.PAD, lead=LeadVoice.SAW),
    "pop": Style(tempo_bpm=112, mode=Mode.MAJOR, swing=0.0, density=0.6, brightness=0.6,
                 drums=DrumFamily.ROCK, bass=BassStyle.ROOT8, keys=KeysStyle.PAD, lead=LeadVoice.TRIANGLE, band=Band.SYNTH),
    "synthwave": Style(tempo_bpm=100, mode=Mode.MINOR, swing=0.0, density=0.6, brightness=0.6, kit=Kit.ELECTRONIC,
                       drums=DrumFamily.ROCK, bass=BassStyle.ROOT8, keys=KeysStyle.PAD, lead=LeadVoice.SAW, band=Band.SYNTH),
    "reggae": Style(tempo_bpm=76, mode=Mode.MAJOR, swing=0.15, density=0.5, brightness=0.45,
                    drums=DrumFamily.ONE_DROP, bass=BassStyle.SYNCOPATED, keys=KeysStyle.STABS, lead=LeadVoice.TRIANGLE),
    "waltz": Style(tempo_bpm=105, mode=Mode.MAJOR, swing=0.0, density=0.5, brightness=0.5, beats_per_bar=3,
                   drums=DrumFamily.WALTZ, bass=BassStyle.WALTZ, keys=KeysStyle.WALTZ, lead=LeadVoice.TRIANGLE),
}
# Words and phrases (lower case, whole words) naming a genre above.
GENRE_WORDS: dict[str, str] = {
    "lofi": "lofi", "lo-fi": "lofi", "lo fi": "lofi",
    "hip hop": "hip hop", "hip-hop": "hip hop", "hiphop": "hip hop", "boom bap": "hip hop", "rap": "hip hop",
    "trap": "trap", "house": "house", "techno": "techno", "trance": "trance", "edm": "trance",
    "disco": "disco", "funk": "funk", "funky": "funk",
    "drum and bass": "drum and bass", "drum & bass": "drum and bass", "drum n bass": "drum and bass",
    "drum'n'bass": "drum and bass", "dnb": "drum and bass", "liquid": "drum and bass",
    "jungle": "jungle", "breakbeat": "jungle", "dubstep": "dubstep",
    "ambient": "ambient", "drone": "ambient", "meditation": "ambient", "soundscape": "ambient",
    "classical": "classical", "orchestral": "classical", "cinematic": "classical", "piano": "classical",
    "jazz": "jazz", "jazzy": "jazz", "bebop": "jazz", "swing": "jazz",
    "blues": "blues", "bluesy": "blues",
    "rock": "rock", "metal": "metal", "punk": "punk", "pop": "pop",
    "synthwave": "synthwave", "retrowave": "synthwave", "80s": "synthwave",
    "reggae": "reggae", "dub": "reggae", "waltz": "waltz",
}
MINOR_WORDS = frozenset("sad dark melancholy melancholic moody gloomy haunting minor somber sombre lonely eerie tense".split())
MAJOR_WORDS = frozenset("happy bright uplifting cheerful sunny joyful major hopeful summer playful".split())
CALM_WORDS = frozenset("chill calm relaxing relaxed mellow sleepy soft peaceful gentle quiet minimal lazy dreamy".split())
ENERGY_WORDS = frozenset("energetic hard intense driving upbeat aggressive hype party heavy epic powerful".split())
BRIGHT_WORDS = frozenset("bright sparkling crisp shiny".split())
DULL_WORDS = frozenset("dark warm muffled deep murky underwater".split())
MOOD_STEP = 0.2  # density / brightness change per mood word
SLOW_FACTOR, FAST_FACTOR = 0.85, 1.15  # tempo factors for "slow" / "fast"
UNKNOWN_TEMPO_SPREAD = 0.04  # ± relative tempo jitter of a genre picked by hash

_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*bpm\b", re.IGNORECASE)
_KEY_AFTER_IN = re.compile(
    r"\bin\s+([a-g])(\s*(?:#|♯|♭|b|-?sharp|-?flat|\s+sharp|\s+flat))?(?:\s*(major|minor|maj|min|m|dorian|mixolydian|lydian|phrygian))?(?![a-z0-9#♯♭])",
    re.IGNORECASE,
)
_KEY_WITH_MODE = re.compile(r"\b([a-g])(#|♯|♭|b)?[\s-]+(major|minor|dorian|mixolydian|lydian|phrygian)\b",
                            re.IGNORECASE)
_CHURCH_MODES = frozenset({"dorian", "mixolydian", "lydian", "phrygian"})  # named anywhere in a prompt
_NOTE_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_MODE_WORDS = {"major": Mode.MAJOR, "maj": Mode.MAJOR, "minor": Mode.MINOR, "min": Mode.MINOR, "m": Mode.MINOR, **{m.value: m for m in Mode}}


def _accidental(text: str | None) -> int:
    text = (text or "").strip().lower().lstrip("-")
    return 1 if text in ("#", "♯", "sharp") else -1 if text in ("b", "♭", "flat") else 0


def _explicit_key(text: str) -> tuple[int | None, Mode | None]:
    """("in D minor", "in F# major", "in Bb", "E minor") → (pitch class, mode or None)."""
    for match in _KEY_AFTER_IN.finditer(text):
        letter, accidental, mode = match.groups()
        if letter.isupper() or accidental or mode:
            pc = (_NOTE_PC[letter.lower()] + _accidental(accidental)) % 12
            return pc, None if mode is None else _MODE_WORDS[mode.lower()]
    match = _KEY_WITH_MODE.search(text)
    if match:
        letter, accidental, mode = match.groups()
        return (_NOTE_PC[letter.lower()] + _accidental(accidental)) % 12, _MODE_WORDS[mode.lower()]
    return None, None


def _mean(values: Sequence[float], weights: Sequence[float]) -> float:
    return float(sum(v * w for v, w in zip(values, weights)) / sum(weights))


@lru_cache(maxsize=256)
def style_from_prompt(text: str) -> Style:
    """The :class:`Style` a prompt asks for; deterministic for any text.

    Genre words (``GENRE_WORDS``) give the groove and instruments; several genres average
    their numbers and the first named decides the rest. Mood words then move mode, density,
    brightness and tempo. "90 bpm" and "in D minor" / "in F# major" / "in Bb" are honoured
    exactly (tempo clamped to 30–300 bpm). The key, and the genre when none is named, come
    from a CRC-32 of the text.
    """
    words = re.findall(r"[a-z0-9&#'♯♭-]+", text.lower())
    padded = " " + " ".join(words) + " "
    digest = zlib.crc32(padded.strip().encode("utf-8"))
    found = sorted((padded.find(f" {phrase} "), name) for phrase, name in GENRE_WORDS.items() if f" {phrase} " in padded)
    names = list(dict.fromkeys(name for _, name in found))
    tempo_factor = 1.0
    if not names:
        order = sorted(GENRES)
        names = [order[(digest >> 8) % len(order)]]
        tempo_factor += UNKNOWN_TEMPO_SPREAD * (((digest >> 16) % 201) / 100.0 - 1.0)
    matched = [GENRES[name] for name in names]
    ones = [1.0] * len(matched)
    word_set = set(words)
    minor_votes = len(word_set & MINOR_WORDS) - len(word_set & MAJOR_WORDS)
    mode = matched[0].mode if minor_votes == 0 else (Mode.MINOR if minor_votes > 0 else Mode.MAJOR)
    named_modes = [Mode(word) for word in words if word in _CHURCH_MODES]
    mode = named_modes[0] if named_modes else mode
    energy = len(word_set & ENERGY_WORDS) - len(word_set & CALM_WORDS)
    shine = len(word_set & BRIGHT_WORDS) - len(word_set & DULL_WORDS)
    tempo_factor *= SLOW_FACTOR if "slow" in word_set else FAST_FACTOR if "fast" in word_set else 1.0
    tempo = _mean([s.tempo_bpm for s in matched], ones) * tempo_factor
    root, key_mode = _explicit_key(text)
    bpm = _BPM.search(text)
    return replace(
        matched[0],
        tempo_bpm=float(np.clip(float(bpm.group(1)) if bpm else tempo, MIN_BPM, MAX_BPM)),
        root=digest % 12 if root is None else root,
        mode=key_mode or mode,
        swing=_mean([s.swing for s in matched], ones),
        density=float(np.clip(_mean([s.density for s in matched], ones) + MOOD_STEP * energy, 0.0, 1.0)),
        brightness=float(np.clip(_mean([s.brightness for s in matched], ones) + MOOD_STEP * shine, 0.0, 1.0)),
    )


def blend_styles(weighted: Sequence[tuple[Style, float]]) -> Style:
    """Weighted mean of the numeric fields; everything else from the heaviest (first on ties)."""
    styles = [style for style, _ in weighted]
    weights = [float(weight) for _, weight in weighted]
    heaviest = styles[int(np.argmax(weights))]
    return replace(
        heaviest,
        tempo_bpm=_mean([s.tempo_bpm for s in styles], weights),
        swing=_mean([s.swing for s in styles], weights),
        density=_mean([s.density for s in styles], weights),
        brightness=_mean([s.brightness for s in styles], weights),
        tilt=_mean([s.tilt for s in styles], weights),
    )


BRIGHTNESS_TONE = 0.5  # the style's brightness (0–1: filter cut-offs, overtones) moved per unit of the control
_KEY_MODES = {KeyMode.MAJOR: Mode.MAJOR, KeyMode.MINOR: Mode.MINOR}


@lru_cache(maxsize=256)
def style_for_target(target: Target) -> Style:
    """The blend of a target's weighted prompts, then its musical controls, which win over the
    prompts: ``bpm`` sets the tempo exactly, ``key`` the tonic and mode, ``brightness`` moves the
    style's brightness by ``BRIGHTNESS_TONE`` per unit and tilts the spectrum, ``drums`` and
    ``bass`` mute or solo those parts."""
    style = blend_styles([(style_from_prompt(p.text), p.weight) for p in target.prompts])
    if target.bpm is not None:
        style = replace(style, tempo_bpm=float(target.bpm))
    if target.key is not None:
        style = replace(style, root=target.key.tonic, mode=_KEY_MODES[target.key.mode])
    brightness = float(np.clip(style.brightness + BRIGHTNESS_TONE * target.brightness, 0.0, 1.0))
    return replace(style, brightness=brightness, tilt=target.brightness, drum_part=target.drums, bass_part=target.bass)


def chunk_style(request: ImageRequest) -> tuple[Style, int]:
    """(style, seed) of one chunk of the transition from ``request.start`` to ``request.end``.

    Numeric style fields (swing, density, brightness) move with alpha; categorical ones (key,
    mode, drum family, instruments), the tempo and the seed switch together to ``end``'s when
    alpha passes 0.5, so a change of prompt is heard at one moment with its own tempo (the
    tempo used to wait for alpha 1: two chunks, 10.24 s, after the key and instruments in a
    4-chunk transition). A chunk is rendered wholly in its own style, so at a switch the
    notes begun before it under the old settings end at the chunk boundary.
    """
    start, end = style_for_target(request.start), style_for_target(request.end)
    blended = blend_styles([(start, 1.0 - request.alpha), (end, request.alpha)])
    switched = request.alpha > 0.5
    tempo = end.tempo_bpm if switched else start.tempo_bpm
    return replace(blended, tempo_bpm=tempo), request.end.seed if switched else request.start.seed
