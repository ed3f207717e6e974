"""``--loudness LUFS|off`` and ``--bandwidth HZ|off`` on decode, render and serve (in-process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from riffcast.audio_io import write_audio
from riffcast.cli import _parser, main
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import (
    MelImage,
    audio_to_mel,
    image_from_mel,
    mel_from_pixels,
    mel_image_from,
    open_image,
    save_png,
)
from riffcast.dsp.level_settings import LevelSettings
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


@pytest.mark.parametrize("options", [[], ["--loudness", "off"]], ids=["default", "loudness-off"])
def test_decode_loudness_off_is_the_stitcher_without_a_level_stage(tmp_path: Path, options):
    rng = np.random.default_rng(5)
    t = np.arange(int(0.4 * P.sample_rate)) / P.sample_rate
    audio = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]  # two images: a join
    for path, gain in zip(paths, (1.0, 0.3)):
        save_png(image_from_mel(audio_to_mel(gain * audio, P), P), path)
    out = tmp_path / "cli.wav"
    assert main(["decode", *map(str, paths), "-o", str(out), "--iterations", "1", *options]) == 0
    chunks = [mel_image_from(open_image(path), P) for path in paths]

    def stitched(level: LevelSettings | None) -> np.ndarray:
        stitcher = Stitcher(P, iterations=1, level=level, bandwidth=BandwidthSettings())
        samples = np.concatenate([stitcher.push(chunk).samples for chunk in chunks] + [stitcher.flush().samples])
        path = tmp_path / f"direct-{level is None}.wav"
        write_audio(path, samples, P.sample_rate)
        return soundfile.read(path, dtype="int16")[0]

    cli = soundfile.read(out, dtype="int16")[0]
    assert np.array_equal(cli, stitched(None))  # sample for sample
    assert not np.array_equal(cli, stitched(LevelSettings()))  # a level stage would show


def test_serve_loudness_off_plays_the_stitched_sound_unprocessed():
    """serve's options make its feed (as ``riffcast.station.main`` does); what it plays is the
    stitcher's output with no level stage, sample for sample."""
    from riffcast.pipeline.feed import Feed
    from riffcast.pipeline.producer import ImageProducer
    from riffcast.steering.targets import Target
    from riffcast.steering.walk import Walk

    from fakes import SEED_IMAGE, PatternGenerator
    from helpers import eventually

    args = _args("serve", "--loudness", "off")
    producer = ImageProducer(PatternGenerator(), Walk(Target.from_text("jazz")), SEED_IMAGE)
    feed = Feed(producer, P, lead_chunks=2, level=level_from_args(args), bandwidth=bandwidth_from_args(args))
    assert feed.assembly.stitcher.level_stats is None
    feed.start()
    try:
        assert eventually(lambda: len(feed.records()) >= 2 and feed.end >= P.chunk_columns * P.hop_samples, timeout_s=60)
        images = [record.image for record in feed.records()[:2]]
        played = feed.read(0, feed.end)
    finally:
        feed.stop()

    def stitched(level: LevelSettings | None) -> np.ndarray:
        stitcher = Stitcher(P, level=level, bandwidth=BandwidthSettings())
        return np.concatenate([stitcher.push(MelImage(mel_from_pixels(image, P), None)).samples
                               for image in images])

    expected = stitched(None)
    count = min(played.size, expected.size)
    assert count >= P.chunk_columns * P.hop_samples
    assert np.array_equal(played[:count], expected[:count])
    levelled = stitched(LevelSettings())  # what a level stage would have played instead
    assert not np.allclose(played[: levelled.size], levelled[: played.size], atol=1e-3)


def test_render_summary_says_how_far_the_peaks_held_the_level_under_the_target():
    from riffcast.dsp.level import LevelStats
    from riffcast.pipeline.render import RenderSummary

    on_target = RenderSummary(2, 10.24, 1.0, 0, LevelStats(3.0, 0.2, 0.8, 2.1, 0.0))
    short = RenderSummary(2, 10.24, 1.0, 0, LevelStats(3.0, 0.2, 0.8, 2.1, 2.4))
    assert "under the target" not in on_target.describe()
    assert short.describe().endswith("; 2.4 LU under the target, where the peaks allow no more gain")
    assert "loudness" not in RenderSummary(2, 10.24, 1.0, 0, None).describe()
