"""Train the bandwidth extension's envelope model (``engine/riffcast/dsp/bandwidth_model.json``).

On real music from Debian's packages (``music_set.TRAINING_PIECES``: Wesnoth's orchestral
recordings and Planet Blupi's MIDI music through FluidR3; the pieces ``benchmarks/fullband.py``
measures on, ``music_set.PIECES``, are held out), each clip is encoded to Riffusion images
(8-bit pixels, as ``riffcast encode``) and read back; per image column, the features of
:mod:`riffcast.dsp.bandwidth_model` come from the image, and the targets — every 1 kHz band's
power above 10 kHz relative to its source band's, dB — from the original audio's STFT on the
extension's own grid (882-sample frames, one per column). Ridge regression on standardised
features; columns whose source band is silent, or more than 60 dB under the clip's loudest, are
left out. The fixed-slope peer's X dB/octave is fitted on the same columns.

Run: ``python benchmarks/bandwidth_train.py`` (about a minute on 2 cores once the clips exist;
``--out`` to write elsewhere). Prints the fit's error on the training and the held-out pieces.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from riffcast.dsp.bandwidth_model import (
    BAND_HZ,
    BANDS_LOW_HZ,
    MODEL_PATH,
    EnvelopeModel,
    feature_groups,
    features,
    fixed_slope_model,
    shift_hz,
)
from riffcast.dsp.codec import audio_to_mel, image_from_mel, mel_image_from, split_chunks
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS

from music_set import PIECES, TRAINING_PIECES, music_clips

RIDGE = 3.0  # on standardised features, per column of data ÷ 1000
FLOOR_DB = -60.0


def image_mel(audio: np.ndarray) -> np.ndarray:
    """Audio → the absolute mel of its Riffusion images, read back from 8-bit pixels."""
    parts = []
    for mel in split_chunks(audio_to_mel(audio, PARAMS), PARAMS):
        chunk = mel_image_from(image_from_mel(mel, PARAMS), PARAMS)
        parts.append(chunk.mel * np.float32(chunk.max_value))
    return np.concatenate(parts, axis=1)


def band_power(audio: np.ndarray, columns: int) -> np.ndarray:
    """Power spectrum (columns, bins) on the extension's grid: 882-sample √Hann frames centred
    on each column."""
    hop = PARAMS.hop_samples
    padded = np.concatenate([np.zeros(hop), audio.astype(np.float64), np.zeros(2 * hop)])
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop)[::hop][:columns]
    return np.abs(np.fft.rfft(frames * window, axis=1)) ** 2


def band_ratios_db(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(columns, bins) power → (targets (columns, bands) dB, source power (columns, bands))."""
    bin_hz = PARAMS.sample_rate / (2 * PARAMS.hop_samples)
    high, source = [], []
    for low in BANDS_LOW_HZ:
        lo, hi = int(round(low / bin_hz)), int(round((low + BAND_HZ) / bin_hz))
        shift = int(round(float(shift_hz(low)) / bin_hz))
        high.append(power[:, lo:hi].mean(axis=1))
        source.append(power[:, lo - shift : hi - shift].mean(axis=1))
    high, source = np.array(high).T, np.array(source).T
    return 10 * np.log10((high + 1e-20) / (source + 1e-20)), source


def dataset(clips) -> tuple[np.ndarray, np.ndarray, list[str]]:
    groups = feature_groups(PARAMS)
    rows, targets, names = [], [], []
    for clip in clips:
        audio = clip.samples()
        mel = image_mel(audio)
        x, audible, _ = features(mel, groups)
        ratio, source = band_ratios_db(band_power(audio, mel.shape[1]))
        loud = 10 * np.log10(source.sum(axis=1) + 1e-30)
        keep = audible & (loud > loud.max() + FLOOR_DB)
        rows.append(x[keep])
        targets.append(np.maximum(ratio[keep], FLOOR_DB))
        names.append(clip.piece.name)
    return np.concatenate(rows), np.concatenate(targets), names


def fit(x: np.ndarray, y: np.ndarray, names: list[str]) -> EnvelopeModel:
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    bias = y.mean(axis=0)
    gram = z.T @ z + RIDGE * x.shape[0] / 1000 * np.eye(z.shape[1])
    weights = np.linalg.solve(gram, z.T @ (y - bias))
    return EnvelopeModel(weights, bias, mean, scale, tuple(names))


def fit_slope(y: np.ndarray) -> float:
    """The fixed-slope peer's dB/octave: least squares over every band and column."""
    unit = fixed_slope_model(1.0).bias  # octaves between each band and its source
    return float((y @ unit).sum() / (y.shape[0] * (unit @ unit)))


def report(label: str, model: EnvelopeModel, x: np.ndarray, y: np.ndarray) -> None:
    error = np.abs(model.predict_db(x) - y)
    bands = " ".join(f"{v:4.1f}" for v in np.median(error, axis=0)[:6])
    print(f"| {label} | {x.shape[0]} | {np.median(error):.1f} | {bands} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"model file (default {MODEL_PATH})")
    args = parser.parse_args()
    train_x, train_y, names = dataset(music_clips(pieces=TRAINING_PIECES))
    test_x, test_y, held = dataset(music_clips(pieces=PIECES))
    model = fit(train_x, train_y, names)
    slope = fit_slope(train_y)
    peer = fixed_slope_model(slope)
    data = model.to_json() | {"peer_db_per_octave": round(slope, 4), "held_out": held}
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"trained on {len(names)} pieces ({', '.join(names)}); held out: {', '.join(held)}")
    print(f"fixed-slope peer: {slope:.2f} dB/octave\n")
    print("| model, columns of | columns | median abs error dB | per band 10–16 kHz |\n|---|---:|---:|---|")
    for label, m, x, y in (("ridge, training", model, train_x, train_y), ("ridge, held out", model, test_x, test_y),
                           ("fixed slope, training", peer, train_x, train_y), ("fixed slope, held out", peer, test_x, test_y)):
        report(label, m, x, y)
    print(f"\n→ {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
