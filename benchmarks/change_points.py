"""Where a control's change is heard in received audio: frame features and least-squares change points.

Pure functions over a mono float32 window of audio (``sample_rate`` Hz); features are framed
every ``HOP_SAMPLES`` samples (frame ``i`` is centred on sample ``i · HOP_SAMPLES``; energies
averaged over ``SMOOTH_FRAMES``), estimated with librosa. A change point is one rule for every feature: the single split of the frames
that a least-squares fit of a step (``Shape.STEP``: a constant, then another) or of a hinge
(``Shape.HINGE``: a constant, then a line from it — a blend that starts there) explains best,
searched from a given time on (the steer's), in the way the steer moves it. Tempo is found by fitting beat grids to the onset envelope instead
(:func:`tempo_change_s`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

HOP_SAMPLES = 512
SMOOTH_FRAMES = 25  # energies are averaged over this many frames (0.29 s at 44.1 kHz), centred
N_FFT = 4096
BASS_HZ = 150.0
ONSET_TOLERANCE_S = 0.035  # a beat's onset strength is the largest this near it
ONSET_HOP_SAMPLES = 128
KEY_FMIN_HZ = 180.0  # the key's chroma is taken above the bass


class Shape(Enum):
    """The shape a change point is fitted with."""

    STEP = "step"  # the setting switches at once (parts, key, prompts)
    HINGE = "hinge"  # the setting blends from there on (brightness, over the transition)


@dataclass(frozen=True)
class ChangePoint:
    """A fitted change: at ``at_s`` seconds into the window; ``effect`` = the size of the change
    over the residual spread (|after − before| / residual std; the line's rise over the rest
    of the window for a hinge), summed in quadrature over the feature's dimensions."""

    at_s: float
    effect: float


def _spectrum(audio: np.ndarray) -> np.ndarray:
    """(1 + N_FFT/2, frames) magnitudes."""
    import librosa

    return np.abs(librosa.stft(audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP_SAMPLES))


def _smoothed(energy: np.ndarray) -> np.ndarray:
    """``energy`` (…, frames) averaged over SMOOTH_FRAMES frames along the last axis."""
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(energy.astype(np.float64), SMOOTH_FRAMES, axis=-1, mode="nearest")


def log_centroid(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames, 1) log2 of the spectral centroid of each frame's smoothed power (octaves above 1 Hz)."""
    import librosa

    power = _smoothed(_spectrum(audio) ** 2)
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    return np.log2((frequencies @ power) / (power.sum(axis=0) + 1e-12) + 1.0)[:, None]


def percussive_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames, 1) each frame's smoothed percussive energy (librosa HPSS of the magnitudes, its
    defaults), dB."""
    import librosa

    _, percussive = librosa.decompose.hpss(_spectrum(audio))
    return (10.0 * np.log10(_smoothed((percussive.astype(np.float64) ** 2).sum(axis=0)) + 1e-10))[:, None]


def low_share_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames, 1) each frame's share of the (smoothed) energy below BASS_HZ, dB."""
    import librosa

    power = _smoothed(_spectrum(audio).astype(np.float64) ** 2)
    low = power[librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT) < BASS_HZ].sum(axis=0)
    return (10.0 * np.log10((low + 1e-12) / (power.sum(axis=0) + 1e-12)))[:, None]


def scale_pitch_classes(key: tuple[int, bool]) -> frozenset[int]:
    """The seven pitch classes of ``key``'s diatonic scale (a minor key: its natural minor)."""
    tonic, minor = key
    return frozenset((tonic + (3 if minor else 0) + step) % 12 for step in (0, 2, 4, 5, 7, 9, 11))


def key_share_db(audio: np.ndarray, sample_rate: int, old: tuple[int, bool], new: tuple[int, bool]) -> np.ndarray:
    """(frames, 1) each frame's (smoothed) chroma energy above KEY_FMIN_HZ in the pitch classes of
    the ``new`` key's scale that the ``old`` one lacks, over that in the old key's that the new one
    lacks, dB; a key is (tonic pitch class 0–11, minor). The shared tones, and the bass (which
    plays the chords' roots), say nothing of which key sounds; a chord of either key puts most
    of its energy in its own key's tones, so the share flips at a key change whatever the chord."""
    import librosa

    spectrum = _spectrum(audio)
    spectrum[librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT) < KEY_FMIN_HZ] = 0.0
    chroma = _smoothed(librosa.feature.chroma_stft(S=spectrum ** 2, sr=sample_rate, n_fft=N_FFT, norm=None,
                                                   tuning=0.0))
    gained, lost = scale_pitch_classes(new) - scale_pitch_classes(old), scale_pitch_classes(old) - scale_pitch_classes(new)
    ratio = (chroma[sorted(gained)].sum(axis=0) + 1e-12) / (chroma[sorted(lost)].sum(axis=0) + 1e-12)
    return (10.0 * np.log10(ratio))[:, None]


def timbre(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames, 12) MFCCs 1–12 (not the level, c0), each standardised over the window."""
    import librosa

    mfcc = librosa.feature.mfcc(y=audio.astype(np.float32), sr=sample_rate, n_mfcc=13, n_fft=N_FFT,
                                hop_length=HOP_SAMPLES)[1:].T
    return (mfcc - mfcc.mean(axis=0)) / (mfcc.std(axis=0) + 1e-9)


def change_point(values: np.ndarray, shape: Shape, sample_rate: int, *, from_s: float = 0.0, sign: int = 0,
                 margin_frames: int = 8) -> ChangePoint:
    """The least-squares change point of ``values`` (frames, dims): for every split ``c`` at
    least ``from_s`` seconds into the window (and ``margin_frames`` from either end) a
    regression on a constant and ``x_c`` — 1 from ``c`` on (STEP) or the frames since ``c``
    (HINGE) — summed over the dimensions; of the splits whose change goes the way ``sign``
    says (+1 up, −1 down, 0 either; one dimension), the one with the least residual wins."""
    frames = values.shape[0]
    index = np.arange(frames, dtype=np.float64)
    splits = np.arange(max(margin_frames, round(from_s * sample_rate / HOP_SAMPLES)), frames - margin_frames)
    if shape is Shape.STEP:
        regressors = (index[None, :] >= splits[:, None]).astype(np.float64)
    else:
        regressors = np.maximum(0.0, index[None, :] - splits[:, None])
    x = regressors - regressors.mean(axis=1, keepdims=True)  # (splits, frames)
    y = values - values.mean(axis=0)  # (frames, dims)
    sxx = (x * x).sum(axis=1)  # (splits,)
    sxy = x @ y  # (splits, dims)
    residual = (y * y).sum() - ((sxy ** 2).sum(axis=1) / sxx)
    if sign:
        residual = np.where(np.sign(sxy[:, 0]) == sign, residual, np.inf)
    best = int(np.argmin(residual))
    if not np.isfinite(residual[best]):
        return ChangePoint(float("nan"), 0.0)
    slope = sxy[best] / sxx[best]  # per dimension: the step's size, or the line's slope per frame
    size = slope if shape is Shape.STEP else slope * (frames - splits[best])
    spread = np.sqrt(max(residual[best], 1e-12) / (frames * values.shape[1]))
    return ChangePoint(float(splits[best] * HOP_SAMPLES / sample_rate), float(np.linalg.norm(size) / spread))


def onset_envelope(audio: np.ndarray, sample_rate: int, fmax_hz: float = 200.0) -> np.ndarray:
    """(frames,) the low band's onset strength (kicks, snares' bodies, bass notes), a frame every
    ONSET_HOP_SAMPLES (librosa)."""
    import librosa

    return librosa.onset.onset_strength(y=audio.astype(np.float32), sr=sample_rate, hop_length=ONSET_HOP_SAMPLES,
                                        fmax=fmax_hz, n_mels=16)


def tempo_change_s(envelope: np.ndarray, old_beat_s: float, new_beat_s: float, before_s: float,
                   sample_rate: int) -> ChangePoint:
    """Where the beat goes from ``old_beat_s`` to ``new_beat_s`` apart, by beat grids fitted to
    the onset ``envelope`` (its largest value within ONSET_TOLERANCE_S of each beat): the old
    grid's phase is the one whose beats in the first ``before_s`` are strongest; every frame
    from ``before_s`` on is a candidate change, and the candidate whose grid (old beats before
    it, new beats from it) is strongest on average wins (the earliest of equals). ``effect``:
    that average over the envelope's (pooled) mean."""
    from scipy.ndimage import maximum_filter1d

    frame_s = ONSET_HOP_SAMPLES / sample_rate
    tolerance = round(ONSET_TOLERANCE_S / frame_s)
    pooled = maximum_filter1d(envelope.astype(np.float64), size=2 * tolerance + 1)
    frames = pooled.size
    old_step, new_step = old_beat_s / frame_s, new_beat_s / frame_s
    early = int(before_s / frame_s)
    phases = np.arange(int(old_step))
    phase = int(phases[np.argmax([pooled[np.round(np.arange(p, early, old_step)).astype(int)].mean() for p in phases])])
    def beats(start: float, step: float) -> np.ndarray:
        grid = np.round(np.arange(start, frames, step)).astype(int)
        return grid[grid < frames]

    old_grid = beats(phase, old_step)
    best, best_score = -1, -np.inf
    for candidate in range(max(early, phase + round(old_step)), frames - round(new_step)):
        grid = np.concatenate([old_grid[old_grid < candidate - tolerance],
                               beats(candidate, new_step)])
        score = pooled[grid].mean()
        if score > best_score:
            best, best_score = candidate, score
    return ChangePoint(best * frame_s, float(best_score / pooled.mean()))
