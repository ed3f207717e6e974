"""Allocator settings that keep a long-running station's resident memory flat (glibc only).

Every chunk allocates and frees numpy temporaries of several MiB (the synth's STFT, the
phase reconstruction's frames) in two threads. glibc serves a block of at least
``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and gives it back to the system when it is
freed, but by default the threshold is *dynamic*: each time such a block is freed, the
threshold rises to its size (up to 32 MiB). After the first chunk, the temporaries are
therefore carved out of the threads' malloc arenas, where freed space is reused only when
the next request fits and is returned to the system only from the top of a heap: resident
memory keeps the peaks and creeps up as the arenas fragment.

:func:`tune_allocator` fixes the thresholds (which also turns the dynamic adjustment
off), so blocks from ``mmap_threshold`` up always come from ``mmap`` and go back at
``free``, and free space at the top of a heap beyond ``trim_threshold`` is given back.
Call it once, early, before the worker threads start. Elsewhere than glibc (macOS, musl)
it does nothing. Settings given in the environment (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) win: the function then leaves them alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 1 << 20  # 1 MiB: every numpy temporary of a chunk is mmapped, small objects are not
TRIM_THRESHOLD_BYTES = 4 << 20  # give back free space at the top of a heap beyond 4 MiB

_ENVIRONMENT_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    return libc


def tune_allocator(
    mmap_threshold: int = MMAP_THRESHOLD_BYTES, trim_threshold: int = TRIM_THRESHOLD_BYTES
) -> bool:
    """Fix glibc's mmap and trim thresholds (see the module docstring).

    Returns True when the settings were applied; False on another C library, or when the
    environment already sets the allocator (its settings are kept).
    """
    if any(name in os.environ for name in _ENVIRONMENT_SETTINGS):
        log.debug("allocator settings come from the environment; left as they are")
        return False
    libc = _glibc()
    if libc is None:
        return False
    applied = libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    applied = libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and applied
    if not applied:
        log.warning("could not set glibc's malloc thresholds; resident memory may creep up")
    return applied
