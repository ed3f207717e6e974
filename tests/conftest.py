"""Shared fixtures: deterministic music and its Riffusion mel spectrogram. The repository root
goes on ``sys.path`` (as ``python -m pytest`` from it would put it), so that ``tests/station.py``
imports the benchmarks' launcher as ``benchmarks.harness.station`` under plain ``pytest`` too.
Seed beds are cached in a temporary folder of this test session (``RIFFCAST_CACHE_DIR``, which
the stations the tests start inherit), never in the user's cache."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from riffcast.codec import audio_to_mel
from riffcast.demo_music import render_demo_song
from riffcast.params import RIFFUSION_V1

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
