"""Deterministic procedural demo music: drums, bass, pads and a lead in A minor.

Used by benchmarks and tests as "real-sounding music" input (e.g. for spectrogram
inversion). The instruments are the synth's (:mod:`riffcast.generation.voices`); pure
numpy, no global mutable state: the same arguments always give the same samples.
"""

from __future__ import annotations

import math

import numpy as np

from riffcast.generation.voices import (
    bass_note,
    butter_sos,
    hat,
    hat_filter,
    kick,
    lead_note,
    midi_hz,
    pad_chord,
    snare,
    snare_filter,
)

PEAK = 0.5  # output peak amplitude (full scale = 1.0)
STEPS_PER_BAR = 16  # 16th-note grid, 4/4 time
# i - VI - III - VII in A minor: (bass root MIDI, pad voicing MIDI notes)
PROGRESSION = (
    (45, (57, 60, 64, 67)),  # Am7
    (41, (53, 57, 60, 64)),  # Fmaj7
    (48, (55, 60, 64, 67)),  # C/G
    (43, (55, 59, 62, 67)),  # G
)
LEAD_SCALE = (69, 71, 72, 74, 76, 77, 79, 81, 83, 84)  # A minor, A4..C6
# Bass rhythms per bar: (start step, length in steps, octave offset in semitones)
BASS_PATTERNS = (
    ((0, 3, 0), (3, 3, 0), (6, 2, 0), (8, 3, 0), (11, 3, 0), (14, 2, 12)),
    ((0, 6, 0), (6, 2, 12), (8, 6, 0), (14, 2, 0)),
    ((0, 2, 0), (2, 2, 0), (4, 2, 12), (6, 2, 0), (8, 2, 0), (10, 2, 0), (12, 2, 12), (14, 2, 0)),
)
KICK_STEPS = (0, 6, 8)
SNARE_STEPS = (4, 12)
LEAD_START_BAR = 2
LEAD_REST_PROB = 0.3
BASS_CUTOFF_HZ = 600.0  # the bass low-pass
GAIN = {"kick": 0.9, "snare": 0.45, "hat": 0.2, "bass": 0.45, "pad": 0.1, "lead": 0.25}


def _place(buf: np.ndarray, start: int, sig: np.ndarray, gain: float) -> None:
    """Mix sig * gain into buf starting at sample index start (clipped to buf)."""
    end = min(start + len(sig), len(buf))
    if start < end:
        buf[start:end] += gain * sig[: end - start]


def render_demo_song(
    duration_s: float, *, sample_rate: int = 44100, tempo_bpm: float = 100.0, seed: int = 0
) -> np.ndarray:
    """Return float32 mono samples, shape (round(duration_s*sample_rate),), peak about 0.5.

    A 4/4 groove in A minor (i-VI-III-VII, one chord per bar) at tempo_bpm: kick/snare/hat
    drums, low-passed saw bass, detuned pads and a seeded random lead melody that enters
    at bar 3. Hats get denser every 4 bars and every 4th bar ends in a snare fill.
    """
    sr = int(sample_rate)
    n_out = int(round(duration_s * sr))
    if n_out <= 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    step_s = 60.0 / tempo_bpm / 4.0
    bar_s = step_s * STEPS_PER_BAR
    n_bars = math.ceil(duration_s / bar_s)
    buf = np.zeros(n_out)
    kick_wave = kick(sr)
    snare_sos, hat_sos = snare_filter(sr), hat_filter(sr)
    bass_sos = butter_sos("lowpass", BASS_CUTOFF_HZ, sr)
    pads: dict[tuple[int, ...], np.ndarray] = {}  # each chord voicing is rendered once

    def at(bar: int, step: float) -> int:
        return int(round((bar * STEPS_PER_BAR + step) * step_s * sr))

    lead_idx = 4
    for bar in range(n_bars):
        root, voicing = PROGRESSION[bar % len(PROGRESSION)]
        fill = bar % 4 == 3
        # Drums
        kicks = list(KICK_STEPS) + ([int(rng.choice((10, 11, 14)))] if rng.random() < 0.5 else [])
        for s in kicks:
            if not (fill and s >= 12):
                _place(buf, at(bar, s), kick_wave, GAIN["kick"])
        if bar >= 1:
            for s in SNARE_STEPS:
                _place(buf, at(bar, s), snare(sr, rng, snare_sos), GAIN["snare"])
        if fill:
            for i, s in enumerate((13, 14, 15, 15.5)):
                vel = 0.4 + 0.2 * i  # crescendo
                _place(buf, at(bar, s), snare(sr, rng, snare_sos), GAIN["snare"] * vel)
        density = min(bar // 4, 2)  # 0: 8ths, 1: 8ths + some 16ths, 2: all 16ths
        for s in range(STEPS_PER_BAR):
            if s % 2 == 1 and not (density == 2 or (density == 1 and rng.random() < 0.35)):
                continue
            vel = (1.0 if s % 4 == 0 else 0.7 if s % 2 == 0 else 0.45) * rng.uniform(0.8, 1.0)
            _place(buf, at(bar, s), hat(sr, rng, hat_sos), GAIN["hat"] * vel)
        # Bass (from the 2nd bar) and pads (always)
        if bar >= 1:
            pattern = BASS_PATTERNS[int(rng.integers(len(BASS_PATTERNS)))]
            for s, length, octave in pattern:
                note = bass_note(midi_hz(root + octave), 0.9 * length * step_s, sr, bass_sos)
                _place(buf, at(bar, s), note, GAIN["bass"])
        if voicing not in pads:
            pads[voicing] = pad_chord(voicing, bar_s + 0.4, sr)
        _place(buf, at(bar, 0), pads[voicing], GAIN["pad"])
        # Lead melody: random walk on the scale in 8th-note slots, with rests
        if bar >= LEAD_START_BAR:
            slot = 0
            while slot < 8:
                if rng.random() < LEAD_REST_PROB:
                    slot += 1
                    continue
                length = min(int(rng.integers(1, 4)), 8 - slot)
                lead_idx = int(np.clip(lead_idx + rng.integers(-2, 3), 0, len(LEAD_SCALE) - 1))
                note = lead_note(midi_hz(LEAD_SCALE[lead_idx]), 2 * length * step_s, sr)
                _place(buf, at(bar, 2 * slot), note, GAIN["lead"])
                slot += length

    fade = min(int(0.005 * sr), n_out)  # tiny fade-out so truncated notes end at 0
    buf[n_out - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.max(np.abs(buf)))
    if peak > 0.0:
        buf *= PEAK / peak
    return buf.astype(np.float32)
