"""The station's programme over time: the playlist schedule, and the state saved for a restart."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from riffcast.steering.playlist import PlaylistEntry
from riffcast.steering.state import StationState, save_state
from riffcast.steering.targets import Target
from riffcast.steering.walk import WalkPosition

log = logging.getLogger("riffcast.station")


class Course(Protocol):
    """What the programme steers (the station's feed)."""

    @property
    def walk_position(self) -> WalkPosition: ...

    def steer(self, target: Target, transition_chunks: int | None = None) -> Future[int]: ...
SAVE_EVERY_S = 5.0


class Programme:
    """Steer through ``playlist`` (from ``index``, ``elapsed_s`` into that entry), looping, and
    keep ``state_path`` up to date. ``playlist`` may be empty (prompts from the command line)."""

    def __init__(
        self, playlist: list[PlaylistEntry], *, configured: str, state_path: Path | None = None,
        index: int = 0, elapsed_s: float = 0.0,
    ) -> None:
        self.playlist = playlist
        self.configured = configured
        self.state_path = state_path
        self.index = index % len(playlist) if playlist else 0
        self.save_error: str | None = None  # why the last save failed; None once one succeeds
        self._elapsed_at_start_s = elapsed_s
        self._entry_started: float | None = None  # time.monotonic() when the entry began; None before playing

    @property
    def elapsed_s(self) -> float:
        """Seconds the current entry has played (its time stands still until the stream plays)."""
        if self._entry_started is None:
            return self._elapsed_at_start_s
        return time.monotonic() - self._entry_started

    async def run(self, course: Course, playing: asyncio.Event) -> None:
        """Until cancelled: once ``playing`` is set, move on at each entry's end; save the state
        every few seconds."""
        await playing.wait()
        self._entry_started = time.monotonic() - self._elapsed_at_start_s
        while True:
            if self.playlist and self.elapsed_s >= self.playlist[self.index].duration_s:
                self.index = (self.index + 1) % len(self.playlist)
                self._entry_started = time.monotonic()
                entry = self.playlist[self.index]
                course.steer(entry.target, entry.transition_chunks)
                log.info("playlist: target %d of %d", self.index + 1, len(self.playlist))
            self.save(course)
            left = self.playlist[self.index].duration_s - self.elapsed_s if self.playlist else SAVE_EVERY_S
            await asyncio.sleep(max(0.05, min(SAVE_EVERY_S, left)))

    def save(self, course: Course) -> None:
        if self.state_path is None:
            return
        state = StationState(self.configured, course.walk_position, self.index, self.elapsed_s)
        try:
            save_state(self.state_path, state)
        except OSError as error:  # the station plays on; only the restart story suffers
            if self.save_error is None:
                log.error("cannot save the state to %s: %s (retrying every %g s)", self.state_path, error, SAVE_EVERY_S)
            self.save_error = f"cannot save the state to {self.state_path}: {error.strerror or error}"
            return
        if self.save_error is not None:
            log.info("the state is saved to %s again", self.state_path)
            self.save_error = None

    def problem(self) -> str | None:
        """A health check: why the state is not being saved, or None."""
        return self.save_error
