"""Real servers for the delivery tests (Debian's ``icecast2`` and ``nginx``): the benchmarks'
launchers (``benchmarks/harness/servers.py``), with a missing program failing the test and saying
which package to install (CI installs them)."""

from __future__ import annotations

import pytest

from benchmarks.harness import servers
from benchmarks.harness.servers import ADMIN_PASSWORD, SOURCE_PASSWORD, mount_title, stop_process, wait_for_mount

__all__ = ["ADMIN_PASSWORD", "SOURCE_PASSWORD", "mount_title", "running_icecast", "running_nginx", "start_icecast",
           "stop_process", "wait_for_mount"]


def _require(name: str, package: str) -> None:
    try:
        servers.executable(name, package)
    except servers.MissingServer as missing:
        pytest.fail(f"{missing}; .ci/run installs it", pytrace=False)


def running_icecast(*args, **kwargs):
    _require("icecast2", "icecast2")
    return servers.running_icecast(*args, **kwargs)


def start_icecast(*args, **kwargs):
    _require("icecast2", "icecast2")
    return servers.start_icecast(*args, **kwargs)


def running_nginx(*args, **kwargs):
    _require("nginx", "nginx-light")
    return servers.running_nginx(*args, **kwargs)
