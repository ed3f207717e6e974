"""How ``riffcast listen`` checks a ``wss://`` station's certificate: the system's CAs, a given
CA file (``--cacert``, e.g. the station's own self-signed ``--tls-cert``), or not at all
(``--insecure``, for a test station only)."""

from __future__ import annotations

import ssl
from pathlib import Path

UNTRUSTED_HINT = (
    "give --cacert FILE (the station's certificate or its CA, e.g. the PEM of its --tls-cert), "
    "or --insecure to skip the check on a test station"
)


def client_context(url: str, cacert: Path | None = None, insecure: bool = False) -> ssl.SSLContext | None:
    """The TLS context for ``url`` (already a ``ws://`` or ``wss://`` URL); None: the default.
    ValueError in one line for options that cannot apply or a CA file that cannot be read."""
    if cacert is None and not insecure:
        return None
    given = "--cacert" if cacert is not None else "--insecure"
    if cacert is not None and insecure:
        raise ValueError("give --cacert or --insecure, not both")
    if not url.startswith("wss:"):
        raise ValueError(f"{given} is for a TLS station (wss:// or https://), not {url}")
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=str(cacert))
    except FileNotFoundError:
        raise ValueError(f"--cacert {cacert}: no such file") from None
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"--cacert {cacert}: not a PEM certificate ({getattr(error, 'reason', None) or error})") from None
