"""Bandwidth extension (dsp/bandwidth.py): the band above 10 kHz, replicated and shaped from the image."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.dsp.bandwidth import BandwidthStage
from riffcast.dsp.bandwidth_model import (
    FEATURE_COUNT,
    FEATURE_EDGES_HZ,
    SOURCE_GROUP,
    band_centres_hz,
    feature_groups,
    features,
    fixed_slope_model,
    group_power,
    shipped_model,
)
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import MelImage, audio_to_mel
from riffcast.dsp.params import RIFFUSION_V1 as P
from riffcast.pipeline.stitcher import Stitcher

RATE = P.sample_rate


def _below_10k_noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * RATE)))
    spectrum[np.fft.rfftfreq(int(seconds * RATE), 1 / RATE) >= 9800] = 0
    return (0.1 * np.fft.irfft(spectrum, int(seconds * RATE))).astype(np.float32)


def _mel_of(columns: int, level: float = 1.0) -> np.ndarray:
    """An image's columns: a spectrum falling with frequency, as music's."""
    return np.repeat((level * np.linspace(1.0, 0.05, P.n_mels, dtype=np.float32))[:, None], columns, axis=1)


def _extend(stage: BandwidthStage, samples: np.ndarray, mel: np.ndarray, block: int = 4410) -> np.ndarray:
    stage.add_columns(mel)
    parts = [stage.process(samples[i : i + block]) for i in range(0, samples.size, block)]
    return np.concatenate(parts + [stage.flush()])


def _band_db(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(10 * np.log10(power[(hz >= low_hz) & (hz < high_hz)].mean() + 1e-30))


@pytest.mark.parametrize("top_hz", [16000.0, 13000.0])
def test_the_band_is_filled_up_to_the_top_and_not_beyond(top_hz):
    x = _below_10k_noise(2.0)
    out = _extend(BandwidthStage(P, BandwidthSettings(top_hz=top_hz)), x, _mel_of(201))
    assert out.size == x.size
    source = _band_db(out, 4000, 9500)
    assert _band_db(out, 10300, top_hz - 400) > source - 40.0  # filled
    assert _band_db(out, top_hz + 100, 22000) < source - 65.0  # nothing above
    assert _band_db(x, 10300, top_hz - 400) < source - 80.0  # (it was empty)
    below = np.fft.rfftfreq(x.size, 1 / RATE) < 9500
    assert np.allclose(np.fft.rfft(out)[below], np.fft.rfft(x)[below], atol=1e-2)  # below: unchanged


def test_silent_where_the_music_is_silent():
    stage = BandwidthStage(P)
    assert not np.any(_extend(stage, np.zeros(RATE, np.float32), np.zeros((P.n_mels, 101), np.float32)))
    # Sound in the samples but a silent image (as the phase stage's leakage): nothing is added.
    x = _below_10k_noise(1.0)
    assert np.allclose(_extend(BandwidthStage(P), x, np.zeros((P.n_mels, 101), np.float32)), x, atol=1e-6)


def test_block_sizes_and_runs_do_not_matter():
    x, mel = _below_10k_noise(1.5, seed=1), _mel_of(151)
    first = _extend(BandwidthStage(P), x, mel, block=441)
    assert np.allclose(first, _extend(BandwidthStage(P), x, mel, block=30000), atol=1e-6)
    assert np.array_equal(first, _extend(BandwidthStage(P), x, mel, block=441))  # deterministic


def test_features_do_not_depend_on_the_image_level():
    groups = feature_groups(P)
    rows, audible, _ = features(_mel_of(4), groups)
    louder, _, _ = features(_mel_of(4, level=300.0), groups)
    assert rows.shape == (4, FEATURE_COUNT) and audible.all()
    assert np.allclose(rows, louder, atol=1e-3)
    assert not features(np.zeros((P.n_mels, 2), np.float32), groups)[1].any()


def test_feature_groups_sum_the_bands_whose_centres_lie_in_each_group():
    mel = np.random.default_rng(3).random((P.n_mels, 7)).astype(np.float32)
    power = group_power(mel, feature_groups(P))
    centres = band_centres_hz(P)
    edges = [*zip(FEATURE_EDGES_HZ[:-1], FEATURE_EDGES_HZ[1:]), SOURCE_GROUP, (0.0, np.inf)]
    assert power.shape == (len(edges), 7)
    for row, (low, high) in zip(power, edges):
        bands = (centres >= low) & (centres < high)
        assert bands.any() and np.allclose(row, np.sum(mel[bands].astype(np.float64) ** 2, axis=0))


def test_the_shipped_model_predicts_a_high_band_under_its_source():
    model = shipped_model()
    assert len(model.trained_on) >= 10
    ratios = model.predict_db(features(_mel_of(1), feature_groups(P))[0])
    assert model.weights.shape == (FEATURE_COUNT, 10)
    assert np.all((ratios > -70.0) & (ratios < 6.0))
    assert fixed_slope_model(-10.0).bias[0] < 0


def test_the_high_band_is_continuous_across_a_join():
    x = _below_10k_noise(1.0, seed=2)
    # Two chunks of the same music meet at column 50; the stitcher inverts them one after the other.
    stitched = Stitcher(P, level=None, bandwidth=BandwidthSettings(), iterations=1)
    mel = audio_to_mel(x, P)
    blocks = [stitched.push(MelImage(mel[:, :50], 1.0)), stitched.push(MelImage(mel[:, 50:], 1.0)),
              stitched.flush()]
    out = np.concatenate([b.samples for b in blocks])
    assert out.size == mel.shape[1] * P.hop_samples
    hz = np.fft.rfftfreq(882, 1 / RATE)
    frames = np.lib.stride_tricks.sliding_window_view(out, 882)[::441] * np.hanning(882)
    high_db = 10 * np.log10((np.abs(np.fft.rfft(frames, axis=1)) ** 2)[:, (hz > 10500) & (hz < 15500)].mean(axis=1))
    join = 50 * P.hop_samples // 441
    steady = high_db[10:-10]
    assert np.ptp(steady) < 10.0  # noise: a few dB frame to frame, no hole or jump
    assert abs(high_db[join - 1 : join + 2].mean() - np.median(steady)) < 3.0


def test_off_is_the_stitcher_unchanged():
    x = _below_10k_noise(0.4, seed=3)
    chunk = MelImage(audio_to_mel(x, P), 1.0)
    plain = Stitcher(P, level=None, iterations=1)
    off = Stitcher(P, level=None, iterations=1, bandwidth=None)
    a = np.concatenate([plain.push(chunk).samples, plain.flush().samples])
    b = np.concatenate([off.push(chunk).samples, off.flush().samples])
    assert np.array_equal(a, b)
    assert not np.any(np.abs(np.fft.rfft(b))[np.fft.rfftfreq(b.size, 1 / RATE) > 10500] > 1e-3 * np.abs(np.fft.rfft(b)).max())
