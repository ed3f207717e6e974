"""A station's HTTP endpoints: ``/healthz`` (JSON) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import time
import urllib.request
from typing import Callable

POLL_S = 0.2  # how often wait_playing asks /healthz
# The stations asked are on 127.0.0.1, with a test's self-signed certificate when they use TLS.
LOCAL_TLS = ssl._create_unverified_context()


def get_text(url: str, timeout_s: float = 5.0) -> str:
    """The body of a GET, decoded as UTF-8."""
    with urllib.request.urlopen(url, timeout=timeout_s, context=LOCAL_TLS) as response:
        return response.read().decode()


def get_json(url: str, timeout_s: float = 5.0) -> dict:
    """The body of a GET, parsed as JSON."""
    with urllib.request.urlopen(url, timeout=timeout_s, context=LOCAL_TLS) as response:
        return json.loads(response.read())


def prometheus_value(text: str, name: str, labels: str = "") -> float:
    """The value of the sample ``name{labels}`` in Prometheus text (0.0 when absent)."""
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_playing(http: str, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> dict | None:
    """Poll ``{http}/healthz`` until it says ``playing`` → that health, or None once ``alive()``
    is false or ``timeout_s`` seconds have passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            return None
        with contextlib.suppress(OSError, ValueError):
            health = get_json(f"{http}/healthz")
            if health.get("playing"):
                return health
        time.sleep(POLL_S)
    return None
