"""A peer from the project's own history: a detached git worktree of an earlier commit, so a
benchmark runs that version's station beside this checkout's in the same run."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def peer_checkout(commit: str) -> Iterator[dict[str, str]]:
    """A worktree of ``commit`` while the block runs → the environment (``PYTHONPATH``) that makes
    ``python -m riffcast`` run it. The worktree is removed afterwards."""
    tree = Path(tempfile.mkdtemp(prefix="riffcast-peer-")) / commit
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True)
    try:
        yield {"PYTHONPATH": f"{tree / 'engine'}:{tree / 'clients' / 'python'}"}
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
