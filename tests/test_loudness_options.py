"""``--loudness LUFS|off`` and ``--bandwidth HZ|off`` on decode, render and serve (in-process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast.audio_io import write_audio
from riffcast.cli import _parser, main
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import audio_to_mel, chunk_from_image, image_from_mel, open_image, save_png
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.loudness_options import bandwidth_from_args, level_from_args
from riffcast.pipeline.stitcher import Stitcher


def _args(*argv: str):
    return _parser().parse_known_args(list(argv))[0]


def test_defaults_per_command():
    decode = _args("decode", "x.png", "-o", "y.wav")
    assert level_from_args(decode) is None  # a converter: the image's own level
    assert bandwidth_from_args(decode) == BandwidthSettings(top_hz=16000.0)
    render = _args("render", "--prompt", "x", "-o", "y.wav")
    assert level_from_args(render).target_lufs == -16.0
    assert bandwidth_from_args(render).top_hz == 16000.0
    serve = _args("serve")
    assert level_from_args(serve).target_lufs == -16.0 and bandwidth_from_args(serve).top_hz == 16000.0


@pytest.mark.parametrize("command", [["decode", "x.png", "-o", "y.wav"], ["render", "--prompt", "x", "-o", "y.wav"], ["serve"]])
def test_off_and_numbers(command):
    args = _args(*command, "--loudness", "off", "--bandwidth", "OFF")
    assert level_from_args(args) is None and bandwidth_from_args(args) is None
    args = _args(*command, "--loudness", "-23", "--bandwidth", "12000")
    assert level_from_args(args).target_lufs == -23.0 and bandwidth_from_args(args).top_hz == 12000.0


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--loudness", "loud", "argument --loudness: a number of LUFS or off, got 'loud'"),
    ("--bandwidth", "wide", "argument --bandwidth: a number of Hz or off, got 'wide'"),
])
def test_a_value_that_is_no_number_names_the_option(capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_:
        main(["decode", "x.png", "-o", "y.wav", option, value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"riffcast decode: error: {message}"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--loudness", "3", "riffcast decode: error: --loudness: loudness target must be from -40 to -5 LUFS, got 3"),
    ("--bandwidth", "30000", "riffcast decode: error: --bandwidth: bandwidth must be from 11000 to 20000 Hz, got 30000"),
])
def test_a_value_out_of_range_is_one_line_naming_the_option(tmp_path, capsys, option, value, message):
    assert main(["decode", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.wav"), option, value]) == 1
    assert capsys.readouterr().err.strip() == message


def test_decode_loudness_off_is_the_stitcher_without_a_level_stage(tmp_path: Path):
    rng = np.random.default_rng(5)
    t = np.arange(int(0.4 * P.sample_rate)) / P.sample_rate
    audio = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    save_png(image_from_mel(audio_to_mel(audio, P), P), tmp_path / "a.png")
    assert main(["decode", str(tmp_path / "a.png"), "-o", str(tmp_path / "cli.wav"), "--iterations", "1"]) == 0
    stitcher = Stitcher(P, iterations=1, level=None, bandwidth=BandwidthSettings())
    chunk = chunk_from_image(open_image(tmp_path / "a.png"), P)
    samples = np.concatenate([stitcher.push(chunk).samples, stitcher.flush().samples])
    write_audio(tmp_path / "direct.wav", samples, P.sample_rate)
    cli, _ = soundfile.read(tmp_path / "cli.wav", dtype="int16")
    direct, _ = soundfile.read(tmp_path / "direct.wav", dtype="int16")
    assert np.array_equal(cli, direct)  # sample for sample


def test_render_summary_says_how_far_the_peaks_held_the_level_under_the_target():
    from riffcast.dsp.level import LevelStats
    from riffcast.pipeline.render import RenderSummary

    on_target = RenderSummary(2, 10.24, 1.0, 0, LevelStats(3.0, 0.2, 0.8, 2.1, 0.0))
    short = RenderSummary(2, 10.24, 1.0, 0, LevelStats(3.0, 0.2, 0.8, 2.1, 2.4))
    assert "under the target" not in on_target.describe()
    assert short.describe().endswith("; 2.4 LU under the target, where the peaks allow no more gain")
    assert "loudness" not in RenderSummary(2, 10.24, 1.0, 0, None).describe()
