"""Shared fixtures: deterministic music and its Riffusion mel spectrogram. The repository root
goes on ``sys.path`` (as ``python -m pytest`` from it would put it), so that ``tests/station.py``
imports the benchmarks' launcher as ``benchmarks.harness.station`` under plain ``pytest`` too.
Seed beds are cached in a temporary folder of this test session (``RIFFCAST_CACHE_DIR``, which
the stations the tests start inherit), never in the user's cache.

Tiers: a test that starts another process (a station, a server, a browser, ffmpeg) is marked
``system``, a CI-sized benchmark run ``benchmark``; the rest run in-process
(``python -m pytest -m "not system and not benchmark"``). :func:`_processes_only_in_system_tests`
holds every unmarked test to that: starting a process there fails it."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from riffcast.dsp.codec import audio_to_mel
from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.demo_music import render_demo_song

if "RIFFCAST_CACHE_DIR" not in os.environ:
    os.environ["RIFFCAST_CACHE_DIR"] = tempfile.mkdtemp(prefix="riffcast-test-cache-")
    atexit.register(shutil.rmtree, os.environ["RIFFCAST_CACHE_DIR"], ignore_errors=True)

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def params():
    return RIFFUSION_V1


@pytest.fixture(scope="session")
def music() -> np.ndarray:
    """15.36 s of synthetic music (three full chunks), float32 mono at 44.1 kHz."""
    return render_demo_song(3 * 5.12, seed=3)


@pytest.fixture(scope="session")
def music_mel(music, params) -> np.ndarray:
    """Absolute mel magnitude of ``music``, cut to 3 × 512 columns."""
    return audio_to_mel(music, params)[:, : 3 * params.chunk_columns]


def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-xdist starts its workers: librosa's numba functions compiled into their
    on-disk cache once, here. librosa compiles its cached gufuncs at import and the rest at first
    call, writing beside its own source; in a fresh environment two processes doing that at once
    (a worker's test and the other worker's benchmark) can leave a cache entry that segfaults
    whoever loads it next (CI, 2026-12-07: conductor.py and musicality.py in librosa's pitch
    tracking)."""
    if getattr(config, "workerinput", None) is None and config.pluginmanager.hasplugin("xdist") \
            and config.getoption("numprocesses", None):
        _compile_librosa()


def _compile_librosa() -> None:
    """Every librosa function the tests and benchmarks call that numba compiles, called once."""
    import librosa

    rate = 22050
    audio = np.random.default_rng(0).standard_normal(2 * rate).astype(np.float32) * 0.1
    envelope = librosa.onset.onset_strength(y=audio, sr=rate)
    librosa.onset.onset_detect(onset_envelope=envelope, sr=rate)
    librosa.beat.beat_track(onset_envelope=envelope, sr=rate)
    librosa.estimate_tuning(y=audio, sr=rate)
    librosa.feature.chroma_cqt(y=audio, sr=rate)
    librosa.feature.mfcc(y=audio, sr=rate)
    librosa.effects.hpss(audio)
    librosa.istft(librosa.stft(audio))
    librosa.feature.zero_crossing_rate(audio)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (the README's ``-n 2 --dist loadgroup``) the two workers take the tests
    one by one, stations and servers beside the in-process tier and each other; the files of
    :data:`LAST_OF_THE_PROCESSES` are handed out last. (Every real-time test on one worker, one
    after another, as an ``xdist_group`` had them, took CI 17 min 16 s of its 15 — 2026-12-08,
    pytest 9.1; pytest 9.2 had already stopped xdist 3.8 from applying the group,
    pytest-xdist#1386, and the suite had passed without it since.)"""
    items.sort(key=lambda item: item.path.name in LAST_OF_THE_PROCESSES)  # stable: the rest keep their order


LAST_OF_THE_PROCESSES = frozenset({"test_browser.py"})
"""Test files that judge real-time playback in a browser sharing the machine's cores: handed out
last, when most of the suite has finished (on CI's two cores a Chromium audio thread starved by
numba and torch played 0.84 × real time)."""


@pytest.fixture(autouse=True)
def _processes_only_in_system_tests(request, monkeypatch):
    """Fail an in-process test (neither ``system`` nor ``benchmark``) that starts a process."""
    if request.node.get_closest_marker("system") or request.node.get_closest_marker("benchmark"):
        return
    def refuse(self, args, *more, **options):
        pytest.fail(f"{request.node.nodeid} starts a process ({str(args)[:80]}): mark it @pytest.mark.system")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
