"""PcmRing: positions in, the same samples out, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from riffcast.pipeline.ring import PcmRing


def test_reads_back_what_was_written_across_the_wrap():
    ring = PcmRing(1000)
    stream = np.arange(2500, dtype=np.float32)
    for start in range(0, 2500, 333):
        ring.write(start, stream[start : start + 333])
    assert (ring.start, ring.end) == (1500, 2500)
    assert np.array_equal(ring.read(1500, 1000), stream[1500:2500])
    assert np.array_equal(ring.read(1990, 20), stream[1990:2010])


def test_a_block_larger_than_the_ring_keeps_its_newest_samples():
    ring = PcmRing(100)
    ring.write(0, np.arange(250, dtype=np.float32))
    assert np.array_equal(ring.read(150, 100), np.arange(150, 250, dtype=np.float32))


def test_gaps_and_forgotten_or_future_reads_are_refused():
    ring = PcmRing(100)
    ring.write(0, np.zeros(150, np.float32))
    with pytest.raises(ValueError, match="continue at position 150"):
        ring.write(160, np.zeros(10, np.float32))
    with pytest.raises(IndexError):
        ring.read(10, 5)  # forgotten
    with pytest.raises(IndexError):
        ring.read(140, 20)  # not written yet
    assert ring.end == 150
