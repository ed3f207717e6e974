"""What ``pip install .`` leaves out (issue 23: the base install without torch in ≤ 400 MB): scipy
and av (PyAV), test references only, and huggingface_hub, Riffusion's (the ``riffusion`` extra). The
engine imports scipy and av nowhere and the hub only in Riffusion's own modules; a synth station's path (the synth, the
stitcher with the extension, the stems, the STFT) runs with both missing; without the hub,
Riffusion's commands say in one line which extra to install."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine" / "riffcast"
HUB_MODULES = {"generation/models.py", "generation/sources.py"}  # Riffusion's: the hub imported inside, when asked
# Imports of these fail, as on a machine without them (an import of a module set to None raises ImportError).
WITHOUT = "import sys; sys.modules.update(scipy=None, av=None, huggingface_hub=None)\n"


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_engine_never_imports_scipy_or_av_and_the_hub_only_in_riffusions_modules():
    for path in sorted(ENGINE.rglob("*.py")):
        name = path.relative_to(ENGINE).as_posix()
        imported = _imported_packages(path)
        assert "scipy" not in imported, f"{name} imports scipy (a test dependency only)"
        assert "av" not in imported, f"{name} imports av (PyAV: a test dependency only)"
        assert "huggingface_hub" not in imported or name in HUB_MODULES, f"{name} imports huggingface_hub"


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.system
def test_a_synth_station_s_path_runs_without_scipy_or_the_hub(tmp_path: Path):
    result = _python("""
        import json
        import numpy as np
        from riffcast.cli import main
        from riffcast.dsp.conductor.stems import Stem, separate
        assert main(["render", "--generator", "auto", "--duration", "3", "--quiet", "-o", "out.wav"]) == 0
        mel = np.random.default_rng(0).random((512, 64), dtype=np.float32)
        drumless = separate(mel, np.linspace(0.0, 10000.0, 512), Stem.OFF, Stem.ON)
        print(json.dumps([bool(np.all(drumless <= mel)), [m for m in ("scipy", "huggingface_hub") if sys.modules.get(m)]]))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == [True, []]
    assert "generator: synth" in result.stderr and (tmp_path / "out.wav").stat().st_size > 3 * 44100 * 2


@pytest.mark.system
def test_every_encoder_runs_without_av(tmp_path: Path):
    result = _python("""
        import numpy as np
        from riffcast.delivery.codecs import Codec
        from riffcast.delivery.encoders import encoder_for
        tone = (0.2 * np.sin(np.arange(44100) * 0.05)).astype(np.float32)
        print([len(encoder_for(codec).encode(0, tone)) > 0 for codec in Codec], "av" in sys.modules and sys.modules["av"])
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["[True,", "True,", "True]", "None"]


@pytest.mark.system
@pytest.mark.parametrize("command", [["download", "nobody/some-model"],
                                     ["serve", "--generator", "riffusion", "--model", "tiny-random", "--port", "0"]])
def test_without_the_hub_riffusions_commands_name_the_extra_in_one_line(tmp_path: Path, command: list[str]):
    result = _python(f"from riffcast.cli import main; sys.exit(main({command!r}))", tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr[-3000:]
    assert "huggingface_hub" in result.stderr and "pip install 'riffcast[riffusion]'" in result.stderr


def test_without_the_hub_a_cached_model_s_folder_is_enough_to_say_the_weights_are_here(tmp_path: Path, monkeypatch):
    import importlib.util

    from riffcast.generation import factory

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "huggingface_hub" else real_find_spec(name, *args))
    assert not factory.weights_present("someone/riffusion-copy")
    (tmp_path / "models--someone--riffusion-copy").mkdir()
    assert factory.weights_present("someone/riffusion-copy")
    generator, note = factory.make_generator(factory.GeneratorSettings(model="someone/riffusion-copy"))
    assert generator.name == "synth" and "someone/riffusion-copy is here but" in note and "huggingface_hub" in note
