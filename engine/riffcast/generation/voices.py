"""The synth's voices: instruments as numpy waveforms, mixed from note events into audio.

Each instrument is a deterministic function of its note, duration and sample rate (drums
also of a take number), so rendered notes are cached and shared between chunks. The mixer
places events at absolute sample positions and sums the window asked for, then a soft
``tanh`` master stage; :func:`render_audio` renders any window of the endless song, and
:func:`render_loop` a seamless loop of whole bars. Pure numpy.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable

import numpy as np

from riffcast.generation import filters, instruments, kits
from riffcast.generation.compose import PAD_TAIL_S, Event, Voice, bar_events, bar_seconds
from riffcast.generation.controls import audible
from riffcast.generation.grid import LAYERED
from riffcast.generation.grooves import DRUM_SECONDS
from riffcast.generation.harmony import MAX_CHORD_BARS
from riffcast.generation.style import Kit, Style
from riffcast.generation.types import BarGrid

VOICE_GAIN = {Voice.KICK: 0.65, Voice.SNARE: 0.45, Voice.HAT: 0.16, Voice.OPEN_HAT: 0.12, Voice.RIDE: 0.12, Voice.CRASH: 0.1, Voice.TOM: 0.35,
              Voice.BASS: 0.4, Voice.SUB: 0.55, Voice.UPRIGHT: 0.5, Voice.PAD: 0.07, Voice.KEYS: 0.09, Voice.PIANO: 0.08,
              Voice.GUITAR: 0.06, Voice.PLUCK: 0.1, Voice.TRIANGLE: 0.13, Voice.BELL: 0.14, Voice.SAW: 0.1,
              Voice.VINYL: 0.05}
OUTPUT_PEAK, DRIVE = 0.7, 0.9  # master: OUTPUT_PEAK · tanh(DRIVE · mix)
# Rendered events kept (~100 kB each typically). A station's song reuses a small set: replaying
# two hours of the default station, and 300 chunks of four other styles, 128 hit as often as 256
# (99.5–99.8 % for all but the ambient style, 97.4 % for both), and the cache's bytes level off
# at 13.5 MiB by the 12th minute instead of creeping to 14.7 MiB over the first hour. With the kits,
# fills and sections (crashes, toms, open hats), 10 minutes of four styles in 64-column windows hit
# 96.0–98.0 % with 128 and 97.6–98.3 % with 192.
WAVEFORM_CACHE = 192


NYQUIST_GUARD = 0.45  # filter edges stay below this fraction of the sample rate
SNARE_BAND_HZ = (1000.0, 8000.0)
HAT_HIGHPASS_HZ = 7000.0
MID_BASS_HIGHPASS = 1.5  # × the note: the bass line's mid layer leaves its fundamental to the held sub
HELD_SUB_FADE_S = 0.05


# --------------------------------------------------------------------------- instruments


def midi_hz(note: float) -> float:
    """MIDI note number -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def envelope(
    n: int, sr: int, attack_s: float, release_s: float, decay_per_s: float = 0.0
) -> np.ndarray:
    """Length-n envelope: raised-cosine attack/release (seconds), exponential decay (1/s).

    Starts and ends at exactly 0, so notes never click.
    """
    env = np.exp((-decay_per_s / sr) * np.arange(n)) if decay_per_s else np.ones(n)
    a = min(max(int(attack_s * sr), 1), n)
    r = min(max(int(release_s * sr), 1), n)
    env[:a] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r:] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r))[::-1]
    return env


def butter_sos(kind: str, cutoff: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth filter of ``kind`` ("lowpass", "bandpass", …) at ``cutoff`` Hz, as SOS."""
    return filters.butter_sos(filters.FilterKind(kind), cutoff, sr, order)


def snare_filter(sr: int) -> np.ndarray:
    """The band-pass (1–8 kHz) :func:`snare` wants."""
    return butter_sos("bandpass", (SNARE_BAND_HZ[0], min(SNARE_BAND_HZ[1], NYQUIST_GUARD * sr)), sr)


def hat_filter(sr: int) -> np.ndarray:
    """The 4th-order high-pass (7 kHz) :func:`hat` wants."""
    return butter_sos("highpass", min(HAT_HIGHPASS_HZ, NYQUIST_GUARD * sr), sr, order=4)


def kick(sr: int) -> np.ndarray:
    """Kick drum (0.35 s): sine swept 150 -> 45 Hz with exponential decay."""
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    freq = 45.0 + 105.0 * np.exp(-t * 30.0)
    phase = 2.0 * np.pi * np.cumsum(freq) / sr
    return np.sin(phase) * envelope(n, sr, 0.002, 0.02, decay_per_s=9.0)


def snare(sr: int, rng: np.random.Generator, sos: np.ndarray) -> np.ndarray:
    """Snare (0.25 s): noise through `sos` (1-8 kHz band-pass) plus a 185 Hz tone body."""
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    noise = filters.sosfilt(sos, rng.standard_normal(n)) * envelope(n, sr, 0.001, 0.02, 18.0)
    body = np.sin(2.0 * np.pi * 185.0 * t) * envelope(n, sr, 0.001, 0.02, 30.0)
    return 0.8 * noise + 0.6 * body


def hat(sr: int, rng: np.random.Generator, sos: np.ndarray) -> np.ndarray:
    """Closed hi-hat (0.06 s): noise through `sos` (7 kHz high-pass), fast decay."""
    n = int(0.06 * sr)
    return filters.sosfilt(sos, rng.standard_normal(n)) * envelope(n, sr, 0.0005, 0.01, 60.0)


def bass_note(freq_hz: float, dur_s: float, sr: int, sos: np.ndarray) -> np.ndarray:
    """Bass note: sawtooth at freq_hz through `sos` (a biquad low-pass), dur_s seconds."""
    n = max(int(dur_s * sr), 2)
    saw = 2.0 * ((freq_hz * np.arange(n) / sr) % 1.0) - 1.0
    return filters.sosfilt(sos, saw) * envelope(n, sr, 0.005, 0.03, 2.0)


def _mid_bass(freq_hz: float, dur_s: float, sr: int, low: np.ndarray) -> np.ndarray:
    """The bass line's mid layer: :func:`bass_note` (through ``low``) without its fundamental (a
    high-pass at 1.5× the note: −7 dB there), over the held sub (``Voice.SUB`` of variant ``LAYERED``) that
    carries the chord's root."""
    return filters.sosfilt(butter_sos("highpass", MID_BASS_HIGHPASS * freq_hz, sr), bass_note(freq_hz, dur_s, sr, low))


def _held_sub(freq_hz: float, dur_s: float, sr: int) -> np.ndarray:
    """A steady sine (no decay: its pitch stays sharp in the lowest octave), faded in and out over 50 ms."""
    n = max(int(dur_s * sr), 2)
    return np.sin(2.0 * np.pi * freq_hz * np.arange(n) / sr) * envelope(n, sr, HELD_SUB_FADE_S, HELD_SUB_FADE_S)


def pad_chord(notes: tuple[int, ...], dur_s: float, sr: int) -> np.ndarray:
    """Pad chord, dur_s seconds: per MIDI note two +/-6 cent detuned sines + soft 2nd harmonic."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for note in notes:
        for cents in (-6.0, 6.0):
            w = 2.0 * np.pi * midi_hz(note + cents / 100.0) * t
            out += np.sin(w) + 0.25 * np.sin(2.0 * w)
    return out * envelope(n, sr, 0.25, 0.5)


def lead_note(freq_hz: float, dur_s: float, sr: int) -> np.ndarray:
    """Lead note: triangle wave with 5.5 Hz vibrato fading in, dur_s seconds."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    vib = 0.25 * np.minimum(t / 0.3, 1.0) * np.sin(2.0 * np.pi * 5.5 * t)  # semitones
    phase = 2.0 * np.pi * np.cumsum(freq_hz * 2.0 ** (vib / 12.0)) / sr
    tri = (2.0 / np.pi) * np.arcsin(np.sin(phase))
    return tri * envelope(n, sr, 0.015, 0.06, 1.5)


def _sub_note(freq_hz: float, dur_s: float, sr: int) -> np.ndarray:
    """Sub bass: sine with a soft 2nd harmonic, 808-like decay."""
    n = max(int(dur_s * sr), 2)
    w = 2.0 * np.pi * freq_hz * np.arange(n) / sr
    return (np.sin(w) + 0.3 * np.sin(2.0 * w)) * envelope(n, sr, 0.005, 0.03, 1.5)


def _ride(sr: int, take: int) -> np.ndarray:
    """Ride cymbal (0.5 s): 3–9 kHz noise with a few inharmonic partials, slow decay."""
    n = int(DRUM_SECONDS[Voice.RIDE] * sr)
    t = np.arange(n) / sr
    band = butter_sos("bandpass", (3000.0, min(9000.0, NYQUIST_GUARD * sr)), sr)
    noise = filters.sosfilt(band, np.random.default_rng(take).standard_normal(n))
    ping = sum(np.sin(2.0 * np.pi * f * t) for f in (3150.0, 4730.0, 6120.0)) / 3.0
    return (0.7 * noise + 0.3 * ping) * envelope(n, sr, 0.001, 0.05, 7.0)


def _keys_chord(notes: tuple[int, ...], dur_s: float, sr: int, tone: float) -> np.ndarray:
    """Electric-piano-like chord: sines whose overtones (more when bright) fade faster."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for note in notes:
        w = 2.0 * np.pi * midi_hz(note) * t
        out += np.sin(w) + (0.2 + 0.5 * tone) * np.exp(-6.0 * t) * np.sin(2.0 * w)
        out += 0.3 * tone * np.exp(-12.0 * t) * np.sin(3.0 * w)
    return out * envelope(n, sr, 0.003, 0.05, 2.5)


def _bell_note(freq_hz: float, dur_s: float, sr: int) -> np.ndarray:
    """Soft FM bell: modulator at 2× the note, index fading from 1.5 to 0 (sidebands at the
    octave and fifth mostly, which stay in the key)."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    modulation = 1.5 * np.exp(-5.0 * t) * np.sin(2.0 * np.pi * 2.0 * freq_hz * t)
    return np.sin(2.0 * np.pi * freq_hz * t + modulation) * envelope(n, sr, 0.004, 0.05, 3.0)


def _saw_lead(freq_hz: float, dur_s: float, sr: int, tone: float) -> np.ndarray:
    """Two saws ±7 cents through a low-pass at 1.5–5 kHz (by brightness)."""
    n = max(int(dur_s * sr), 2)
    t = np.arange(n) / sr
    saw = sum(2.0 * ((freq_hz * 2.0 ** (c / 1200.0) * t) % 1.0) - 1.0 for c in (-7.0, 7.0)) / 2.0
    filtered = filters.sosfilt(butter_sos("lowpass", 1500.0 + 3500.0 * tone, sr), saw)
    return filtered * envelope(n, sr, 0.01, 0.05, 1.0)


@lru_cache(maxsize=WAVEFORM_CACHE)
def _waveform(voice: Voice, pitches: tuple[int, ...], dur_s: float, tone: float, variant: int, sr: int, kit: str = "") -> np.ndarray:
    """Samples of one event (float32, read-only); the length is ``event_samples``."""
    freq = midi_hz(pitches[0]) if pitches else 0.0
    drum_kit = Kit(kit) if kit else None
    if voice is Voice.KICK:
        wave = kits.kick(drum_kit, pitches[0], sr, variant) if drum_kit else kick(sr)
    elif voice is Voice.SNARE:
        wave = kits.snare(drum_kit, pitches[0], sr, variant) if drum_kit else snare(sr, np.random.default_rng(variant), snare_filter(sr))
    elif voice is Voice.HAT:
        wave = kits.hat(drum_kit, sr, variant) if drum_kit else hat(sr, np.random.default_rng(variant), hat_filter(sr))
    elif voice is Voice.OPEN_HAT:
        wave = kits.hat(drum_kit or Kit.ACOUSTIC, sr, variant, open_hat=True)
    elif voice is Voice.RIDE:
        wave = _ride(sr, variant)
    elif voice is Voice.CRASH:
        wave = kits.crash(sr, variant, dur_s)
    elif voice is Voice.TOM:
        wave = kits.tom(drum_kit or Kit.ACOUSTIC, pitches[0], sr)
    elif voice is Voice.UPRIGHT:
        wave = instruments.upright(freq, dur_s, sr)
    elif voice is Voice.PIANO:
        wave = instruments.piano_chord(pitches, dur_s, sr, tone)
    elif voice is Voice.GUITAR:
        wave = instruments.guitar_chord(pitches, dur_s, sr, tone)
    elif voice is Voice.PLUCK:
        wave = instruments.pluck_chord(pitches, dur_s, sr, tone)
    elif voice is Voice.VINYL:
        wave = instruments.vinyl(dur_s, sr, variant)
    elif voice is Voice.BASS:
        low = butter_sos("lowpass", 180.0 + 600.0 * tone, sr)
        wave = _mid_bass(freq, dur_s, sr, low) if variant == LAYERED else bass_note(freq, dur_s, sr, low)
    elif voice is Voice.SUB:
        wave = _held_sub(freq, dur_s, sr) if variant == LAYERED else _sub_note(freq, dur_s, sr)
    elif voice is Voice.PAD:
        wave = pad_chord(pitches, dur_s, sr)
    elif voice is Voice.KEYS:
        wave = _keys_chord(pitches, dur_s, sr, tone)
    elif voice is Voice.TRIANGLE:
        wave = lead_note(freq, dur_s, sr)
    elif voice is Voice.BELL:
        wave = _bell_note(freq, dur_s, sr)
    else:  # Voice.SAW
        wave = _saw_lead(freq, dur_s, sr, tone)
    n = max(int(dur_s * sr), 2)
    wave = np.asarray(wave, dtype=np.float32)[:n]
    if wave.size < n:
        wave = np.pad(wave, (0, n - wave.size))
    wave.setflags(write=False)
    return wave


def event_samples(event: Event, sample_rate: int) -> int:
    """Length of ``event``'s sound in samples (the instruments' own rounding)."""
    return max(int(event.dur_s * sample_rate), 2)


def _mix(placed: Iterable[tuple[int, Event]], start: int, n_samples: int, sr: int) -> np.ndarray:
    """Sum events at absolute sample positions into the window [start, start + n_samples)."""
    out = np.zeros(n_samples)
    for position, event in placed:
        lo = position - start
        hi = lo + event_samples(event, sr)
        if hi <= 0 or lo >= n_samples:
            continue
        tone = round(event.tone * 20) / 20  # 0.05 steps, so similar styles share cached notes
        wave = _waveform(event.voice, event.pitches, event.dur_s, tone, event.variant, sr, event.kit)
        a, b = max(lo, 0), min(hi, n_samples)
        out[a:b] += (VOICE_GAIN[event.voice] * event.gain) * wave[a - lo : b - lo]
    return out


def _master(mix: np.ndarray) -> np.ndarray:
    return (OUTPUT_PEAK * np.tanh(DRIVE * mix)).astype(np.float32)


def mix_events(placed: Iterable[tuple[int, Event]], start_sample: int, n_samples: int, sample_rate: int = 44100) -> np.ndarray:
    """Events at absolute sample positions, heard in [start_sample, start_sample + n_samples).

    float32 mono through the master stage; the building block of the two renderers below.
    """
    return _master(_mix(placed, start_sample, n_samples, sample_rate))


# --------------------------------------------------------------------------- mixing and rendering


def reach_seconds(style: Style) -> float:
    """Upper bound on how long after its bar's start an event can still sound."""
    return (MAX_CHORD_BARS + 1) * bar_seconds(style) + PAD_TAIL_S + max(DRUM_SECONDS.values()) + 1.0


def placed_events(style: Style, seed: int, bars: range, bar_samples: float, sample_rate: int,
                  grid: BarGrid = BarGrid()) -> list[tuple[int, Event]]:
    """The audible events (the style's drum and bass parts) of ``bars`` at absolute sample
    positions; bar ``b`` starts at ``grid.sample`` + (b − ``grid.bar``) · ``bar_samples``."""
    return [
        (grid.sample + round((bar - grid.bar) * bar_samples) + round(event.time_s * sample_rate), event)
        for bar in bars
        for event in bar_events(style, seed, bar)
        if audible(event.voice, style)
    ]


def render_audio(style: Style, seed: int, start_sample: int, n_samples: int, sample_rate: int = 44100) -> np.ndarray:
    """Samples [start_sample, start_sample + n_samples) of the endless song (style, seed).

    float32 mono, peak below ``OUTPUT_PEAK``. Bars sit on a grid from sample 0; notes
    begun before ``start_sample`` are included, so adjacent windows concatenate exactly
    into the window that spans both.
    """
    bar_samples = bar_seconds(style) * sample_rate
    first = max(0, math.floor((start_sample - reach_seconds(style) * sample_rate) / bar_samples))
    last = math.floor((start_sample + n_samples - 1) / bar_samples)
    placed = placed_events(style, seed, range(first, last + 1), bar_samples, sample_rate)
    return mix_events(placed, start_sample, n_samples, sample_rate)


def render_loop(style: Style, seed: int, bars: int, n_samples: int, sample_rate: int = 44100) -> np.ndarray:
    """Bars 0 … ``bars`` − 1 as a seamless loop of ``n_samples`` (float32 mono).

    Each bar lasts ``n_samples / bars`` samples (choose the tempo to match); sounds running
    past the end wrap around to the start, so the loop played back to back is continuous.
    """
    bar_samples = n_samples / bars
    placed = placed_events(style, seed, range(bars), bar_samples, sample_rate)
    end = max((position + event_samples(event, sample_rate) for position, event in placed), default=n_samples)
    laps = -(-max(end, n_samples) // n_samples)
    linear = _mix(placed, 0, laps * n_samples, sample_rate)
    return _master(linear.reshape(laps, n_samples).sum(axis=0))
