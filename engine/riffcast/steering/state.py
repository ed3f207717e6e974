"""What a station resumes after a restart (``--state FILE.json``): its walk (where it came
from, where it heads, how far along) and place in the playlist. Written atomically (temporary
file + rename) every few seconds and at exit. Version 1 files (the target only) still load.

A state is only resumed for the same configuration (``configured``: a fingerprint of the
prompts or playlist given on the command line); a changed configuration starts fresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from riffcast.steering.targets import Target, WeightedPrompt
from riffcast.steering.walk import WalkPosition

STATE_VERSION = 2


class StateError(ValueError):
    """A state file that cannot be read back."""


@dataclass(frozen=True)
class StationState:
    configured: str
    walk: WalkPosition
    playlist_index: int = 0
    entry_elapsed_s: float = 0.0


def check_state_path(path: Path) -> None:
    """Raise ValueError/OSError (one line) unless ``path`` can be the state file: a .json
    path, not a folder, in an existing folder where a file can be written."""
    if path.suffix.lower() != ".json":
        raise ValueError(f"{path}: --state needs a .json file")
    if path.is_dir():
        raise ValueError(f"{path}: --state is a folder; give a .json file")
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: no such folder for --state")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: --state is not a regular file")
    probe = _temporary(path)
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OSError(f"{path.parent}: cannot write the state file there ({error.strerror or error})") from None


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def save_state(path: Path, state: StationState) -> None:
    document = {"version": STATE_VERSION, **asdict(state)}
    temporary = _temporary(path)
    temporary.write_text(json.dumps(document, indent=1))
    os.replace(temporary, path)


def load_state(path: Path) -> StationState | None:
    """The saved state, None if there is none; StateError if the file is damaged."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise StateError(f"{path}: unreadable state: {error}") from None
    try:
        version = document.pop("version")
        if version == 1:  # the target it headed to: resume as if it had arrived there
            target = _target(document.pop("target"))
            chunks = document.pop("transition_chunks")
            walk = WalkPosition(target, target, chunks, chunks)
        elif version == STATE_VERSION:
            fields = document.pop("walk")
            walk = WalkPosition(_target(fields.pop("start")), _target(fields.pop("end")), **fields)
        else:
            raise StateError(f"{path}: state from another riffcast version")
        return StationState(walk=walk, **document)
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StateError(f"{path}: damaged state: {error!r}") from None


def _target(fields: dict) -> Target:
    prompts = tuple(WeightedPrompt(p["text"], p["weight"]) for p in fields.pop("prompts"))
    return Target(prompts, **fields)
