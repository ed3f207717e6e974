"""riffcast as a user installs it: the sdists and wheels a release builds from this checkout
(``python -m build``: the wheel is built from the sdist, so the sdist must hold everything), installed
into a fresh virtual environment without torch; there ``riffcast serve`` plays the synth to a
listener (the installed ``riffcast-listen``) and serves every file of the browser player, and
``--generator riffusion`` says in one line which extra to install. A second fresh environment gets
the wheel with ``[riffusion]`` (torch pinned to the local CPU wheel, ``torch==2.13.0``: an unpinned
torch pulls gigabytes of CUDA) and paints the tiny-random model there.

About 40 s on the 2-core CI machine once pip's cache holds the dependencies (the first run
downloads them), and the ``[riffusion]`` environment about 85 s more (a 22 s install and a 63 s render
measured here on a shared 2-core machine, the environment without torch taking 99 s beside it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import soundfile

from benchmarks.harness.endpoints import wait_playing

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "clients" / "web"
PORT_LINE = re.compile(r" on http://127\.0\.0\.1:(\d+)/")
RIFFUSION = ("torch", "diffusers", "transformers", "accelerate")
NOT_IN_THE_BASE = (*RIFFUSION, "huggingface_hub", "scipy", "av")  # the hub comes with [riffusion]; scipy and av are for the tests
TORCH = "torch==2.13.0"  # the local CPU wheel CI installs (.ci/run)
SDIST_HOLDS = ("LICENSE", "README.md", ".ci/run", "docs/protocol.md", "tests/conftest.py",
               "benchmarks/harness/station.py", "clients/python/riffcast_client/stream.py", "clients/web/player.js")


# Without PYTHONPATH: a checkout on it (and the egg-info a build leaves beside its sources) would count
# as installed, for pip and for the installed commands alike.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("RIFFCAST_CONTROL_TOKEN", "PYTHONPATH")}


def run(*command: str | Path, timeout_s: float = 300, **options) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout_s, **options)
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdists and wheels of both distributions, built as a release builds them."""
    out = tmp_path_factory.mktemp("dist")
    for project in (ROOT / "clients" / "python", ROOT):
        run(sys.executable, "-m", "build", "--outdir", out, project)
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory, dist: Path) -> Path:
    """A fresh virtual environment with the two wheels and their dependencies: no torch."""
    folder = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    run(sys.executable, "-m", "pip", "--python", folder / "bin" / "python", "install", "--quiet",
        *sorted(dist.glob("*.whl")), env=CLEAN_ENV)
    return folder


@pytest.fixture(scope="module")
def riffusion_venv(tmp_path_factory, dist: Path) -> Path:
    """A fresh virtual environment with the wheels and the ``riffusion`` extra. ``--no-compile``: byte-compiling
    all of torch, transformers and diffusers took most of the install (128 s here with it, 22 s
    without); the test imports a fraction of them, compiled as it goes."""
    folder = tmp_path_factory.mktemp("venv-riffusion")
    (wheel,) = dist.glob("riffcast-*.whl")
    (client,) = dist.glob("riffcast_client-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    run(sys.executable, "-m", "pip", "--python", folder / "bin" / "python", "install", "--quiet", "--no-compile", TORCH,
        f"{wheel}[riffusion]", client, timeout_s=900, env=CLEAN_ENV)
    return folder


def test_the_sdist_holds_the_tests_the_docs_and_the_client(dist: Path):
    (sdist,) = dist.glob("riffcast-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert set(SDIST_HOLDS) <= names, sorted(set(SDIST_HOLDS) - names)
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".nbi", ".nbc"))]


def test_the_wheels_install_without_torch_the_hub_or_scipy(venv: Path, dist: Path):
    code = "import importlib.util as u; print([m for m in %r if u.find_spec(m)])" % (NOT_IN_THE_BASE,)
    assert run(venv / "bin" / "python", "-c", code).stdout.strip() == "[]"
    (wheel,) = dist.glob("riffcast-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "riffcast-0.1.0.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if "/tests/" in name], "the player's tests went into the wheel"


def test_without_the_riffusion_extra_riffusion_is_one_line_naming_it(venv: Path, tmp_path: Path):
    result = subprocess.run([venv / "bin" / "riffcast", "serve", "--generator", "riffusion", "--port", "0"],
                            cwd=tmp_path, env=CLEAN_ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "pip install 'riffcast[riffusion]'" in result.stderr and "Traceback" not in result.stderr


def test_the_installed_station_plays_to_a_listener_and_serves_the_player(venv: Path, tmp_path: Path):
    env = CLEAN_ENV
    station = subprocess.Popen([venv / "bin" / "riffcast", "serve", "--generator", "synth", "--port", "0"], cwd=tmp_path,
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    log: list[str] = []
    try:
        port = _bound_port(station)
        # the rest of its log, read so that it never blocks on a full pipe
        threading.Thread(target=lambda: log.extend(station.stderr or ()), daemon=True).start()
        http = f"http://127.0.0.1:{port}"
        assert wait_playing(http, 120, lambda: station.poll() is None), "the installed station never played"
        heard = tmp_path / "heard.wav"
        run(venv / "bin" / "riffcast-listen", f"ws://127.0.0.1:{port}/stream", "--no-play", "--quiet",
            "--duration", "2", "--record", heard, cwd=tmp_path, env=env, timeout_s=60)
        audio, rate = soundfile.read(heard, dtype="float32")
        assert rate == 44100 and audio.shape[0] == 2 * rate and float(abs(audio).max()) > 0.01
        served = {path.name: _get(f"{http}/static/{path.name}") for path in sorted(WEB.iterdir())
                  if path.suffix in (".js", ".css") and path.is_file()}
        assert all(body == (WEB / name).read_bytes() for name, body in served.items()), "a player file differs"
        assert b'src="static/player.js"' in _get(f"{http}/")
        with urllib.request.urlopen(f"{http}/live.mp3", timeout=10) as response:  # the encoders without av
            assert response.read(4000).count(b"\xff\xfb") >= 3
    finally:
        station.send_signal(signal.SIGTERM)
        assert station.wait(20) == 0, "".join(log)


def test_with_the_riffusion_extra_the_tiny_random_model_paints(riffusion_venv: Path, tmp_path: Path):
    """The installed ``[riffusion]`` extra brings everything Riffusion needs: the tiny-random model,
    built in memory (no download: the Hub is off), paints 2 images that become audio."""
    env = CLEAN_ENV | {"HF_HUB_OFFLINE": "1"}
    result = run(riffusion_venv / "bin" / "riffcast", "render", "--generator", "riffusion", "--model", "tiny-random",
                 "--steps", "2", "--duration", "6", "--quiet", "--prompt", "jazz piano", "-o", "out.wav",
                 cwd=tmp_path, env=env, timeout_s=600)
    assert "generator: riffusion (tiny-random on cpu" in result.stderr, result.stderr
    audio, rate = soundfile.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 44100 and audio.shape[0] == 6 * rate and float(abs(audio).max()) > 0.01


def _bound_port(station: subprocess.Popen) -> int:
    """The port from the station's banner, read from its stderr as it starts."""
    deadline = time.monotonic() + 120
    assert station.stderr is not None
    for line in station.stderr:
        if match := PORT_LINE.search(line):
            return int(match.group(1))
        assert time.monotonic() < deadline, "no banner in 120 s"
    raise AssertionError(f"the installed station exited ({station.wait()}) before its banner")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()
