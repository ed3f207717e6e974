"""The numba kernels: same results interpreted as compiled, and a cache that survives
concurrent first runs and an unwritable cache location."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.system

# A small, fast configuration (window 64, hop 8) that exercises every kernel: RTPGHI, FGLA (with
# each bin's magnitude and with band sums kept), overlap-add, framing and the level stage. Prints the output as JSON.
_PROBE = """
import json, numpy as np
from riffcast.dsp.phase import PhaseStream
from riffcast.dsp.level import LevelSettings, LevelStage
rng = np.random.default_rng(0)
t = np.arange(40)[None, :]
magnitude = (np.abs(np.sin(0.3 * np.arange(33))[:, None] + 0.1 * t / 40) + 0.01 * rng.random((33, 40)))
stream = PhaseStream(window_samples=64, hop_samples=8, iterations=3, lookahead_frames=2)
audio = np.concatenate([stream.push(magnitude[:, :17]), stream.push(magnitude[:, 17:]), stream.flush()])
# The same frames on a zero-padded grid (128-point FFT), keeping 6 triangular bands.
from riffcast.dsp.mel import mel_filterbank
from riffcast.dsp.mel_projection import MelProjection
padded = np.repeat(magnitude, 2, axis=0)[:65]
filters = mel_filterbank(sample_rate=8000, n_fft=128, n_mels=6, f_min_hz=0.0, f_max_hz=3000.0)[:, :49]
banded = PhaseStream(window_samples=64, hop_samples=8, fft_samples=128, iterations=3, lookahead_frames=2,
                     active_bins=49, mel_projection=MelProjection.from_filterbank(filters))
audio = np.concatenate([audio, banded.push(padded[:, :17]), banded.push(padded[:, 17:]), banded.flush()])
level = LevelStage(8000, LevelSettings(lookahead_samples=4))
loud = np.tile(audio * 20.0, 20)  # 0.8 s: the AGC closes its first gating blocks
level.prime(loud[:4000])
levelled = np.concatenate([level.process(loud), level.flush()])
print(json.dumps({"audio": audio.tolist(), "levelled": levelled.tolist()}))
"""


def _probe(env_changes: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **env_changes}
    return subprocess.Popen([sys.executable, "-c", _PROBE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict[str, np.ndarray]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return {key: np.array(value) for key, value in json.loads(out).items()}


def test_interpreted_kernels_match_compiled(tmp_path):
    compiled = _result(_probe({"NUMBA_CACHE_DIR": str(tmp_path)}))
    interpreted = _result(_probe({"NUMBA_DISABLE_JIT": "1"}))
    assert compiled["audio"].size == 2 * 40 * 8
    assert np.abs(compiled["audio"]).max() > 0.01
    for key in compiled:
        np.testing.assert_allclose(interpreted[key], compiled[key], rtol=1e-4, atol=1e-5)


def test_two_first_runs_compile_into_one_cache_at_once(tmp_path):
    cache = tmp_path / "cache"
    first, second = _probe({"NUMBA_CACHE_DIR": str(cache)}), _probe({"NUMBA_CACHE_DIR": str(cache)})
    a, b = _result(first), _result(second)
    assert _differences(a, b) == {}, sorted(path.name for path in cache.rglob("*.nb*"))
    assert list(cache.rglob("*.nbi")), "the kernels were not cached"
    again = _result(_probe({"NUMBA_CACHE_DIR": str(cache)}))  # now loaded from the cache
    assert _differences(a, again) == {}


def _differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, str]:
    """Each output that differs: how many samples and by how much at most (a failure says so)."""
    found = {}
    for key in a:
        if a[key].shape != b[key].shape:
            found[key] = f"shapes {a[key].shape} and {b[key].shape}"
        elif not np.array_equal(a[key], b[key]):
            found[key] = (f"{int(np.count_nonzero(a[key] != b[key]))} of {a[key].size} samples differ, "
                          f"by up to {float(np.abs(a[key] - b[key]).max()):.3g}")
    return found


def test_unwritable_cache_location_falls_back(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("a file, so nothing can be created below it, even by root")
    result = _result(_probe({"NUMBA_CACHE_DIR": str(Path(not_a_dir, "cache"))}))
    assert np.abs(result["audio"]).max() > 0.01
