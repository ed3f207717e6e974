"""Allocator settings (riffcast.ops.memory): applied on glibc, harmless elsewhere, never over the environment's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from riffcast.ops import memory

ON_GLIBC = memory._glibc() is not None


def _run(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (allocator settings are process-wide)."""
    import os

    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.system
@pytest.mark.skipif(not ON_GLIBC, reason="glibc only")
def test_tune_allocator_applies_on_glibc():
    assert _run("from riffcast.ops.memory import tune_allocator; print(tune_allocator())") == "True"


@pytest.mark.system
@pytest.mark.skipif(not ON_GLIBC, reason="glibc only")
def test_tune_allocator_leaves_the_environments_settings():
    code = "from riffcast.ops.memory import tune_allocator; print(tune_allocator())"
    assert _run(code, MALLOC_MMAP_THRESHOLD_="262144") == "False"
    assert _run(code, GLIBC_TUNABLES="glibc.malloc.trim_threshold=262144") == "False"


@pytest.mark.system
@pytest.mark.skipif(not ON_GLIBC, reason="glibc only")
def test_large_temporaries_go_back_to_the_system_after_tuning():
    """A freed 8 MiB block (below glibc's dynamic threshold once a bigger one was freed) is
    unmapped at once after tune_allocator, so resident memory does not keep it."""
    code = """
import numpy as np
from riffcast.ops.memory import tune_allocator
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
if TUNE:
    tune_allocator()
big = np.ones(24 << 17); del big  # 24 MiB: mmapped, and (by default) raises the threshold when freed
keep = []
before = rss()
for _ in range(4):
    block = np.ones(1 << 20)  # 8 MiB
    keep.append(np.ones(16))  # a small live object above it
    del block
print((rss() - before) >> 20)
"""
    assert int(_run(code.replace("TUNE", "True"))) < 4


def test_functions_are_harmless_without_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    assert memory.tune_allocator() is False
    assert memory.release_free_memory() is False


@pytest.mark.skipif(not ON_GLIBC, reason="glibc only")
def test_release_free_memory_runs():
    assert memory.release_free_memory() in (True, False)
