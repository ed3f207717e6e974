"""The musical controls on the procedural ``synth``, measured from the outside (essentia, librosa).

Every render is asked through the steer fields (a :class:`~riffcast.steering.targets.Target`'s
``bpm``, ``key``, ``brightness``, ``drums``, ``bass``; a playlist for the steer mid-render):

- Tempo and key: 12 renders across 60–180 bpm and 12 tonics (6 major, 6 minor) →
  essentia ``RhythmExtractor2013`` (multifeature): within 2 % of the asked bpm, or an exact
  double/half; ``KeyExtractor`` (temperley or edma profile): the asked key exactly.
- Brightness −1, 0, +1 on one prompt and seed → the mean spectral centroid (librosa, frames
  weighted by their energy): monotonic, Hz per step.
- ``drums off`` → the cut of the percussive energy (librosa HPSS, its defaults), two ways:
  *absolute*, on the synth's own audio (the song before its images: the same voices and master
  stage, no normalisation) — the figure the ≥ 12 dB target is judged on, since only there is an
  energy an energy; and *the percussive-to-harmonic ratio* through the engine (each painted image
  is scaled to its own maximum, so there only a ratio of parts means something; it understates
  the cut, since the kick the drums take away is mostly harmonic to HPSS); beside them the
  most a perfect drum mute could cut: the drum voices' percussive energy over the other
  voices' (each part rendered alone).
  ``bass off`` → the share of the energy below 150 Hz against ``bass on``, dB, with the drums
  on and off (through the engine: a share, for the same reason).
- A bpm steer mid-render (a playlist: 90 bpm, then 120 bpm over a one-chunk transition): the
  onsets detected (librosa, 3 ms hop) in the 8 beats before and after the change against the
  expected grid — the 90 bpm bars from 0, the change on the first bar line at or after the
  steer's chunk, 120 bpm from there — the largest deviation of an inter-onset interval from
  the grid's, beats with no onset within 20 ms, and the tempo of the 8 s after the change.

The full run renders through the whole engine (painted images, stitched and inverted; the
level stage off, so the parts' energies compare as painted); ``--quick`` (CI) measures 4 tempo
and key renders (10 s) and the parts of one prompt (10 s) on the synth's own audio (the song
before its images), the brightness on its painted images, and a 12 s steer through the engine
(6 beats either side).
Run: ``python benchmarks/controls.py`` (about 4 minutes on 2 cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
from dataclasses import dataclass, field

import numpy as np

SR = 44100
# (prompt, bpm, key): 60–180 bpm, 12 tonics, both modes.
RENDERS = (("lofi hip hop", 60, "C major"), ("hip hop", 70, "A minor"), ("reggae", 80, "F# major"),
           ("funk", 90, "Eb minor"), ("synthwave", 100, "D major"), ("pop", 110, "B minor"),
           ("house music", 120, "Ab major"), ("techno", 130, "E minor"), ("trance", 140, "G major"),
           ("rock", 150, "C# minor"), ("disco", 165, "Bb major"), ("drum and bass", 180, "F minor"))
QUICK_RENDERS = (RENDERS[1], RENDERS[4], RENDERS[6], RENDERS[9])
PITCH = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8,
         "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
PARTS_PROMPTS = ("rock", "lofi hip hop", "house music")
BASS_HZ = 150.0
BEAT_TOLERANCE_S = 0.020


@dataclass
class Results:
    """The measured figures; ``rows`` is the printed table: (measure, value, target)."""

    tempo_ok: int = 0
    key_ok: int = 0
    renders: int = 0
    centroids_hz: list[float] = field(default_factory=list)
    drums_cut_db: float = 0.0  # absolute percussive energy, the synth's own audio
    drums_ratio_cut_db: float = 0.0  # percussive-to-harmonic ratio, as rendered (the engine in the full run)
    bass_cut_db: float = 0.0
    bass_cut_drumless_db: float = 0.0
    steer_max_interval_error_s: float = 0.0
    steer_lost_beats: int = 0
    steer_tempo_bpm: float = 0.0
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def engine_render(target, seconds: float, playlist=()) -> np.ndarray:
    """``seconds`` of the stream the engine plays for ``target`` (then ``playlist``), level stage off."""
    from riffcast.dsp.params import RIFFUSION_V1
    from riffcast.generation.seeds import DEFAULT_BED, load_seed
    from riffcast.generation.synth import SynthGenerator
    from riffcast.pipeline.producer import ImageProducer
    from riffcast.pipeline.render import render
    from riffcast.steering.walk import Walk

    producer = ImageProducer(SynthGenerator(), Walk(target, transition_chunks=4), load_seed(DEFAULT_BED))
    audio, _ = render(producer, duration_s=seconds, params=RIFFUSION_V1, playlist=playlist, level=None)
    return audio


def synth_render(target, seconds: float, from_bar: int = 0) -> np.ndarray:
    """``seconds`` of the song the synth plays for ``target`` from bar ``from_bar`` (its audio, before
    the images)."""
    from riffcast.generation.compose import bar_seconds
    from riffcast.generation.style import style_for_target
    from riffcast.generation.voices import render_audio

    style = style_for_target(target)
    return render_audio(style, target.seed, round(from_bar * bar_seconds(style) * SR), int(seconds * SR), SR)


def measure_tempo_and_key(results: Results, renders, seconds: float, through_engine: bool) -> None:
    import essentia.standard as es

    from riffcast.steering.targets import Key, Target

    for index, (prompt, bpm, key) in enumerate(renders):
        target = Target.from_text(prompt, seed=index, bpm=float(bpm), key=key)
        audio = (engine_render if through_engine else synth_render)(target, seconds).astype(np.float32)
        heard_bpm = float(es.RhythmExtractor2013(method="multifeature")(audio)[0])
        tempo_ok = any(abs(heard_bpm * factor / bpm - 1.0) <= 0.02 for factor in (1.0, 2.0, 0.5))
        asked = Key.parse(key)
        found = [es.KeyExtractor(profileType=profile, sampleRate=SR)(audio)[:2] for profile in ("temperley", "edma")]
        key_ok = any((PITCH[tonic], scale) == (asked.tonic, asked.mode.value) for tonic, scale in found)
        results.renders += 1
        results.tempo_ok += tempo_ok
        results.key_ok += key_ok
        if not tempo_ok:
            results.misses.append(f"tempo: {prompt!r} asked {bpm} bpm, heard {heard_bpm:.1f}")
        if not key_ok:
            results.misses.append(f"key: {prompt!r} asked {key}, heard {found}")
    n = results.renders
    results.rows += [(f"tempo within 2 % or double/half ({n} × {seconds:g} s)", f"{results.tempo_ok}/{n}",
                      f"≥ {n - 1}/{n}"),
                     (f"key exact, temperley or edma ({n} × {seconds:g} s)", f"{results.key_ok}/{n}",
                      f"≥ {round(n * 10 / 12)}/{n}")]


def centroid_hz(audio: np.ndarray) -> float:
    """The mean spectral centroid, frames weighted by their energy (Hz)."""
    import librosa

    spectrum = np.abs(librosa.stft(audio.astype(np.float32), n_fft=4096, hop_length=1024)) ** 2
    centroids = librosa.feature.spectral_centroid(S=np.sqrt(spectrum), sr=SR)[0]
    energy = spectrum.sum(axis=0)
    return float((centroids * energy).sum() / energy.sum())


def _db(energy: float) -> float:
    return float(10.0 * np.log10(energy + 1e-20))


@dataclass(frozen=True)
class Split:
    """The energies of ``audio``'s percussive and harmonic parts (librosa's HPSS, its defaults), dB."""

    percussive_db: float
    harmonic_db: float

    @classmethod
    def of(cls, audio: np.ndarray) -> Split:
        import librosa

        harmonic, percussive = librosa.effects.hpss(audio.astype(np.float32))
        return cls(_db(np.sum(percussive.astype(np.float64) ** 2)), _db(np.sum(harmonic.astype(np.float64) ** 2)))

    @property
    def ratio_db(self) -> float:
        """Percussive over harmonic energy, dB."""
        return self.percussive_db - self.harmonic_db


def low_db(audio: np.ndarray, below_hz: float = BASS_HZ) -> float:
    """The share of ``audio``'s energy below ``below_hz``, dB."""
    import librosa

    power = np.abs(librosa.stft(audio.astype(np.float32), n_fft=8192, hop_length=2048)) ** 2
    return _db(power[librosa.fft_frequencies(sr=SR, n_fft=8192) < below_hz].sum()) - _db(power.sum())


def drum_mute_ceiling_db(target, seconds: float, from_bar: int = 0) -> float:
    """How far a perfect drum mute can cut the percussive (HPSS) energy of ``target``'s song: the
    drum voices' percussive energy over the other voices', each part rendered alone (through the
    master stage), dB."""
    from riffcast.generation.compose import bar_seconds
    from riffcast.generation.grid import DRUMS
    from riffcast.generation.style import style_for_target
    from riffcast.generation.voices import mix_events, placed_events

    style = style_for_target(target)
    bar_samples = bar_seconds(style) * SR
    n_samples, start = int(seconds * SR), round(from_bar * bar_samples)
    placed = placed_events(style, target.seed, range(from_bar, from_bar + int(n_samples / bar_samples) + 1), bar_samples, SR)
    drums, rest = ([(at, event) for at, event in placed if (event.voice in DRUMS) == keep] for keep in (True, False))
    return (Split.of(mix_events(drums, start, n_samples, SR)).percussive_db
            - Split.of(mix_events(rest, start, n_samples, SR)).percussive_db)


def measure_timbre_and_parts(results: Results, seconds: float, through_engine: bool, prompts: tuple[str, ...]) -> None:
    from riffcast.generation.form import INTRO_BARS
    from riffcast.steering.targets import Target

    # The synth's own audio from the first bar after the intro (which has no bass): every part plays there.
    render = engine_render if through_engine else functools.partial(synth_render, from_bar=INTRO_BARS)
    results.centroids_hz = [centroid_hz(engine_render(Target.from_text("lofi hip hop", seed=3, brightness=b), seconds))
                            for b in (-1.0, 0.0, 1.0)] if through_engine else _painted_centroids(seconds)
    steps = np.diff(results.centroids_hz)
    results.rows.append(("brightness −1 / 0 / +1: spectral centroid, Hz (per step)",
                         f"{' / '.join(f'{c:.0f}' for c in results.centroids_hz)} ({', '.join(f'{s:+.0f}' for s in steps)})",
                         "monotonic"))
    cuts = []
    for prompt in prompts:
        def target(**parts) -> Target:
            return Target.from_text(prompt, seed=7, bpm=120.0, key="A minor", **parts)

        def heard(**parts) -> np.ndarray:
            return render(target(**parts), seconds)

        on, drumless, bassless, neither = heard(), heard(drums="off"), heard(bass="off"), heard(drums="off", bass="off")
        own_on, own_drumless = (Split.of(synth_render(target(**parts), seconds, INTRO_BARS))
                                for parts in ({}, {"drums": "off"}))
        cuts.append((own_on.percussive_db - own_drumless.percussive_db, low_db(drumless) - low_db(neither),
                     low_db(on) - low_db(bassless), Split.of(on).ratio_db - Split.of(drumless).ratio_db,
                     drum_mute_ceiling_db(target(), seconds, INTRO_BARS)))
    results.drums_cut_db = min(cut[0] for cut in cuts)
    results.bass_cut_drumless_db = min(cut[1] for cut in cuts)
    results.bass_cut_db = min(cut[2] for cut in cuts)
    results.drums_ratio_cut_db = min(cut[3] for cut in cuts)
    each = ", ".join(prompts)
    where = "through the engine" if through_engine else "the synth's audio"
    results.rows += [(f"drums off: percussive (HPSS) energy cut, the synth's audio before its images ({each})",
                      " / ".join(f"{c[0]:.1f}" for c in cuts) + " dB", "≥ 12 dB"),
                     (f"drums off: percussive-to-harmonic (HPSS) energy ratio cut, {where} ({each})",
                      " / ".join(f"{c[3]:.1f}" for c in cuts) + " dB", ""),
                     (f"… the most a drum mute could cut: the drum voices' percussive energy over the other voices', "
                      f"each alone ({each})", " / ".join(f"{c[4]:.1f}" for c in cuts) + " dB", ""),
                     (f"bass off: share of the energy below {BASS_HZ:g} Hz cut, drums off ({each})",
                      " / ".join(f"{c[1]:.1f}" for c in cuts) + " dB", "≥ 15 dB"),
                     (f"bass off: share below {BASS_HZ:g} Hz cut, drums on: the kick stays ({each})",
                      " / ".join(f"{c[2]:.1f}" for c in cuts) + " dB", "")]


def _painted_centroids(seconds: float) -> list[float]:
    """The centroid of the synth's painted images (mel → Hz by band centre), for --quick."""
    from riffcast.dsp.codec import mel_from_pixels
    from riffcast.dsp.mel import hz_to_mel, mel_to_hz
    from riffcast.dsp.params import RIFFUSION_V1 as P
    from riffcast.generation.synth import SynthGenerator
    from riffcast.generation.types import ImageRequest
    from riffcast.steering.targets import Target

    centres = mel_to_hz(np.linspace(hz_to_mel(P.f_min_hz), hz_to_mel(P.f_max_hz), P.n_mels + 2))[1:-1]
    blank = np.zeros((P.n_mels, P.chunk_columns), dtype=np.uint8)
    out = []
    for brightness in (-1.0, 0.0, 1.0):
        target = Target.from_text("lofi hip hop", seed=3, brightness=brightness)
        images = [SynthGenerator().paint(ImageRequest(target, target, 0.0, blank, start_column=k * P.chunk_columns)).image
                  for k in range(max(1, int(seconds / P.chunk_seconds)))]
        mel = np.concatenate([mel_from_pixels(image, P) for image in images], axis=1).astype(np.float64)
        spectrum = mel.sum(axis=1)
        out.append(float((centres * spectrum).sum() / spectrum.sum()))
    return out


def measure_steer(results: Results, seconds: float, steer_s: float, beats: int = 8) -> None:
    """A playlist: 90 bpm for ``steer_s``, then 120 bpm (drums only, so the onsets below 200 Hz
    are the kicks, one on every beat); ``beats`` beats either side of the change."""
    import essentia.standard as es
    import librosa

    from riffcast.dsp.params import RIFFUSION_V1 as P
    from riffcast.steering.playlist import PlaylistEntry
    from riffcast.steering.targets import Target

    old_bpm, new_bpm = 90.0, 120.0
    first, then = (Target.from_text("house music", seed=1, bpm=bpm, drums="only") for bpm in (old_bpm, new_bpm))
    audio = engine_render(first, seconds, (PlaylistEntry(first, steer_s, 1), PlaylistEntry(then, 600.0, 1)))
    steer_chunk = int(np.ceil(steer_s / P.chunk_seconds - 1e-9))  # the playlist steers from this chunk on
    old_beat, new_beat = 60.0 / old_bpm, 60.0 / new_bpm
    change_s = np.ceil(steer_chunk * P.chunk_seconds / (4 * old_beat) - 1e-9) * 4 * old_beat
    expected = np.concatenate([change_s - old_beat * np.arange(beats, 0, -1), change_s + new_beat * np.arange(0, beats + 1)])
    hop = 128
    envelope = librosa.onset.onset_strength(y=audio.astype(np.float32), sr=SR, hop_length=hop, fmax=200.0, n_mels=16)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=SR, hop_length=hop, units="time")
    nearest = np.array([onsets[np.argmin(np.abs(onsets - t))] for t in expected])
    offsets = nearest - expected
    latency = float(np.median(offsets))  # the detector's constant lag
    lost = int(np.sum(np.abs(offsets - latency) > BEAT_TOLERANCE_S))
    results.steer_lost_beats = lost
    results.steer_max_interval_error_s = float(np.abs(np.diff(nearest) - np.diff(expected)).max())
    window = audio[round(change_s * SR): round(min(change_s + 8.0, seconds) * SR)].astype(np.float32)
    tempo_s = window.size / SR
    results.steer_tempo_bpm = float(es.RhythmExtractor2013(method="multifeature")(window)[0])
    results.rows += [
        (f"bpm steer {old_bpm:g} → {new_bpm:g} mid-render (steered at {steer_chunk * P.chunk_seconds:.2f} s, "
         f"next bar line {change_s:.2f} s): beats within {BEAT_TOLERANCE_S * 1000:.0f} ms of the grid",
         f"{len(expected) - lost}/{len(expected)}", "no beat lost"),
        (f"… largest inter-onset interval error, {beats} beats either side", f"{results.steer_max_interval_error_s * 1000:.1f} ms",
         f"≤ {BEAT_TOLERANCE_S * 1000:.0f} ms"),
        (f"… tempo of the {tempo_s:.0f} s after the change (essentia)", f"{results.steer_tempo_bpm:.1f} bpm", f"{new_bpm:g} ± 2 %"),
    ]


def run(quick: bool = False) -> Results:
    """Measure (see the module docstring)."""
    results = Results()
    if quick:
        measure_tempo_and_key(results, QUICK_RENDERS, 10.0, through_engine=False)
        measure_timbre_and_parts(results, 10.24, through_engine=False, prompts=PARTS_PROMPTS[:1])
        measure_steer(results, 12.0, 5.12, beats=6)
    else:
        measure_tempo_and_key(results, RENDERS, 30.0, through_engine=True)
        measure_timbre_and_parts(results, 30.0, through_engine=True, prompts=PARTS_PROMPTS)
        measure_steer(results, 30.0, 12.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI's subset: 4 renders on the synth's audio, 10 s each")
    args = parser.parse_args()
    print(f"# Musical controls on the synth — {platform.machine()}, {os.cpu_count()} cores"
          f"{' (quick)' if args.quick else ''}\n")
    results = run(args.quick)
    print("| measure | value | target |")
    print("|---|---:|---|")
    for measure, value, target in results.rows:
        print(f"| {measure} | {value} | {target} |")
    for miss in results.misses:
        print(f"- {miss}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
