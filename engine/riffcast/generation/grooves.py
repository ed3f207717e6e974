"""Drums: the groove's patterns, played bar by bar as the form asks.

Per groove family a few pattern variants (one per 8-bar phrase); ghost hats, trap rolls and
brushed-snare comping as the density allows; accents on the beat; a fill at every section's
end (toms down the key's triad) and a short one at phrase ends; a crash on the first downbeat
of a section; the ride in B; a build's snare roll that doubles its rate into the drop; hits off the grid by the kit's
looseness (humanised timing, from the seed). Drums are tuned to the key's tonic.
"""

from __future__ import annotations

from riffcast.generation import kits
from riffcast.generation.form import Arrangement, Place, Section, material
from riffcast.generation.grid import Event, Salt, Voice, pick, rng, step_time, steps_per_bar
from riffcast.generation.harmony import pitch
from riffcast.generation.style import Band, DrumFamily, Style

RANDOM_DRAWS = 96  # uniforms drawn per bar for the drums, so density changes flip few hits
DRUM_SECONDS = {Voice.KICK: 0.35, Voice.SNARE: 0.25, Voice.HAT: 0.07, Voice.OPEN_HAT: 0.25, Voice.RIDE: 0.5, Voice.TOM: 0.3,
                Voice.CRASH: 1.6}
DRUM_TAKES = 4  # recorded takes per noise drum, cycled for variety
_EIGHTHS = tuple((s, 1.0 if s % 4 == 0 else 0.7) for s in range(0, 16, 2))
_SIXTEENTHS = tuple((s, 1.0 if s % 4 == 0 else 0.75 if s % 2 == 0 else 0.5) for s in range(16))
_FOUR = ((0, 1.0), (4, 1.0), (8, 1.0), (12, 1.0))
_BACKBEAT = ((4, 1.0), (12, 1.0))
Pattern = dict[Voice, tuple[tuple[float, float], ...]]
# Per family, variants of {voice: ((16th step, velocity), …)}; one variant per phrase.
DRUM_PATTERNS: dict[DrumFamily, tuple[Pattern, ...]] = {
    DrumFamily.NONE: ({},),
    DrumFamily.FOUR_FLOOR: (
        {Voice.KICK: _FOUR, Voice.SNARE: ((4, 0.7), (12, 0.7)), Voice.HAT: ((2, 1.0), (6, 1.0), (10, 1.0), (14, 1.0))},
        {Voice.KICK: _FOUR, Voice.SNARE: ((4, 0.7), (12, 0.7)), Voice.HAT: ((2, 1.0), (6, 1.0), (10, 1.0), (14, 1.0), (15, 0.5))},
    ),
    DrumFamily.BOOM_BAP: (
        {Voice.KICK: ((0, 1.0), (7, 0.6), (10, 0.9)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (3, 0.5), (8, 0.8), (10, 0.7)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.BREAKBEAT: (
        {Voice.KICK: ((0, 1.0), (10, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (6, 0.6), (10, 1.0)), Voice.SNARE: ((4, 1.0), (12, 1.0), (15, 0.4)), Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.ROCK: (
        {Voice.KICK: ((0, 1.0), (8, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (6, 0.7), (8, 1.0)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
        {Voice.KICK: ((0, 1.0), (8, 1.0), (10, 0.7)), Voice.SNARE: _BACKBEAT, Voice.HAT: _EIGHTHS},
    ),
    DrumFamily.TRAP: (
        {Voice.KICK: ((0, 1.0), (7, 0.8), (11, 0.7)), Voice.SNARE: ((8, 1.0),), Voice.HAT: _SIXTEENTHS},
        {Voice.KICK: ((0, 1.0), (3, 0.7), (10, 0.8)), Voice.SNARE: ((8, 1.0),), Voice.HAT: _SIXTEENTHS},
    ),
    DrumFamily.JAZZ: (
        {Voice.RIDE: ((0, 1.0), (4, 1.0), (6, 0.6), (8, 1.0), (12, 1.0), (14, 0.6)),
         Voice.HAT: ((4, 0.5), (12, 0.5)), Voice.KICK: ((0, 0.35), (8, 0.3))},
    ),
    DrumFamily.ONE_DROP: ({Voice.KICK: ((8, 1.0),), Voice.SNARE: ((8, 0.6),), Voice.HAT: _EIGHTHS},),
    DrumFamily.WALTZ: ({Voice.KICK: ((0, 1.0),), Voice.SNARE: ((4, 0.5), (8, 0.5)),
                        Voice.HAT: tuple((s, 0.8 if s % 4 == 0 else 0.5) for s in range(0, 12, 2))},),
}
_BACKBEAT_FAMILIES = (DrumFamily.FOUR_FLOOR, DrumFamily.BOOM_BAP, DrumFamily.BREAKBEAT, DrumFamily.ROCK)
GHOST_HAT_FAMILIES = frozenset({*_BACKBEAT_FAMILIES, DrumFamily.ONE_DROP})
OPEN_HAT_FAMILIES = frozenset({DrumFamily.FOUR_FLOOR, DrumFamily.ROCK, DrumFamily.BREAKBEAT, DrumFamily.BOOM_BAP})
GHOST_HAT_PROB, GHOST_HAT_VELOCITY = 0.6, 0.35  # × density
ROLL_PROB, ROLL_STEPS = 0.5, (6, 13, 14, 15)  # trap hat 32nd rolls, × density
PHRASE_FILL = ((13, 0.5), (14, 0.7), (15, 0.9))  # snare pickups into a new phrase
TOM_FILL_STEPS = (8, 10, 12, 14)  # a section's last half bar: toms down the triad, then the snare
HUMANIZE = 0.15  # velocities vary by up to this fraction
ACCENT = 1.15  # the downbeat's velocity, × (and the first downbeat of a section: a crash)
CYMBAL_LEVEL = (0.6, 0.8)  # hat and ride velocity × (first + second × brightness)
DROP_BOOST = 1.1  # drums in a drop play this much harder


def drum_seconds(style: Style, voice: Voice) -> float:
    """How long ``voice`` of the style's kit sounds, seconds."""
    sound = kits.KITS[style.kit]
    return sound.kick_s if voice is Voice.KICK else sound.snare_s if voice is Voice.SNARE else DRUM_SECONDS[voice]


def _pattern(style: Style, seed: int, where: Place, bar: int) -> Pattern:
    variants = DRUM_PATTERNS[style.drums]
    return variants[pick(seed, (*material(where), Salt.DRUM_VARIANT), len(variants))]


def _build_roll(where: Place, steps: int) -> list[tuple[Voice, float, float]]:
    """The build's snare: 8ths, then 16ths in its last two bars, growing louder (no change on its 4-bar line)."""
    spacing = 2 if where.bar < where.bars - 2 else 1
    rise = (where.bar + 1) / where.bars
    return [(Voice.SNARE, float(s), 0.35 + 0.6 * rise * (s + 1) / steps) for s in range(0, steps, spacing)]


def drum_events(style: Style, seed: int, bar: int, where: Place, parts: Arrangement) -> list[Event]:
    """The drums of ``bar`` at ``where`` in the form (none when the arrangement leaves them out)."""
    if style.drums is DrumFamily.NONE or not parts.drums:
        return []
    steps = steps_per_bar(style)
    u = rng(seed, (bar, Salt.DRUMS)).random(RANDOM_DRAWS)
    pattern = _pattern(style, seed, where, bar)
    hits = [(voice, float(step), vel) for voice, pattern_steps in pattern.items() for step, vel in pattern_steps]
    density = style.density + (0.2 if where.section is Section.DROP else 0.0)
    if parts.build_roll:
        hits = [hit for hit in hits if hit[0] is not Voice.SNARE] + _build_roll(where, steps)
    elif not parts.light_drums:
        if style.drums in GHOST_HAT_FAMILIES:
            taken = {step for voice, step, _ in hits if voice is Voice.HAT}
            hits += [(Voice.HAT, float(s), GHOST_HAT_VELOCITY) for s in range(steps)
                     if s not in taken and u[s] < GHOST_HAT_PROB * density]
        if style.drums is DrumFamily.TRAP:
            hits += [(Voice.HAT, s + 0.5, 0.5) for s in ROLL_STEPS if u[16 + s] < ROLL_PROB * density]
        if style.drums is DrumFamily.JAZZ:
            hits += [(Voice.SNARE, float(s), 0.3) for s in (2, 6, 10, 14) if u[16 + s] < 0.5 * density]
        if where.last_bar and where.next is not Section.BREAKDOWN and steps >= 16:
            hits = [hit for hit in hits if hit[1] < TOM_FILL_STEPS[0] or hit[0] is Voice.HAT]
            hits += [(Voice.TOM, float(s), 0.9) for s in TOM_FILL_STEPS[:-1]] + [(Voice.SNARE, 14.0, 1.0), (Voice.SNARE, 15.0, 0.8)]
        elif where.phrase_end and u[40] < density:
            hits += [(Voice.SNARE, float(s), vel) for s, vel in PHRASE_FILL]
    if style.band is Band.METAL and not parts.light_drums:  # double kick in 8ths, the beat accented
        hits = [hit for hit in hits if hit[0] is not Voice.KICK]
        hits += [(Voice.KICK, float(s), 0.6 if s % 4 == 0 else 0.4) for s in range(0, steps, 2)]
    if parts.open_hats and style.drums in OPEN_HAT_FAMILIES:
        hits = [(Voice.OPEN_HAT if voice is Voice.HAT and step % 4 == 2 else voice, step, vel) for voice, step, vel in hits]
    elif parts.ride and style.drums in OPEN_HAT_FAMILIES and style.band is not Band.JAZZ:  # hats to the ride (not a blues shuffle)
        hits = [(Voice.RIDE if voice is Voice.HAT else voice, step, vel) for voice, step, vel in hits]
    elif not parts.ride and style.drums is DrumFamily.JAZZ:  # … and jazz's ride to the hi-hat
        hits = [(Voice.HAT if voice is Voice.RIDE else voice, step, vel) for voice, step, vel in hits]
    if where.bar == 0 and where.section is not Section.INTRO:
        hits.append((Voice.CRASH, 0.0, 0.9))
    hits = [hit for hit in hits if hit[1] < steps]  # patterns are written for 4/4
    cymbal = CYMBAL_LEVEL[0] + CYMBAL_LEVEL[1] * style.brightness
    boost = DROP_BOOST if where.section is Section.DROP else 1.0
    sound = kits.KITS[style.kit]
    jitter = rng(seed, (bar, Salt.TIMING)).uniform(-1.0, 1.0, RANDOM_DRAWS)
    tonic = style.root
    toms = [pitch(tonic, style.mode, kits.TOM_LOW, degree) for degree in (4, 2, 0)]
    events = []
    for i, (voice, step, vel) in enumerate(hits):
        vel *= cymbal if voice in (Voice.HAT, Voice.OPEN_HAT, Voice.RIDE) else boost
        vel *= ACCENT if step == 0 and voice is not Voice.CRASH else 1.0
        if voice is Voice.KICK:
            tuning: tuple[int, ...] = (kits.tuned(tonic, kits.KICK_LOW),)
        elif voice is Voice.SNARE:
            tuning = (kits.tuned(tonic, kits.SNARE_LOW),)
        elif voice is Voice.TOM:
            tuning = (toms[TOM_FILL_STEPS.index(int(step)) % len(toms)],)
        else:
            tuning = ()
        offset = 0.0 if step == 0 else sound.looseness_s * jitter[i % RANDOM_DRAWS]  # downbeats stay on the line
        events.append(Event(max(0.0, step_time(style, step) + offset), voice, drum_seconds(style, voice),
                            vel * (1.0 - HUMANIZE * u[48 + i % 48]), tuning,
                            variant=(bar * steps + int(step) + i) % DRUM_TAKES, tone=style.brightness, kit=style.kit.value))
    return events
