"""Shared fixtures: deterministic music and its Riffusion mel spectrogram."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.codec import audio_to_mel
from riffcast.demo_music import render_demo_song
from riffcast.params import RIFFUSION_V1


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
