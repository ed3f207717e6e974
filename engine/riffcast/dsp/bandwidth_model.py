"""The high band's envelope, predicted from a mel image: features, bands and the model.

The band above the image (10–20 kHz) is cut into ``BAND_HZ``-wide bands. Each is filled from a
source band of the same width inside the image (:func:`shift_hz`: 6 kHz lower up to 16 kHz,
12 kHz lower above), and what the model predicts per image column is, for each band, its
power relative to its source band's (dB, per Hz): the ratio that the replicated fine structure
is scaled by. A ratio is independent of the image's absolute level, so are the features:

- the power of ``FEATURE_EDGES_HZ``'s groups of mel bands, in dB relative to the 4–10 kHz
  group (the shape of the image's upper spectrum);
- the spectral slope, dB per octave, of those groups' powers from 1 to 10 kHz;
- the share of the whole column's power that is above 4 kHz (dB);
- the column's power relative to the stream's recent loudest (dB: a peak falling
  ``PEAK_FALL_DB_PER_COLUMN`` per column), so quiet passages, where a replicated band would be
  heard as hiss, can be told apart.

The model is ridge regression (``bandwidth_model.json``: weights, bias, the feature
standardisation, and the pieces it was trained on), fitted by ``benchmarks/bandwidth_train.py``
on real music. A fixed-slope model (:func:`fixed_slope_model`: every band X dB/octave under
its source, no features) is the peer the learned one is measured against.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riffcast.dsp.mel import hz_to_mel, mel_to_hz
from riffcast.dsp.params import SpectrogramParams

BAND_HZ = 1000.0
BANDS_LOW_HZ = np.arange(10000.0, 20000.0, BAND_HZ)  # lower edges of the predicted bands
FEATURE_EDGES_HZ = np.array([0.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0,
                             9000.0, 10000.0])
SOURCE_GROUP = (4000.0, 10000.0)  # the features' reference group
SLOPE_FROM_HZ = 1000.0
PEAK_FALL_DB_PER_COLUMN = 0.1  # 10 dB/s
QUIETEST_DB = -80.0
MODEL_PATH = Path(__file__).with_name("bandwidth_model.json")


def shift_hz(high_hz: np.ndarray | float) -> np.ndarray:
    """How far below a frequency of the high band its source lies (Hz): 6 kHz up to 16 kHz
    (10–16 kHz from 4–10 kHz), 12 kHz above (16–20 kHz from 4–8 kHz)."""
    return np.where(np.asarray(high_hz) < 16000.0, 6000.0, 12000.0)


def band_centres_hz(params: SpectrogramParams) -> np.ndarray:
    """Centre frequency (Hz) of each of the image's mel bands, (n_mels,)."""
    edges = mel_to_hz(np.linspace(hz_to_mel(params.f_min_hz), hz_to_mel(params.f_max_hz), params.n_mels + 2))
    return edges[1:-1]


@dataclass(frozen=True)
class FeatureGroups:
    """Which mel bands each feature group sums: band index ranges ``[low, high)`` (by centre),
    one per group of ``FEATURE_EDGES_HZ``, then the source group (``SOURCE_GROUP``), then all
    bands. The bands are sorted by frequency, so every group is one contiguous range."""

    lows: tuple[int, ...]
    highs: tuple[int, ...]


def feature_groups(params: SpectrogramParams) -> FeatureGroups:
    """The feature groups of ``params``' mel bands."""
    centres = band_centres_hz(params)
    edges = np.searchsorted(centres, FEATURE_EDGES_HZ).tolist()
    source = np.searchsorted(centres, SOURCE_GROUP).tolist()
    return FeatureGroups(tuple(edges[:-1]) + (source[0], 0), tuple(edges[1:]) + (source[1], centres.size))


def group_power(mel: np.ndarray, groups: FeatureGroups) -> np.ndarray:
    """Mel magnitude (n_mels, columns) → each group's summed power (groups + 2, columns), float64.

    Sums of contiguous slices, not a product with a 0/1 matrix: a matrix product goes to BLAS,
    whose threads, woken for every image, cost more than the sums on a machine that is busy."""
    square = np.square(mel, dtype=np.float64)
    return np.array([square[low:high].sum(axis=0) for low, high in zip(groups.lows, groups.highs)])


FEATURE_COUNT = FEATURE_EDGES_HZ.size - 1 + 3  # group shapes, slope, share above 4 kHz, level under the peak


def features(mel: np.ndarray, groups: FeatureGroups, peak_db: float = -np.inf) -> tuple[np.ndarray, np.ndarray, float]:
    """Mel magnitude (n_mels, columns) → (features (columns, FEATURE_COUNT) float64, audible
    (columns,) bool: columns whose 4–10 kHz part is not silence, the recent peak after them).

    ``groups``: :func:`feature_groups`; ``peak_db``: the recent peak (dB of a column's mel
    power) before these columns, as the previous call returned it (−inf at the start).
    Scale-free: the same columns at any level give the same features.
    """
    power = group_power(np.asarray(mel, dtype=np.float32), groups)  # (groups + 2, columns)
    total = power[-1]
    source = power[-2]
    floor = 1e-9 * total + 1e-30
    shape_db = 10.0 * np.log10((power[:-2] + floor) / (source + floor))
    centres = 0.5 * (FEATURE_EDGES_HZ[:-1] + FEATURE_EDGES_HZ[1:])
    octaves = np.log2(centres)
    use = centres >= SLOPE_FROM_HZ
    x = octaves[use] - octaves[use].mean()
    slope = (x @ shape_db[use]) / (x @ x)  # dB per octave
    share_db = 10.0 * np.log10((source + floor) / (total + floor))
    level_db = 10.0 * np.log10(total + 1e-30)
    fall = PEAK_FALL_DB_PER_COLUMN * np.arange(1, total.size + 1)
    peaks = np.maximum(np.maximum.accumulate(level_db + fall), peak_db) - fall  # peak_db was a column before
    under_db = np.maximum(level_db - np.maximum(peaks, level_db), QUIETEST_DB)
    rows = np.vstack([shape_db, slope[None, :], share_db[None, :], under_db[None, :]]).T
    return rows, source > 0.0, float(peaks[-1]) if peaks.size else peak_db


@dataclass(frozen=True)
class EnvelopeModel:
    """Ridge regression: features (columns, F) → ratios (columns, bands) in dB.

    ratio = ((features − mean) / scale) @ weights + bias; weights (F, bands).
    """

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    trained_on: tuple[str, ...] = ()

    def predict_db(self, feature_rows: np.ndarray) -> np.ndarray:
        """(columns, F) → (columns, bands) dB (einsum's own loop: too small a product for BLAS's threads)."""
        return np.einsum("cf,fb->cb", (feature_rows - self.mean) / self.scale, self.weights) + self.bias

    def to_json(self) -> dict:
        return {"bands_low_hz": BANDS_LOW_HZ.tolist(), "band_hz": BAND_HZ,
                "feature_edges_hz": FEATURE_EDGES_HZ.tolist(), "weights": self.weights.round(6).tolist(),
                "bias": self.bias.round(6).tolist(), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "trained_on": list(self.trained_on)}

    @classmethod
    def from_json(cls, data: dict) -> "EnvelopeModel":
        if data["bands_low_hz"] != BANDS_LOW_HZ.tolist() or data["feature_edges_hz"] != FEATURE_EDGES_HZ.tolist():
            raise ValueError("the bandwidth model was trained for other bands")
        return cls(np.array(data["weights"]), np.array(data["bias"]), np.array(data["mean"]),
                   np.array(data["scale"]), tuple(data.get("trained_on", ())))


def fixed_slope_model(db_per_octave: float) -> EnvelopeModel:
    """The peer: every band ``db_per_octave`` × (octaves between it and its source) relative
    to its source, whatever the image holds (``db_per_octave`` < 0: falling)."""
    centres = BANDS_LOW_HZ + BAND_HZ / 2
    bias = db_per_octave * np.log2(centres / (centres - shift_hz(centres)))
    return EnvelopeModel(np.zeros((FEATURE_COUNT, centres.size)), bias, np.zeros(FEATURE_COUNT),
                         np.ones(FEATURE_COUNT), ("fixed slope",))


_loaded: EnvelopeModel | None = None
FALLBACK_DB_PER_OCTAVE = -19.45  # the fixed-slope peer's fit on the training set (bandwidth_train.py)


def shipped_model() -> EnvelopeModel:
    """The model in the package (``bandwidth_model.json``), read once; if an installation lacks
    the file, the fixed-slope envelope, said once on stderr."""
    global _loaded
    if _loaded is None:
        try:
            _loaded = EnvelopeModel.from_json(json.loads(MODEL_PATH.read_text()))
        except FileNotFoundError:
            print(f"riffcast: {MODEL_PATH.name} is missing from this installation; the band above 10 kHz "
                  "gets a fixed-slope envelope", file=sys.stderr)
            _loaded = fixed_slope_model(FALLBACK_DB_PER_OCTAVE)
    return _loaded
