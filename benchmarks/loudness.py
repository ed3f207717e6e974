"""Loudness: riffcast's level stage (BS.1770 AGC to ``--loudness``, true-peak limiter) against
the level stage it replaced (a slow RMS rider to −20 dBFS and a sample-peak limiter at −1 dBFS,
``PEER_COMMIT``'s ``engine/riffcast/dsp/level.py``, loaded from git), on the same input.

Sources, mono 44.1 kHz:
- synth render: ``render()`` of an energetic prompt that is steered, at ``--change-s``, to a calm
  one in a single chunk (music of another character); the peer levels the raw stitched stream.
- tiny-random render: Riffusion's architecture with random weights (on the CPU).
- real music, encode → decode: the clips of ``benchmarks/music_set.py`` (Debian packages)
  encoded to Riffusion images and stitched back (``riffcast decode``'s path).
- station recording: ``riffcast serve --record`` for ``--station-s`` seconds, the same steer
  scheduled by a playlist; the peer is a station of ``PEER_COMMIT`` (a git worktree).

Measured with pyloudnorm (ITU-R BS.1770-4) and scipy, not with riffcast's own meters:
integrated loudness; short-term loudness (3 s windows every 0.5 s, ungated): the share within
±3 LU of the target, the worst deviation, the first window's; after the change, how long until
every window stays within ±3 LU; true peak (4× polyphase oversampling, scipy); the limiter's
gain reduction (riffcast's stage reports it).

Dynamics (the second table, ``--dynamics-only`` for it alone): the level stage before
``BEFORE_COMMIT`` (the AGC to the target whatever the peaks, loaded from git) and this checkout's
(gain only as far as the held peak allows plus ``peak_limiting_db``), on the same stitched
stream (level stage off) of the synth render and each real-music clip: the piece's
peak-to-loudness ratio (true peak − integrated, of the stitched stream), integrated loudness,
true peak, and the limiter's gain reduction measured outside the stage for both: the stage is
run again with its limiter's ceiling out of reach (the AGC alone), and the reduction is the
energy ratio of the two outputs in 64-sample windows (p99 and max over the windows, the share
of windows reduced by more than 0.1 dB); the shortfall the new stage reports.

Run: ``python benchmarks/loudness.py`` (about 8 minutes on 2 cores; needs git, and the music
set's packages for the real-music rows).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile
from scipy.signal import resample_poly

import riffcast.dsp.level as current_level
from riffcast.dsp.bandwidth_settings import BandwidthSettings
from riffcast.dsp.codec import audio_to_mel, image_from_mel, mel_image_from, split_chunks
from riffcast.dsp.level import LevelStats
from riffcast.dsp.level_settings import LevelSettings
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.generation.options import add_generator_arguments, generator_from_args
from riffcast.generation.seeds import DEFAULT_BED, load_seed
from riffcast.pipeline.producer import ImageProducer
from riffcast.pipeline.render import render
from riffcast.pipeline.stitcher import Stitcher
from riffcast.steering.playlist import PlaylistEntry
from riffcast.steering.targets import Target, WeightedPrompt
from riffcast.steering.walk import Walk

from harness.machine import host_description
from harness.peer import peer_checkout
from harness.station import Station
from harness.table import header, row
from music_set import music_clips

PEER_COMMIT = "f8371d5"
BEFORE_COMMIT = "a51bdba"  # the level stage that rode every piece to the target whatever its peaks
REPO = Path(__file__).resolve().parent.parent
RATE = PARAMS.sample_rate
TARGET_LUFS = -16.0
WINDOW_S, HOP_S, TOLERANCE_LU = 3.0, 0.5, 3.0
SETTLE_HORIZON_S = 15.0
ENERGETIC, CALM = "hard techno, driving, 132 bpm", "ambient drone, calm, sparse"


@dataclass(frozen=True)
class Row:
    source: str
    stage: str
    samples: np.ndarray
    change_s: float | None = None
    stats: LevelStats | None = None


def peer_level_module(commit: str = PEER_COMMIT, name: str = "peer_level"):
    """``commit``'s level stage, as a module (numba compiles it on first use)."""
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:engine/riffcast/dsp/level.py"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="riffcast-peer-")) / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def peer_levelled(peer, raw: np.ndarray) -> np.ndarray:
    """``raw`` through the peer stage, fed as the stitcher fed it (one chunk at a time), aligned."""
    stage = peer.LevelStage(RATE)
    block = PARAMS.chunk_columns * PARAMS.hop_samples
    out = np.concatenate([stage.process(raw[i : i + block]) for i in range(0, raw.size, block)] + [stage.flush()])
    return out[stage.latency_samples : stage.latency_samples + raw.size]


# --- sources -----------------------------------------------------------------------------------

def generator(*args: str):
    parser = argparse.ArgumentParser()
    add_generator_arguments(parser)
    return generator_from_args(parser.parse_args(list(args)))


def rendered(generator_args: list[str], seconds: float, change_s: float | None,
             level: LevelSettings | None) -> tuple[np.ndarray, LevelStats | None, float | None]:
    """A render (steered to ``CALM`` at ``change_s``) → samples, level stats, the change's time."""
    start = Target(prompts=(WeightedPrompt(ENERGETIC, 1.0),), seed=11)
    playlist = []
    if change_s is not None:
        playlist = [PlaylistEntry(start, change_s, 1),
                    PlaylistEntry(Target(prompts=(WeightedPrompt(CALM, 1.0),), seed=12), 1e6, 1)]
    producer = ImageProducer(generator(*generator_args), Walk(start, transition_chunks=1), load_seed(DEFAULT_BED, PARAMS))
    samples, summary = render(producer, duration_s=seconds, params=PARAMS, playlist=playlist, level=level)
    chunk_s = PARAMS.chunk_columns * PARAMS.hop_samples / RATE
    heard_change_s = None if change_s is None else np.ceil(change_s / chunk_s) * chunk_s
    return samples, summary.level, heard_change_s


def decoded(audio: np.ndarray, level: LevelSettings | None) -> tuple[np.ndarray, LevelStats | None]:
    """Real music encoded to Riffusion images and stitched back → samples, level stats."""
    stitcher = Stitcher(PARAMS, level=level, bandwidth=BandwidthSettings())
    chunks = [mel_image_from(image_from_mel(mel, PARAMS), PARAMS) for mel in split_chunks(audio_to_mel(audio, PARAMS), PARAMS)]
    blocks = [stitcher.push(chunk) for chunk in chunks] + [stitcher.flush()]
    return np.concatenate([block.samples for block in blocks]), stitcher.level_stats


def station_recordings(seconds: float, change_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Two stations side by side, this checkout's and ``PEER_COMMIT``'s, each recording the same
    playlist (the steer at ``change_s``) → their recordings."""
    work = Path(tempfile.mkdtemp(prefix="riffcast-loudness-"))
    playlist = work / "playlist.toml"
    playlist.write_text(f'[[target]]\nprompt = "{ENERGETIC}"\nseed = 11\nduration_s = {change_s}\ntransition_chunks = 1\n\n'
                        f'[[target]]\nprompt = "{CALM}"\nseed = 12\nduration_s = 100000\ntransition_chunks = 1\n')
    with peer_checkout(PEER_COMMIT) as peer_env:
        stations = [Station("--playlist", str(playlist), "--record", str(work / "new.wav"), name="riffcast"),
                    Station("--playlist", str(playlist), "--record", str(work / "peer.wav"), name="peer",
                            env=peer_env)]
        for station in stations:
            station.wait_playing(300.0)
        time.sleep(seconds)
        for station in stations:
            station.stop()
    return tuple(soundfile.read(work / name, dtype="float32")[0] for name in ("new.wav", "peer.wav"))


# --- measures ----------------------------------------------------------------------------------

def short_term_lufs(meter: pyloudnorm.Meter, samples: np.ndarray) -> np.ndarray:
    """Ungated loudness of 3 s windows every 0.5 s (a single 3 s block has nothing to gate)."""
    size, hop = round(WINDOW_S * RATE), round(HOP_S * RATE)
    return np.array([meter.integrated_loudness(samples[i : i + size].astype(np.float64))
                     for i in range(0, samples.size - size + 1, hop)])


def settle_s(windows: np.ndarray, change_s: float) -> float:
    """Seconds after ``change_s`` until every window starting from there to the horizon
    (``SETTLE_HORIZON_S`` later, or the end) is within the tolerance; inf if the last is not."""
    first = round(change_s / HOP_S)
    last = min(windows.size, round((change_s + SETTLE_HORIZON_S) / HOP_S))
    off = np.flatnonzero(np.abs(windows[first:last] - TARGET_LUFS) > TOLERANCE_LU)
    if off.size and first + off[-1] == last - 1:
        return float("inf")
    return 0.0 if off.size == 0 else (off[-1] + 1) * HOP_S


def measure(item: Row, meter: pyloudnorm.Meter, short_meter: pyloudnorm.Meter) -> list[str]:
    x = item.samples.astype(np.float64)
    windows = short_term_lufs(short_meter, x)
    deviation = np.abs(windows - TARGET_LUFS)
    true_peak = 20 * np.log10(np.max(np.abs(resample_poly(x, 4, 1))))
    settle = "—" if item.change_s is None else f"{settle_s(windows, item.change_s):.1f} s".replace("inf s", "never")
    limiter = "—" if item.stats is None else (f"{100 * item.stats.limited_fraction:.0f} % / "
                                              f"{item.stats.mean_reduction_db:.2f} / {item.stats.max_reduction_db:.1f}")
    return [item.source, item.stage, f"{meter.integrated_loudness(x):.1f}",
            f"{100 * np.mean(deviation <= TOLERANCE_LU):.0f} %", f"{deviation.max():.1f}",
            f"{windows[0] - TARGET_LUFS:+.1f}", settle, f"{true_peak:.2f}", limiter]


def levelled_twice(module, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, object]:
    """``raw`` through ``module``'s level stage, primed and fed as the stitcher does, with its
    limiter and without (ceiling out of reach) → (levelled, AGC only, the stage)."""
    outputs = []
    for reach in (False, True):
        stage = module.LevelStage(RATE, LevelSettings(target_lufs=TARGET_LUFS))
        if reach:
            stage._kernel_settings = stage._kernel_settings._replace(ceiling=1e9)
        block = PARAMS.chunk_columns * PARAMS.hop_samples
        stage.prime(raw[:block])
        out = np.concatenate([stage.process(raw[i : i + block]) for i in range(0, raw.size, block)] + [stage.flush()])
        outputs.append(out[stage.latency_samples : stage.latency_samples + raw.size])
        if not reach:
            limited = stage
    return outputs[0], outputs[1], limited


def reduction_db(levelled: np.ndarray, agc_only: np.ndarray, window: int = 64) -> np.ndarray:
    """The limiter's gain reduction (dB) in ``window``-sample windows with sound in them."""
    n = levelled.size // window * window
    a = np.square(agc_only[:n].astype(np.float64)).reshape(-1, window).sum(axis=1)
    b = np.square(levelled[:n].astype(np.float64)).reshape(-1, window).sum(axis=1)
    sound = a > 1e-10 * a.max()
    return np.maximum(10 * np.log10(a[sound] / np.maximum(b[sound], 1e-30)), 0.0)


def dynamics_table(sources: list[tuple[str, np.ndarray]]) -> None:
    meter = pyloudnorm.Meter(RATE)
    modules = [(f"before ({BEFORE_COMMIT})", peer_level_module(BEFORE_COMMIT, "before_level")),
               ("riffcast", current_level)]
    print(header(["source", "PLR dB", "level stage", "integrated LUFS", "true peak dBTP", "reduction p99 dB",
                  "max dB", "reduced > 0.1 dB", "stage's report: active / max dB", "shortfall LU"], "lrlrrrrrrr"))
    for source, raw in sources:
        x = raw.astype(np.float64)
        plr = 20 * np.log10(np.max(np.abs(resample_poly(x, 4, 1)))) - meter.integrated_loudness(x)
        for label, module in modules:
            levelled, agc_only, stage = levelled_twice(module, raw)
            reduction = reduction_db(levelled, agc_only)
            y = levelled.astype(np.float64)
            shortfall = getattr(stage.stats, "shortfall_lu", None)
            print(row([source, f"{plr:.1f}", label, f"{meter.integrated_loudness(y):.1f}",
                       f"{20 * np.log10(np.max(np.abs(resample_poly(y, 4, 1)))):.2f}",
                       f"{np.percentile(reduction, 99):.1f}", f"{reduction.max():.1f}",
                       f"{100 * np.mean(reduction > 0.1):.0f} %",
                       f"{100 * stage.stats.limited_fraction:.0f} % / {stage.stats.max_reduction_db:.1f}",
                       "—" if shortfall is None else f"{shortfall:.1f}"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render-s", type=float, default=90.0, help="synth render length (default 90)")
    parser.add_argument("--change-s", type=float, default=45.0, help="when the render is steered (default 45)")
    parser.add_argument("--tiny-s", type=float, default=30.0, help="tiny-random render length (default 30)")
    parser.add_argument("--station-s", type=float, default=50.0, help="station recording length (default 50; 0: none)")
    parser.add_argument("--clips", type=int, default=7, help="real-music clips used (default all 7)")
    parser.add_argument("--dynamics-only", action="store_true", help="only the dynamics table")
    args = parser.parse_args()
    print(f"Machine: {host_description()}. Target {TARGET_LUFS:g} LUFS, true peak ≤ −1 dBTP.")
    if args.dynamics_only:
        started = time.perf_counter()
        sources = [("synth render, steered", rendered(["--generator", "synth"], args.render_s, args.change_s, None)[0])]
        sources += [(clip.piece.name, decoded(clip.samples(), None)[0]) for clip in music_clips()[: args.clips]]
        dynamics_table(sources)
        print(f"\n{time.perf_counter() - started:.0f} s in all.")
        return
    started = time.perf_counter()
    peer = peer_level_module()
    new_level = LevelSettings(target_lufs=TARGET_LUFS)
    rows: list[Row] = []

    raw, _, change = rendered(["--generator", "synth"], args.render_s, args.change_s, None)
    levelled, stats, _ = rendered(["--generator", "synth"], args.render_s, args.change_s, new_level)
    rows += [Row("synth render, steered", f"peer ({PEER_COMMIT})", peer_levelled(peer, raw), change),
             Row("synth render, steered", "riffcast", levelled, change, stats)]
    tiny = ["--generator", "riffusion", "--model", "tiny-random", "--device", "cpu", "--steps", "4"]
    raw, _, _ = rendered(tiny, args.tiny_s, None, None)
    levelled, stats, _ = rendered(tiny, args.tiny_s, None, new_level)
    rows += [Row("tiny-random render", f"peer ({PEER_COMMIT})", peer_levelled(peer, raw)),
             Row("tiny-random render", "riffcast", levelled, None, stats)]
    for clip in music_clips()[: args.clips]:
        audio = clip.samples()
        raw, _ = decoded(audio, None)
        levelled, stats = decoded(audio, new_level)
        source = f"{clip.piece.name} (encode → decode)"
        rows += [Row(source, f"peer ({PEER_COMMIT})", peer_levelled(peer, raw)), Row(source, "riffcast", levelled, None, stats)]
    if args.station_s > 0:
        new, old = station_recordings(args.station_s, args.station_s / 2)
        chunk_s = PARAMS.chunk_columns * PARAMS.hop_samples / RATE
        heard = float(np.ceil(args.station_s / 2 / chunk_s) * chunk_s)
        rows += [Row("station recording, steered", f"peer ({PEER_COMMIT})", old, heard),
                 Row("station recording, steered", "riffcast", new, heard)]

    meter, short_meter = pyloudnorm.Meter(RATE), pyloudnorm.Meter(RATE, block_size=WINDOW_S)
    print()
    print(header(["source", "level stage", "integrated LUFS", "3 s within ±3 LU", "worst 3 s dev. LU",
                  "first 3 s vs target LU", "settled after the steer", "true peak dBTP",
                  "limiter: active / mean / max dB"], "llrrrrrrr"))
    for item in rows:
        print(row(measure(item, meter, short_meter)))
    print()
    dynamics_table([("synth render, steered", rendered(["--generator", "synth"], args.render_s, args.change_s, None)[0])]
                   + [(clip.piece.name, decoded(clip.samples(), None)[0]) for clip in music_clips()[: args.clips]])
    print(f"\n{time.perf_counter() - started:.0f} s in all.")


if __name__ == "__main__":
    main()
