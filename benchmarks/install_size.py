"""What ``pip install ./clients/python .`` puts on disk, per distribution, and what each of
riffcast's dependencies costs (issue 23: the target is ≤ 400 MB without torch). Sizes in MiB, as ``du -h`` gives them;
the figure against the target in decimal MB, as the issue gives it: the distributions riffcast needs (what
``pip install`` adds), the venv's own pip and setuptools apart.

    python benchmarks/install_size.py                     # a fresh venv in a temporary folder
    python benchmarks/install_size.py --venv /tmp/size    # measure (or create) this venv, keep it
    python benchmarks/install_size.py --extra riffusion   # with an extra of riffcast

The venv is made with ``python -m venv`` and the two packages are installed from this checkout,
non-editable, as the README says. Each distribution's size is the disk usage (``du``: allocated
blocks) of the files its RECORD lists, ``__pycache__`` included; the venv's total is ``du`` of
the whole folder (the rest: pip, the interpreter's links, caches). "Saved if dropped" is what
leaving one of riffcast's direct dependencies out would remove: the distributions that only it
brings in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20  # du -h's unit
MB = 1_000_000  # the target's unit
TARGET_MB = 400  # issue 23: `pip install .` without torch

# Run by the venv's own interpreter: every distribution with its size and requirements.
_INVENTORY = r"""
import json, os, re
from importlib import metadata

def size(dist):
    total = 0
    for file in dist.files or []:
        try:
            total += os.stat(file.locate()).st_blocks * 512
        except OSError:
            pass
    return total

rows = []
for dist in metadata.distributions():
    requires = []
    for spec in dist.requires or []:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0)
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", spec)
        requires.append([name, extra.group(1) if extra else None])
    rows.append({"name": dist.metadata["Name"], "version": dist.version, "bytes": size(dist), "requires": requires})
print(json.dumps(rows))
"""


@dataclass(frozen=True)
class Dist:
    name: str  # normalised (PEP 503)
    version: str
    size_bytes: int
    requires: tuple[tuple[str, str | None], ...]  # (normalised name, extra or None)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def disk_usage_bytes(folder: Path) -> int:
    """``du -s`` in bytes: allocated blocks of every file, each hard link once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            stat = os.lstat(os.path.join(base, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def make_venv(venv: Path, extra: str | None) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f".[{extra}]" if extra else "."
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "./clients/python", target],
                   cwd=ROOT, check=True)


def inventory(venv: Path) -> dict[str, Dist]:
    python = str(venv / "bin" / "python")
    result = subprocess.run([python, "-c", _INVENTORY], capture_output=True, text=True, check=True)
    dists = {}
    for row in json.loads(result.stdout):
        requires = tuple((normalise(name), extra) for name, extra in row["requires"])
        dists[normalise(row["name"])] = Dist(normalise(row["name"]), row["version"], row["bytes"], requires)
    return dists


def closure(dists: dict[str, Dist], roots: list[tuple[str, set[str]]]) -> set[str]:
    """Installed distributions reachable from ``roots`` ((name, extras asked)), extras followed
    only where asked (``riffcast-client[play]`` from riffcast's own requirement)."""
    reached: set[str] = set()
    stack = list(roots)
    while stack:
        name, extras = stack.pop()
        if name not in dists or name in reached and not extras:
            continue
        reached.add(name)
        for required, extra in dists[name].requires:
            if extra is None or extra in extras:
                stack.append((required, {"play"} if required == "riffcast-client" else set()))
    return reached


def report(venv: Path, extra: str | None) -> str:
    dists = inventory(venv)
    roots = [("riffcast", {extra} if extra else set()), ("riffcast-client", set())]
    needed = closure(dists, roots)
    total = disk_usage_bytes(venv)
    direct = [(name, e) for name, e in dists["riffcast"].requires if e is None or e == extra]
    saved = {}
    for name, _ in direct:
        without = closure({**dists, "riffcast": Dist("riffcast", "", 0, tuple(r for r in dists["riffcast"].requires
                                                                              if r[0] != name))}, roots)
        saved[name] = sum(dists[d].size_bytes for d in needed - without)
    lines = [f"venv {venv}: {total / MIB:.0f} MiB in all (du), riffcast{f'[{extra}]' if extra else ''} from {ROOT}",
             "", "| distribution | version | MiB | share | saved if dropped from riffcast's requirements (MiB) |",
             "|---|---|---:|---:|---:|"]
    listed = 0
    for dist in sorted(dists.values(), key=lambda d: -d.size_bytes):
        listed += dist.size_bytes
        mark = "" if dist.name in needed else " (not needed by riffcast)"
        dropped = f"{saved[dist.name] / MIB:.1f}" if dist.name in saved else ""
        lines.append(f"| {dist.name}{mark} | {dist.version} | {dist.size_bytes / MIB:.1f} | "
                     f"{100 * dist.size_bytes / total:.1f} % | {dropped} |")
    rest = total - listed
    lines.append(f"| (in no RECORD: folders, the interpreter's links) | | {rest / MIB:.1f} | "
                 f"{100 * rest / total:.1f} % | |")
    added = sum(dists[name].size_bytes for name in needed)
    own = sum(dist.size_bytes for dist in dists.values() if dist.name not in needed)
    verdict = "met" if added <= TARGET_MB * MB else f"NOT met: {(added - TARGET_MB * MB) / MB:.0f} MB over"
    lines += ["", f"riffcast{f'[{extra}]' if extra else ''} and what it needs (what `pip install` adds): "
              f"{added / MB:.0f} MB ({added / MIB:.1f} MiB) against the target of ≤ {TARGET_MB} MB: {verdict}; "
              f"the venv in all {total / MB:.0f} MB, of it {own / MB:.0f} MB its own "
              f"({', '.join(sorted(d.name for d in dists.values() if d.name not in needed))}) and {rest / MB:.0f} MB in no RECORD"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, help="measure this venv (created and installed into if missing); kept")
    parser.add_argument("--extra", help="install riffcast with this extra, e.g. riffusion")
    args = parser.parse_args()
    if args.venv is not None:
        if not (args.venv / "bin" / "python").exists():
            make_venv(args.venv, args.extra)
        print(report(args.venv, args.extra))
        return
    with tempfile.TemporaryDirectory(prefix="riffcast-size-") as folder:
        venv = Path(folder) / "venv"
        make_venv(venv, args.extra)
        print(report(venv, args.extra))


if __name__ == "__main__":
    main()
