"""Fit the drum model (``engine/riffcast/dsp/conductor/drum_model.json``) on music rendered with
its drums and without.

Pairs: the Planet Blupi pieces of ``music_set.TRAINING_PIECES`` (their first ``--seconds``, the
MIDI rendered by fluidsynth through FluidR3 as music_set.py does, and again with the drum channel
silenced, drums_oracle.py's ``without_drums``), and the synth's songs for :data:`SYNTH_SONGS`
rendered with ``drums`` on and off; each training pair's drumless side also stands alone, every
cell's share 0. The pieces of ``music_set.PIECES`` are held out (their 30 s excerpts, as
benchmarks/conductor.py and drums_oracle.py measure them).

Each pair goes through Riffusion images (8-bit pixels, as ``riffcast encode``); per cell of the
full image, the features of :mod:`riffcast.dsp.conductor.drum_model` and the target: the drums'
share ``1 − drumless / full`` of the cell's magnitude, clipped to [0, 1]. Cells are drawn in
proportion to their magnitude (the loud cells are the ones heard), :data:`CELLS_PER_PAIR` from
each pair (:data:`DRUMLESS_CELLS` from a drumless side alone: at a full share the model grew
timid, leaving drums a perfect mute takes; benchmarks/drums_oracle.py), and the network fitted by Adam on the cross-entropy with those soft targets (torch,
the ``riffusion`` extra). Printed: the magnitude-weighted error of the shares on the training
pairs and on the held-out ones, for the model and for the median filtering alone.

Run: ``python benchmarks/drums_fit.py`` (about 2 minutes on 2 cores); then ``python
benchmarks/drums_oracle.py`` judges the music it makes.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from conductor import EXCERPT_OFFSET_S, EXCERPT_S, SR, images_of
from controls import synth_render
from drums_oracle import rendered, without_drums

from riffcast.dsp.conductor.drum_model import FEATURE_NAMES, MODEL_PATH, DrumModel, features

from music_set import BLUPI_MIDI, PIECES, TRAINING_PIECES

# (prompt, seed, bpm, key): the synth's songs, drums on and off.
SYNTH_SONGS = (("funk", 1, 100.0, "A minor"), ("rock", 2, 128.0, "E minor"), ("jazz", 3, 92.0, "F major"),
               ("disco", 4, 118.0, "C major"), ("hip hop", 5, 88.0, "D minor"), ("reggae", 6, 76.0, "G major"))
SYNTH_SECONDS = 30.0
CELLS_PER_PAIR = 120_000
DRUMLESS_CELLS = 40_000  # from a training piece's drumless side alone
QUIET = 1e-3  # cells below this share of the pair's loudest are left out (silence)
HIDDEN = (16, 16)
STEPS = 4000
BATCH = 4096
SEED = 0


@dataclass(frozen=True)
class Pair:
    name: str
    held_out: bool
    features: np.ndarray  # (cells, features)
    share: np.ndarray  # (cells,) the drums' share, the target
    hpss_share: np.ndarray  # (cells,) the median filtering's percussive share, the peer
    weight: np.ndarray  # (cells,) the cell's magnitude over the pair's total (for the errors)


def truncated(source: Path, seconds: float, out: Path) -> Path:
    """``source`` cut after ``seconds`` (every note still sounding is let go there)."""
    midi = mido.MidiFile(str(source))
    kept = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat)
    merged, elapsed, tempo = mido.merge_tracks(midi.tracks), 0.0, 500_000
    track = mido.MidiTrack()
    for message in merged:
        elapsed += mido.tick2second(message.time, midi.ticks_per_beat, tempo)
        if elapsed > seconds:
            break
        if message.type == "set_tempo":
            tempo = message.tempo
        track.append(message)
    track += [mido.Message("control_change", channel=channel, control=123, value=0) for channel in range(16)]
    kept.tracks.append(track)
    kept.save(str(out))
    return out


def blupi_pair(source: Path, start_s: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(full, drumless) audio of ``source`` from ``start_s`` for ``seconds``."""
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        cut = truncated(source, start_s + seconds + 2.0, workdir / "full.mid")
        without_drums(cut, workdir / "drumless.mid")
        full, drumless = rendered(cut, workdir), rendered(workdir / "drumless.mid", workdir)
    start, stop = round(start_s * SR), round((start_s + seconds) * SR)
    return full[start:stop], drumless[start:stop]


def synth_pair(prompt: str, seed: int, bpm: float, key: str) -> tuple[np.ndarray, np.ndarray]:
    from riffcast.steering.targets import Target

    full = synth_render(Target.from_text(prompt, seed=seed, bpm=bpm, key=key), SYNTH_SECONDS)
    drumless = synth_render(Target.from_text(prompt, seed=seed, bpm=bpm, key=key, drums="off"), SYNTH_SECONDS)
    return full, drumless


def image_mels(audio: np.ndarray) -> list[np.ndarray]:
    """The absolute mel of each Riffusion image of ``audio``, read back from 8-bit pixels."""
    return [chunk.mel * np.float32(chunk.max_value or 1.0) for chunk in images_of(audio)]


def pair_cells(name: str, held_out: bool, full: np.ndarray, drumless: np.ndarray, rng: np.random.Generator,
               cells: int = CELLS_PER_PAIR) -> Pair:
    rows = []
    for mel, bare in zip(image_mels(full), image_mels(drumless)):
        share = np.clip(1.0 - bare / np.maximum(mel, 1e-12), 0.0, 1.0)
        rows.append((features(mel), share.reshape(-1), mel.reshape(-1)))
    feats, share, magnitude = (np.concatenate(parts) for parts in zip(*rows))
    hpss = feats[:, FEATURE_NAMES.index("hpss_share")]
    audible = np.flatnonzero(magnitude > QUIET * magnitude.max())
    chosen = rng.choice(audible, size=min(cells, audible.size), replace=False,
                        p=magnitude[audible] / magnitude[audible].sum())
    weight = magnitude[chosen] / magnitude[chosen].sum()
    return Pair(name, held_out, feats[chosen], share[chosen].astype(np.float32), hpss[chosen], weight)


def pairs(seconds: float, rng: np.random.Generator) -> list[Pair]:
    """Every pair; each training piece also gives its drumless rendering alone as a pair of its own
    (nothing there is drums: its attacks are the instruments', which ``drums off`` must keep)."""
    found = []

    def add(name: str, held_out: bool, full: np.ndarray, drumless: np.ndarray) -> None:
        found.append(pair_cells(name, held_out, full, drumless, rng))
        if not held_out:
            found.append(pair_cells(f"{name}, drumless", False, drumless, drumless, rng, DRUMLESS_CELLS))
        print(f"  {name}: {found[-1].share.size} cells", flush=True)

    for piece in (*TRAINING_PIECES, *PIECES):
        if piece.source.parent != BLUPI_MIDI:
            continue
        held_out = piece in PIECES
        start, length = (EXCERPT_OFFSET_S, EXCERPT_S) if held_out else (0.0, seconds)
        add(piece.name, held_out, *blupi_pair(piece.source, start, length))
    for prompt, seed, bpm, key in SYNTH_SONGS:
        add(f"synth {prompt}", False, *synth_pair(prompt, seed, bpm, key))
    return found


def fit(training: list[Pair], rng: np.random.Generator) -> DrumModel:
    import torch

    torch.manual_seed(SEED)
    x = np.concatenate([p.features for p in training])
    y = np.concatenate([p.share for p in training])
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    inputs = torch.from_numpy(DrumModel(mean, scale, (), ()).standardised(x).astype(np.float32))
    targets = torch.from_numpy(y)
    sizes = (x.shape[1], *HIDDEN, 1)
    layers = []
    for index in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    network = torch.nn.Sequential(*layers)
    optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, STEPS)
    loss_function = torch.nn.BCEWithLogitsLoss()
    for _ in range(STEPS):
        batch = torch.from_numpy(rng.integers(0, inputs.shape[0], BATCH))
        loss = loss_function(network(inputs[batch])[:, 0], targets[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    linear = [layer for layer in network if isinstance(layer, torch.nn.Linear)]
    return DrumModel(mean.astype(np.float32), scale.astype(np.float32),
                     tuple(layer.weight.detach().numpy().T.copy() for layer in linear),
                     tuple(layer.bias.detach().numpy().copy() for layer in linear))


def weighted_error(pair: Pair, predicted: np.ndarray) -> float:
    """The magnitude-weighted mean absolute error of the drums' shares."""
    return float(np.sum(pair.weight * np.abs(predicted - pair.share)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each training piece")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    print("Pairs (full, drumless):", flush=True)
    found = pairs(args.seconds, rng)
    training = [p for p in found if not p.held_out]
    model = fit(training, rng)
    args.out.write_text(model.to_json(trained_on=[p.name for p in training],
                                      held_out=[p.name for p in found if p.held_out]) + "\n")
    print(f"\nwrote {args.out}\n")
    print("| pair | set | drums' share, weighted mean | error: median filtering | error: model |")
    print("|---|---|---:|---:|---:|")
    for pair in found:
        print(f"| {pair.name} | {'held out' if pair.held_out else 'training'} | {np.sum(pair.weight * pair.share):.3f} | "
              f"{weighted_error(pair, pair.hpss_share):.3f} | {weighted_error(pair, model.share_of_rows(pair.features)):.3f} |")
    print(f"\nfeatures: {', '.join(FEATURE_NAMES)}")


if __name__ == "__main__":
    main()
