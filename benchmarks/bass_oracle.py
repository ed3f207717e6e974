"""How near ``bass off`` (the drums on) comes to the music without its bass, beside median filtering.

The General MIDI pieces of the music set give the truth: the same MIDI file rendered again with
its bass channels silenced (the channels whose program is a General MIDI bass, 33–40; pieces
without one are skipped) is the music with its bass perfectly removed. For each piece (a 30 s
excerpt, as conductor.py cuts it), through the same images and decode:

- the cut of the share of the energy below 150 Hz (conductor.py's ``bass off`` measure) by the
  perfect mute, by the peer — the bass as median filtering finds it, the harmonic part below
  150 Hz (what ``bass off`` was before the drum model) — and by the conductor's ``bass off``;
- the spectral convergence (dB, STFT magnitudes) of the plain decode, the peer's and ``bass off``
  against the bassless decode: lower is nearer.

Run: ``python benchmarks/bass_oracle.py`` (every Planet Blupi piece with a bass, about 8 minutes on
2 cores), ``--pieces blupi-007,blupi-000`` for some. Needs what drums_oracle.py needs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mido
import numpy as np
from conductor import decode, images_of
from controls import low_db
from drums_oracle import (
    DRUM_CHANNEL,
    asked_pieces,
    masked_decode,
    rendered_excerpt,
    stft_convergence_db,
    without_channels,
)

BASS_PROGRAMS = range(32, 40)  # General MIDI 33–40 (Acoustic Bass … Synth Bass 2), counted from 0


def bass_channels(source: Path) -> set[int]:
    """The channels of ``source`` given a bass program (never the drum channel)."""
    return {message.channel for track in mido.MidiFile(str(source)).tracks for message in track
            if message.type == "program_change" and message.program in BASS_PROGRAMS and message.channel != DRUM_CHANNEL}


def median_filtering_bass(mel: np.ndarray) -> np.ndarray:
    """Median filtering's bass share of each cell: its harmonic part, below 150 Hz (fading by 200)."""
    from riffcast.dsp.conductor.hpss import percussive_mask
    from riffcast.dsp.conductor.key import band_centres_hz
    from riffcast.dsp.conductor.stems import bass_rows
    from riffcast.dsp.params import RIFFUSION_V1

    return (1.0 - percussive_mask(mel)) * bass_rows(band_centres_hz(RIFFUSION_V1))[:, None]


def main() -> None:
    blupi, held_out = asked_pieces(__doc__.split("\n")[0], "every blupi piece with a bass")
    print("# bass off (drums on) against a perfect bass mute (the MIDI without its bass channels), 30 s excerpts\n")
    print("| piece | set | bass channels | low share cut: perfect mute / peer / bass off (dB) "
          "| distance to the bassless decode: plain / peer / bass off (dB) |")
    print("|---|---|---|---:|---:|")
    for piece in blupi:
        channels = bass_channels(piece.source)
        if not channels:
            print(f"| {piece.name} | — | none: skipped | | |", flush=True)
            continue
        with tempfile.TemporaryDirectory() as folder:
            workdir = Path(folder)
            without_channels(piece.source, workdir / "bassless.mid", channels)
            full, bassless = rendered_excerpt(piece.source, workdir), rendered_excerpt(workdir / "bassless.mid", workdir)
        images = images_of(full)
        plain, peer, off = decode(images).audio, masked_decode(images, median_filtering_bass), decode(images, bass="off").audio
        mute = decode(images_of(bassless)).audio
        low = low_db(plain)
        print(f"| {piece.name} | {'held out' if piece.name in held_out else 'training'} | "
              f"{', '.join(str(c + 1) for c in sorted(channels))} | {low - low_db(mute):.1f} / {low - low_db(peer):.1f} / "
              f"{low - low_db(off):.1f} | {stft_convergence_db(plain, mute):.2f} / {stft_convergence_db(peer, mute):.2f} / "
              f"{stft_convergence_db(off, mute):.2f} |", flush=True)


if __name__ == "__main__":
    main()
