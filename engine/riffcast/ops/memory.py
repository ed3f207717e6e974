"""Allocator settings that keep a long-running station's resident memory low and flat (glibc only).

Every chunk allocates and frees numpy temporaries of several MiB (the synth's STFT, the
phase reconstruction's frames) in two threads. glibc serves a block of at least
``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and gives it back to the system when it is
freed, but by default the threshold is *dynamic*: each time such a block is freed, the
threshold rises to its size (up to 32 MiB). After the first chunk, most temporaries are
therefore carved out of the threads' malloc arenas, where freed space is returned to the
system only from the top of a heap: the synth station's producer and feed threads kept
62 MiB of free arena space resident (139 MiB of arenas for 77 MiB in use), at a level that
depends on how the threads' peaks happened to overlap.

:func:`tune_allocator` fixes the thresholds (which also turns the dynamic adjustment
off), so blocks from ``mmap_threshold`` up always come from ``mmap`` and go back at
``free``, and free space at the top of a heap beyond ``trim_threshold`` is given back.
Call it once, early, before the worker threads start. Elsewhere than glibc (macOS, musl)
it does nothing. Settings given in the environment (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) win: the function then leaves them alone.

What stays below the threshold (Python objects, the listeners' frames and buffers) can still
leave free pages in the middle of an arena, which glibc returns only from the top.
:func:`release_free_memory` (``malloc_trim(0)``) gives every whole free page of every arena
back; on a running station it took 0.4–1.2 ms (40 ms at worst on a machine loaded ten
times over), so the feed thread can call it once per chunk.
"""

from __future__ import annotations

import ctypes
import functools
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


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only  # noqa: B018
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
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


def release_free_memory() -> bool:
    """Return the free pages of every malloc arena to the system (glibc's ``malloc_trim(0)``).

    True when glibc gave memory back, False when there was none to give or the C library is
    not glibc. Safe from any thread.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
