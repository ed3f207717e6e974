"""Drum kits: a procedural sound per kit (808, acoustic, brushed jazz, breakbeat, electronic, metal).

Each kit is a :class:`KitSound` of a few numbers; the drums are made from them and from the
drum's tuning (a MIDI note, the key's tonic: the kick's and snare's pitch say the key instead of
pulling it elsewhere) and take (which noise). Pure numpy, filters from
:mod:`~riffcast.generation.filters`; deterministic for their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riffcast.generation import filters
from riffcast.generation.style import Kit

NYQUIST_GUARD = 0.45  # filter edges stay below this fraction of the sample rate
KICK_LOW, SNARE_LOW, TOM_LOW = 26, 50, 41  # lowest MIDI note of each drum's tuning octave
KICK_SWEEP_PER_S = 250.0  # the kick's pitch falls to its tuning this fast (1/s): most of its energy says the tonic


@dataclass(frozen=True)
class KitSound:
    """The numbers of one kit. Seconds (``_s``), Hz (``_hz``), decays in 1/s.

    kick_sweep: the kick's start frequency over its end (tuned) one. snare_band_hz: its noise
    band. snare_body: level of the tuned shell tone. clap: the snare is a hand clap (three
    bursts). hat_metal: hats from square partials (808-style) rather than noise.
    looseness_s: how far hits stray from the grid (humanised timing, ± seconds).
    """

    kick_s: float
    kick_decay: float
    kick_sweep: float
    kick_click: float
    snare_s: float
    snare_band_hz: tuple[float, float]
    snare_decay: float
    snare_body: float
    snare_attack_s: float
    clap: bool
    hat_highpass_hz: float
    hat_decay: float
    hat_metal: bool
    looseness_s: float


KITS: dict[Kit, KitSound] = {
    Kit.EIGHT_OH_EIGHT: KitSound(0.9, 3.5, 2.5, 0.0, 0.3, (900.0, 5000.0), 14.0, 0.15, 0.001, True, 6500.0, 45.0, True, 0.001),
    Kit.ACOUSTIC: KitSound(0.6, 5.5, 3.0, 0.2, 0.28, (1000.0, 8000.0), 16.0, 0.5, 0.001, False, 7000.0, 55.0, False, 0.007),
    Kit.BRUSHED: KitSound(0.5, 7.0, 2.0, 0.0, 0.35, (2500.0, 9000.0), 9.0, 0.08, 0.012, False, 8500.0, 28.0, False, 0.009),
    Kit.BREAKBEAT: KitSound(0.5, 7.5, 3.5, 0.3, 0.22, (1400.0, 6000.0), 20.0, 0.45, 0.001, False, 5500.0, 75.0, False, 0.005),
    Kit.ELECTRONIC: KitSound(0.6, 4.5, 4.5, 0.15, 0.25, (2000.0, 9000.0), 18.0, 0.3, 0.001, False, 8000.0, 50.0, True, 0.0),
    Kit.METAL: KitSound(0.3, 14.0, 4.0, 0.9, 0.3, (1800.0, 10000.0), 12.0, 0.7, 0.001, False, 9000.0, 35.0, False, 0.003),
}
# Kick decays are slow enough (≤ 7.5/s) for the tuned body to ring as a note at the tonic: a kick of
# 90 ms (11/s) was a thud spread over the semitones around it (issue 26: in-scale chroma with drums).
# Metal's kick is the exception: a tight, clicky beater that stays distinct in 8th-note double kicks.
METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)  # the six square oscillators of an 808's metal voices


def midi_hz(note: float) -> float:
    """MIDI note number → Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def tuned(tonic: int, low: int) -> int:
    """The MIDI note of pitch class ``tonic`` in [low, low + 12)."""
    return low + (tonic - low) % 12


def _envelope(n: int, sr: int, attack_s: float, decay: float, release_s: float = 0.01) -> np.ndarray:
    t = np.arange(n) / sr
    env = np.exp(-decay * t) * np.minimum(t / max(attack_s, 1.0 / sr), 1.0)
    r = min(max(int(release_s * sr), 1), n)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def _band(low_hz: float, high_hz: float, sr: int) -> np.ndarray:
    high = min(high_hz, NYQUIST_GUARD * sr)
    return filters.butter_sos(filters.FilterKind.BANDPASS, (min(low_hz, 0.5 * high), high), sr, 2)


def _highpass(cutoff_hz: float, sr: int) -> np.ndarray:
    return filters.butter_sos(filters.FilterKind.HIGHPASS, min(cutoff_hz, NYQUIST_GUARD * sr), sr, 4)


def kick(kit: Kit, note: int, sr: int, take: int = 0) -> np.ndarray:
    """A kick swept down to ``note`` (MIDI), with the kit's decay and click."""
    sound = KITS[kit]
    n = int(sound.kick_s * sr)
    t = np.arange(n) / sr
    end_hz = midi_hz(note)
    freq = end_hz * (1.0 + (sound.kick_sweep - 1.0) * np.exp(-t * KICK_SWEEP_PER_S))
    body = np.sin(2.0 * np.pi * np.cumsum(freq) / sr) * _envelope(n, sr, 0.002, sound.kick_decay, 0.02)
    if sound.kick_click:
        click = np.random.default_rng(take).standard_normal(n) * np.exp(-t * 400.0)
        body += sound.kick_click * filters.sosfilt(_highpass(1500.0, sr), click)
    return body


def snare(kit: Kit, note: int, sr: int, take: int) -> np.ndarray:
    """Noise through the kit's band with a shell tone at ``note`` (or a hand clap, or brushes)."""
    sound = KITS[kit]
    n = int(sound.snare_s * sr)
    t = np.arange(n) / sr
    noise = filters.sosfilt(_band(*sound.snare_band_hz, sr), np.random.default_rng(take).standard_normal(n))
    env = _envelope(n, sr, sound.snare_attack_s, sound.snare_decay, 0.02)
    if sound.clap:  # three bursts 10 ms apart, then the tail
        bursts = sum(np.exp(-np.maximum(t - 0.01 * k, 0.0) * 180.0) * (t >= 0.01 * k) for k in range(3))
        env = np.maximum(env * 0.6, bursts * np.minimum(t / 0.001, 1.0))
    shell = np.sin(2.0 * np.pi * midi_hz(note) * t) * _envelope(n, sr, 0.001, 30.0, 0.02)
    return 0.8 * noise * env + sound.snare_body * shell


def hat(kit: Kit, sr: int, take: int, open_hat: bool = False) -> np.ndarray:
    """A closed (or open) hi-hat: high-passed noise, or 808-style metal."""
    sound = KITS[kit]
    n = int((0.25 if open_hat else 0.07) * sr)
    t = np.arange(n) / sr
    if sound.hat_metal:
        source = sum(np.sign(np.sin(2.0 * np.pi * f * t + take)) for f in METAL_HZ) / len(METAL_HZ)
        source = source + 0.3 * np.random.default_rng(take).standard_normal(n)
    else:
        source = np.random.default_rng(take).standard_normal(n)
    decay = sound.hat_decay / (4.0 if open_hat else 1.0)
    return filters.sosfilt(_highpass(sound.hat_highpass_hz, sr), source) * _envelope(n, sr, 0.0005, decay, 0.01)


def tom(kit: Kit, note: int, sr: int) -> np.ndarray:
    """A tom at ``note``: a sine gliding down a little, with the kit's shell."""
    n = int(0.3 * sr)
    t = np.arange(n) / sr
    freq = midi_hz(note) * (1.0 + 0.3 * np.exp(-t * 25.0))
    soft = 0.6 if kit is Kit.BRUSHED else 1.0
    return soft * np.sin(2.0 * np.pi * np.cumsum(freq) / sr) * _envelope(n, sr, 0.002, 9.0, 0.02)


def crash(sr: int, take: int, seconds: float) -> np.ndarray:
    """A crash cymbal: bright noise with a few inharmonic partials, long decay."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    noise = filters.sosfilt(_band(3000.0, 12000.0, sr), np.random.default_rng(1000 + take).standard_normal(n))
    ping = sum(np.sin(2.0 * np.pi * f * t) for f in (2870.0, 4160.0, 5530.0, 7400.0)) / 4.0
    return (0.8 * noise + 0.2 * ping) * _envelope(n, sr, 0.001, 2.2, 0.05)
