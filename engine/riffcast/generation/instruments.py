"""Instrument sets per genre family: upright bass and piano (jazz), distorted guitar (rock and
metal), plucked synth chords (club), a record's crackle (lofi). Each is a pure function of its notes, duration (seconds), sample
rate and tone (brightness 0–1), as the synth's other voices (:mod:`~riffcast.generation.voices`).
"""

from __future__ import annotations

import numpy as np

from riffcast.generation import filters
from riffcast.generation.kits import midi_hz


def _envelope(n: int, sr: int, attack_s: float, decay_per_s: float, release_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    env = np.exp(-decay_per_s * t) * np.minimum(t / attack_s, 1.0)
    r = min(max(int(release_s * sr), 1), n)
    env[n - r:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, r))
    return env


def upright(freq_hz: float, dur_s: float, sr: int) -> np.ndarray:
    """Upright bass: a plucked string (partials 1–4, the upper ones dying fast), woody thump."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    w = 2.0 * np.pi * freq_hz * t
    tone = np.sin(w) + 0.5 * np.exp(-8.0 * t) * np.sin(2.0 * w) + 0.25 * np.exp(-14.0 * t) * np.sin(3.0 * w)
    tone += 0.12 * np.exp(-20.0 * t) * np.sin(4.0 * w)
    return tone * _envelope(n, sr, 0.004, 3.0, 0.04)


def piano_chord(notes: tuple[int, ...], dur_s: float, sr: int, tone: float) -> np.ndarray:
    """Piano-like chord: hammered partials (slightly stretched), each decaying faster than the last."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for note in notes:
        f = midi_hz(note)
        for k, level in enumerate((1.0, 0.45 + 0.3 * tone, 0.25 + 0.2 * tone, 0.12), start=1):
            out += level * np.exp(-(1.5 + 2.5 * k) * t) * np.sin(2.0 * np.pi * f * k * (1.0 + 0.0004 * k * k) * t)
    return out * _envelope(n, sr, 0.002, 0.6, 0.05)


def guitar_chord(notes: tuple[int, ...], dur_s: float, sr: int, tone: float) -> np.ndarray:
    """Overdriven guitar: root, fifth and third as detuned saws, clipped, then a cabinet low-pass."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    saws = sum(2.0 * ((midi_hz(note + cents / 100.0) * t) % 1.0) - 1.0 for note in notes for cents in (-8.0, 8.0))
    driven = np.tanh(2.5 * saws / max(len(notes), 1))
    cabinet = filters.butter_sos(filters.FilterKind.LOWPASS, 2200.0 + 2500.0 * tone, sr, 2)
    return filters.sosfilt(cabinet, driven) * _envelope(n, sr, 0.005, 0.4, 0.08)


def pluck_chord(notes: tuple[int, ...], dur_s: float, sr: int, tone: float) -> np.ndarray:
    """Plucked synth stab: octave and fifth partials with a fast, filter-like decay."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for note in notes:
        w = 2.0 * np.pi * midi_hz(note) * t
        out += np.sin(w) + (0.35 + 0.3 * tone) * np.exp(-18.0 * t) * (np.sin(2.0 * w) + 0.6 * np.sin(3.0 * w))
    return out * _envelope(n, sr, 0.002, 6.0, 0.03)



def vinyl(dur_s: float, sr: int, take: int) -> np.ndarray:
    """A dusty record's surface: soft band-limited hiss and sparse crackles (about 12 a second)."""
    n = max(int(dur_s * sr), 2)
    draw = np.random.default_rng(7000 + take)
    hiss = filters.sosfilt(filters.butter_sos(filters.FilterKind.BANDPASS, (800.0, 6000.0), sr, 2), draw.standard_normal(n))
    clicks = np.zeros(n)
    where = draw.integers(0, n, size=max(1, int(12 * dur_s)))
    clicks[where] = draw.uniform(-1.0, 1.0, where.size) * 8.0
    crackle = filters.sosfilt(filters.butter_sos(filters.FilterKind.HIGHPASS, 2000.0, sr, 2), clicks)
    return (0.25 * hiss + crackle) * _envelope(n, sr, 0.01, 0.0, 0.01)
