"""Where the stream goes next: transitions between targets, and seed walking. Pure logic.

The original Riffusion app walks ``alpha`` 0.25 → 1.0 in four chunks from one prompt to the
next, and when the prompt does not change it walks the seed (``seed`` → ``seed + 1``) so the
music keeps evolving. :class:`Walk` does both for any transition length; the producer asks
it for one ``(start, end, alpha)`` per painted image: :meth:`Walk.peek` to paint it, then
:meth:`Walk.advance` once it is painted. Transitions are counted in chunks of audio (5.12 s)
whatever is painted at a time: in window mode (a quarter of a chunk per image, say) each
image takes a quarter step, so a transition lasts as long and alpha moves in finer steps.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from riffcast.steering.targets import Target, check_transition_chunks


class Landing(enum.Enum):
    """Where a transition's new settings take over, for a generator that keeps a beat grid: a
    live steer on the first beat it can, a playlist entry on the first bar line."""

    BEAT = "beat"
    BAR = "bar"


@dataclass(frozen=True)
class Step:
    """One chunk's place in the walk: paint ``alpha`` of the way from ``start`` to ``end``."""

    start: Target
    end: Target
    alpha: float
    new_settings: bool  # the first chunk of a transition (a "now playing" moment)


@dataclass(frozen=True)
class WalkPosition:
    """Everything a walk is: ``taken`` of ``transition_chunks`` chunks painted from ``start``
    towards ``end`` (a fraction after a part of a chunk, in window mode). Saved by ``--state``
    so that a restart carries on exactly here."""

    start: Target
    end: Target
    taken: float
    transition_chunks: int

    def __post_init__(self) -> None:
        check_transition_chunks(self.transition_chunks)
        if not isinstance(self.start, Target) or not isinstance(self.end, Target):
            raise ValueError("a walk goes from one target to another")
        if isinstance(self.taken, bool) or not isinstance(self.taken, (int, float)) \
                or not 0 <= self.taken <= self.transition_chunks:
            raise ValueError(f"taken must be from 0 to {self.transition_chunks}, got {self.taken}")


class Walk:
    """Transitions of ``transition_chunks`` chunks; alpha = k / n for k = 1 … n.

    A new walk starts at ``target`` and heads for its next seed. A steer takes effect at the
    next chunk: the new transition starts from the target the current one was heading to. With
    no steer, a finished transition is followed by one to the same prompts with the next seed.
    The position is one immutable value, replaced whole, so another thread can read
    :attr:`position` (and :attr:`heading_to`) while this one walks.
    """

    def __init__(self, target: Target, *, transition_chunks: int = 4, steps_per_chunk: int = 1) -> None:
        if steps_per_chunk < 1 or steps_per_chunk & (steps_per_chunk - 1):
            raise ValueError(f"steps per chunk must be a power of two, got {steps_per_chunk}")  # exact fractions
        self.position = WalkPosition(target, target.with_seed(target.seed + 1), 0, transition_chunks)
        self.step_chunks = 1.0 / steps_per_chunk
        self._fresh = True
        self.landing = Landing.BEAT  # the last steer's

    @classmethod
    def resume(cls, position: WalkPosition, *, steps_per_chunk: int = 1) -> Walk:
        """Carry on from a saved position (its next step starts a "now playing" moment)."""
        walk = cls(position.end, transition_chunks=position.transition_chunks, steps_per_chunk=steps_per_chunk)
        walk.position = position
        return walk

    def restore(self, position: WalkPosition, fresh: bool) -> None:
        """Go back to an earlier ``position`` (a steer replacing steps already taken)."""
        self.position, self._fresh = position, fresh

    @property
    def fresh(self) -> bool:
        """The next step starts a transition (a "now playing" moment)."""
        return self._fresh

    @property
    def heading_to(self) -> Target:
        return self.position.end

    @property
    def transition_chunks(self) -> int:
        return self.position.transition_chunks

    def steer(self, target: Target, transition_chunks: int | None = None, landing: Landing = Landing.BEAT) -> None:
        """Head for ``target`` from the next chunk on, over ``transition_chunks`` chunks, its
        settings taking over at ``landing``."""
        chunks = self.position.transition_chunks if transition_chunks is None else transition_chunks
        self.position = WalkPosition(self.position.end, target, 0, chunks)
        self._fresh = True
        self.landing = landing

    def peek(self) -> Step:
        """The next chunk's step, without taking it (a chunk may be interrupted and redone)."""
        at = self.position
        step = self.step_chunks
        if at.taken >= at.transition_chunks:  # arrived: keep evolving with the next seed
            return Step(at.end, at.end.with_seed(at.end.seed + 1), step / at.transition_chunks, self._fresh)
        return Step(at.start, at.end, min(1.0, (at.taken + step) / at.transition_chunks), self._fresh)

    def advance(self) -> Step:
        """Take the next step (as :meth:`peek` shows it)."""
        step = self.peek()
        at = self.position
        if at.taken >= at.transition_chunks:
            at = WalkPosition(step.start, step.end, 0, at.transition_chunks)
        self.position = replace(at, taken=min(at.transition_chunks, at.taken + self.step_chunks))
        self._fresh = False
        return step


def heard_prompts(step: Step) -> list[tuple[str, float]]:
    """The prompt blend heard in a chunk: start's prompts × (1 − alpha), end's × alpha, each
    target's weights normalised to 1; texts in both are merged."""
    weights: dict[str, float] = {}
    for target, share in ((step.start, 1.0 - step.alpha), (step.end, step.alpha)):
        total = sum(prompt.weight for prompt in target.prompts)
        for prompt in target.prompts:
            weights[prompt.text] = weights.get(prompt.text, 0.0) + share * prompt.weight / total
    return [(text, round(weight, 4)) for text, weight in weights.items() if weight > 1e-6]
