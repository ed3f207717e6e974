"""Playlists: a TOML file of targets with durations, played in order and looped.

```toml
[[target]]
prompt = "lo-fi piano, rain"      # or prompts = [{ text = "…", weight = 1.0 }, …]
duration_s = 300
seed = 7                          # optional, as are the rest
denoising = 0.75
guidance = 7.0
transition_chunks = 4
bpm = 94                          # musical controls, optional too: bpm 40–240,
key = "A minor"                   # one of 24 keys, brightness −1…1,
brightness = -0.3                 # drums and bass "on" | "off" | "only"
drums = "off"

[[target]]                        # an entry with only musical controls keeps the prompts
bpm = 120
duration_s = 60
```
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from riffcast.steering.fields import steer_from_fields
from riffcast.steering.targets import Target

MAX_DURATION_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class PlaylistEntry:
    target: Target
    duration_s: float
    transition_chunks: int | None


def load_playlist(path: Path, defaults: Target) -> list[PlaylistEntry]:
    """Read and check a whole playlist; ValueError naming the file and entry otherwise."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the playlist: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a valid TOML playlist: {error}") from None
    unknown = set(document) - {"target"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {sorted(unknown)}; a playlist is a list of [[target]]")
    entries = document.get("target")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: a playlist needs at least one [[target]] table")
    return [_entry(path, number, table, defaults) for number, table in enumerate(entries, start=1)]


def _entry(path: Path, number: int, table: dict, defaults: Target) -> PlaylistEntry:
    where = f"{path}: target {number}"
    settings = dict(table)
    duration = settings.pop("duration_s", None)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValueError(f"{where}: duration_s (seconds, a number) is required")
    if not 5.0 <= duration <= MAX_DURATION_S:
        raise ValueError(f"{where}: duration_s must be from 5 to {MAX_DURATION_S:.0f} seconds, got {duration}")
    try:
        steer = steer_from_fields(settings, defaults)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return PlaylistEntry(steer.target, float(duration), steer.transition_chunks)
