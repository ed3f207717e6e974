"""Start-up: what a station does before its first audio, and the note before compiling.

The figures are in ``benchmarks/startup.py``; these tests hold what makes them: the mel
filterbank computed band by band (the same numbers, bit for bit), the mel inverse made beside
other work (the same matrix), the seed beds kept on disk (the same pixels), no huggingface_hub,
torch or scipy.signal imported where nothing needs them, and the compile note shown exactly
when numba's cache is cold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from riffcast.dsp.mel import MelInverter, hz_to_mel, mel_filterbank, mel_to_hz, riffusion_filterbank
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.generation import seeds
from riffcast.pipeline.stitcher import COMPILE_NOTE, Stitcher, kernels_cache_cold


def _dense_filterbank(*, sample_rate, n_fft, n_mels, f_min_hz, f_max_hz):
    """The filterbank as it was computed before: every bin of every band (the reference)."""
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_mels + 2))
    widths_hz = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths_hz[:-1, None]
    upper = ramps[2:] / widths_hz[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper))


def _run(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


# --------------------------------------------------------------------------- mel


@pytest.mark.parametrize("settings", [
    dict(sample_rate=44100, n_fft=17640, n_mels=512, f_min_hz=0.0, f_max_hz=10000.0),  # Riffusion
    dict(sample_rate=22050, n_fft=2048, n_mels=128, f_min_hz=30.0, f_max_hz=8000.0),
    dict(sample_rate=44100, n_fft=4410, n_mels=64, f_min_hz=100.0, f_max_hz=22050.0),  # up to Nyquist
])
def test_filterbank_band_by_band_is_the_dense_formula_bit_for_bit(settings):
    dense = _dense_filterbank(**settings)
    banded = mel_filterbank(**settings)
    assert banded.dtype == np.float64 and banded.tobytes() == dense.tobytes()
    assert mel_filterbank(**settings, dtype=np.float32).tobytes() == dense.astype(np.float32).tobytes()


def test_riffusion_filterbank_is_not_kept_and_the_inverse_is_the_same_matrix():
    first, second = riffusion_filterbank(P), riffusion_filterbank(P)
    assert first is not second  # no 36 MiB held for good
    inverter = MelInverter(P)
    assert inverter.active_bins == 1000
    # The matrix as it was made before, synchronously, from the dense filterbank.
    filters = _dense_filterbank(sample_rate=P.sample_rate, n_fft=P.n_fft, n_mels=P.n_mels, f_min_hz=P.f_min_hz,
                                f_max_hz=P.f_max_hz)
    fine = filters[:, : int(np.max(np.nonzero(filters.any(axis=0)))) + 1]
    gram = fine @ fine.T
    ridge = 1e-6 * np.trace(gram) / gram.shape[0]
    expected = np.ascontiguousarray((fine.T @ np.linalg.inv(gram + ridge * np.eye(gram.shape[0])))[::4][:1000],
                                    dtype=np.float32)
    assert inverter._inverse.tobytes() == expected.tobytes()
    mel = np.random.default_rng(1).random((P.n_mels, 9), dtype=np.float32)
    assert np.array_equal(inverter(mel)[:1000], np.maximum(expected @ mel, 0.0))


# --------------------------------------------------------------------------- seed beds on disk


def test_load_seed_keeps_the_bed_on_disk_and_reads_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv(seeds.CACHE_ENV, str(tmp_path))
    rendered = seeds.bed_image("trap-141")
    first = seeds.load_seed("trap-141")
    stored = list((tmp_path / "beds").glob("trap-141-*.npy"))
    assert len(stored) == 1 and np.array_equal(first, rendered)

    def no_rendering(*args):
        raise AssertionError("rendered although stored")

    monkeypatch.setattr(seeds, "_bed_image", no_rendering)
    again = seeds.load_seed("trap-141")
    assert np.array_equal(again, rendered) and again.flags.writeable

    stored[0].write_bytes(b"not an array")  # damaged: rendered again and stored afresh
    monkeypatch.undo()
    monkeypatch.setenv(seeds.CACHE_ENV, str(tmp_path))
    assert np.array_equal(seeds.load_seed("trap-141"), rendered)
    assert np.array_equal(np.load(stored[0]), rendered)


def test_a_bed_stored_by_other_code_is_never_read_and_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv(seeds.CACHE_ENV, str(tmp_path))
    seeds.load_seed("waltz-105")
    old = list((tmp_path / "beds").glob("waltz-105-*.npy"))
    np.save(old[0], np.zeros((512, 512), np.uint8))  # what other code would have made
    monkeypatch.setattr(seeds, "_code_key", lambda: "some other riffcast")
    assert np.array_equal(seeds.load_seed("waltz-105"), seeds.bed_image("waltz-105"))
    now = list((tmp_path / "beds").glob("waltz-105-*.npy"))
    assert len(now) == 1 and now != old


def test_no_bed_cache_when_it_is_turned_off_or_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setenv(seeds.CACHE_ENV, "")
    assert seeds.cache_dir() is None
    assert np.array_equal(seeds.load_seed("dnb-188"), seeds.bed_image("dnb-188"))
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would go")
    monkeypatch.setenv(seeds.CACHE_ENV, str(blocked))
    assert np.array_equal(seeds.load_seed("dnb-188"), seeds.bed_image("dnb-188"))
    with pytest.raises(ValueError, match="unknown seed bed"):
        seeds.load_seed("no-such-bed")


# --------------------------------------------------------------------------- what is imported


@pytest.mark.system
def test_auto_on_a_machine_without_weights_imports_neither_torch_nor_huggingface_hub(tmp_path):
    result = _run("""
        import json, sys
        from riffcast.generation.factory import GeneratorSettings, make_generator
        from riffcast.generation.seeds import load_seed
        generator, note = make_generator(GeneratorSettings())
        load_seed("boom-bap-94")
        print(json.dumps([generator.name, [m for m in ("torch", "diffusers", "huggingface_hub") if m in sys.modules]]))
    """, env={"HF_HUB_CACHE": str(tmp_path), "RIFFCAST_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["synth", []]


@pytest.mark.system
def test_the_hub_cache_folder_is_found_where_huggingface_hub_looks(tmp_path):
    code = """
        import json
        from huggingface_hub import constants
        from riffcast.generation.sources import hub_cache_dir
        print(json.dumps([str(hub_cache_dir()), constants.HF_HUB_CACHE]))
    """
    for env in ({}, {"HF_HOME": str(tmp_path / "home")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")},
                {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HOME": str(tmp_path / "home")}):
        clean = {name: "" for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")}
        result = _run(f"import os\nfor n in {list(clean)}:\n    os.environ.pop(n) if not os.environ.get(n) else None\n"
                      + textwrap.dedent(code), env={**clean, **env})
        assert result.returncode == 0, result.stderr
        ours, theirs = json.loads(result.stdout)
        assert ours == theirs, env


def test_invalid_model_ids_are_still_refused_by_huggingface_hub(tmp_path):
    from riffcast.generation.sources import cached_snapshot

    assert cached_snapshot("nobody/no-such-model", tmp_path) is None
    with pytest.raises(ValueError):
        cached_snapshot("not a/valid--id", tmp_path)


@pytest.mark.system
def test_seeds_and_the_stitcher_import_no_synth_voices_nor_scipy_signal():
    result = _run("""
        import json, sys
        import riffcast.generation.seeds, riffcast.pipeline.stitcher, riffcast.dsp.codec
        print(json.dumps([m for m in ("scipy.signal", "riffcast.generation.voices", "torch") if m in sys.modules]))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# --------------------------------------------------------------------------- the compile note


def test_warm_cache_is_reported_warm():
    Stitcher().push(__import__("riffcast.dsp.codec", fromlist=["MelImage"]).MelImage(
        np.ones((P.n_mels, 16), np.float32)))
    assert not kernels_cache_cold()


@pytest.mark.system
def test_a_first_run_says_it_compiles_once_and_starts_playing_only_when_it_keeps_up(tmp_path):
    """A station on a machine's first run (numba's cache empty: about 10 s of compiling on 2 cores)
    prints the compile note once and starts its clock only once the kernels are loaded, so it plays
    without an underrun; a second start, from the cache, says nothing of compiling."""
    from station import running_station

    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    with running_station(tmp_path, env=env) as cold:
        time.sleep(6.0)  # the first windows after the first chunk: where a first run used to fall behind
        health = cold.health()
    assert cold.log().count(COMPILE_NOTE) == 1, cold.log()
    assert health["underruns"] == 0 and health["starved_frames"] == 0, (health, cold.log())
    with running_station(tmp_path, env=env) as warm:
        pass
    assert COMPILE_NOTE not in warm.log(), warm.log()
