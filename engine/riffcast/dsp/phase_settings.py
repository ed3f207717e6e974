"""Defaults of the phase stage, importable without numpy or numba (the command line shows them).

Chosen on real music (``benchmarks/inversion_real.py``): rounds of 4 frames (40 ms) with 2
frames of look-ahead and 6 iterations each (a frame is refined in one or two rounds), on a
grid of 5 Hz bins (the 4410-sample window zero-padded to 8820).
"""

DEFAULT_BLOCK_FRAMES = 4
DEFAULT_LOOKAHEAD_FRAMES = 2
DEFAULT_ITERATIONS = 6
DEFAULT_FFT_OVERSAMPLING = 2
