"""The repository's shape: folders are the imports, no import cycles, the client stands alone,
small modules. Checked from the source with ``ast`` (every import statement, top-level or
inside functions), so a newcomer's tools and this test see the same graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
CLIENT = ROOT / "clients" / "python"


def _modules(base: Path) -> dict[str, Path]:
    """Import name → file, for every .py under ``base`` (a folder that holds packages)."""
    found = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str) -> set[str]:
    """Absolute names of the modules ``path`` (module ``name``) imports, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*anchor, base]))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {name: {other for other in _imports(path, name) if other in modules and other != name}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_folders_are_the_import_names():
    import riffcast
    import riffcast_client

    assert Path(riffcast.__file__).resolve() == ENGINE / "riffcast" / "__init__.py"
    assert Path(riffcast_client.__file__).resolve() == CLIENT / "riffcast_client" / "__init__.py"
    assert set(p.name for p in ENGINE.iterdir() if not p.name.startswith(".")) == {"riffcast"}


def test_the_engine_has_no_import_cycle():
    modules = _modules(ENGINE)
    assert len(modules) > 40
    assert _cycles(_graph(modules)) == []


def test_a_cycle_would_be_found():  # the checker itself can fail
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_client_never_imports_the_engine():
    for name, path in _modules(CLIENT).items():
        engine_imports = {m for m in _imports(path, name) if m == "riffcast" or m.startswith("riffcast.")}
        assert not engine_imports, f"{path.relative_to(ROOT)} imports {sorted(engine_imports)}"


@pytest.mark.system
def test_the_client_starts_without_the_engine_or_its_heavy_dependencies():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "riffcast_client", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "riffcast/1" in result.stdout
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert not loaded & {"riffcast", "torch", "numba", "diffusers", "scipy", "transformers"}


def test_modules_are_small():
    limits = {ENGINE: 400, CLIENT: 400, ROOT / "clients" / "web": 400, ROOT / "benchmarks": 500}
    too_long = []
    for folder, limit in limits.items():
        for path in [*folder.rglob("*.py"), *folder.glob("*.js")]:
            lines = len(path.read_text().splitlines())
            if lines > limit:
                too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert too_long == []


# Which package may import which: the flow runs steering → generation → pipeline → delivery, with
# dsp below them all (it imports nothing of riffcast but itself and the stream's parameters), ops
# (health, metrics, limits, rate limits) beside them, and station — the clock, HTTP and sockets —
# on top, imported by nothing but the CLI.
NEVER_IMPORTS = {
    "riffcast.dsp": ("riffcast.steering", "riffcast.generation", "riffcast.pipeline", "riffcast.delivery",
                     "riffcast.station", "riffcast.ops"),
    "riffcast.steering": ("riffcast.station",),
    "riffcast.generation": ("riffcast.station", "riffcast.pipeline", "riffcast.delivery"),
    "riffcast.pipeline": ("riffcast.station", "riffcast.delivery"),
    "riffcast.delivery": ("riffcast.station",),
    "riffcast.ops": ("riffcast.station",),
    "riffcast.history": ("riffcast.station",),
}
MAY_IMPORT_STATION = {"riffcast.cli"}


def _back_edges(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs against the flow above, as "importer → imported"."""
    found = []
    for name, imported in sorted(graph.items()):
        for package, forbidden in NEVER_IMPORTS.items():
            if name == package or name.startswith(package + "."):
                found += [f"{name} → {other}" for other in sorted(imported)
                          if any(other == f or other.startswith(f + ".") for f in forbidden)]
        if not (name.startswith("riffcast.station") or name in MAY_IMPORT_STATION):
            found += [f"{name} → {other}" for other in sorted(imported) if other.startswith("riffcast.station")
                      and f"{name} → {other}" not in found]
    return found


def test_imports_follow_the_flow():
    assert _back_edges(_graph(_modules(ENGINE))) == []


def test_a_planted_back_edge_would_be_found():  # the checker itself can fail
    graph = _graph(_modules(ENGINE))
    graph["riffcast.dsp.stft"] = graph["riffcast.dsp.stft"] | {"riffcast.pipeline.ring"}
    graph["riffcast.delivery.hls"] = graph["riffcast.delivery.hls"] | {"riffcast.station.server"}
    graph["riffcast.generation.synth"] = graph["riffcast.generation.synth"] | {"riffcast.station.feed_x"}
    assert _back_edges(graph) == ["riffcast.delivery.hls → riffcast.station.server",
                                  "riffcast.dsp.stft → riffcast.pipeline.ring",
                                  "riffcast.generation.synth → riffcast.station.feed_x"]


@pytest.mark.system
def test_ruff_finds_nothing():
    """pyflakes (unused or undefined names) and import order, as configured in pyproject.toml."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "engine", "clients", "tests", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_lists_every_package_folder():
    """pyproject.toml names the wheel's packages one by one: a new folder left out installs
    without it (found by the packaging test only after a build)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"riffcast" + "".join(f".{part}" for part in init.parent.relative_to(ENGINE / "riffcast").parts)
               for init in (ENGINE / "riffcast").rglob("__init__.py")}
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
