"""The synth's Butterworth design and sosfilt equal scipy.signal's, bit for bit, and the station
no longer imports scipy.signal (0.6–0.8 s of start-up)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from riffcast.generation.filters import FilterKind, butter_sos, sosfilt

CASES = [(FilterKind.LOWPASS, 2, lambda c: c), (FilterKind.HIGHPASS, 4, lambda c: c),
         (FilterKind.BANDPASS, 2, lambda c: (c, min(3 * c, 20000.0)))]


@pytest.mark.parametrize(("kind", "order", "edges"), CASES, ids=lambda v: getattr(v, "value", ""))
def test_design_and_filtering_equal_scipy_bit_for_bit(kind, order, edges):
    noise = np.random.default_rng(1).standard_normal(6000)
    for cutoff_hz in np.linspace(100.0, 15000.0, 40):
        ours = butter_sos(kind, edges(cutoff_hz), 44100, order)
        theirs = signal.butter(order, edges(cutoff_hz), btype=kind.value, fs=44100, output="sos")
        assert np.array_equal(ours, theirs), (kind, cutoff_hz)
        assert np.array_equal(sosfilt(ours, noise), signal.sosfilt(theirs, noise)), (kind, cutoff_hz)


@pytest.mark.parametrize(("kind", "cutoff"), [(FilterKind.LOWPASS, (100.0, 200.0)), (FilterKind.BANDPASS, 100.0),
                                              (FilterKind.LOWPASS, 0.0), (FilterKind.HIGHPASS, 22050.0)])
def test_bad_edges_are_refused(kind, cutoff):
    with pytest.raises(ValueError):
        butter_sos(kind, cutoff, 44100)


@pytest.mark.system
def test_the_station_and_the_synth_do_not_import_scipy_signal():
    code = ("import sys, riffcast.station.main, riffcast.generation.synth, riffcast.generation.seeds\n"
            "riffcast.generation.seeds.bed_audio('boom-bap-94')\n"
            "assert 'scipy.signal' not in sys.modules, 'scipy.signal imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
