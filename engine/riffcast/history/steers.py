"""One way in's handle on the feed (control, OSC, the playlist): it steers as the feed does,
and each steer, once acknowledged, goes into the as-run log with where it came from."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from riffcast.history.as_run import Source
from riffcast.history.log_file import AsRunLog
from riffcast.pipeline.records import SteerHeard
from riffcast.steering.targets import Target
from riffcast.steering.walk import Landing, WalkPosition


class Steerable(Protocol):
    def steer(self, target: Target, transition_chunks: int | None = None,
              landing: Landing = Landing.BEAT) -> Future[SteerHeard]: ...

    def latest_target(self) -> Target: ...

    @property
    def walk_position(self) -> WalkPosition: ...


class LoggedSteering:
    """``feed``'s steering for the way in ``source`` (see the module docstring)."""

    def __init__(self, feed: Steerable, as_run: AsRunLog, source: Source) -> None:
        self.feed = feed
        self.as_run = as_run
        self.source = source

    def steer(self, target: Target, transition_chunks: int | None = None, steer_id: Any = None) -> Future[int]:
        """As :meth:`Feed.steer` (a playlist entry lands on a bar line, the others on a beat); the
        steer is logged with its ack position when it is known."""
        landing = Landing.BAR if self.source is Source.PLAYLIST else Landing.BEAT
        position: Future[int] = Future()
        position.set_running_or_notify_cancel()  # as the feed's: a caller that stops waiting changes nothing

        def logged(done: Future[SteerHeard]) -> None:
            heard = done.result()
            self.as_run.steered(source=self.source, steer_id=steer_id, target=target,
                                transition_chunks=transition_chunks, position=heard.position, image=heard.image)
            position.set_result(heard.position)

        self.feed.steer(target, transition_chunks, landing).add_done_callback(logged)
        return position

    def latest_target(self) -> Target:
        return self.feed.latest_target()

    @property
    def walk_position(self) -> WalkPosition:
        return self.feed.walk_position
