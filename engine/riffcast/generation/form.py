"""Form: the endless song's sections, on 8-bar lines, and what plays in each.

Bars 0–7 are an intro (chords and held chords over light drums; no bass, no melody); then a cycle of 64 bars
repeats for ever (no outro), its order drawn per cycle from the seed: A (16 bars: groove and chords, the bass in
half notes; jazz's piano comping an octave higher, a club track's filters closed), B (16: the melody and the
bass line join, the hats move to the ride — jazz's hi-hat to the ride —, a club track's filters open), breakdown
(8: held chords, the melody and the bass's roots, no drums, quiet), build (8: drums, bass and chords come back
on its first bar; a snare roll, loudness and brightness rising to the drop's line), drop (16: everything over
held chords, open hats, loudest; jazz's, the shout chorus, back on the hi-hat). Every boundary falls on a
multiple of 8 bars from stream time 0, and each section's first bar differs from the bar before in a part that
enters or leaves there (the harmony's turnaround resolves on the same line). A section's :class:`Arrangement`
says which parts play and how loud (dB), bar by bar. Lofi has a form of its own (``LOFI_SECTIONS``): its comping
keys and crackle would otherwise make every section sound alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from riffcast.generation.grid import Salt, pick
from riffcast.generation.harmony import PHRASE_BARS
from riffcast.generation.style import Band, Choice


class Section(Choice):
    """A kind of section of the song."""

    INTRO = "intro"
    A = "a"
    B = "b"
    BREAKDOWN = "breakdown"
    BUILD = "build"
    DROP = "drop"


INTRO_BARS = 8
SECTION_BARS = {Section.INTRO: 8, Section.A: 16, Section.B: 16, Section.BREAKDOWN: 8, Section.BUILD: 8, Section.DROP: 16}
# The orders a cycle may take (each 64 bars); a breakdown is always followed by its build and drop.
CYCLES: tuple[tuple[Section, ...], ...] = (
    (Section.A, Section.B, Section.BREAKDOWN, Section.BUILD, Section.DROP),
    (Section.A, Section.BREAKDOWN, Section.BUILD, Section.DROP, Section.B),
    (Section.B, Section.A, Section.BREAKDOWN, Section.BUILD, Section.DROP),
)
CYCLE_BARS = 64
EPOCH_CYCLES = 2  # new material every this many cycles
# Loudness of each section, dB (a build rises from its first value to its second).
LEVEL_DB = {Section.INTRO: -3.0, Section.A: -2.0, Section.B: -1.0, Section.BREAKDOWN: -8.0, Section.DROP: 0.0}
BUILD_DB = (-6.0, -1.0)
BUILD_TONE = (-0.3, 0.15)  # a build's filters open as it rises (added to the style's brightness)
DROP_TONE = 0.15  # the drop's added brightness
CLUB_TONE = {Section.A: -0.3, Section.B: 0.3}  # a club track's A is filtered and its filters open on B (parts alone: too little a step)


@dataclass(frozen=True)
class Place:
    """Where a bar sits in the form.

    section: its kind. index: the section's number from the song's start (keys its material).
    bar: the bar's number inside the section. bars: the section's length. next: the kind of the
    section after it. cycle: the 64-bar cycle's number (−1 in the intro).
    """

    section: Section
    index: int
    bar: int
    bars: int
    next: Section
    cycle: int

    @property
    def last_bar(self) -> bool:
        """The section's last bar (a fill leads into the next)."""
        return self.bar == self.bars - 1

    @property
    def phrase_end(self) -> bool:
        """The last bar of an 8-bar phrase."""
        return self.bar % PHRASE_BARS == PHRASE_BARS - 1


@dataclass(frozen=True)
class Arrangement:
    """What plays in one bar: each part on or off, and the level of everything, dB."""

    drums: bool
    bass: bool
    keys: bool
    lead: bool
    level_db: float
    pad: bool = False  # a layer of held chords (the breakdown's bed, the drop's lift)
    tone: float = 0.0  # added to the style's brightness (filters, cymbals, overtones)
    open_hats: bool = False  # off-beat hats open up (the drop)
    ride: bool = False  # time on the ride cymbal (B, and the drop but jazz's; without it jazz keeps time on the hi-hat)
    light_drums: bool = False  # kick, snare and hats only: no ghost notes, no fills
    build_roll: bool = False  # the snare roll of a build
    two_feel: bool = False  # the bass plays the chord's root in half notes (a verse's two-feel), not its line (walking bass walks)
    keys_octave: int = 0  # the comping's register, octaves above its own (jazz's A: the piano comps high)


def _drawn(seed: int, cycle: int) -> tuple[Section, ...]:
    return CYCLES[0] if cycle <= 0 else CYCLES[pick(seed, (cycle, Salt.FORM), len(CYCLES))]


def _cycle(seed: int, cycle: int) -> tuple[Section, ...]:
    """The order of ``cycle``: its draw, or the first order where the draw would start with the kind of
    section the previous draw ends with (a B straight after a B would not be heard as a new section)."""
    order = _drawn(seed, cycle)
    return CYCLES[0] if cycle > 0 and order[0] is _drawn(seed, cycle - 1)[-1] else order


@lru_cache(maxsize=4096)
def place(seed: int, bar: int) -> Place:
    """The :class:`Place` of ``bar`` (≥ 0) in the song of ``seed``."""
    if bar < INTRO_BARS:
        return Place(Section.INTRO, 0, bar, INTRO_BARS, _cycle(seed, 0)[0], -1)
    cycle, offset = divmod(bar - INTRO_BARS, CYCLE_BARS)
    order = _cycle(seed, cycle)
    start = 0
    for position, section in enumerate(order):
        length = SECTION_BARS[section]
        if offset < start + length:
            following = order[position + 1] if position + 1 < len(order) else _cycle(seed, cycle + 1)[0]
            return Place(section, 1 + cycle * len(order) + position, offset - start, length, following, cycle)
        start += length
    raise AssertionError("a cycle's sections fill its bars")


def arrangement(where: Place, band: Band = Band.SYNTH) -> Arrangement:
    """The parts and level of the bar at ``where`` for ``band`` (lofi has a form of its own)."""
    section = where.section
    if band is Band.LOFI and section in LOFI_SECTIONS:
        return LOFI_SECTIONS[section]
    if section is Section.INTRO:
        return Arrangement(drums=True, bass=False, keys=True, lead=False, level_db=LEVEL_DB[section], light_drums=True, pad=True)
    if section is Section.BREAKDOWN:
        return Arrangement(drums=False, bass=True, keys=False, lead=True, level_db=LEVEL_DB[section], pad=True, tone=-0.3, two_feel=True)
    if section is Section.BUILD:
        rise = where.bar / max(where.bars - 1, 1)
        level = BUILD_DB[0] + (BUILD_DB[1] - BUILD_DB[0]) * rise
        return Arrangement(drums=True, bass=True, keys=band is not Band.LOFI, lead=False, level_db=level,
                           light_drums=True, build_roll=True, tone=BUILD_TONE[0] + (BUILD_TONE[1] - BUILD_TONE[0]) * rise)
    # A is the groove and the chords, the bass in half notes; B adds the melody and the bass line, on the ride;
    # the drop all of it over held chords, open hats. Jazz's piano comps high in A (the head), in its own register
    # in B, and its drop, the shout chorus, goes back to the hi-hat; a club track's A is filtered, its B open.
    jazz = band is Band.JAZZ
    return Arrangement(drums=True, bass=True, keys=True, lead=section is not Section.A, keys_octave=int(jazz and section is Section.A),
                       level_db=LEVEL_DB[section], pad=section is Section.DROP,
                       tone=DROP_TONE if section is Section.DROP else CLUB_TONE.get(section, 0.0) if band is Band.CLUB else 0.0,
                       open_hats=section is Section.DROP, ride=section is Section.B or (section is Section.DROP and not jazz),
                       two_feel=section is Section.A)


# Lofi's own sections: the record starts with muffled keys alone; the breakdown is the muffled keys
# and the melody over held chords, no beat; the build is the beat and the bass alone (no keys, see ``arrangement``);
# B brings the melody and held chords in on the ride; the drop brings everything back at once (keys, held chords, melody, open hats).
LOFI_SECTIONS = {
    Section.INTRO: Arrangement(drums=False, bass=False, keys=True, lead=False, level_db=LEVEL_DB[Section.INTRO], tone=-0.35),
    Section.BREAKDOWN: Arrangement(drums=False, bass=False, keys=True, lead=True, level_db=LEVEL_DB[Section.BREAKDOWN], pad=True,
                                   tone=-0.35),
    Section.B: Arrangement(drums=True, bass=True, keys=True, lead=True, level_db=LEVEL_DB[Section.B], pad=True, ride=True),
    Section.DROP: Arrangement(drums=True, bass=True, keys=True, lead=True, level_db=LEVEL_DB[Section.DROP], pad=True, tone=0.15,
                              open_hats=True),
}


def material(where: Place) -> tuple[int, int]:
    """Key of a section's material (progression, patterns, motifs): (its kind, epoch). Sections of
    one kind share it within an epoch of ``EPOCH_CYCLES`` cycles, so they come back recognisably."""
    return list(Section).index(where.section), max(where.cycle, 0) // EPOCH_CYCLES


def gain(level_db: float) -> float:
    """dB → linear gain."""
    return 10.0 ** (level_db / 20.0)
