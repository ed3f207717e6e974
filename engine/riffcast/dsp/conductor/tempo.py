"""Tempo and beat phase of mel images: an onset envelope from the mel columns, its
autocorrelation weighed over the first four multiples of each candidate period (which resolves
the period to a fraction of a column), and the phase that lines the most onset up with it.

Everything is in columns (one column = ``hop_samples`` of audio, 10 ms at Riffusion's 100 per
second); a caller keeps the last seconds of spectral flux (:func:`append_history`) and takes
the envelope of all of it (:func:`less_local_mean`) for each estimate, which so continues from
the images before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HISTORY_COLUMNS = 1536  # 15.4 s of onset envelope kept for the estimate (three images)
MIN_BPM = 50.0
MAX_BPM = 220.0
MULTIPLES = 4  # period multiples the autocorrelation is read at
CANDIDATE_STEP = 0.002  # relative spacing of the candidate periods (0.2 %)
PHASE_STEP_COLUMNS = 0.25
PRIOR_BPM = 110.0  # the log-normal tempo prior's centre (free tempo only) …
PRIOR_OCTAVES = 1.0  # … and its width, in octaves
MIN_FITTED_BEATS = 6  # onsets a refined period and phase need
LOCAL_MEAN_COLUMNS = 51  # the moving average the flux is measured against (0.5 s)
# The best period's metrical relatives the beat is chosen from: itself, its half and double, and
# the 2:3, 3:2, 3:4 and 4:3 periods (a shuffle's pulse of two triplets; its bar of four beats read
# as three longer pulses, as on a piece at 106.7 bpm whose best period was 80 bpm's).
RELATED_PERIODS = (1.0, 0.5, 2.0, 2.0 / 3.0, 1.5, 0.75, 4.0 / 3.0)
# What the beat tracker pays for an interval off the period (librosa's 100 let it hop to off-beats).
TRACK_TIGHTNESS = 1000.0


@dataclass(frozen=True)
class BeatEstimate:
    """Beats at ``origin_column + k × period_columns`` (absolute columns, any integer k).

    strength: how much the envelope's autocorrelation peaks there (0: no beat at all).
    """

    origin_column: float
    period_columns: float
    strength: float

    def bpm(self, columns_per_s: float) -> float:
        return 60.0 * columns_per_s / self.period_columns


def spectral_flux(mel: np.ndarray, previous_column: np.ndarray | None = None) -> np.ndarray:
    """Spectral flux of a mel image: (n_mels, columns) magnitude → (columns,) float32 ≥ 0, the
    log-compressed magnitude's rise from each column to the next, averaged over the bands (half-wave
    rectified). ``previous_column`` (n_mels,): the column before the image, so the first value is
    a real difference too. Columns handed over piece by piece give the flux of the whole."""
    logged = np.log1p(1000.0 * np.asarray(mel, dtype=np.float32))
    before = logged[:, :1] if previous_column is None else np.log1p(1000.0 * previous_column[:, None].astype(np.float32))
    rise = np.diff(np.concatenate([before, logged], axis=1), axis=1)
    return np.maximum(rise, 0.0).mean(axis=0).astype(np.float32)


def less_local_mean(flux: np.ndarray) -> np.ndarray:
    """(columns,) flux less its local mean (a 0.5 s moving average; near the ends, of the columns
    there are; any length, none too), kept ≥ 0: the onset envelope. Applied to the whole stretch
    at once — piece by piece, each piece's edges would stand out as onsets every piece's width."""
    flux64 = np.asarray(flux, dtype=np.float64)
    sums = np.concatenate([[0.0], np.cumsum(flux64)])
    index = np.arange(flux64.size)
    low = np.maximum(index - LOCAL_MEAN_COLUMNS // 2, 0)
    high = np.minimum(index + LOCAL_MEAN_COLUMNS // 2 + 1, flux64.size)
    local = (sums[high] - sums[low]) / np.maximum(high - low, 1)
    return np.maximum(flux64 - local, 0.0).astype(np.float32)


def onset_envelope(mel: np.ndarray, previous_column: np.ndarray | None = None) -> np.ndarray:
    """The onset envelope of a mel image: (n_mels, columns) → (columns,) float32 ≥ 0, its
    :func:`spectral_flux` less the flux's local mean (:func:`less_local_mean`)."""
    return less_local_mean(spectral_flux(mel, previous_column))


def append_history(history: np.ndarray, envelope: np.ndarray, keep: int = HISTORY_COLUMNS) -> np.ndarray:
    """The last ``keep`` values of ``history`` followed by ``envelope`` (both 1-D): a new array."""
    return np.concatenate([history, envelope])[-keep:]


def _autocorrelation(envelope: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased autocorrelation of the mean-removed envelope for lags 0 … max_lag."""
    centred = envelope - envelope.mean()
    size = 1 << int(np.ceil(np.log2(2 * envelope.size)))
    spectrum = np.fft.rfft(centred, size)
    raw = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    overlap = np.maximum(envelope.size - np.arange(max_lag + 1), 1)
    return raw / overlap


def estimate_period(envelope: np.ndarray, columns_per_s: float, near_bpm: float | None = None) -> tuple[float, float]:
    """The beat period (columns, fractional) of ``envelope`` (columns,) and its strength.

    Candidates 50–220 bpm, 0.2 % apart; each scores the autocorrelation at its first four
    multiples (linearly interpolated). The octave is then chosen: of the candidate's related
    periods (:data:`RELATED_PERIODS`), the one that scores at least half as well and lies nearest
    ``near_bpm`` (the asked tempo: a warp never has to go further than it must) or, with none
    asked, the best score under a log-normal prior around 110 bpm.
    """
    if envelope.size < 4 * columns_per_s or not np.any(envelope > 0):
        return 60.0 * columns_per_s / (near_bpm or PRIOR_BPM), 0.0
    shortest = 60.0 * columns_per_s / MAX_BPM
    longest = 60.0 * columns_per_s / MIN_BPM
    max_lag = min(envelope.size - 2, int(np.ceil(longest * MULTIPLES)) + 1)
    correlation = _autocorrelation(envelope.astype(np.float64), max_lag)
    periods = shortest * (1.0 + CANDIDATE_STEP) ** np.arange(int(np.log(longest / shortest) / np.log1p(CANDIDATE_STEP)) + 1)
    lags = periods[:, None] * np.arange(1, MULTIPLES + 1)[None, :]
    usable = lags <= max_lag
    scores = np.where(usable, np.interp(np.minimum(lags, max_lag), np.arange(max_lag + 1), correlation), 0.0)
    score = scores.sum(axis=1) / np.maximum(usable.sum(axis=1), 1)
    best = int(np.argmax(score))
    if score[best] <= 0.0:
        return 60.0 * columns_per_s / (near_bpm or PRIOR_BPM), 0.0
    strength = float(score[best] / max(correlation[0], 1e-12))
    related = [periods[best] * factor for factor in RELATED_PERIODS]
    related = [p for p in related if shortest <= p <= longest]
    related_scores = np.interp(np.log(related), np.log(periods), score)
    good = [p for p, s in zip(related, related_scores) if s >= 0.5 * score[best]]
    bpm = 60.0 * columns_per_s / np.asarray(good)
    if near_bpm is not None:
        chosen = good[int(np.argmin(np.abs(np.log2(bpm / near_bpm))))]
    else:
        prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
        chosen = good[int(np.argmax(np.interp(np.log(good), np.log(periods), score) * prior))]
    return _refine(correlation, chosen, max_lag), strength


def _refine(correlation: np.ndarray, period: float, max_lag: int) -> float:
    """The period with the best interpolated score within ±3 % of ``period`` (finer steps)."""
    candidates = period * np.linspace(0.97, 1.03, 121)
    lags = candidates[:, None] * np.arange(1, MULTIPLES + 1)[None, :]
    usable = lags <= max_lag
    scores = np.where(usable, np.interp(np.minimum(lags, max_lag), np.arange(max_lag + 1), correlation), 0.0)
    return float(candidates[int(np.argmax(scores.sum(axis=1)))])


def estimate_phase(envelope: np.ndarray, period_columns: float, first_column: int) -> float:
    """The absolute column of a beat: the offset in [0, period) whose comb (one tooth per beat,
    two columns wide, later beats weighed more) gathers the most of ``envelope``, whose first
    value is absolute column ``first_column`` (``first_column`` itself for an empty envelope)."""
    if envelope.size == 0:
        return float(first_column)
    offsets = np.arange(0.0, period_columns, PHASE_STEP_COLUMNS)
    beats = np.arange(0.0, envelope.size, period_columns)
    positions = offsets[:, None] + beats[None, :]
    weights = 0.5 + beats / max(envelope.size, 1)
    index = np.arange(envelope.size)
    smoothed = np.convolve(envelope, np.array([0.25, 0.5, 0.25], np.float32), mode="same")
    gathered = np.interp(positions, index, smoothed, right=0.0) @ weights
    return first_column + float(offsets[int(np.argmax(gathered))])


def vertex_offsets(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Where the parabola through ``values`` (n,) at each of ``at - 1, at, at + 1`` peaks, as an
    offset from ``at`` (indices in 1 … n − 2) → (len(at),) columns, in ``values``' dtype; 0 where
    it does not bend down."""
    left, centre, right = (np.asarray(values)[at + step] for step in (-1, 0, 1))
    curvature = left - 2 * centre + right
    return np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)


def fit_beats(envelope: np.ndarray, period_columns: float, origin_column: float,
              first_column: int) -> tuple[float, float]:
    """(period, origin) refined by the onsets themselves: the envelope's peak near each beat of the
    estimate (within a quarter period; parabolic interpolation), then a least-squares line through
    them, beats off it by more than an eighth of a period left out once. The estimate as it was
    when fewer than :data:`MIN_FITTED_BEATS` peaks are found or the fit moves the period by more
    than 2 %."""
    half = period_columns / 4.0
    first_beat = int(np.ceil((first_column + half - origin_column) / period_columns))
    beats, places = [], []
    beat = first_beat
    while (predicted := origin_column + beat * period_columns - first_column) + half < envelope.size - 1:
        low, high = max(int(np.floor(predicted - half)), 1), int(np.ceil(predicted + half))
        peak = low + int(np.argmax(envelope[low : high + 1]))
        if 0 < peak < envelope.size - 1 and envelope[peak] > 0:
            shift = vertex_offsets(envelope, np.array([peak]))[0]
            beats.append(beat)
            places.append(first_column + peak + shift)
        beat += 1
    if len(beats) < MIN_FITTED_BEATS:
        return period_columns, origin_column
    k, t = np.asarray(beats, np.float64), np.asarray(places, np.float64)
    slope, intercept = np.polyfit(k, t, 1)
    near = np.abs(t - (intercept + slope * k)) <= period_columns / 8.0
    if near.sum() >= MIN_FITTED_BEATS:
        slope, intercept = np.polyfit(k[near], t[near], 1)
    if abs(slope / period_columns - 1.0) > 0.02:
        return period_columns, origin_column
    return float(slope), float(intercept)


def estimate_beats(envelope: np.ndarray, first_column: int, columns_per_s: float,
                   near_bpm: float | None = None, previous: BeatEstimate | None = None) -> BeatEstimate:
    """Tempo and phase of ``envelope`` (columns,) whose first value is absolute column
    ``first_column`` → :class:`BeatEstimate` (origin: the last beat found in the envelope).

    previous: the estimate before (of the envelope up to a few images ago): within 2 % of its
    tempo, its beats are continued and refined rather than found again, so the phase cannot
    jump to the off-beats between one image and the next.
    """
    period, strength = estimate_period(envelope, columns_per_s, near_bpm)
    if previous is not None and abs(previous.period_columns / period - 1.0) <= 0.02:
        origin = previous.origin_column
    else:
        origin = estimate_phase(envelope, period, first_column)
    if strength > 0:
        period, origin = fit_beats(envelope, period, origin, first_column)
    last = origin + np.floor((first_column + envelope.size - 1 - origin) / period) * period
    return BeatEstimate(float(last), float(period), strength)


def track_beats(envelope: np.ndarray, period_columns: float, first_column: int) -> np.ndarray:
    """Every beat of ``envelope`` (columns,), whose first value is absolute column ``first_column``,
    at about ``period_columns`` apart → (beats,) float64 absolute columns, increasing; empty where
    the envelope is shorter than two periods or silent.

    Dynamic programming (Ellis 2007, "Beat tracking by dynamic programming", as librosa's
    ``beat_track``): each column scores its onset strength (smoothed by a Gaussian of a 32nd of
    the period) plus the best chain of beats before it, each interval paying
    :data:`TRACK_TIGHTNESS` × log²(interval / period) — ten times librosa's, so it keeps to one
    metrical level; the best chain ending in the last period is traced back. So the beats follow
    a source whose tempo drifts, or that adds or drops a part of a beat, where one period and
    phase would slide off it. Each beat is then placed to a fraction of a column (the parabola
    through the smoothed strength around it).
    """
    strength = np.asarray(envelope, dtype=np.float64)
    period = float(period_columns)
    if strength.size < 2 * period or not np.any(strength > 0):
        return np.zeros(0)
    reach = int(np.ceil(period))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) * 32.0 / period) ** 2)
    local = np.convolve(strength / (strength.std() or 1.0), kernel, mode="same")
    intervals = np.arange(max(int(np.floor(period / 2)), 1), int(np.ceil(2 * period)) + 1)
    cost = TRACK_TIGHTNESS * np.log(intervals / period) ** 2
    total = local.copy()
    before = np.full(strength.size, -1, dtype=np.int64)
    for column in range(int(intervals[0]), strength.size):
        previous = column - intervals
        usable = previous >= 0
        candidates = total[previous[usable]] - cost[usable]
        best = int(np.argmax(candidates))
        total[column] = local[column] + candidates[best]
        before[column] = previous[usable][best]
    tail = total[max(strength.size - reach, 0) :]
    column = max(strength.size - reach, 0) + int(np.argmax(tail))
    beats = []
    while column >= 0:
        beats.append(column)
        column = int(before[column])
    beats = np.asarray(beats[::-1], dtype=np.float64)
    inside = (beats > 0) & (beats < strength.size - 1)
    at = beats[inside].astype(np.int64)
    beats[inside] += np.clip(vertex_offsets(local, at), -0.5, 0.5)
    return first_column + beats
