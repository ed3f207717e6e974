"""Ctrl-C while a command starts, remembered: Python raises KeyboardInterrupt wherever the main
thread is, and where that is a callback of the import machinery (a module lock's weakref) it is
printed as "Exception ignored" with a traceback, and lost — the station then came up and ran as
if never interrupted. Here a SIGINT is remembered first and raised only outside the import
machinery (inside it, only remembered); ``serve`` reads the flag once its event loop has taken
SIGINT over, and stops."""

from __future__ import annotations

import signal
import threading

_interrupted = threading.Event()


def watch_interrupts() -> None:
    """From now on, a SIGINT is remembered before it is raised (main thread, default handler only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def remember_then_raise(signum, frame) -> None:
        _interrupted.set()
        if frame is None or not frame.f_code.co_filename.startswith("<frozen importlib"):
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, remember_then_raise)


def interrupted_while_starting() -> bool:
    """A SIGINT came since :func:`watch_interrupts` (even one whose KeyboardInterrupt was lost)."""
    return _interrupted.is_set()
