"""``--link``: the station as an Ableton Link peer whose tempo and beat phase follow what is heard.

Link (https://ableton.github.io/link/) shares a tempo and a beat timeline between the apps of a
local network (DAWs, lighting desks, visuals, phones). The station joins the session through
``aalink`` (a maintained binding of Ableton's Link library, ``pip install 'riffcast[link]'``) and,
every clock tick, holds the session to the beat clock of the audio its listeners hear:
``--link-latency-ms`` after the clock emits it (a speaker's or a player's delay). It sets the
session's tempo when the music's tempo changes and forces the beat timeline back into phase when
it drifts more than ``MAX_DRIFT_S`` (a station is the master clock of its music; Link's
``forceBeatAtTime``). The quantum is the meter's beats per bar, so a Link bar is the music's bar.
"""

from __future__ import annotations

import logging
from typing import Sequence

from riffcast.pipeline.beat_clock import beat_count_at
from riffcast.pipeline.records import ImageRecord

log = logging.getLogger(__name__)

MAX_DRIFT_S = 0.002  # the session's beat may be this far from the music's before it is forced back
TEMPO_STEP_BPM = 0.001  # tempo changes smaller than this are not sent


def load_aalink():
    """The ``aalink`` module; ValueError (one line naming the extra) without it."""
    try:
        import aalink
    except ImportError:
        raise ValueError("--link needs Ableton Link's binding: pip install 'riffcast[link]' (aalink)") from None
    return aalink


class LinkFollower:
    """An Ableton Link peer held to the station's beat clock.

    follow(records, emitted_s): the clock has emitted ``emitted_s`` seconds of stream (the
    position it is at, in seconds); what is heard is ``latency_s`` behind.
    """

    def __init__(self, sample_rate: int, latency_s: float) -> None:
        """Join the session (inside the running event loop, which aalink schedules on)."""
        aalink = load_aalink()
        self.sample_rate = sample_rate
        self.latency_s = latency_s
        self._link = aalink.Link(120.0)
        self._link.enabled = True
        self.forced = 0  # times the session's beat was pulled back into phase

    @property
    def peers(self) -> int:
        """Other Link peers in the session."""
        return int(self._link.num_peers)

    def follow(self, records: Sequence[ImageRecord], emitted_s: float) -> None:
        heard = round((emitted_s - self.latency_s) * self.sample_rate)
        found = beat_count_at(records, heard, self.sample_rate) if heard >= 0 else None
        if found is None:
            return  # no beat known (yet, or under a fallback repeat): the session runs on as it was
        beats, grid = found
        link = self._link
        if link.quantum != grid.beats_per_bar:
            link.quantum = grid.beats_per_bar
        if abs(link.tempo - grid.bpm) >= TEMPO_STEP_BPM:
            link.tempo = grid.bpm
        drift_s = abs(link.beat - beats) * 60.0 / grid.bpm
        if drift_s > MAX_DRIFT_S:
            link.force_beat(beats)
            self.forced += 1

    def close(self) -> None:
        self._link.enabled = False
