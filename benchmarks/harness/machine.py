"""The machine a benchmark runs on: its one-line description and the open-files limit."""

from __future__ import annotations

import contextlib
import os
import platform
import resource


def host_description() -> str:
    """e.g. ``x86_64, 2 cores, Python 3.12.3, load average 0.42 at start`` (1-minute load average)."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at start")


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (1000+ sockets per process); returns the new soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
