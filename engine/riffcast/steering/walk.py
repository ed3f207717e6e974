"""Where the stream goes next: transitions between targets, and seed walking. Pure logic.

The original Riffusion app walks ``alpha`` 0.25 → 1.0 in four chunks from one prompt to the
next, and when the prompt does not change it walks the seed (``seed`` → ``seed + 1``) so the
music keeps evolving. :class:`Walk` does both for any transition length; the producer asks
it for one ``(start, end, alpha)`` per chunk: :meth:`Walk.peek` to paint it, then
:meth:`Walk.advance` once it is painted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from riffcast.steering.targets import Target, check_transition_chunks


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
    towards ``end``. Saved by ``--state`` so that a restart carries on exactly here."""

    start: Target
    end: Target
    taken: int
    transition_chunks: int

    def __post_init__(self) -> None:
        check_transition_chunks(self.transition_chunks)
        if not 0 <= self.taken <= self.transition_chunks:
            raise ValueError(f"taken must be from 0 to {self.transition_chunks}, got {self.taken}")


class Walk:
    """Transitions of ``transition_chunks`` chunks; alpha = k / n for k = 1 … n.

    A new walk starts at ``target`` and heads for its next seed. A steer takes effect at the
    next chunk: the new transition starts from the target the current one was heading to. With
    no steer, a finished transition is followed by one to the same prompts with the next seed.
    The position is one immutable value, replaced whole, so another thread can read
    :attr:`position` (and :attr:`heading_to`) while this one walks.
    """

    def __init__(self, target: Target, *, transition_chunks: int = 4) -> None:
        self.position = WalkPosition(target, target.with_seed(target.seed + 1), 0, transition_chunks)
        self._fresh = True

    @classmethod
    def resume(cls, position: WalkPosition) -> Walk:
        """Carry on from a saved position (its next chunk starts a "now playing" moment)."""
        walk = cls.__new__(cls)
        walk.position = position
        walk._fresh = True
        return walk

    @property
    def heading_to(self) -> Target:
        return self.position.end

    @property
    def transition_chunks(self) -> int:
        return self.position.transition_chunks

    def steer(self, target: Target, transition_chunks: int | None = None) -> None:
        """Head for ``target`` from the next chunk on, over ``transition_chunks`` chunks."""
        chunks = self.position.transition_chunks if transition_chunks is None else transition_chunks
        self.position = WalkPosition(self.position.end, target, 0, chunks)
        self._fresh = True

    def peek(self) -> Step:
        """The next chunk's step, without taking it (a chunk may be interrupted and redone)."""
        at = self.position
        if at.taken == at.transition_chunks:  # arrived: keep evolving with the next seed
            return Step(at.end, at.end.with_seed(at.end.seed + 1), 1 / at.transition_chunks, self._fresh)
        return Step(at.start, at.end, (at.taken + 1) / at.transition_chunks, self._fresh)

    def advance(self) -> Step:
        """Take the next step (as :meth:`peek` shows it)."""
        step = self.peek()
        at = self.position
        if at.taken == at.transition_chunks:
            at = WalkPosition(step.start, step.end, 0, at.transition_chunks)
        self.position = replace(at, taken=at.taken + 1)
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
