"""What a station resumes after a restart (``--state FILE.json``): its walk (where it came
from, where it heads, how far along) and place in the playlist. Written atomically every few
seconds and at exit: a new temporary file of a random name beside it (created exclusively, so a
planted link is never followed), synced, then renamed over it. Version 1 files (the target only)
still load, and so do files saved before the musical controls (``bpm``, ``key``,
``brightness``, ``drums``, ``bass``) existed: their targets get the controls' defaults. Anything that is not a valid state — unreadable, over :data:`MAX_STATE_BYTES`, nested
too deep, wrong types, out of range, not finite — is a :class:`StateError`.

A state is only resumed for the same configuration (``configured``: a fingerprint of the
prompts or playlist given on the command line); a changed configuration starts fresh.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from riffcast.steering.targets import Target, WeightedPrompt
from riffcast.steering.walk import WalkPosition

STATE_VERSION = 2
MAX_STATE_BYTES = 1 << 20  # a state is a few kB (two targets of at most 8 prompts of 1000 characters)
MAX_ELAPSED_S = 10 * 366 * 86_400.0  # an entry that has played longer than ten years is damage


class StateError(ValueError):
    """A state file that cannot be read back."""


@dataclass(frozen=True)
class StationState:
    configured: str
    walk: WalkPosition
    playlist_index: int = 0
    entry_elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.configured, str):
            raise ValueError("configured must be text")
        if not isinstance(self.walk, WalkPosition):
            raise ValueError("walk must be a walk position")
        if isinstance(self.playlist_index, bool) or not isinstance(self.playlist_index, int) or self.playlist_index < 0:
            raise ValueError(f"playlist_index must be an integer ≥ 0, got {self.playlist_index!r}")
        elapsed_s = self.entry_elapsed_s
        if (isinstance(elapsed_s, bool) or not isinstance(elapsed_s, (int, float)) or not math.isfinite(elapsed_s)
                or not 0 <= elapsed_s <= MAX_ELAPSED_S):
            raise ValueError(f"entry_elapsed_s must be seconds from 0 to {MAX_ELAPSED_S:g}, got {elapsed_s!r}")


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
    try:
        descriptor, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise OSError(f"{path.parent}: cannot write the state file there ({error.strerror or error})") from None


def walk_document(walk: WalkPosition) -> dict:
    """A walk position as JSON-ready fields (as ``--state`` and the as-run log's ``run`` line save it)."""
    document = asdict(walk)
    for end in ("start", "end"):  # a key is saved by its name ("A minor"), parts by theirs ("off")
        target: Target = getattr(walk, end)
        document[end].update(key=target.key_name, drums=target.drums.value, bass=target.bass.value)
    return document


def walk_from_document(fields: dict) -> WalkPosition:
    """:func:`walk_document`'s inverse (ValueError, TypeError or KeyError on a damaged one)."""
    fields = dict(fields)
    return WalkPosition(_target(fields.pop("start")), _target(fields.pop("end")), **fields)


def save_state(path: Path, state: StationState) -> None:
    """Replace ``path`` with ``state`` atomically (a crash leaves the old state or the new one)."""
    document = {**asdict(state), "walk": walk_document(state.walk)}
    data = json.dumps({"version": STATE_VERSION, **document}, indent=1).encode()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> StationState | None:
    """The saved state, None if there is none; StateError if the file is not a valid state."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateError(f"{path}: unreadable state: {error.strerror or error}") from None
    if len(data) > MAX_STATE_BYTES:
        raise StateError(f"{path}: damaged state: over {MAX_STATE_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise StateError(f"{path}: unreadable state: {type(error).__name__}: {str(error)[:120]}") from None
    if not isinstance(document, dict):
        raise StateError(f"{path}: damaged state: not a JSON object")
    try:
        version = document.pop("version")
        if version == 1:  # the target it headed to: resume as if it had arrived there
            target = _target(document.pop("target"))
            chunks = document.pop("transition_chunks")
            walk = WalkPosition(target, target, chunks, chunks)
        elif version == STATE_VERSION:
            walk = walk_from_document(document.pop("walk"))
        else:
            raise StateError(f"{path}: state from another riffcast version")
        return StationState(walk=walk, **document)
    except StateError:
        raise
    except Exception as error:  # noqa: BLE001 - any other shape or value: not a state
        raise StateError(f"{path}: damaged state: {type(error).__name__}: {str(error)[:120]}") from None


def set_aside(path: Path) -> Path:
    """Rename a damaged state file to ``NAME.damaged`` (or ``.damaged.1``, … : an earlier one is
    never replaced) → where it went."""
    aside = path.with_name(path.name + ".damaged")
    number = 0
    while os.path.lexists(aside):
        number += 1
        aside = path.with_name(f"{path.name}.damaged.{number}")
    os.rename(path, aside)
    return aside


def resume(path: Path, configured: str, say: Callable[[str], None]) -> StationState | None:
    """The state saved at ``path`` if it is for this configuration (``say`` tells the user, one
    line); None to start fresh — a file that is not a valid state is set aside first."""
    try:
        saved = load_state(path)
    except StateError as error:
        say(f"{error}; kept as {set_aside(path)}, starting fresh")
        return None
    if saved is None:
        return None
    if saved.configured != configured:
        say(f"{path} was saved for other prompts or another playlist: starting fresh")
        return None
    say(f"resuming from {path}: target {saved.playlist_index + 1}, {saved.entry_elapsed_s:.0f} s in, "
        f"seed {saved.walk.end.seed}")
    return saved


def _target(fields: dict) -> Target:
    fields = dict(fields)  # the caller's document stays as it was
    prompts = tuple(WeightedPrompt(p["text"], p["weight"]) for p in fields.pop("prompts"))
    return Target(prompts, **fields)
