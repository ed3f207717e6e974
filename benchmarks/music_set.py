"""A set of real music for the sound benchmarks, made from Debian's packages (kept out of git).

- Orchestral recordings: Battle for Wesnoth's soundtrack (``wesnoth-1.16-music``, Ogg Vorbis;
  GPL): densely orchestrated pieces and quieter ones.
- General MIDI renderings: Planet Blupi's MIDI music (``planetblupi-music-midi``) played through
  the FluidR3 General MIDI soundfont (``fluid-soundfont-gm``) by ``fluidsynth``.
- Band and electronic recordings (:data:`BAND_PIECES`, optional): SuperTuxKart's soundtrack
  (``supertuxkart-data``, Ogg Vorbis; CC licences) — rock, electronic, latin, celtic, swing: music
  with a drum kit, as Riffusion paints it. Every piece of at least 65 s but the faster copies of
  others; no benchmark fits anything on them (held out of every fit).

Each clip is ``--seconds`` long (45 by default), cut from ``offset_s`` into its piece, mixed to
mono, resampled to 44 100 Hz (soxr) and written as FLAC under ``--out`` (default
``$RIFFCAST_MUSIC_DIR``, else ``~/.cache/riffcast/music``). Clips already there are kept.

    sudo apt-get install wesnoth-1.16-music planetblupi-music-midi fluidsynth fluid-soundfont-gm
    sudo apt-get install supertuxkart-data   # the band recordings (600 MB)
    python benchmarks/music_set.py

Other benchmarks call :func:`music_clips`, which makes what is missing and returns the clips.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 44100
WESNOTH_MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
BLUPI_MIDI = Path("/usr/share/planetblupi/music")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SUPERTUXKART_MUSIC = Path("/usr/share/games/supertuxkart/data/music")


@dataclass(frozen=True)
class Piece:
    """One clip: where it comes from (a file of a Debian package) and what it is like."""

    name: str
    package: str
    source: Path
    offset_s: float
    character: str


PIECES = (
    Piece("battle-epic", "wesnoth-1.16-music", WESNOTH_MUSIC / "battle-epic.ogg", 20.0, "orchestral recording"),
    Piece("nunc-dimittis", "wesnoth-1.16-music", WESNOTH_MUSIC / "nunc_dimittis.ogg", 30.0, "orchestral recording"),
    Piece("silvan-sanctuary", "wesnoth-1.16-music", WESNOTH_MUSIC / "silvan_sanctuary.ogg", 20.0, "orchestral recording"),
    Piece("traveling-minstrels", "wesnoth-1.16-music", WESNOTH_MUSIC / "traveling_minstrels.ogg", 10.0, "orchestral recording"),
    Piece("blupi-000", "planetblupi-music-midi", BLUPI_MIDI / "music000.mid", 0.0, "General MIDI, FluidR3"),
    Piece("blupi-003", "planetblupi-music-midi", BLUPI_MIDI / "music003.mid", 0.0, "General MIDI, FluidR3"),
    Piece("blupi-007", "planetblupi-music-midi", BLUPI_MIDI / "music007.mid", 0.0, "General MIDI, FluidR3"),
)

# The bandwidth model's training pieces (benchmarks/bandwidth_train.py): other pieces of the same
# packages. PIECES above are held out of training: benchmarks/fullband.py measures on them.
TRAINING_PIECES = tuple(
    Piece(name.replace("_", "-"), "wesnoth-1.16-music", WESNOTH_MUSIC / f"{name}.ogg", 20.0, "orchestral recording")
    for name in ("battle", "breaking_the_chains", "casualties_of_war", "elf-land", "elvish-theme", "frantic",
                 "heroes_rite", "into_the_shadows", "journeys_end", "knalgan_theme", "knolls", "legends_of_the_north",
                 "love_theme", "loyalists", "northern_mountains", "northerners", "revelation", "siege_of_laurelmor",
                 "the_city_falls", "the_deep_path", "underground", "wanderer")
) + tuple(
    Piece(f"blupi-{number:03d}", "planetblupi-music-midi", BLUPI_MIDI / f"music{number:03d}.mid", 0.0, "General MIDI, FluidR3")
    for number in (1, 2, 4, 5, 6, 8, 9)
)

# Held out of every fit, measured apart (benchmarks/conductor.py): SuperTuxKart 1.4's music files of
# at least 65 s (a clip from 20 s to 65 s), but ``*_fast``/``farm_f`` (the same music played faster).
BAND_PIECES = tuple(
    Piece(f"stk-{name.lower().replace('_', '-')}", "supertuxkart-data", SUPERTUXKART_MUSIC / f"{name}.ogg", 20.0,
          "band or electronic recording")
    for name in ("alien_signal", "bay", "celtic", "cocoa_river", "demonhill", "egypt", "farm", "garden", "hacienda",
                 "jumping_to_the_stars_remake", "kart_grand_prix", "klabauter_dance", "landing_in_gran_paradiso",
                 "Lava", "menutheme", "overworld", "Penguin_Party", "ravenbridge_mansion", "SkyVibe-HighFrequency",
                 "snowmountain", "subsea", "theGreatFair", "valley", "West", "win_theme", "xeon6")
)


@dataclass(frozen=True)
class Clip:
    piece: Piece
    path: Path

    def samples(self) -> np.ndarray:
        """The clip → (n,) float32 mono at 44 100 Hz."""
        audio, _ = soundfile.read(self.path, dtype="float32")
        return audio


def default_folder() -> Path:
    return Path(os.environ.get("RIFFCAST_MUSIC_DIR") or Path.home() / ".cache" / "riffcast" / "music")


def _decoded(piece: Piece, workdir: Path) -> tuple[np.ndarray, int]:
    """The whole piece → (frames, channels) float32 and its rate."""
    if piece.source.suffix == ".mid":
        if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
            raise FileNotFoundError("fluidsynth and fluid-soundfont-gm are needed for the MIDI pieces")
        rendered = workdir / f"{piece.name}.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-F", str(rendered),
                        str(SOUNDFONT), str(piece.source)], check=True, stdout=subprocess.DEVNULL)
        return soundfile.read(rendered, dtype="float32", always_2d=True)
    return soundfile.read(piece.source, dtype="float32", always_2d=True)


def make_clip(piece: Piece, folder: Path, seconds: float) -> Clip:
    """Cut, mix to mono, resample and write one clip (kept if it is already there)."""
    path = folder / f"{piece.name}-{seconds:g}s.flac"
    if path.exists():
        return Clip(piece, path)
    if not piece.source.exists():
        raise FileNotFoundError(f"{piece.source} is missing: install the Debian package {piece.package}")
    with tempfile.TemporaryDirectory() as workdir:
        audio, rate = _decoded(piece, Path(workdir))
    mono = audio.mean(axis=1)
    start = round(piece.offset_s * rate)
    mono = mono[start : start + round(seconds * rate)]
    if mono.size < round(seconds * rate) * 0.95:
        raise ValueError(f"{piece.source} is shorter than {piece.offset_s + seconds:g} s")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="VHQ")
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.flac")
    soundfile.write(partial, mono.astype(np.float32), SAMPLE_RATE, subtype="PCM_24")
    partial.replace(path)
    return Clip(piece, path)


def music_clips(seconds: float = 45.0, folder: Path | None = None, *, quiet: bool = False,
                pieces: tuple[Piece, ...] = PIECES) -> list[Clip]:
    """Every clip of ``pieces`` whose source package is installed (made if missing); says which
    are not (or are too short)."""
    folder = folder or default_folder()
    clips = []
    for piece in pieces:
        try:
            clips.append(make_clip(piece, folder, seconds))
        except (FileNotFoundError, ValueError) as missing:
            if not quiet:
                print(f"music set: skipping {piece.name}: {missing}", file=sys.stderr)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder (default $RIFFCAST_MUSIC_DIR or ~/.cache/riffcast/music)")
    parser.add_argument("--seconds", type=float, default=45.0, help="clip length (default 45)")
    parser.add_argument("--band", action="store_true", help="the band recordings (BAND_PIECES) too")
    args = parser.parse_args()
    clips = music_clips(args.seconds, args.out) + (music_clips(args.seconds, args.out, pieces=BAND_PIECES) if args.band else [])
    print("| clip | character | package | peak dBFS |\n|---|---|---|---:|")
    for clip in clips:
        peak = float(np.max(np.abs(clip.samples())))
        print(f"| {clip.path.name} | {clip.piece.character} | {clip.piece.package} | {20 * np.log10(peak):.1f} |")
    if not clips:
        raise SystemExit("no music made: install the packages named above")


if __name__ == "__main__":
    main()
