"""The station's programme over time: the playlist schedule, and the state saved for a restart."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from riffcast.station.playlist import PlaylistEntry
from riffcast.station.state import StationState, save_state

log = logging.getLogger("riffcast.station")
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
        self._entry_started = time.monotonic() - elapsed_s

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._entry_started

    async def run(self, station) -> None:
        """Until cancelled: move on at each entry's end; save the state every few seconds."""
        while True:
            if self.playlist and self.elapsed_s >= self.playlist[self.index].duration_s:
                self.index = (self.index + 1) % len(self.playlist)
                self._entry_started = time.monotonic()
                entry = self.playlist[self.index]
                station.feed.steer(entry.target, entry.transition_chunks)
                log.info("playlist: target %d of %d", self.index + 1, len(self.playlist))
            self.save(station)
            left = self.playlist[self.index].duration_s - self.elapsed_s if self.playlist else SAVE_EVERY_S
            await asyncio.sleep(max(0.05, min(SAVE_EVERY_S, left)))

    def save(self, station) -> None:
        if self.state_path is None:
            return
        feed = station.feed
        state = StationState(self.configured, feed.heading_to, feed.transition_chunks, self.index, self.elapsed_s)
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
