"""The conductor's station path on real music: the tempo asks of ``benchmarks/conductor.py``, but
conducted as a station conducts Riffusion's images — ``Conductor.conduct`` over windows of 64
columns (the synth's and the layout's default), the same number of columns out as in (a faster
ask repeats a beat now and then, a slower one skips one), each estimate from the last seconds
heard, no image ahead — then stitched and judged by essentia (``RhythmExtractor2013``).

The peer, in the same run: the source audio itself time-stretched to each ask (librosa's phase
vocoder), judged the same way — the judge's ceiling (on orchestral excerpts with few clear onsets
essentia hears even a uniform stretch at another tempo). Beside the count: the conductor's own
estimates of the source's tempo over the excerpt (median, lowest–highest).

Run: ``python benchmarks/conductor_station.py`` (about 8 minutes on 2 cores with the band recordings);
``--window-columns N`` for another window.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from conductor import SR, TEMPO_ASKS, excerpts, images_of, stitched, stretched, tempo_and_ticks

WINDOW_COLUMNS = 64


def conducted_audio(mel: np.ndarray, bpm: float, window_columns: int) -> tuple[np.ndarray, list[float]]:
    """``mel`` (n_mels, columns), absolute, conducted window by window at ``bpm`` and stitched →
    (samples,) float32 audio, and the conductor's estimate of the source's bpm after each window."""
    from riffcast.dsp.codec import MelImage
    from riffcast.dsp.conductor import Conductor, Controls
    from riffcast.dsp.params import RIFFUSION_V1 as params

    conductor, controls = Conductor(params), Controls(bpm=bpm)
    columns_per_s = params.sample_rate / params.hop_samples
    windows, estimates = [], []
    for at in range(0, mel.shape[1], window_columns):
        windows.append(conductor.conduct(mel[:, at : at + window_columns], at, controls))
        if conductor.state.beats is not None:
            estimates.append(conductor.state.beats.bpm(columns_per_s))
    out = np.concatenate(windows, axis=1)
    images = [MelImage(out[:, i : i + params.chunk_columns], 1.0) for i in range(0, out.shape[1], params.chunk_columns)]
    return stitched(images), estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window-columns", type=int, default=WINDOW_COLUMNS, help="columns a station conducts at a time")
    args = parser.parse_args()
    print(f"# The conductor's station path on real music — {platform.machine()}, {os.cpu_count()} cores, "
          f"{args.window_columns}-column windows\n")
    print("| group | excerpt | source bpm (essentia) | asked → heard (station path) | the source stretched to it (peer) | conductor's estimates: median (lowest–highest) |")
    print("|---|---|---:|---|---|---|")
    counts: dict[str, list[int]] = {}
    for group, name, audio in excerpts(False):
        audio = audio.astype(np.float32)
        mel = np.concatenate([chunk.mel * np.float32(chunk.max_value) for chunk in images_of(audio)], axis=1)
        source_bpm, _ = tempo_and_ticks(audio)
        heard_cells, peer_cells, estimate_cells = [], [], []
        for change, _ in TEMPO_ASKS:
            ask = round(source_bpm * (1.0 + change), 1)
            out, estimates = conducted_audio(mel, ask, args.window_columns)
            heard, _ = tempo_and_ticks(out)
            peer, _ = tempo_and_ticks(stretched(audio, ask / source_bpm))
            ok, peer_ok = abs(heard / ask - 1.0) <= 0.02, abs(peer / ask - 1.0) <= 0.02
            count = counts.setdefault(group, [0, 0, 0, 0])
            count[0] += ok
            count[1] += peer_ok
            count[2] += ok and peer_ok
            count[3] += 1
            heard_cells.append(f"{ask:.1f} → {heard:.1f}{' ✓' if ok else ''}")
            peer_cells.append(f"{peer:.1f}{' ✓' if peer_ok else ''}")
            estimate_cells.append(f"{np.median(estimates):.0f} ({min(estimates):.0f}–{max(estimates):.0f})")
        print(f"| {group} | {name} | {source_bpm:.1f} | {'; '.join(heard_cells)} | {'; '.join(peer_cells)} | "
              f"{'; '.join(estimate_cells)} |", flush=True)
    print("\n| group | station path within 2 % of the ask | peer (the source stretched) | station path where the peer is |")
    print("|---|---:|---:|---:|")
    for group, (ok, peer_ok, both, asks) in counts.items():
        print(f"| {group} | {ok}/{asks} ({100 * ok / asks:.0f} %) | {peer_ok}/{asks} | {both}/{peer_ok} |")
    print(f"\n(sample rate {SR} Hz; target of the issue for the decode path: ≥ 90 % within 2 %)")


if __name__ == "__main__":
    main()
