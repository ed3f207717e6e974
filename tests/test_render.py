"""`riffcast render` end to end (synth and tiny-random), and choosing the generator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile
from scipy.signal import resample_poly

from riffcast.dsp.params import RIFFUSION_V1
from riffcast.generation.factory import GeneratorSettings, make_generator, weights_present
from riffcast.generation.seeds import DEFAULT_BED, load_seed
from riffcast.pipeline.assembly import StreamAssembly
from riffcast.pipeline.producer import ImageProducer
from riffcast.pipeline.render import playlist_steers, render
from riffcast.steering.playlist import PlaylistEntry
from riffcast.steering.targets import Target
from riffcast.steering.walk import Walk

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _riffcast(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "riffcast.cli", *args], cwd=cwd, env=OFFLINE, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "generator_args",
    [["--generator", "synth"], ["--generator", "riffusion", "--model", "tiny-random", "--steps", "4"]],
    ids=["synth", "tiny-random"],
)
@pytest.mark.system
def test_render_writes_the_duration_and_is_repeatable(tmp_path, generator_args):
    args = ["render", "--prompt", "lofi hip hop", "--prompt", "jazz piano", "--duration", "7.5", "--quiet", *generator_args]
    first = _riffcast(tmp_path, *args, "-o", "a.wav")
    assert first.returncode == 0, first.stderr
    assert "generator:" in first.stderr and "real time" in first.stdout
    second = _riffcast(tmp_path, *args, "-o", "b.wav")
    assert second.returncode == 0, second.stderr
    info = soundfile.info(str(tmp_path / "a.wav"))
    assert (info.samplerate, info.channels, info.frames) == (44100, 1, round(7.5 * 44100))
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    audio, _ = soundfile.read(str(tmp_path / "a.wav"))
    assert 0.01 < np.max(np.abs(audio)) <= 0.9


def test_auto_says_loudly_why_it_plays_the_synth():
    generator, note = make_generator(GeneratorSettings("auto", "tiny-random"))
    assert generator.name == "synth" and "NO GPU" in note


@pytest.mark.system
def test_auto_without_weights_starts_the_synth_without_importing_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from riffcast.generation.factory import GeneratorSettings, make_generator\n"
        "generator, note = make_generator(GeneratorSettings('auto', 'nobody/no-such-model'))\n"
        "assert generator.name == 'synth' and 'NOT on this machine' in note, note\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr


def test_weights_present_knows_what_needs_no_download(tmp_path):
    assert weights_present("tiny-random") and weights_present(str(tmp_path))
    assert not weights_present("nobody/no-such-model")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "--duration"),
        (["--seed-image", "no-such-bed"], "no-such-bed"),
        (["--generator", "riffusion", "--model", "./missing-model"], "missing-model"),
        (["--denoising", "1.5"], "denoising"),
        (["--transition-chunks", "0"], "transition_chunks"),
        (["--playlist", "programme.toml"], "not both"),
        (["--window-columns", "100", "--generator", "riffusion", "--model", "tiny-random"],
         "--window-columns/--crossfade-columns: window columns must be a multiple of 8 that divides 512, got 100"),
        (["--window-columns", "64", "--crossfade-columns", "0"], "window mode needs crossfade columns"),
        (["--loudness", "3"], "--loudness: loudness target must be from -40 to -5 LUFS, got 3"),
    ],
)
@pytest.mark.system
def test_bad_render_arguments_fail_before_anything_is_written(tmp_path, args, message):
    result = _riffcast(tmp_path, "render", "--prompt", "x", "-o", "out.wav", "--quiet", *args)
    assert result.returncode == 1
    assert result.stderr.startswith("riffcast render: error:") and message in result.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.system
def test_render_holds_the_loudness_asked_for_from_the_first_second(tmp_path):
    meter, short_term = pyloudnorm.Meter(44100), pyloudnorm.Meter(44100, block_size=3.0)
    for lufs in ("-16", "-23"):
        result = _riffcast(tmp_path, "render", "--prompt", "ambient drone", "--duration", "15", "--generator", "synth",
                           "--loudness", lufs, "--quiet", "-o", f"at{lufs}.wav")
        assert result.returncode == 0, result.stderr
        assert "limiter active" in result.stdout
        audio, _ = soundfile.read(str(tmp_path / f"at{lufs}.wav"))
        assert meter.integrated_loudness(audio) == pytest.approx(float(lufs), abs=1.0)
        assert short_term.integrated_loudness(audio[: 3 * 44100]) == pytest.approx(float(lufs), abs=1.5)
        assert 20 * np.log10(np.max(np.abs(resample_poly(audio, 4, 1)))) <= -1.0 + 0.05  # true peak


@pytest.mark.system
def test_render_follows_a_playlist_file(tmp_path):
    (tmp_path / "programme.toml").write_text(
        '[[target]]\nprompt = "house"\nduration_s = 5.12\n\n[[target]]\nprompt = "ambient"\nduration_s = 5.12\n'
    )
    args = ["render", "--playlist", "programme.toml", "--duration", "12", "--generator", "synth", "--quiet"]
    result = _riffcast(tmp_path, *args, "-o", "list.wav")
    assert result.returncode == 0, result.stderr
    single = _riffcast(tmp_path, "render", "--prompt", "house", "--duration", "12", "--generator", "synth",
                       "--quiet", "-o", "house.wav")
    assert single.returncode == 0, single.stderr
    playlist_audio, _ = soundfile.read(str(tmp_path / "list.wav"))
    house_audio, _ = soundfile.read(str(tmp_path / "house.wav"))
    assert playlist_audio.size == house_audio.size == 12 * 44100
    # The first entry plays alone; the second takes over from the first window after 5.12 s,
    # crossfaded over the 0.16 s before it; the phase stage refines the 0.1 s before that again.
    cut = round(4.8 * 44100)
    assert np.array_equal(playlist_audio[:cut], house_audio[:cut])
    assert not np.allclose(playlist_audio[-cut:], house_audio[-cut:])


@pytest.mark.system
def test_seeds_lists_the_beds(tmp_path):
    result = _riffcast(tmp_path, "seeds")
    assert result.returncode == 0 and DEFAULT_BED in result.stdout


@pytest.mark.system
def test_a_reader_that_leaves_early_gets_no_error_message(tmp_path):
    """`riffcast seeds | head -1`: the pipe closes before riffcast writes; no traceback, no error line."""
    process = subprocess.Popen([sys.executable, "-m", "riffcast.cli", "seeds"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # long before the interpreter has started and written anything
    _, stderr = process.communicate(timeout=120)
    assert stderr == "" and process.returncode == 1


@pytest.mark.system
def test_download_offline_says_there_is_no_network(tmp_path):
    result = _riffcast(tmp_path, "download", "riffusion/riffusion-model-v1")
    assert result.returncode == 1 and "no network" in result.stderr


def test_playlist_steers_follow_the_playlist_by_stream_time_and_loops():
    assembly = StreamAssembly(RIFFUSION_V1)
    chunk_s = RIFFUSION_V1.chunk_samples / RIFFUSION_V1.sample_rate
    a, b, c = (PlaylistEntry(Target.from_text(text), 3 * chunk_s, None) for text in "abc")
    assert playlist_steers([a, b, c], assembly, 9) == {3: b, 6: c}
    assert playlist_steers([a, b], assembly, 9) == {3: b, 6: a}  # looped back to the first entry
    assert playlist_steers([], assembly, 9) == {}
    long = PlaylistEntry(Target.from_text("a"), 100 * chunk_s, None)
    assert playlist_steers([long], assembly, 9) == {}


def test_render_steers_through_the_targets_in_order():
    from riffcast.generation.synth import SynthGenerator

    targets = [Target.from_text("house"), Target.from_text("ambient")]
    playlist = [PlaylistEntry(target, 2 * 5.12, None) for target in targets]
    producer = ImageProducer(SynthGenerator(), Walk(targets[0], transition_chunks=2), load_seed(DEFAULT_BED))
    seen = []
    samples, summary = render(producer, duration_s=4 * 5.12, params=RIFFUSION_V1, playlist=playlist,
                              on_chunk=seen.append)
    assert summary.chunks == 4 and samples.size == 4 * RIFFUSION_V1.chunk_samples
    assert [chunk.step.end.prompts[0].text for chunk in seen] == ["house", "house", "ambient", "ambient"]
    assert seen[2].step.new_settings
