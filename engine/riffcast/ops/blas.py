"""One BLAS thread per process. riffcast runs its stages on threads of its own (painter,
stitcher, encoders), and its matrix products are small (a 512 × 1025 mel filterbank over a
window's frames), so a BLAS thread pool only spins: with OpenBLAS's default of one thread per
core, its idle worker busy-waits after every product and took half of a synth station's CPU
(2 cores, 64-column windows: 36.2 % of a core, 18.3 % with one thread; benchmarks/station_cpu.py).
``OPENBLAS_NUM_THREADS`` (or the BLAS's own variable) set by the user is left as they set it."""

from __future__ import annotations

import os

# The variables a user sets to choose the thread count of the BLAS numpy was built with.
THREAD_COUNT_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS")


def use_one_blas_thread() -> None:
    """Limit every BLAS library loaded into this process (numpy's, scipy's) to one thread,
    unless the user chose a count in the environment."""
    if any(os.environ.get(name) for name in THREAD_COUNT_VARIABLES):
        return
    import numpy  # noqa: F401  (loads the BLAS, so threadpoolctl can find it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
