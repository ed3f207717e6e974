"""Musicality of the procedural ``synth``, measured from the outside (essentia and librosa).

- Key: renders of 12 tonics × major/minor (drums on) → essentia ``KeyExtractor`` with the
  ``temperley`` and ``edma`` profiles: the key asked for, exactly, by either; and the share of
  chroma energy on the asked key's scale (librosa CQT chroma, drums and all).
- Tempo: 16 prompts → essentia ``RhythmExtractor2013``: exact (±4 %) or double/half.
- Form and dynamics: 5 minutes of each of 4 prompts → essentia ``LoudnessEBUR128`` loudness
  range, and the section contrast of a Foote novelty curve (MFCC + chroma in 0.5 s blocks,
  self-similarity, a Gaussian checkerboard kernel of ±8 s): its 99th percentile over its median.
- Genre timbre: mean-MFCC distance (frames within 30 dB of the loudest) of the closest pair of
  12 genres against the median distance between two seeds of one genre (2-minute renders).
- Changes on the grid: seed changes and playlist (prompt) changes switched at arbitrary moments,
  rendered across the change (``generation.changes``): the change's distance to the synth's own
  downbeat grid and to the nearest onset librosa detects (an outside check), and the tempo
  essentia hears in the 8 bars before and after it (windowed tempo).
- Section lines: the peaks of the novelty curve of the 5-minute renders, in bars from the nearest
  8-bar line.
- Speed: 60 s rendered on one core, as one window and as the station paints it (64-column
  images, encoded).

The audio is ``render_audio`` (the song the synth paints, before the image and inversion).
Run: ``python benchmarks/musicality.py`` (about 4 minutes on 2 cores), ``--quick`` for CI's subset.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np

SR = 44100
HALF_KERNEL_S = 8.0  # the novelty kernel's half width: no novelty value within it of either end
TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY_GENRES = ("pop", "house", "lofi", "rock", "funk", "techno", "hip hop", "synthwave", "disco", "trance", "reggae", "drum and bass")
TEMPO_PROMPTS = ("lofi hip hop", "hip hop", "trap", "deep house", "techno", "trance", "disco", "funk", "drum and bass",
                 "jungle", "jazz", "blues", "rock", "metal", "reggae", "classical piano")
TIMBRE_GENRES = ("lofi", "house", "techno", "jazz", "rock", "drum and bass", "reggae", "trap", "metal", "ambient", "disco", "blues")
FORM_PROMPTS = ("deep house", "lofi hip hop", "rock", "jazz")
# (from, to, seed from, seed to): a seed change and three playlist changes, each at SWITCHES moments.
CHANGES = (("lofi hip hop", "lofi hip hop", 0, 1), ("deep house", "jazz trio 140 bpm", 0, 0),
           ("rock", "lofi hip hop", 2, 3), ("jazz", "drum and bass", 4, 5))
SWITCHES = 3
ALIGN_MS = 10.0  # a change lands within this of a downbeat
ONSET_HOP = 128  # librosa onset detection hop, samples (2.9 ms)
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}  # minor: natural + leading tone
PITCH = {name: i for i, name in enumerate(TONICS)} | {"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10}
TARGETS = {"key exact": "≥ 21/24", "key exact, minor": "≥ 10/12", "in-scale chroma": "≥ 0.8", "tempo": "≥ 15/16",
           "loudness range": "≥ 5 LU", "section contrast": "≥ 4", "timbre ratio": "≥ 2", "aligned": f"≤ {ALIGN_MS:g} ms",
           "windowed tempo": "all", "section lines": "all / all", "speed": "≥ 20× real time"}

# The CI subset's thresholds (tests/test_compose_benchmark.py), in place of the full run's.
QUICK_TARGETS = {TARGETS["key exact"]: "≥ 5/6", TARGETS["key exact, minor"]: "≥ 2/3", TARGETS["tempo"]: "≥ 5/6"}


@dataclass
class Results:
    """Every measured figure; ``rows`` is the printed table: (measure, value, target)."""

    key_exact: int = 0
    key_total: int = 0
    key_minor_exact: int = 0
    key_minor_total: int = 0
    in_scale: float = 0.0
    tempo_ok: int = 0
    tempo_total: int = 0
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def render(prompt: str, seed: int, start_s: float, seconds: float) -> np.ndarray:
    """``seconds`` of the song ``prompt`` plays with ``seed``, from ``start_s`` (float32 mono)."""
    from riffcast.generation.style import style_from_prompt
    from riffcast.generation.voices import render_audio

    return render_audio(style_from_prompt(prompt), seed, int(start_s * SR), int(seconds * SR), SR)


def key_of(audio: np.ndarray, profile: str) -> tuple[int, str]:
    import essentia.standard as es

    key, scale, _ = es.KeyExtractor(profileType=profile, sampleRate=SR)(audio.astype(np.float32))
    return PITCH[key], scale


def in_scale_share(audio: np.ndarray, root: int, mode: str) -> float:
    """Share of CQT chroma energy on the scale of (root, mode)."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=SR, hop_length=2048).sum(axis=1)
    on = [(root + degree) % 12 for degree in SCALES[mode]]
    return float(chroma[on].sum() / chroma.sum())


def measure_keys(results: Results, tonics: tuple[str, ...], seconds: float) -> None:
    shares = []
    for index, tonic in enumerate(tonics):
        genre = KEY_GENRES[TONICS.index(tonic) % len(KEY_GENRES)]
        for mode in ("major", "minor"):
            prompt = f"{genre} in {tonic} {mode}"
            audio = render(prompt, index, 20.0, seconds)
            found = [key_of(audio, profile) for profile in ("temperley", "edma")]
            exact = (PITCH[tonic], mode) in found
            results.key_total += 1
            results.key_exact += exact
            if mode == "minor":
                results.key_minor_total += 1
                results.key_minor_exact += exact
            if not exact:
                results.misses.append(f"key: {prompt!r} heard as {found}")
            shares.append(in_scale_share(audio, PITCH[tonic], mode))
    results.in_scale = float(np.mean(shares))
    results.rows += [
        ("key exact (temperley or edma)", f"{results.key_exact}/{results.key_total}", TARGETS["key exact"]),
        ("key exact, minor", f"{results.key_minor_exact}/{results.key_minor_total}", TARGETS["key exact, minor"]),
        ("in-scale chroma with drums (mean)", f"{results.in_scale:.2f} (min {min(shares):.2f})", TARGETS["in-scale chroma"]),
    ]


def measure_tempo(results: Results, prompts: tuple[str, ...], seconds: float) -> None:
    import essentia.standard as es

    from riffcast.generation.style import style_from_prompt

    exact = 0
    for prompt in prompts:
        asked = style_from_prompt(prompt).tempo_bpm
        bpm = es.RhythmExtractor2013(method="multifeature")(render(prompt, 0, 20.0, seconds))[0]
        ratios = [bpm / asked * factor for factor in (1.0, 2.0, 0.5)]
        hit = [abs(r - 1.0) <= 0.04 for r in ratios]
        exact += hit[0]
        results.tempo_total += 1
        results.tempo_ok += any(hit)
        if not any(hit):
            results.misses.append(f"tempo: {prompt!r} asked {asked:.1f}, heard {bpm:.1f}")
    results.rows += [("tempo exact or double/half (exact)", f"{results.tempo_ok}/{results.tempo_total} ({exact})", TARGETS["tempo"])]


def section_contrast(audio: np.ndarray) -> float:
    """p99 / median of the novelty curve (:func:`novelty_curve`)."""
    novelty, _ = novelty_curve(audio)
    return float(np.percentile(novelty, 99) / max(np.median(novelty), 1e-9))


def novelty_curve(audio: np.ndarray, frame_s: float = 0.5, half_kernel_s: float = HALF_KERNEL_S) -> tuple[np.ndarray, float]:
    """A Foote novelty curve over MFCC + chroma, mean-pooled into blocks of ``frame_s``, with a
    Gaussian-tapered checkerboard kernel of ± ``half_kernel_s`` → (novelty ≥ 0, one value per block
    from the kernel's half width on; the block length in seconds)."""
    import librosa

    hop = 2048  # 46 ms analysis frames, mean-pooled into blocks of ``frame_s`` (no aliasing with the beat)
    y = audio.astype(np.float32)
    block = max(1, round(frame_s * SR / hop))

    def pooled(features: np.ndarray) -> np.ndarray:
        count = features.shape[1] // block
        return features[:, : count * block].reshape(features.shape[0], count, block).mean(axis=2)

    mfcc = pooled(librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, hop_length=hop, n_fft=4096)[1:])
    chroma = pooled(librosa.feature.chroma_stft(y=y, sr=SR, hop_length=hop, n_fft=8192))
    features = np.vstack([(mfcc - mfcc.mean(1, keepdims=True)) / (mfcc.std(1, keepdims=True) + 1e-9),
                          (chroma - chroma.mean(1, keepdims=True)) / (chroma.std(1, keepdims=True) + 1e-9)])
    unit = features / (np.linalg.norm(features, axis=0, keepdims=True) + 1e-9)
    ssm = unit.T @ unit
    half = int(half_kernel_s / (block * hop / SR))
    axis = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (axis[:, None] ** 2 + axis[None, :] ** 2) / (0.5 * half) ** 2)
    kernel = np.sign(axis[:, None]) * np.sign(axis[None, :]) * taper
    n = ssm.shape[0]
    novelty = np.array([np.sum(kernel * ssm[i - half:i + half, i - half:i + half]) for i in range(half, n - half)])
    block_s = block * hop / SR
    return np.maximum(novelty, 0.0), block_s


def novelty_peaks(novelty: np.ndarray, block_s: float, half_kernel_s: float = HALF_KERNEL_S, share: float = 0.5) -> np.ndarray:
    """Times (s, in the audio) of the novelty curve's local maxima above ``share`` of its 99th
    percentile, at least ``half_kernel_s`` apart (the kernel cannot resolve closer ones)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(novelty, height=share * np.percentile(novelty, 99), distance=max(1, int(half_kernel_s / block_s)))
    half = int(half_kernel_s / block_s)
    return (peaks + half) * block_s


def loudness_range(audio: np.ndarray) -> float:
    import essentia.standard as es

    stereo = np.column_stack([audio, audio]).astype(np.float32)
    return float(es.LoudnessEBUR128(sampleRate=SR)(stereo)[3])


def measure_form(results: Results, prompts: tuple[str, ...], seconds: float) -> None:
    from riffcast.generation.compose import bar_seconds
    from riffcast.generation.form import place
    from riffcast.generation.harmony import PHRASE_BARS
    from riffcast.generation.style import style_from_prompt

    for prompt in prompts:
        audio = render(prompt, 0, 0.0, seconds)
        novelty, block_s = novelty_curve(audio)
        bar_s = bar_seconds(style_from_prompt(prompt))
        peaks_s = novelty_peaks(novelty, block_s)
        bars = peaks_s / bar_s
        off = np.abs(bars - PHRASE_BARS * np.round(bars / PHRASE_BARS))
        # The form's own section boundaries (where the section changes), and whether each is heard:
        # a strong novelty peak within ½ bar of it (the other strong peaks are changes inside sections).
        # A boundary within the kernel's half width of either end has no novelty value to be heard by:
        # counted on the line, not judged for being heard.
        boundaries = [bar for bar in range(1, int(seconds / bar_s)) if place(0, bar).index != place(0, bar - 1).index]
        audio_s = audio.size / SR
        judged = [bar for bar in boundaries if HALF_KERNEL_S <= bar * bar_s <= audio_s - HALF_KERNEL_S]
        heard = [peaks_s.size > 0 and np.min(np.abs(peaks_s - bar * bar_s)) <= 0.5 * bar_s for bar in judged]
        contrast = float(np.percentile(novelty, 99) / max(np.median(novelty), 1e-9))
        results.rows += [
            (f"loudness range, {seconds / 60:g} min of {prompt!r}", f"{loudness_range(audio):.1f} LU", TARGETS["loudness range"]),
            (f"section contrast (novelty p99/median), {prompt!r}", f"{contrast:.2f}", TARGETS["section contrast"]),
            (f"novelty peaks on an 8-bar line (± ½ bar), {prompt!r}: bars off (max)",
             f"{int(np.sum(off <= 0.5))}/{off.size} ({off.max():.2f})", ""),
            (f"section boundaries on 8-bar lines / heard there (a novelty peak ± ½ bar), {prompt!r}",
             f"{sum(bar % PHRASE_BARS == 0 for bar in boundaries)}/{len(boundaries)} / {sum(heard)}/{len(judged)}"
             + (f" ({len(boundaries) - len(judged)} within {HALF_KERNEL_S:g} s of an end: not judged)"
                if len(judged) < len(boundaries) else ""),
             TARGETS["section lines"]),
        ]


def measure_changes(results: Results, cases: tuple[tuple[str, str, int, int], ...], switches: int) -> None:
    """Seed and playlist changes switched at ``switches`` arbitrary moments each: where they land
    (the synth's grid, and librosa's onsets as an outside check) and the tempo before and after."""
    import essentia.standard as es
    import librosa

    from riffcast.generation import form
    from riffcast.generation.changes import bar_start, change_at, render_across
    from riffcast.generation.compose import bar_seconds
    from riffcast.generation.style import DrumFamily, style_from_prompt
    from riffcast.generation.types import BarGrid
    from riffcast.steering.walk import Landing

    grid_ms, onset_ms, tempo_ok, total = [], [], 0, 0
    for number, (before_text, after_text, seed_before, seed_after) in enumerate(cases):
        before, after = style_from_prompt(before_text), style_from_prompt(after_text)
        draw = np.random.default_rng(number)
        for switch_s in draw.uniform(30.0, 90.0, switches):
            switch = int(switch_s * SR)
            # A transition begins at ``switch`` (an entry's, or the seed walk's) and passes alpha 0.5 5 s later.
            change = change_at(before, after, BarGrid(), SR, transition_sample=switch, switch_sample=switch + 5 * SR,
                               end_sample=switch + 20 * SR, landing=Landing.BAR)
            lead = int(8 * bar_seconds(before) * SR)
            audio = render_across((before, seed_before), BarGrid(), (after, seed_after), change,
                                  change.at_sample - lead, lead + int(8 * bar_seconds(after) * SR), SR)
            bar = round(change.at_sample / (bar_seconds(before) * SR))
            grid_ms.append(1000.0 * abs(change.at_sample - bar_start(BarGrid(), before, bar, SR)) / SR)
            if form.arrangement(form.place(seed_after, change.grid.bar), after.band).drums and after.drums is not DrumFamily.NONE:
                onsets = librosa.onset.onset_detect(y=audio, sr=SR, hop_length=ONSET_HOP, units="samples", backtrack=True)
                onset_ms.append(1000.0 * float(np.min(np.abs(onsets - lead))) / SR if onsets.size else float("inf"))
            heard = [es.RhythmExtractor2013(method="multifeature")(part)[0] for part in (audio[:lead], audio[lead:])]
            fits = [any(abs(bpm / style.tempo_bpm * factor - 1.0) <= 0.04 for factor in (1.0, 2.0, 0.5))
                    for bpm, style in zip(heard, (before, after))]
            total += 1
            tempo_ok += all(fits)
            if not all(fits):
                results.misses.append(f"windowed tempo: {before_text!r} → {after_text!r} at {switch_s:.1f} s: asked "
                                      f"{before.tempo_bpm:.0f} → {after.tempo_bpm:.0f}, heard {heard[0]:.1f} → {heard[1]:.1f}")
    results.rows += [
        (f"seed and playlist changes ({total}): from the synth's downbeat, max", f"{max(grid_ms):.2f} ms", TARGETS["aligned"]),
        (f"… from the nearest onset librosa detects, {len(onset_ms)} changes into a bar with drums: median (max)",
         f"{np.median(onset_ms):.1f} ms ({max(onset_ms):.1f})",
         TARGETS["aligned"]),
        ("windowed tempo (8 bars before / after the change) as asked, ×2/½ allowed", f"{tempo_ok}/{total}",
         TARGETS["windowed tempo"]),
    ]


def mean_mfcc(audio: np.ndarray, gate_db: float = 30.0) -> np.ndarray:
    """Mean MFCC 1–19 over the frames within ``gate_db`` of the loudest (gaps between hits left out)."""
    import librosa

    y = audio.astype(np.float32)
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, hop_length=1024)
    rms = librosa.feature.rms(y=y, hop_length=1024)[0][: mfcc.shape[1]]
    loud = 20.0 * np.log10(rms + 1e-12) > 20.0 * np.log10(rms.max() + 1e-12) - gate_db
    return mfcc[1:, loud].mean(axis=1)


def measure_timbre(results: Results, genres: tuple[str, ...], seconds: float) -> None:
    """Mean-MFCC distances: every pair of genres (seed 0) against seeds 0 and 1 of each genre."""
    vectors = {(genre, seed): mean_mfcc(render(genre, seed, 0.0, seconds)) for genre in genres for seed in (0, 1)}
    within = {g: float(np.linalg.norm(vectors[g, 0] - vectors[g, 1])) for g in genres}
    between = {(a, b): float(np.linalg.norm(vectors[a, 0] - vectors[b, 0])) for i, a in enumerate(genres) for b in genres[i + 1:]}
    pair = min(between, key=between.get)
    worst = max(within, key=within.get)
    median = float(np.median(list(within.values())))
    results.rows += [
        (f"MFCC distance, closest genres ({seconds:g} s)", f"{between[pair]:.1f} ({pair[0]}–{pair[1]})", ""),
        ("MFCC distance, two seeds of a genre: median (max)", f"{median:.1f} ({within[worst]:.1f}, {worst})", ""),
        ("timbre ratio (closest genres / median seeds)", f"{between[pair] / median:.2f}", TARGETS["timbre ratio"]),
    ]


def measure_speed(results: Results, seconds: float) -> None:
    """60 s in one window, and as 64-column images painted and encoded, pinned to one core."""
    import riffcast.generation.voices  # noqa: F401 — imports are not rendering
    from riffcast.dsp.params import RIFFUSION_V1 as P
    from riffcast.generation.synth import SynthGenerator
    from riffcast.generation.types import ImageRequest
    from riffcast.steering.targets import Target

    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    try:
        began = time.perf_counter()
        render("funky disco in G minor", 12345, 0.0, seconds)
        whole = seconds / (time.perf_counter() - began)
        target = Target.from_text("jazzy lofi hip hop in D minor", seed=4321)
        blank = np.zeros((P.n_mels, P.chunk_columns), dtype=np.uint8)
        window, keep = 64, P.chunk_columns - 64
        generator = SynthGenerator(P)
        images = int(seconds / (window * P.hop_samples / SR))
        began = time.perf_counter()
        for i in range(images):
            generator.paint(ImageRequest(target, target, 0.0, blank, keep_columns=keep, index=i, start_column=i * window - keep))
        painted = seconds / (time.perf_counter() - began)
    finally:
        os.sched_setaffinity(0, previous)
    results.rows += [(f"render {seconds:g} s, one window, one core", f"{whole:.0f}× real time", TARGETS["speed"]),
                     (f"paint {seconds:g} s as 64-column images (render + encode), one core", f"{painted:.0f}× real time", "")]


def run(quick: bool = False) -> Results:
    """Measure; ``quick``: 6 key renders and 6 tempo prompts of 15 s (CI), no form/timbre/speed."""
    results = Results()
    if quick:
        measure_keys(results, ("C", "E", "A"), 15.0)
        measure_tempo(results, ("lofi hip hop", "deep house", "drum and bass", "jazz", "rock", "reggae"), 15.0)
        results.rows = [(measure, value, QUICK_TARGETS.get(target, target)) for measure, value, target in results.rows]
        return results
    measure_speed(results, 60.0)
    measure_keys(results, TONICS, 30.0)
    measure_tempo(results, TEMPO_PROMPTS, 30.0)
    measure_form(results, FORM_PROMPTS, 300.0)
    measure_changes(results, CHANGES, SWITCHES)
    measure_timbre(results, TIMBRE_GENRES, 120.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI's subset: 6 keys and 6 tempi of 15 s")
    args = parser.parse_args()
    print(f"# Musicality of the synth — {platform.machine()}, {os.cpu_count()} cores{' (quick)' if args.quick else ''}\n")
    results = run(args.quick)
    print("| measure | value | target |")
    print("|---|---:|---|")
    for measure, value, target in results.rows:
        print(f"| {measure} | {value} | {target} |")
    for miss in results.misses:
        print(f"- {miss}")


if __name__ == "__main__":
    main()
