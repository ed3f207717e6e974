"""Full band: the bandwidth extension on held-out real music, against the original recording.

Each piece of ``music_set.PIECES`` (held out of ``bandwidth_train.py``'s training) is encoded to
Riffusion images (8-bit, level in EXIF) and decoded by the stitcher with the level stage off
(so levels compare), three ways: without the extension (``--bandwidth off``: nothing above
10 kHz), with it (the shipped model, ``--bandwidth 16000``), and with the fixed-slope copy-up
peer (the same replication, every band X dB/octave under its source, X fitted on the training
set: ``peer_db_per_octave`` in the model file). Against the original:

- brightness: the spectral centroid of 0–16 kHz in 1 s windows; the share of windows within
  ±15 % of the original's;
- the high band: 1/3-octave band energies (the standard bands 10, 12.5 and 16 kHz, cut to
  10–16 kHz) per 1 s window, median absolute error in dB (windows where the original's band is
  more than 60 dB under its loudest are left out);
- hiss: over the original's quietest 10 % of 100 ms frames (broadband), the 10–16 kHz energy of
  the decode minus the original's (dB);
- below 10 kHz: spectral convergence of |STFT| (4096-point Hann, hop 1024) below 10 kHz, dB;
- cost: CPU seconds of the stitcher with the extension over without (same chunks, best of 2).

Run: ``python benchmarks/fullband.py`` (a few minutes on 2 cores; the music set's packages);
``--quick``: synthetic music, 6 s, no packages (what the CI's benchmark test runs).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from riffcast.dsp.bandwidth_model import MODEL_PATH, fixed_slope_model
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import audio_to_mel, image_from_mel, mel_image_from, split_chunks
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.pipeline.stitcher import Stitcher

from harness.machine import host_description

RATE = PARAMS.sample_rate
THIRD_OCTAVES_HZ = ((10000.0, 11220.0), (11220.0, 14125.0), (14125.0, 16000.0))


def decode(audio: np.ndarray, bandwidth: BandwidthSettings | None, model=None) -> tuple[np.ndarray, float]:
    """Encode ``audio`` to images and stitch them back (level stage off) → (samples, CPU s)."""
    chunks = [mel_image_from(image_from_mel(mel, PARAMS), PARAMS) for mel in split_chunks(audio_to_mel(audio, PARAMS), PARAMS)]
    stitcher = Stitcher(PARAMS, level=None)
    stitcher.set_bandwidth(bandwidth, model)
    started = time.process_time()
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    return np.concatenate([block.samples for block in blocks])[: audio.size], time.process_time() - started


def power_spectrogram(x: np.ndarray, size: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) |STFT|² (Hann ``size``, every ``hop``) and the bins' Hz."""
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), size)[::hop]
    return np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2, np.fft.rfftfreq(size, 1 / RATE)


def centroids_hz(x: np.ndarray) -> np.ndarray:
    power, hz = power_spectrogram(x, RATE, RATE)  # 1 s windows
    band = hz <= 16000.0
    return (power[:, band] @ hz[band]) / (power[:, band].sum(axis=1) + 1e-30)


def third_octave_db(x: np.ndarray) -> np.ndarray:
    power, hz = power_spectrogram(x, RATE, RATE)
    return np.array([10 * np.log10(power[:, (hz >= lo) & (hz < hi)].sum(axis=1) + 1e-30) for lo, hi in THIRD_OCTAVES_HZ]).T


def quiet_high_band_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """Over the original's quietest 10 % of 100 ms frames: 10–16 kHz energy, decode − original (dB)."""
    size = RATE // 10
    orig, hz = power_spectrogram(original, size, size)
    dec, _ = power_spectrogram(decoded, size, size)
    loudness = orig.sum(axis=1)
    quiet = loudness <= np.quantile(loudness, 0.1)
    high = (hz >= 10000.0) & (hz < 16000.0)
    return float(10 * np.log10((dec[quiet][:, high].sum() + 1e-30) / (orig[quiet][:, high].sum() + 1e-30)))


def convergence_below_10k_db(original: np.ndarray, decoded: np.ndarray) -> float:
    orig, hz = power_spectrogram(original, 4096, 1024)
    dec, _ = power_spectrogram(decoded, 4096, 1024)
    low = hz < 10000.0
    a, b = np.sqrt(orig[:, low]), np.sqrt(dec[:, low])
    return float(20 * np.log10(np.linalg.norm(a - b) / np.linalg.norm(a)))


def measure(original: np.ndarray, decoded: np.ndarray) -> dict:
    ratio = centroids_hz(decoded) / np.maximum(centroids_hz(original), 1e-9)
    bands_orig, bands_dec = third_octave_db(original), third_octave_db(decoded)
    audible = bands_orig > bands_orig.max(axis=0) - 60.0
    return {
        "centroid_within_15": float(np.mean(np.abs(ratio - 1.0) <= 0.15)),
        "band_error_db": float(np.median(np.abs(bands_dec - bands_orig)[audible])),
        "quiet_high_db": quiet_high_band_db(original, decoded),
        "convergence_db": convergence_below_10k_db(original, decoded),
    }


def synthetic_music(seconds: float, seed: int = 0) -> np.ndarray:
    """Notes with bright partials and a noisy hi-hat, up to 20 kHz, with a quiet passage."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    out = np.zeros(n)
    note = RATE // 4
    for start in range(0, n, note):
        t = np.arange(min(note, n - start)) / RATE
        hz = rng.choice([220.0, 277.0, 330.0, 440.0])
        decay = np.exp(-t / 0.2) * np.minimum(t / 0.003, 1.0)
        partials = sum(np.sin(2 * np.pi * hz * k * t) / k**0.8 for k in range(1, 60) if hz * k < 20000)
        hat = rng.standard_normal(t.size) * np.exp(-t / 0.03) * 0.3
        out[start : start + t.size] = partials * decay + hat
    out[int(0.6 * n) : int(0.75 * n)] *= 0.01  # a quiet passage
    return (0.1 * out / np.abs(out).max()).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic music, 6 s (no packages needed)")
    parser.add_argument("--seconds", type=float, default=45.0, help="clip length (default 45)")
    parser.add_argument("--only", nargs="*", default=None, help="only these pieces (names)")
    args = parser.parse_args()
    data = json.loads(MODEL_PATH.read_text())
    peer = fixed_slope_model(data["peer_db_per_octave"])
    if args.quick:
        pieces = [("synthetic", synthetic_music(6.0))]
    else:
        from music_set import music_clips

        pieces = [(clip.piece.name, clip.samples()) for clip in music_clips(args.seconds)
                  if args.only is None or clip.piece.name in args.only]
    print(f"Machine: {host_description()}.")
    print(f"Model trained on {len(data['trained_on'])} pieces; fixed-slope peer {data['peer_db_per_octave']:.2f} dB/octave.\n")
    print("| piece | decode | centroid ±15 % | 1/3-oct 10–16 kHz error dB | quiet 10 % high band vs original dB "
          "| SC < 10 kHz dB | stitcher CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    totals: dict[str, list] = {}
    for name, audio in pieces:
        runs = {}
        for label, settings, model in (("off", None, None), ("extended", BandwidthSettings(), None),
                                       ("fixed-slope peer", BandwidthSettings(), peer)):
            decoded, cpu = decode(audio, settings, model)
            if label != "fixed-slope peer" and not args.quick:
                cpu = min(cpu, decode(audio, settings, model)[1])
            runs[label] = (measure(audio, decoded), cpu)
        for label, (m, cpu) in runs.items():
            totals.setdefault(label, []).append((m, cpu))
            band = "—" if label == "off" else f"{m['band_error_db']:.1f}"
            print(f"| {name} | {label} | {100 * m['centroid_within_15']:.0f} % | {band} | {m['quiet_high_db']:+.1f} "
                  f"| {m['convergence_db']:.2f} | {cpu:.2f} |")
    print("\n| decode | centroid ±15 % (all windows) | 1/3-oct error dB (median of pieces) | worst quiet high band dB "
          "| SC < 10 kHz vs off dB (worst) | added stitcher time |")
    print("|---|---:|---:|---:|---:|---:|")
    off = totals["off"]
    for label, items in totals.items():
        within = np.mean([m["centroid_within_15"] for m, _ in items])
        band = "—" if label == "off" else f"{np.median([m['band_error_db'] for m, _ in items]):.1f}"
        worst_sc = max(abs(m["convergence_db"] - o["convergence_db"]) for (m, _), (o, _) in zip(items, off))
        added = sum(c for _, c in items) / sum(c for _, c in off) - 1.0
        print(f"| {label} | {100 * within:.0f} % | {band} | {max(m['quiet_high_db'] for m, _ in items):+.1f} "
              f"| {worst_sc:.2f} | {100 * added:+.0f} % |")


if __name__ == "__main__":
    main()
