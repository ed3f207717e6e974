"""The conductor between painter and stitcher, for image sources that do not honour the
musical controls themselves (Riffusion, ``riffcast decode``): a target's controls in the
conductor's terms, and the decode path (a whole run of images, time-stretched to the asked tempo).

A generator that honours them natively says so with a true ``honours_controls`` attribute (the
synth); its images go to the stitcher as painted.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from riffcast.dsp.codec import MelImage
from riffcast.dsp.conductor import Conductor, Controls, MusicalKey, Stem
from riffcast.dsp.params import SpectrogramParams
from riffcast.steering.targets import KeyMode, Target


def controls_of(target: Target) -> Controls:
    """A target's musical controls → the conductor's :class:`Controls`."""
    key = None if target.key is None else MusicalKey(target.key.tonic, target.key.mode is KeyMode.MINOR)
    return Controls(bpm=target.bpm, key=key, brightness=target.brightness,
                    drums=Stem(target.drums.value), bass=Stem(target.bass.value))


def honours_controls(generator: object) -> bool:
    """True when ``generator`` plays the controls itself (no conductor needed)."""
    return bool(getattr(generator, "honours_controls", False))


def conducted_images(chunks: Iterable[MelImage], controls: Controls,
                     params: SpectrogramParams) -> Iterator[MelImage]:
    """Decoded images in stream order → the conducted stream as chunks of any width (the tempo
    stretches it). Levels: images that state their absolute level are conducted at it (so
    columns from two images can be read side by side); otherwise all are taken as they are. The
    source's key and beats are heard from all the images before the first is conducted."""
    chunks = list(chunks)
    absolute = all(chunk.max_value is not None for chunk in chunks)
    mels = [chunk.mel * np.float32(chunk.max_value) if absolute else chunk.mel for chunk in chunks]
    conductor = Conductor(params)
    if mels and (controls.key is not None or controls.bpm is not None):
        whole = np.concatenate(mels, axis=1)
        if controls.key is not None:
            conductor.hear_key(whole)
        if controls.bpm is not None:
            conductor.hear_tempo(whole, controls.bpm)
    for mel in mels:
        out = conductor.stretch(mel, controls)
        if out.shape[1]:
            yield MelImage(out, 1.0 if absolute else None)
    out = conductor.finish(controls)
    if out.shape[1]:
        yield MelImage(out, 1.0 if absolute else None)
