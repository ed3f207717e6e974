"""riffcast under systemd, the process side: the ``sd_notify`` messages (ready, watchdog, stopping)
and the log format for the journal. The unit file ``riffcast serve --systemd-unit`` prints is
:mod:`riffcast.station.systemd_unit`'s (it reads serve's options).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TextIO


# -- sd_notify ---------------------------------------------------------------------------------
# Hand-written: the protocol is one datagram of KEY=VALUE lines to $NOTIFY_SOCKET. The
# python-systemd bindings need libsystemd's headers and a compiler to install, and ``sdnotify``
# on PyPI is unmaintained; this is twenty lines with nothing to build.
class Notifier:
    """Tells systemd (``Type=notify``) that the station is ready, alive, stopping.

    Reads ``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket) and ``WATCHDOG_USEC``/
    ``WATCHDOG_PID``. Without them every method is a no-op; no method ever raises or blocks.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = ("\0" + name[1:]) if name.startswith("@") and len(name) > 1 else (
            name if name.startswith("/") else None)
        self._socket: socket.socket | None = None
        if self.address is not None:
            try:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)  # a busy systemd must never stall the clock
            except OSError:
                self._socket = None
        self.watchdog_interval_s: float | None = _watchdog_interval_s(env) if self._socket else None
        """Ping at least this often (half of systemd's WatchdogSec); None: no watchdog."""
        self._last_ping = -float("inf")

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; False when it could not be sent."""
        if self._socket is None or self.address is None:
            return False
        try:
            self._socket.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError:
            return False
        return True

    def ready(self) -> bool:
        return self.notify("READY=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """One line shown by ``systemctl status``."""
        return self.notify("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> None:
        """Ping the watchdog: cheap enough for every frame (sends at most every interval/2)."""
        if self.watchdog_interval_s is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_interval_s / 2:
            self._last_ping = now
            self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            self.watchdog_interval_s = None


def _watchdog_interval_s(env: Mapping[str, str]) -> float | None:
    pid = env.get("WATCHDOG_PID")
    if pid is not None and pid != str(os.getpid()):
        return None  # the watchdog is another process's
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


@functools.cache
def notifier() -> Notifier:
    """This process's notifier (one socket, from the environment at first use)."""
    return Notifier()


# -- logs --------------------------------------------------------------------------------------
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """``<N>`` before each record: journald takes it as the priority (``journalctl -p warning``)."""

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 4)
        return f"<{priority}>" + super().format(record)


def writes_to_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is systemd's journal: ``$JOURNAL_STREAM`` names its device:inode
    (checked, as systemd advises: a child may inherit the variable with stderr elsewhere)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return False


def log_formatter(stream: TextIO, environ: Mapping[str, str] | None = None) -> logging.Formatter:
    """``2026-11-30 22:00:00,123 INFO riffcast.station: …``; for the journal, which stamps the
    time itself, ``<6>INFO riffcast.station: …``."""
    if writes_to_journal(stream, environ):
        return JournalFormatter("%(levelname)s %(name)s: %(message)s")
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
