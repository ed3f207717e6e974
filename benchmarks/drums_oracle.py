"""How far ``drums off`` can cut what the judge calls percussive: a perfect drum mute beside the conductor's.

`benchmarks/conductor.py` judges ``drums off`` by the cut of librosa HPSS's percussive energy in the
output (issue 25 asks ≥ 12 dB). HPSS counts every attack as percussive — a piano's, a plucked
string's — not only the drums. The General MIDI pieces of the music set give the ceiling of that
judge exactly: the same MIDI file rendered again with its drum channel (General MIDI channel 10)
silenced is the music with the drums perfectly removed and nothing else touched. For each piece
(a 30 s excerpt, as conductor.py cuts it), through the same images and decode:

- the percussive energy cut (dB) of the perfect mute (the drumless rendering decoded), of the
  peer — median filtering alone (:func:`riffcast.dsp.conductor.hpss.percussive_mask`, what
  ``drums off`` was before the drum model, applied to each image) — and of the conductor's
  ``drums off`` (the full rendering decoded with ``drums="off"``: the drum model), each against
  the full rendering's plain decode, and the harmonic energy each loses;
- how close each output comes to the drumless decode: the spectral convergence (dB, STFT
  magnitudes) of the plain decode, the peer's and ``drums off`` against it — drums removed and
  the rest kept bring it down.

Run: ``python benchmarks/drums_oracle.py`` (every Planet Blupi piece, about 15 minutes on 2 cores),
``--pieces blupi-007,blupi-000`` for some. Needs fluidsynth, the FluidR3 soundfont and
``planetblupi-music-midi`` (benchmarks/music_set.py) and mido (the ``test`` extra) to edit the MIDI.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mido
import numpy as np
import soundfile
from conductor import EXCERPT_OFFSET_S, EXCERPT_S, SR, decode, hpss_db, images_of

from riffcast.dsp.conductor.hpss import percussive_mask

from inversion import spectral_convergence_db
from music_set import BLUPI_MIDI, PIECES, SOUNDFONT, TRAINING_PIECES

DRUM_CHANNEL = 9  # General MIDI channel 10, counted from 0 as MIDI files do


@dataclass(frozen=True)
class Row:
    piece: str
    held_out: bool
    drum_notes: int
    mute_cut_db: float  # the perfect mute: percussive energy cut, dB
    mute_harmonic_lost_db: float
    peer_cut_db: float  # median filtering alone
    peer_harmonic_lost_db: float
    conductor_cut_db: float  # drums="off"
    conductor_harmonic_lost_db: float
    plain_distance_db: float  # spectral convergence against the drumless decode
    peer_distance_db: float
    conductor_distance_db: float


def without_drums(source: Path, out: Path) -> int:
    """Write ``source`` with every drum-channel note silenced → the drum notes."""
    return without_channels(source, out, {DRUM_CHANNEL})


def without_channels(source: Path, out: Path, channels: set[int]) -> int:
    """Write ``source`` with every note of ``channels`` silenced (velocity 0 is a note-off) → how many."""
    midi = mido.MidiFile(str(source))
    silenced = 0
    for track in midi.tracks:
        for index, message in enumerate(track):
            if message.type == "note_on" and message.channel in channels and message.velocity > 0:
                track[index] = message.copy(velocity=0)
                silenced += 1
    midi.save(str(out))
    return silenced


def rendered(midi: Path, workdir: Path) -> np.ndarray:
    """``midi`` through fluidsynth as music_set.py renders it → mono float32 at :data:`SR`."""
    wav = workdir / f"{midi.stem}.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-F", str(wav), str(SOUNDFONT), str(midi)],
                   check=True, stdout=subprocess.DEVNULL)
    audio, _ = soundfile.read(wav, dtype="float32", always_2d=True)
    return audio.mean(axis=1)


def rendered_excerpt(midi: Path, workdir: Path) -> np.ndarray:
    """``midi`` rendered → the 30 s excerpt conductor.py takes."""
    start = round(EXCERPT_OFFSET_S * SR)
    return rendered(midi, workdir)[start : start + round(EXCERPT_S * SR)]


def asked_pieces(description: str, every: str) -> tuple[list, set[str]]:
    """The command line's ``--pieces`` (comma-separated names; by default ``every`` Planet Blupi
    piece of the music set) → (those pieces by name, the names of the held-out ones)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pieces", help=f"comma-separated names (default: {every})")
    names = parser.parse_args().pieces
    blupi = sorted((p for p in (*PIECES, *TRAINING_PIECES) if p.source.parent == BLUPI_MIDI), key=lambda p: p.name)
    if names is not None:
        asked = set(names.split(","))
        if unknown := sorted(asked - {p.name for p in blupi}):
            raise SystemExit(f"--pieces: not a blupi piece of the music set: {', '.join(unknown)}")
        blupi = [p for p in blupi if p.name in asked]
    return blupi, {piece.name for piece in PIECES}


def stft_convergence_db(audio: np.ndarray, reference: np.ndarray) -> float:
    """The spectral convergence (inversion.py's) of the two STFT magnitudes (librosa, 2048-sample
    frames), dB: lower is closer."""
    import librosa

    size = min(audio.size, reference.size)
    return spectral_convergence_db(*(np.abs(librosa.stft(x[:size], n_fft=2048)) for x in (audio, reference)))


def masked_decode(images: list, taken: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The images, each with the share ``taken(absolute mel)`` (n_mels, columns) of every cell taken
    out, decoded."""
    from riffcast.dsp.codec import MelImage

    return decode([MelImage(image.mel * (1.0 - taken(image.mel * np.float32(image.max_value))), image.max_value)
                   for image in images]).audio


def measure(name: str, source: Path, held_out: bool) -> Row:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        drumless_midi = workdir / f"{name}-drumless.mid"
        drum_notes = without_drums(source, drumless_midi)
        full, drumless = rendered_excerpt(source, workdir), rendered_excerpt(drumless_midi, workdir)
    images = images_of(full)
    plain, peer, off = decode(images).audio, masked_decode(images, percussive_mask), decode(images, drums="off").audio
    mute = decode(images_of(drumless)).audio
    (h_plain, p_plain, _), (h_mute, p_mute, _) = hpss_db(plain), hpss_db(mute)
    (h_peer, p_peer, _), (h_off, p_off, _) = hpss_db(peer), hpss_db(off)
    return Row(name, held_out, drum_notes, p_plain - p_mute, h_plain - h_mute, p_plain - p_peer, h_plain - h_peer,
               p_plain - p_off, h_plain - h_off, stft_convergence_db(plain, mute), stft_convergence_db(peer, mute),
               stft_convergence_db(off, mute))


def main() -> None:
    blupi, held_out = asked_pieces(__doc__.split("\n")[0], "every blupi piece")
    print(f"# drums off against a perfect drum mute (the MIDI without channel 10), {EXCERPT_S:g} s excerpts\n")
    print("| piece | set | drum notes | percussive cut: perfect mute / peer / drums off (dB) "
          "| harmonic lost: mute / peer / drums off (dB) | distance to the drumless decode: plain / peer / drums off (dB) |")
    print("|---|---|---:|---:|---:|---:|")
    rows = []
    for piece in blupi:
        row = measure(piece.name, piece.source, piece.name in held_out)
        rows.append(row)
        print(f"| {row.piece} | {'held out' if row.held_out else 'training'} | {row.drum_notes} | "
              f"{row.mute_cut_db:.1f} / {row.peer_cut_db:.1f} / {row.conductor_cut_db:.1f} | "
              f"{row.mute_harmonic_lost_db:.1f} / {row.peer_harmonic_lost_db:.1f} / {row.conductor_harmonic_lost_db:.1f} | "
              f"{row.plain_distance_db:.2f} / {row.peer_distance_db:.2f} / {row.conductor_distance_db:.2f} |", flush=True)
    for group in ("held out", "training"):
        chosen = [r for r in rows if (r.held_out) == (group == "held out")]
        if not chosen:
            continue
        median = lambda values: float(np.median(values))  # noqa: E731
        closer = sum(r.conductor_distance_db < r.plain_distance_db for r in chosen)
        nearer_than_peer = sum(r.conductor_distance_db < r.peer_distance_db for r in chosen)
        print(f"\n{group} ({len(chosen)}), medians: percussive cut — perfect mute {median([r.mute_cut_db for r in chosen]):.1f} dB, "
              f"peer {median([r.peer_cut_db for r in chosen]):.1f}, drums off {median([r.conductor_cut_db for r in chosen]):.1f}; "
              f"distance to the drumless decode — plain {median([r.plain_distance_db for r in chosen]):.2f} dB, "
              f"peer {median([r.peer_distance_db for r in chosen]):.2f}, drums off {median([r.conductor_distance_db for r in chosen]):.2f}. "
              f"drums off is closer to it than the plain decode on {closer}, than the peer on {nearer_than_peer}.")


if __name__ == "__main__":
    main()
