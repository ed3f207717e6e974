"""Spectrogram inversion: riffcast's stitcher against 32-iteration Griffin-Lim, same input.

Input: deterministic synthetic music (drums, bass, chords, lead; ``riffcast.generation.demo_music``)
with real dynamics (a slow ±6 dB swell over 24 s, so levels differ from chunk to chunk),
encoded into Riffusion images (uint8, 512-column chunks) and decoded back to mel, exactly
what a decoder receives. Every method gets the same mel-inverted magnitude: riffcast on
its 4410-point grid, the peers on the model's 17 640-point grid (the same matrix, every
bin), each chunk inverted on its own as the original pipeline does.

Peers: ``librosa.griffinlim`` (32 iterations, momentum 0.99, random init) and a torch replica
of torchaudio's ``GriffinLim`` (same settings), both at n_fft 17 640, win 4410, hop 441.

Metrics:
- seconds per chunk (mel inversion included) and real-time factor (5.12 s / that);
- spectral convergence (SC) of |STFT| at the model's settings against the source's true
  magnitude, bins below 10 kHz: 20·log10(‖|Y| − |X|‖ / ‖|X|‖), lower is better;
- log-spectral distance (LSD) on the mel: per frame, rms over bands of the dB difference
  between the output's mel and the input mel (both floored 80 dB under their maximum), then
  averaged over frames;
- seams: SC in ±50 ms (±5 frames) around each join, chunk by chunk vs all at once; clicks:
  energy above 8 kHz of the first difference per 10 ms window, relative to the source's in
  the same window (e_out / (e_src + median e_src), so hi-hats in the music do not count):
  its median over the joins divided by its median over all other windows, and where each
  join's window ranks among all windows (a click sits at the 100th percentile). Each output
  with the bandwidth extension off (as the model paints, 10 kHz) and on (``--bandwidth``,
  16 kHz by default); with it on, also the SC of 10–16 kHz at the joins against the source's,
  chunk by chunk vs all at once;
- loudness: EBU R128 loudness (pyloudnorm) of the 3 s before and after each join; the
  change across the join compared with the source's change at the same place.

Window mode (``riffcast.pipeline.layout``): the same mel cut into windows of 64 new columns with 16
crossfaded, each at its own scale, has its seams measured at every window join.

Run: ``python benchmarks/inversion.py`` (about 4 minutes on 2 cores; ``--seconds`` to change
the length, ``--threads`` for torch, ``--bandwidth HZ`` for the extension's top in the seams
table).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from riffcast.dsp.bandwidth_settings import DEFAULT_BANDWIDTH_HZ, BandwidthSettings
from riffcast.dsp.codec import MelImage, audio_to_mel, image_from_mel, mel_image_from, split_chunks
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.mel import MelInverter, riffusion_filterbank
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.dsp.phase_settings import DEFAULT_ITERATIONS
from riffcast.dsp.stft import magnitude_spectrogram
from riffcast.generation.demo_music import render_demo_song
from riffcast.pipeline.layout import StreamLayout
from riffcast.pipeline.stitcher import Stitcher

BELOW_10K_BINS = int(PARAMS.f_max_hz / (PARAMS.sample_rate / PARAMS.n_fft)) + 1  # 4001
SEAM_FRAMES = 5  # ±50 ms
WINDOW_COLUMNS = 64  # the synth's default window
CLICK_HIGHPASS_HZ = 8000.0
LOUDNESS_WINDOW_S = 3.0
REPEATS = 3
SWELL_DB = 6.0
SWELL_PERIOD_S = 24.0


@dataclass
class Result:
    name: str
    seconds_per_chunk: float
    audio: np.ndarray


# -- methods ----------------------------------------------------------------------------------


def riffcast_stitcher(chunks: list[MelImage], *, iterations: int = DEFAULT_ITERATIONS, level: bool = False,
                      crossfade_columns: int = 0, bandwidth: BandwidthSettings | None = None) -> np.ndarray:
    stitcher = Stitcher(PARAMS, iterations=iterations, level=LevelSettings() if level else None,
                        crossfade_columns=crossfade_columns, bandwidth=bandwidth)
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    return np.concatenate([block.samples for block in blocks])


def librosa_gla(magnitude: np.ndarray, seed: int) -> np.ndarray:
    import librosa

    return librosa.griffinlim(
        magnitude, n_iter=32, hop_length=PARAMS.hop_samples, win_length=PARAMS.window_samples,
        n_fft=PARAMS.n_fft, window="hann", center=True, momentum=0.99, init="random", random_state=seed,
    )


def torch_gla(magnitude: np.ndarray, seed: int) -> np.ndarray:
    """torchaudio.functional.griffinlim, line for line (torchaudio is not installed here)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    specgram = torch.from_numpy(magnitude.astype(np.float32))
    window = torch.hann_window(PARAMS.window_samples)
    stft = dict(n_fft=PARAMS.n_fft, hop_length=PARAMS.hop_samples, win_length=PARAMS.window_samples, window=window)
    angles = torch.rand(specgram.shape, dtype=torch.complex64, generator=generator)
    tprev = torch.tensor(0.0, dtype=specgram.dtype)
    momentum = 0.99 / (1 + 0.99)
    for _ in range(32):
        inverse = torch.istft(specgram * angles, **stft)
        rebuilt = torch.stft(inverse, **stft, center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        angles = rebuilt
        angles = angles - tprev.mul_(momentum)
        angles = angles.div(angles.abs().add(1e-16))
        tprev = rebuilt
    return torch.istft(specgram * angles, **stft).numpy()


def windows_of(mel: np.ndarray, layout: StreamLayout) -> list[MelImage]:
    """Absolute mel (n_mels, columns) cut as window mode stitches it (the first image whole,
    then each window's crossfade and new columns), every piece at its own scale with its level."""
    pieces = [layout.stitched_part(mel[:, start : start + layout.chunk_columns], index)
              for index, start in enumerate(range(0, mel.shape[1] - layout.chunk_columns + 1, layout.window_columns))]
    return [MelImage(piece / piece.max(), float(piece.max())) for piece in pieces]


def per_chunk(gla, chunks: list[MelImage], normalise_each: bool) -> tuple[np.ndarray, float]:
    """Invert every chunk on its own (the original pipeline); optionally peak-normalise each."""
    inverter = MelInverter(PARAMS, fft_size=PARAMS.n_fft)
    pieces, started = [], time.perf_counter()
    for index, chunk in enumerate(chunks):
        magnitude = inverter(chunk.mel * np.float32(chunk.max_value))
        audio = gla(magnitude, index)
        audio = np.pad(audio, (0, chunk.columns * PARAMS.hop_samples - audio.size))
        if normalise_each:
            audio = audio / np.max(np.abs(audio)) * 0.5
        pieces.append(audio.astype(np.float32))
    return np.concatenate(pieces), (time.perf_counter() - started) / len(chunks)


# -- metrics ---------------------------------------------------------------------------------


def spectral_convergence_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    return float(20 * np.log10(np.linalg.norm(estimate - reference) / np.linalg.norm(reference)))


def log_spectral_distance_db(mel_estimate: np.ndarray, mel_reference: np.ndarray, floor_db: float = 80.0) -> float:
    floor = 10 ** (-floor_db / 20)
    a = np.maximum(mel_estimate, mel_estimate.max() * floor)
    b = np.maximum(mel_reference, mel_reference.max() * floor)
    return float(np.mean(np.sqrt(np.mean((20 * np.log10(a / b)) ** 2, axis=0))))


def click_energy(audio: np.ndarray) -> np.ndarray:
    """Energy above 8 kHz of the first difference, per 10 ms window centred on multiples of 10 ms."""
    difference = np.diff(audio, prepend=audio[:1])
    spectrum = np.fft.rfft(difference)
    spectrum[: int(CLICK_HIGHPASS_HZ / PARAMS.sample_rate * audio.size)] = 0
    high = np.fft.irfft(spectrum, n=audio.size)
    hop = PARAMS.hop_samples
    padded = np.pad(high, (hop // 2, hop))
    windows = padded[: (audio.size // hop) * hop].reshape(-1, hop)
    return np.sum(windows**2, axis=1)


def loudness_lufs(meter, audio: np.ndarray) -> float:
    return float(meter.integrated_loudness(audio.astype(np.float64)))


# -- run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.72, help="length of the music (default 6 chunks)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--bandwidth", type=float, default=float(DEFAULT_BANDWIDTH_HZ),
                        help=f"the extension's top in the seams table, Hz (default {DEFAULT_BANDWIDTH_HZ})")
    args = parser.parse_args()
    extension = BandwidthSettings(top_hz=args.bandwidth)
    import pyloudnorm
    import torch

    torch.set_num_threads(args.threads)
    music = render_demo_song(args.seconds, seed=0)
    t = np.arange(music.size) / PARAMS.sample_rate
    music = (music * 10 ** (SWELL_DB * np.sin(2 * np.pi * t / SWELL_PERIOD_S) / 20)).astype(np.float32)
    mel = audio_to_mel(music, PARAMS)
    full_width = (mel.shape[1] // PARAMS.chunk_columns) * PARAMS.chunk_columns
    chunks = [mel_image_from(image_from_mel(part, PARAMS), PARAMS) for part in split_chunks(mel[:, :full_width], PARAMS)]
    frames = full_width
    input_mel = np.concatenate([chunk.mel * chunk.max_value for chunk in chunks], axis=1)
    truth = magnitude_spectrogram(music, PARAMS)[:BELOW_10K_BINS, :frames]
    filters = riffusion_filterbank(PARAMS).astype(np.float32)

    riffcast_stitcher(chunks[:1])  # compile / load the numba kernels outside the timing
    results = []
    for name, iterations in ((f"riffcast RTPGHI+FGLA×{DEFAULT_ITERATIONS} (default)", DEFAULT_ITERATIONS),
                             ("riffcast RTPGHI only", 0)):
        timings = []
        for _ in range(REPEATS):  # the median of a few runs: this machine's timings wander
            started = time.perf_counter()
            audio = riffcast_stitcher(chunks, iterations=iterations)
            timings.append((time.perf_counter() - started) / len(chunks))
        results.append(Result(name, float(np.median(timings)), audio))
    librosa_audio, librosa_time = per_chunk(librosa_gla, chunks, normalise_each=False)
    results.append(Result("librosa griffinlim ×32", librosa_time, librosa_audio))
    torch_audio, torch_time = per_chunk(torch_gla, chunks, normalise_each=False)
    results.append(Result("torch(audio) GriffinLim ×32", torch_time, torch_audio))

    print(f"# Inversion benchmark — {len(chunks)} chunks ({frames * PARAMS.hop_samples / PARAMS.sample_rate:.2f} s of music)")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; torch threads {args.threads}")
    print()
    print("| method | s/chunk | × real time | SC <10 kHz (dB) | LSD mel (dB) | × faster than librosa | × faster than torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        magnitude = magnitude_spectrogram(result.audio, PARAMS)[:, :frames]
        convergence = spectral_convergence_db(magnitude[:BELOW_10K_BINS], truth)
        distance = log_spectral_distance_db(filters @ magnitude, input_mel)
        print(
            f"| {result.name} | {result.seconds_per_chunk:.3f} | {PARAMS.chunk_seconds / result.seconds_per_chunk:.1f} "
            f"| {convergence:.2f} | {distance:.2f} | {librosa_time / result.seconds_per_chunk:.1f} "
            f"| {torch_time / result.seconds_per_chunk:.1f} |"
        )

    # Seams: the stitcher chunk by chunk vs all at once, extension off and on, and the original's way.
    whole_chunk = [MelImage(input_mel / input_mel.max(), float(input_mel.max()))]
    original = librosa_audio
    original_normalised = np.concatenate(
        [piece / np.max(np.abs(piece)) * 0.5 for piece in np.split(original, len(chunks))]
    )
    joins = [index * PARAMS.chunk_columns for index in range(1, len(chunks))]
    layout = StreamLayout.windows(WINDOW_COLUMNS)
    window_chunks = windows_of(input_mel, layout)
    window_joins = [column for column in (layout.start_column(k) for k in range(1, frames)) if column < frames - SEAM_FRAMES]
    full_truth = magnitude_spectrogram(music, PARAMS)[:, :frames]
    bin_hz = PARAMS.sample_rate / PARAMS.n_fft
    high_band = slice(BELOW_10K_BINS, int(min(args.bandwidth, 16000.0) / bin_hz) + 1)  # 10–16 kHz
    source_energy = click_energy(music[: frames * PARAMS.hop_samples])

    def seams_db(magnitude: np.ndarray, truth_part: np.ndarray, places: list[int]) -> np.ndarray:
        return np.array([spectral_convergence_db(magnitude[:, j - SEAM_FRAMES : j + SEAM_FRAMES],
                                                 truth_part[:, j - SEAM_FRAMES : j + SEAM_FRAMES]) for j in places])

    print()
    print(f"## Seams (joins at every 5.12 s; windows: every {WINDOW_COLUMNS} columns from 5.12 s on; "
          f"extension on: --bandwidth {args.bandwidth:g})")
    print()
    print("| output | extension | SC ±50 ms at joins, mean (dB) | vs all at once, mean (dB) | worst join vs all at once (dB) "
          "| 10–16 kHz SC at joins vs all at once, mean / worst (dB) | click measure at joins / elsewhere (≤ 1.2) "
          "| percentile of each join |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    outputs = []
    for label, settings in (("off", None), ("on", extension)):
        whole = riffcast_stitcher(whole_chunk, bandwidth=settings)
        chunked = results[0].audio if settings is None else riffcast_stitcher(chunks, bandwidth=settings)
        windowed = riffcast_stitcher(window_chunks, crossfade_columns=layout.crossfade_columns, bandwidth=settings)
        full_whole = magnitude_spectrogram(whole, PARAMS)[:, :frames]
        outputs += [("riffcast, all at once", label, whole, joins, full_whole),
                    ("riffcast, chunk by chunk", label, chunked, joins, full_whole),
                    (f"riffcast, windows of {WINDOW_COLUMNS} ({layout.crossfade_columns} crossfaded)", label, windowed,
                     window_joins, full_whole)]
    outputs += [("original: each chunk alone (librosa GLA)", "off", original, joins, None),
                ("original, per-clip normalised", "off", original_normalised, joins, None)]
    off_whole = outputs[0][4]
    for name, label, audio, places, whole_full in outputs:
        full = magnitude_spectrogram(audio, PARAMS)[:, :frames]
        reference = off_whole if whole_full is None else whole_full
        seams = seams_db(full[:BELOW_10K_BINS], truth, places)
        difference = seams - seams_db(reference[:BELOW_10K_BINS], truth, places)
        high = "—"
        if label == "on":
            high_difference = (seams_db(full[high_band], full_truth[high_band], places)
                               - seams_db(reference[high_band], full_truth[high_band], places))
            high = f"{np.mean(high_difference):+.2f} / {np.max(high_difference):+.2f}"
        relative = click_energy(audio[: frames * PARAMS.hop_samples]) / (source_energy + np.median(source_energy))
        elsewhere = np.delete(relative, places)
        ratio = np.median(relative[places]) / np.median(elsewhere)
        percentiles = [100 * np.mean(elsewhere < relative[j]) for j in places]
        ranks = (" ".join(f"{rank:.0f}" for rank in percentiles) if len(places) <= 8
                 else f"median {np.median(percentiles):.0f}, max {np.max(percentiles):.0f} ({len(places)} joins)")
        print(
            f"| {name} | {label} | {np.mean(seams):.2f} | {np.mean(difference):+.2f} | {np.max(difference):+.2f} "
            f"| {high} | {ratio:.2f} | {ranks} |"
        )

    # Loudness across joins.
    meter = pyloudnorm.Meter(PARAMS.sample_rate)
    window = int(LOUDNESS_WINDOW_S * PARAMS.sample_rate)
    unknown = [MelImage(chunk.mel, None) for chunk in chunks]
    levelled = riffcast_stitcher(chunks, level=True)
    model_like = riffcast_stitcher(unknown, level=True)

    def jumps(audio: np.ndarray) -> np.ndarray:
        cuts = [j * PARAMS.hop_samples for j in joins]
        return np.array([loudness_lufs(meter, audio[c : c + window]) - loudness_lufs(meter, audio[c - window : c]) for c in cuts])

    source_jumps = jumps(music)
    print()
    print("## Loudness across joins (EBU R128, 3 s each side)")
    print()
    print("| output | change at each join (LU) | mean |Δ − source Δ| (LU) | max |Δ − source Δ| (LU) |")
    print("|---|---|---:|---:|")
    for name, audio in (
        ("source audio", music),
        ("riffcast, level stage at −16 LUFS, images with their level (EXIF)", levelled),
        ("riffcast, level stage at −16 LUFS, levels unknown (as the model paints)", model_like),
        ("original, per-clip normalised", original_normalised),
    ):
        change = jumps(audio)
        deviation = np.abs(change - source_jumps)
        print(f"| {name} | {' '.join(f'{c:+.1f}' for c in change)} | {deviation.mean():.2f} | {deviation.max():.2f} |")


if __name__ == "__main__":
    main()
