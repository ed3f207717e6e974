"""The drums' share of each cell of a mel image, predicted by a small network from the cell's
neighbourhood.

Harmonic/percussive median filtering alone (:func:`riffcast.dsp.conductor.hpss.percussive_mask`)
calls every attack percussive, a piano's as much as a snare's. The model learns from music
rendered twice, with its drums and without (General MIDI pieces without channel 10, and the
synth's songs with ``drums off``), which share of each cell the drums are. Its features are
ratios, so they do not depend on the image's level:

- the cell against its harmonic and percussive medians (along time over 31 and 9 columns,
  along the bands over 31 and 9 rows), dB (every ratio clipped to ±40 dB);
- its rise from 1 and 3 columns before, its fall to 3 columns after, dB (onsets and decays);
- the cell against its column's loudest cell, dB;
- its band's place in the image (0 at the bottom, 1 at the top);
- the median filtering's own percussive share (:mod:`.hpss`).

The network is a multilayer perceptron (two hidden layers, ReLU, a sigmoid out) whose weights
``drum_model.json`` holds, fitted by ``benchmarks/drums_fit.py`` (which also names the pieces it
was trained on and those held out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riffcast.dsp.conductor.hpss import KERNEL, medians, percussive_mask

MODEL_PATH = Path(__file__).with_name("drum_model.json")
MEDIAN_WIDTHS = (KERNEL, 9)  # columns along time and rows along the bands (31: the median filtering's)
FLOOR = 1e-4  # the smallest value a ratio sees, relative to the image's loudest cell
AUDIBLE = 1e-3  # cells below this share of the image's loudest (−60 dB) get share 0, unevaluated
RATIO_LIMIT_DB = 40.0  # ratios are clipped to ± this: past it a cell is simply far above or below
STANDARD_LIMIT = 4.0  # standardised features are clipped to ± this many deviations of the training
# cells: a cell beyond what the network saw (a one-column click over silence) is read as the most
# extreme it did see, not extrapolated
FEATURE_NAMES = (  # in the order of :func:`features`' columns
    "harmonic_31_db", "percussive_31_db", "harmonic_9_db", "percussive_9_db",
    "rise_1_db", "rise_3_db", "fall_3_db", "column_db", "band_place", "hpss_share",
)


def _db(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.clip(20.0 * np.log10(numerator / denominator), -RATIO_LIMIT_DB, RATIO_LIMIT_DB)


def features(mel: np.ndarray) -> np.ndarray:
    """The features of every cell of ``mel`` (n_mels, columns) magnitude → (n_mels · columns,
    len(FEATURE_NAMES)) float32, cells in row-major order."""
    mel = np.asarray(mel, dtype=np.float32)
    floor = np.float32(FLOOR * max(float(mel.max(initial=0.0)), 1e-12))
    cell = mel + floor
    columns = []
    found = {width: medians(mel, width) for width in MEDIAN_WIDTHS}
    for harmonic, percussive in found.values():
        columns += [_db(harmonic + floor, cell), _db(percussive + floor, cell)]
    before_1 = np.concatenate([cell[:, :1], cell[:, :-1]], axis=1)
    before_3 = np.concatenate([np.repeat(cell[:, :1], 3, axis=1), cell[:, :-3]], axis=1)[:, : cell.shape[1]]
    after_3 = np.concatenate([cell[:, 3:], np.repeat(cell[:, -1:], 3, axis=1)], axis=1)[:, : cell.shape[1]]
    columns += [_db(cell, before_1), _db(cell, before_3), _db(after_3, cell), _db(cell, cell.max(axis=0, keepdims=True))]
    place = np.broadcast_to(np.linspace(0.0, 1.0, mel.shape[0], dtype=np.float32)[:, None], mel.shape)
    columns += [place, percussive_mask(mel, found[KERNEL])]
    return np.stack([c.reshape(-1) for c in columns], axis=1).astype(np.float32)


@dataclass(frozen=True)
class DrumModel:
    """Standardisation (mean, scale: (features,)) and the layers' weights ((in, out)) and biases."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def share(self, mel: np.ndarray) -> np.ndarray:
        """The drums' share of each cell of ``mel`` (n_mels, columns) → (n_mels, columns) float32
        in [0, 1] (0 for cells under :data:`AUDIBLE` of the loudest)."""
        mel = np.asarray(mel, dtype=np.float32)
        share = np.zeros(mel.size, np.float32)
        if mel.size == 0:
            return share.reshape(mel.shape)
        audible = np.flatnonzero(mel.reshape(-1) >= AUDIBLE * mel.max())
        share[audible] = self.share_of_rows(features(mel)[audible])
        return share.reshape(mel.shape)

    def share_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Feature rows (cells, features) → the drums' share of each cell, (cells,) float32."""
        hidden = self.standardised(rows)
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = hidden @ weight + bias
            if index < len(self.weights) - 1:
                np.maximum(hidden, 0.0, out=hidden)
        return (1.0 / (1.0 + np.exp(-hidden[:, 0]))).astype(np.float32)

    def standardised(self, rows: np.ndarray) -> np.ndarray:
        """Feature rows (cells, features) → standardised and clipped to ±:data:`STANDARD_LIMIT`."""
        return np.clip((rows - self.mean) / self.scale, -STANDARD_LIMIT, STANDARD_LIMIT)

    def to_json(self, **about: object) -> str:
        return json.dumps({
            "features": list(FEATURE_NAMES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "weights": [w.tolist() for w in self.weights], "biases": [b.tolist() for b in self.biases], **about,
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DrumModel:
        data = json.loads(text)
        if tuple(data["features"]) != FEATURE_NAMES:
            raise ValueError("drum model: its features are not this version's; refit it (benchmarks/drums_fit.py)")
        as_array = lambda values: np.asarray(values, dtype=np.float32)  # noqa: E731
        return cls(as_array(data["mean"]), as_array(data["scale"]),
                   tuple(as_array(w) for w in data["weights"]), tuple(as_array(b) for b in data["biases"]))


_loaded: DrumModel | None = None


def drum_model() -> DrumModel:
    """The model shipped beside this module (read once)."""
    global _loaded
    if _loaded is None:
        _loaded = DrumModel.from_json(MODEL_PATH.read_text())
    return _loaded
