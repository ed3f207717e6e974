"""Bandwidth extension: the band above Riffusion's 10 kHz, replicated from the band below and
shaped by an envelope predicted from the image (spectral band replication, as HE-AAC's SBR,
with the side information predicted instead of sent).

Streaming, in vectorised numpy, on the stitched signal before the level stage:

1. An STFT of the stitched signal: frames of ``2 × hop_samples`` (882 samples, 20 ms, 50 Hz
   bins) every ``hop_samples`` — one frame per image column, centred on it — with a square-root
   Hann window for analysis and for synthesis (their product, a Hann window, overlap-adds to 1).
2. The high band, bin by bin: bin ``k`` (10 kHz ≤ f ≤ ``top_hz``) takes bin ``k − s`` of the same
   frame, ``s`` bins being :func:`~riffcast.dsp.bandwidth_model.shift_hz` (6 or 12 kHz). Shifts
   are an even number of bins, so ``s × hop / frame`` is whole and the copied fine structure is
   one coherent frequency shift of the signal across frames (no phase to correct).
3. Scaled by the envelope: for each image column the model predicts every 1 kHz band's power
   relative to its source (dB); the ratios are smoothed across columns (a one-pole of
   ``smoothing_columns``, carried across pushes and joins), interpolated across frequency
   between band centres (columns more than 30 dB under the recent peak lose one more dB per dB
   below that: the hiss guard), faded in over 10.0–10.2 kHz and out over the last 300 Hz below
   ``top_hz`` — nothing above it. A column whose 4–10 kHz part is silent gets nothing.
4. Inverse FFT, synthesis window, overlap-add, added to the signal (delayed by as much).

Latency: up to ``2 × hop_samples`` (882 samples, 20 ms). Cost: one 882-point real FFT pair
per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riffcast.dsp.bandwidth_model import (
    BAND_HZ,
    BANDS_LOW_HZ,
    EnvelopeModel,
    feature_groups,
    features,
    shift_hz,
    shipped_model,
)
from riffcast.dsp.bandwidth_settings import IMAGE_TOP_HZ, BandwidthSettings
from riffcast.dsp.params import SpectrogramParams

FADE_IN_HZ = 200.0
FADE_OUT_HZ = 300.0
QUIET_FROM_DB = -30.0


@dataclass(frozen=True)
class HighBandPlan:
    """The high band on the extension's STFT grid (frame ``2 × hop``), h bins: where each comes
    from, its taper, and its dB as a linear blend of two neighbouring bands' dB by frequency
    (``(1 − blend) · band[lower] + blend · band[lower + 1]``)."""

    bins: np.ndarray  # (h,) int, target bins
    sources: np.ndarray  # (h,) int, source bins
    taper: np.ndarray  # (h,) float64 in [0, 1]
    lower: np.ndarray  # (h,) int, index of the band below
    blend: np.ndarray  # (h,) float64 in [0, 1]

    def bin_db(self, band_db: np.ndarray) -> np.ndarray:
        """Bands' dB (columns, bands) → every bin's (columns, h)."""
        return band_db[:, self.lower] * (1.0 - self.blend) + band_db[:, self.lower + 1] * self.blend


def high_band_plan(params: SpectrogramParams, top_hz: float) -> HighBandPlan:
    """The :class:`HighBandPlan` of the band from the image's top to ``top_hz``."""
    frame = 2 * params.hop_samples
    bin_hz = params.sample_rate / frame
    first = int(np.ceil(IMAGE_TOP_HZ / bin_hz))
    last = int(np.floor(top_hz / bin_hz))
    bins = np.arange(first, min(last, frame // 2) + 1)
    hz = bins * bin_hz
    shift_bins = np.round(shift_hz(hz) / bin_hz).astype(np.int64)
    if np.any(shift_bins * params.hop_samples % frame):
        raise ValueError("the band shifts must be whole numbers of cycles per hop")
    taper = np.clip((hz - IMAGE_TOP_HZ) / FADE_IN_HZ, 0.0, 1.0) * np.clip((top_hz - hz) / FADE_OUT_HZ, 0.0, 1.0)
    taper = np.sin(0.5 * np.pi * taper) ** 2
    centres = BANDS_LOW_HZ + BAND_HZ / 2
    lower = np.clip(np.searchsorted(centres, hz) - 1, 0, centres.size - 2)
    blend = np.clip((hz - centres[lower]) / (centres[lower + 1] - centres[lower]), 0.0, 1.0)
    return HighBandPlan(bins, bins - shift_bins, taper, lower, blend)


class BandwidthStage:
    """Stateful bandwidth extension over one stream (see the module docstring).

    Feed it the image columns (:meth:`add_columns`, absolute mel, in stream order) and the
    stitched samples (:meth:`process`); the columns must run ahead of the samples (the phase
    stage's look-ahead sees to that). It returns the samples that became final, from stream
    position 0 on; :meth:`flush` returns the rest, so the output is exactly as long as the input.
    """

    def __init__(self, params: SpectrogramParams, settings: BandwidthSettings | None = None,
                 model: EnvelopeModel | None = None) -> None:
        self.params = params
        self.settings = settings or BandwidthSettings()
        self.model = model or shipped_model()
        self.hop = params.hop_samples
        self.latency_samples = 2 * self.hop
        self._groups = feature_groups(params)
        self._plan = high_band_plan(params, self.settings.top_hz)
        self._window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * self.hop) / (2 * self.hop))).astype(np.float32)
        tau = self.settings.smoothing_columns
        self._smoothing = 1.0 if tau <= 0 else float(1.0 - np.exp(-1.0 / tau))
        self._peak_db = -np.inf  # the features' recent peak
        self._smoothed: np.ndarray | None = None  # the envelope's one-pole state (bands,) dB
        self._ratios = np.zeros((0, BANDS_LOW_HZ.size))  # (columns, bands) dB from _first_column on; NaN: silent
        self._first_column = 0
        self._input = np.zeros(self.hop, dtype=np.float32)  # samples from _input_start on (frame 0 starts a hop before 0)
        self._input_start = -self.hop
        self._next_frame = 0
        self._carry = np.zeros(self.hop, dtype=np.float32)  # the overlap-add's second half of the last frame
        self._received = 0  # samples given to process()

    def add_columns(self, mel: np.ndarray) -> None:
        """The next image columns, (n_mels, columns) absolute mel magnitude, in stream order."""
        rows, audible, self._peak_db = features(mel, self._groups, self._peak_db)
        predicted = np.minimum(self.model.predict_db(rows), self.settings.max_ratio_db)
        # Quiet passages: the phase stage's error is a larger share of the source band there, and
        # replicated it is hiss. Every dB a column lies more than QUIET_FROM_DB under the recent
        # peak takes one more dB off its high band.
        predicted += np.minimum(rows[:, -1:] - QUIET_FROM_DB, 0.0)
        smoothed = np.full_like(predicted, np.nan)  # NaN: a silent column
        state = self._smoothed
        for column in np.flatnonzero(audible):
            state = predicted[column] if state is None else state + self._smoothing * (predicted[column] - state)
            smoothed[column] = state
        self._smoothed = state
        self._ratios = np.concatenate([self._ratios, smoothed])

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Stitched samples (n,) → the samples that became final (float32), extended."""
        x = np.asarray(samples, dtype=np.float32)
        self._received += x.size
        self._input = np.concatenate([self._input, x])
        return self._run()

    def flush(self) -> np.ndarray:
        """End of stream: every sample still held back (the output then matches the input)."""
        end = self._received
        self._input = np.concatenate([self._input, np.zeros(2 * self.hop, dtype=np.float32)])
        out = self._run()
        emitted_before = max(0, (self._next_frame - 1) * self.hop) - out.size
        return out[: end - emitted_before]

    def _run(self) -> np.ndarray:
        hop = self.hop
        input_end = self._input_start + self._input.size
        last = (input_end // hop) - 1  # frame m needs samples up to (m + 1) · hop
        first = self._next_frame
        if last < first:
            return np.zeros(0, dtype=np.float32)
        count = last - first + 1
        offset = (first - 1) * hop - self._input_start
        frames = np.lib.stride_tricks.sliding_window_view(self._input[offset:], 2 * hop)[::hop][:count]
        spectra = np.fft.rfft(frames * self._window, axis=1)
        high = np.zeros_like(spectra)
        high[:, self._plan.bins] = spectra[:, self._plan.sources] * self._gains(first, count)
        synthesis = np.fft.irfft(high, n=2 * hop, axis=1) * self._window
        added = synthesis[:, :hop].copy()
        added[0] += self._carry
        added[1:] += synthesis[:-1, hop:]
        self._carry = synthesis[-1, hop:].copy()
        start = (first - 1) * hop  # the first sample completed now
        dry = self._input[offset : offset + count * hop]
        out = dry + added.reshape(-1)
        if start < 0:
            out = out[-start:]
        self._next_frame = last + 1
        keep_from = last * hop  # frame last + 1 starts here
        self._input = self._input[keep_from - self._input_start :]
        self._input_start = keep_from
        drop = min(len(self._ratios), max(0, last - self._first_column))
        self._ratios = self._ratios[drop:]
        self._first_column += drop
        return out

    def _gains(self, first: int, count: int) -> np.ndarray:
        """Linear gains (count, high bins) for frames first … first + count − 1 (a frame past
        the columns known takes the last one's)."""
        if not len(self._ratios):
            return np.zeros((count, self._plan.bins.size), dtype=np.float32)
        index = np.clip(np.arange(first, first + count) - self._first_column, 0, len(self._ratios) - 1)
        ratios = self._ratios[index]
        audible = ~np.isnan(ratios[:, 0])
        gains = np.exp(self._plan.bin_db(np.nan_to_num(ratios)) * (np.log(10.0) / 20.0)) * self._plan.taper
        return (gains * audible[:, None]).astype(np.float32)
