"""The conductor: tempo, key, brightness and stems applied to mel images (see :mod:`.conductor`)."""

from riffcast.dsp.conductor.conductor import Conductor, ConductorState, Controls
from riffcast.dsp.conductor.key import MusicalKey
from riffcast.dsp.conductor.stems import Stem

__all__ = ["Conductor", "ConductorState", "Controls", "MusicalKey", "Stem"]
