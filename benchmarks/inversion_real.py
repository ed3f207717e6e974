"""Phase reconstruction on real music: riffcast's stitcher against offline Griffin-Lim and the bound
set by the true phase, on the pieces of ``benchmarks/music_set.py`` (recordings and General MIDI
renderings from Debian packages).

Each piece goes through the real path: encoded into Riffusion images (uint8, with their level in
EXIF), decoded back to mel. From that mel, every method rebuilds audio:

- **true phase (bound)**: the mel-inverted magnitude with the original recording's phase — what
  no phase reconstruction can beat from these magnitudes;
- **offline GLA100**: librosa's Griffin-Lim, 100 iterations (momentum 0.99) over the whole piece
  at once — more than any streaming method can do;
- **original per-chunk GLA32**: the original pipeline, each 5.12 s chunk on its own (its speed
  is the reference of the speed column);
- **riffcast**: the stitcher (level stage off, so levels compare), chunk by chunk, with
  settings of its phase stage: the frequency grid (10 Hz bins: the 4410-sample window as it
  is; 5 Hz: zero-padded to 8820), what each iteration holds the magnitude to (each bin's
  min-norm magnitude, or each frame's mel bands: ``riffcast.dsp.mel_projection``), frames
  per round, look-ahead frames and iterations per round. The row marked default is what
  ``riffcast decode`` and the station run; "previous default" is what they ran before;
- **riffcast decode (whole run)**: ``riffcast decode`` itself on the piece's PNGs (reading the
  images, the default stitcher with the bandwidth extension to 16 kHz and no level stage, as
  ``decode`` defaults to, writing the WAV): its seconds per chunk are the speed figure the issue
  asks for; beside it the same with ``--bandwidth off``. No convergence is computed for them
  (below 10 kHz their audio is the default row's).

Metrics (as ``benchmarks/inversion.py``): spectral convergence of |STFT| below 10 kHz against
the original's (dB, lower is better), log-spectral distance of the mel against the original's
mel (dB), and seconds per 5.12 s chunk.

Run: ``python benchmarks/inversion_real.py`` (about 12 minutes on 2 cores with the defaults:
4 pieces of 15.36 s); ``--clips 7 --seconds 30.72`` for more, ``--first 4 --clips 3`` for the
three held-out General MIDI pieces; ``--speed``: only the speed of ``riffcast decode`` (with
and without the extension) against per-chunk GLA32, a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riffcast.cli import main as riffcast_main
from riffcast.dsp.codec import audio_to_mel, image_from_mel, mel_image_from, save_png, split_chunks
from riffcast.dsp.mel import MelInverter
from riffcast.dsp.mel_projection import MagnitudeStep
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.pipeline.stitcher import Stitcher

from harness import table
from harness.machine import host_description
from inversion import log_spectral_distance_db, per_chunk, spectral_convergence_db
from music_set import music_clips

BELOW_10K_BINS = int(PARAMS.f_max_hz / (PARAMS.sample_rate / PARAMS.n_fft)) + 1
CHUNK_S = PARAMS.chunk_columns * PARAMS.hop_samples / PARAMS.sample_rate


@dataclass(frozen=True)
class PhaseSetting:
    """One configuration of the stitcher's phase stage."""

    fft_oversampling: int  # 1: 10 Hz bins; 2: 5 Hz
    magnitude_step: MagnitudeStep
    block_frames: int
    lookahead_frames: int
    iterations: int
    note: str = ""

    @property
    def name(self) -> str:
        hz = 10 // self.fft_oversampling
        kept = "mel kept" if self.magnitude_step is MagnitudeStep.BANDS else "bins kept"
        rounds = f"{self.block_frames}-fr blocks, {self.lookahead_frames} fr × {self.iterations}"
        return f"riffcast {hz} Hz, {kept}, {rounds}" + (f" ({self.note})" if self.note else "")


SETTINGS = (
    PhaseSetting(1, MagnitudeStep.BINS, 4, 4, 8, "previous default"),
    PhaseSetting(2, MagnitudeStep.BINS, 4, 2, 6),
    PhaseSetting(1, MagnitudeStep.BANDS, 4, 2, 6),
    PhaseSetting(2, MagnitudeStep.BANDS, 4, 2, 6, "default"),
    PhaseSetting(2, MagnitudeStep.BANDS, 2, 2, 5),
    PhaseSetting(2, MagnitudeStep.BANDS, 4, 4, 8),
)


def stft(audio: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.stft(audio.astype(np.float32), n_fft=PARAMS.n_fft, hop_length=PARAMS.hop_samples,
                        win_length=PARAMS.window_samples, window="hann", center=True)


def istft(spectrum: np.ndarray, length: int) -> np.ndarray:
    import librosa

    return librosa.istft(spectrum, hop_length=PARAMS.hop_samples, win_length=PARAMS.window_samples,
                         n_fft=PARAMS.n_fft, window="hann", center=True, length=length)


def offline_gla(magnitude: np.ndarray, iterations: int, length: int) -> np.ndarray:
    import librosa

    return librosa.griffinlim(magnitude, n_iter=iterations, hop_length=PARAMS.hop_samples,
                              win_length=PARAMS.window_samples, n_fft=PARAMS.n_fft, window="hann", center=True,
                              momentum=0.99, init="random", random_state=0, length=length)


def riffcast(chunks, setting: PhaseSetting) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    stitcher = Stitcher(PARAMS, iterations=setting.iterations, lookahead_frames=setting.lookahead_frames,
                        block_frames=setting.block_frames, fft_oversampling=setting.fft_oversampling,
                        magnitude_step=setting.magnitude_step, level=None)
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    return np.concatenate([block.samples for block in blocks]), (time.perf_counter() - started) / len(chunks)


DECODE_RUNS = (("riffcast decode (whole run)", ()), ("riffcast decode --bandwidth off (whole run)", ("--bandwidth", "off")))


def decode_run(mels: list[np.ndarray], options: tuple[str, ...] = ()) -> float:
    """Seconds per chunk of ``riffcast decode [options]`` on these chunks' PNGs (images written
    first, untimed)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"chunk-{index:03d}.png" for index in range(len(mels))]
        for mel, path in zip(mels, paths):
            save_png(image_from_mel(mel, PARAMS), path)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # its one line of summary
            code = riffcast_main(["decode", *map(str, paths), "-o", str(Path(folder) / "out.wav"), *options])
        seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError("riffcast decode failed")
    return seconds / len(mels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="pieces of the music set (default 4)")
    parser.add_argument("--first", type=int, default=0, help="index of the first piece (default 0)")
    parser.add_argument("--seconds", type=float, default=3 * CHUNK_S, help="length of each, ≤ 45 (default 3 chunks)")
    parser.add_argument("--speed", action="store_true", help="only riffcast decode's speed against per-chunk GLA32")
    args = parser.parse_args()
    settings = () if args.speed else SETTINGS
    print(f"Machine: {host_description()}.")
    rows: dict[str, list[tuple[float, float, float]]] = {}
    warm = True  # load the numba kernels once, outside the timing
    for clip in music_clips()[args.first : args.first + args.clips]:  # 45 s clips, cut to --seconds
        original = clip.samples()[: round(args.seconds * PARAMS.sample_rate)]
        mels = split_chunks(audio_to_mel(original, PARAMS), PARAMS)
        chunks = [mel_image_from(image_from_mel(mel, PARAMS), PARAMS) for mel in mels]
        length = sum(chunk.columns for chunk in chunks) * PARAMS.hop_samples
        original = np.pad(original, (0, max(0, length - original.size)))[:length]
        reference = np.abs(stft(original))[:BELOW_10K_BINS]
        reference_mel = audio_to_mel(original, PARAMS)
        magnitude = MelInverter(PARAMS, fft_size=PARAMS.n_fft)(np.concatenate([c.mel * np.float32(c.max_value) for c in chunks], axis=1))
        frames = min(magnitude.shape[1], reference.shape[1])
        phase = np.exp(1j * np.angle(stft(original)))[:, :frames]

        if warm:
            for setting in settings:
                riffcast(chunks[:1], setting)
            for _, options in DECODE_RUNS:
                decode_run(mels[:1], options)
            warm = False
        outputs: dict[str, tuple[np.ndarray, float]] = {}
        if not args.speed:
            outputs["true phase (bound)"] = (istft(magnitude[:, :frames] * phase, length), float("nan"))
            started = time.perf_counter()
            outputs["offline GLA100"] = (offline_gla(magnitude, 100, None), (time.perf_counter() - started) / len(chunks))
        gla32, seconds = per_chunk(lambda m, seed: offline_gla(m, 32, None), chunks, normalise_each=False)
        outputs["original per-chunk GLA32"] = (gla32, seconds)
        for setting in settings:
            outputs[setting.name] = riffcast(chunks, setting)
        for name, options in DECODE_RUNS:
            rows.setdefault(name, []).append((float("nan"), float("nan"), decode_run(mels, options)))
        line = []
        for name, (audio, seconds) in outputs.items():
            audio = np.pad(audio, (0, max(0, length - audio.size)))[:length]
            sc = spectral_convergence_db(np.abs(stft(audio))[:BELOW_10K_BINS], reference)
            lsd = log_spectral_distance_db(audio_to_mel(audio, PARAMS), reference_mel)
            rows.setdefault(name, []).append((sc, lsd, seconds))
            line.append(f"{name}: {sc:.2f}")
        print(f"{clip.piece.name}: " + ", ".join(line), flush=True)

    reference_speed = np.mean([seconds for _, _, seconds in rows["original per-chunk GLA32"]])
    gla100 = np.mean([sc for sc, _, _ in rows.get("offline GLA100", [(np.nan, 0, 0)])])
    print()
    print(table.header(["method", "SC <10 kHz, mean (dB)", "vs offline GLA100 (dB)", "LSD mel, mean (dB)",
                        "s per chunk", "× faster than per-chunk GLA32"], "lrrrrr"))
    for name, values in rows.items():
        sc, lsd, seconds = (float(np.mean(column)) for column in zip(*values))
        speed = table.ratio(reference_speed, seconds) if np.isfinite(seconds) else "—"
        known = np.isfinite(sc)
        print(table.row([name, f"{sc:.2f}" if known else "—", f"{sc - gla100:+.2f}" if known and np.isfinite(gla100) else "—",
                         f"{lsd:.2f}" if known else "—", f"{seconds:.3f}" if np.isfinite(seconds) else "—", speed]))


if __name__ == "__main__":
    main()
