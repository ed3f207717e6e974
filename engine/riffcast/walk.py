"""Where the stream goes next: transitions between targets, and seed walking. Pure logic.

The original Riffusion app walks ``alpha`` 0.25 → 1.0 in four chunks from one prompt to the
next, and when the prompt does not change it walks the seed (``seed`` → ``seed + 1``) so the
music keeps evolving. :class:`Walk` does both for any transition length; the producer asks
it for one ``(start, end, alpha)`` per chunk: :meth:`Walk.peek` to paint it, then
:meth:`Walk.advance` once it is painted.
"""

from __future__ import annotations

from dataclasses import dataclass

from riffcast.generation.types import Target


@dataclass(frozen=True)
class Step:
    """One chunk's place in the walk: paint ``alpha`` of the way from ``start`` to ``end``."""

    start: Target
    end: Target
    alpha: float
    new_settings: bool  # the first chunk of a transition (a "now playing" moment)


class Walk:
    """Transitions of ``transition_chunks`` chunks; alpha = k / n for k = 1 … n.

    A steer takes effect at the next chunk: the new transition starts from the target the
    current one was heading to. With no steer, a finished transition is followed by one to
    the same prompts with the next seed.
    """

    def __init__(self, target: Target, *, transition_chunks: int = 4) -> None:
        check_transition_chunks(transition_chunks)
        self._start = target
        self._end = target.with_seed(target.seed + 1)
        self._chunks = transition_chunks
        self._taken = 0
        self._fresh = True

    @property
    def heading_to(self) -> Target:
        return self._end

    @property
    def transition_chunks(self) -> int:
        return self._chunks

    def steer(self, target: Target, transition_chunks: int | None = None) -> None:
        """Head for ``target`` from the next chunk on, over ``transition_chunks`` chunks."""
        if transition_chunks is not None:
            check_transition_chunks(transition_chunks)
            self._chunks = transition_chunks
        self._start, self._end = self._end, target
        self._taken = 0
        self._fresh = True

    def peek(self) -> Step:
        """The next chunk's step, without taking it (a chunk may be interrupted and redone)."""
        if self._taken == self._chunks:  # arrived: keep evolving with the next seed
            return Step(self._end, self._end.with_seed(self._end.seed + 1), 1 / self._chunks, False)
        return Step(self._start, self._end, (self._taken + 1) / self._chunks, self._fresh)

    def advance(self) -> Step:
        """Take the next step (as :meth:`peek` shows it)."""
        step = self.peek()
        if self._taken == self._chunks:
            self._start, self._end, self._taken = step.start, step.end, 0
        self._taken += 1
        self._fresh = False
        return step


def check_transition_chunks(chunks: int) -> None:
    """Raise ValueError unless ``chunks`` is a usable transition length (1–64)."""
    if not isinstance(chunks, int) or not 1 <= chunks <= 64:
        raise ValueError(f"transition_chunks must be an integer from 1 to 64, got {chunks!r}")
