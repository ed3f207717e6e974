"""The as-run log's earlier parts, read back when a station starts, so that ``/history`` answers
for earlier runs too (the files keep everything; memory keeps the newest lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from riffcast.history.segments import parse_time

TAIL_BYTES = 32 << 20  # of each part at most: about 100 000 image lines


def log_parts(path: Path) -> list[Path]:
    """``path`` and the parts written beside it (``as-run.1.jsonl``, ``as-run.2026-12-06T00-00-00Z.jsonl``),
    oldest first (by modification time)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return []
    parts = [entry for entry in folder.iterdir() if entry.is_file() and (
        entry.name == path.name or (entry.name.startswith(f"{path.stem}.") and entry.name.endswith(path.suffix)))]
    return sorted(parts, key=lambda part: part.stat().st_mtime)


def earlier_lines(path: Path, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` image and steer lines of the parts already beside ``path``, oldest
    first, each with ``utc_s`` (Unix seconds) as the log keeps them in memory; a line cut short
    (a crash) or not the log's is skipped."""
    found: list[dict[str, Any]] = []
    for part in reversed(log_parts(path)):
        size = part.stat().st_size
        with part.open("rb") as file:
            file.seek(max(0, size - TAIL_BYTES))
            data = file.read()
        texts = data.split(b"\n")[1 if size > TAIL_BYTES else 0:]
        lines = []
        for text in texts:
            try:
                line = json.loads(text)
                if line.get("type") in ("image", "steer"):
                    lines.append({**line, "utc_s": parse_time(line["utc"], "utc")})
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        found = lines[-(limit - len(found)):] + found if len(found) < limit else found
        if len(found) >= limit:
            break
    return found[-limit:] if limit else []
