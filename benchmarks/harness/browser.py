"""Headless Chromium for the browser player (``riffcast.web``): the one launcher of the tests and the
benchmarks, and the page's own audio as it goes to the speakers (``window.riffcast.capture``).

Debian's ``chromium`` must be on PATH: Playwright drives it through ``executable_path`` and never
downloads a browser.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    # The next four keep Chromium from reaching for the network on its own.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
)
QUANTUM_SAMPLES = 128  # a Web Audio render quantum
MISSING = ("Debian's `chromium` is not on PATH (apt-get install chromium): the browser tests drive it through "
           "Playwright's executable_path and never download a browser")

# In the page: the capture, its arrays as base64 (a JSON array of 441 000 numbers is slow to pass).
CAPTURE_SCRIPT = """async (seconds) => {
  const captured = await window.riffcast.capture(seconds);
  const base64 = (array) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  return { samples: base64(captured.samples), positions: base64(captured.positions), step: captured.step,
           sampleRate: captured.sampleRate };
}"""


def chromium_executable() -> str | None:
    """Debian's Chromium, or None where it is not installed."""
    return shutil.which("chromium")


@contextlib.contextmanager
def headless_chromium(*extra_args: str) -> Iterator[Browser]:
    """Chromium with :data:`CHROMIUM_ARGS` (and ``extra_args``); FileNotFoundError (:data:`MISSING`)
    without it."""
    executable = chromium_executable()
    if executable is None:
        raise FileNotFoundError(MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def wait_for(page: Page, expression: str, arg=None, *, timeout: float) -> None:
    """``page.wait_for_function`` without its in-page ``eval``, which the player's Content-Security-Policy
    forbids (no 'unsafe-eval'): poll ``page.evaluate`` (run by the DevTools protocol) instead.
    ``timeout`` in milliseconds."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout / 1000:g} s: {expression}")
        page.wait_for_timeout(50)


@dataclass(frozen=True)
class CapturedAudio:
    """What the page's player sent to the output (worklet.js's capture).

    ``samples``: (n,) float32 at ``sample_rate`` (the output's, Hz); ``quantum_positions``:
    (ceil(n / 128),) float64, the stream position (stream samples) of each render quantum's first
    sample, NaN for a quantum of silence; ``step``: stream samples per output sample."""

    samples: np.ndarray
    quantum_positions: np.ndarray
    step: float
    sample_rate: int

    def longest_run(self) -> tuple[float, np.ndarray]:
        """The longest stretch played in order (each quantum where the one before it ended: no
        underrun, drop or seek inside): (its first stream position, its samples)."""
        positions = self.quantum_positions
        follows = np.abs(np.diff(positions) - QUANTUM_SAMPLES * self.step) < 0.5  # NaN compares False
        best_start, best_length, start = 0, 0, None
        for index, position in enumerate(positions):
            if np.isnan(position):
                start = None
                continue
            if start is None or not follows[index - 1]:
                start = index
            if index + 1 - start > best_length:
                best_start, best_length = start, index + 1 - start
        first, end = best_start * QUANTUM_SAMPLES, (best_start + best_length) * QUANTUM_SAMPLES
        return float(positions[best_start]), self.samples[first:end]


def capture_audio(page: Page, seconds: float) -> CapturedAudio:
    """The next ``seconds`` of the page's audio output (the player must be playing through its worklet)."""
    captured = page.evaluate(CAPTURE_SCRIPT, seconds)
    return CapturedAudio(np.frombuffer(base64.b64decode(captured["samples"]), dtype=np.float32),
                         np.frombuffer(base64.b64decode(captured["positions"]), dtype=np.float64),
                         float(captured["step"]), int(captured["sampleRate"]))
