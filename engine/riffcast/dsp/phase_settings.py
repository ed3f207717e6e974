"""Defaults of the phase stage, importable without numpy or numba (the command line shows them).

Chosen on real music (``benchmarks/inversion_real.py``): rounds of 2 frames (20 ms) with 2
frames of look-ahead and 5 iterations each, so each frame is refined in two rounds, on a
grid of 5 Hz bins (the 4410-sample window zero-padded to 8820).
"""

DEFAULT_BLOCK_FRAMES = 2
DEFAULT_LOOKAHEAD_FRAMES = 2
DEFAULT_ITERATIONS = 5
DEFAULT_FFT_OVERSAMPLING = 2
