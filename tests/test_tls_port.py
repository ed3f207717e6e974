"""Plain HTTP sent to a ``--tls-cert`` station's port gets a clear answer, not an empty reply
(issue 23; riffcast.station.tls_port): 400 with the ``https://`` address to use, and ``riffcast
listen ws://…`` says in one line to use ``wss://``. TLS on the same port works as before."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest

from riffcast.station.tls_port import plain_http_answer
from test_tls import certificate, tls_station  # noqa: F401 - fixtures

RIFFCAST = [sys.executable, "-m", "riffcast"]


def test_the_answer_names_the_https_address_of_the_request():
    answer = plain_http_answer(b"GET /live.mp3?x=1 HTTP/1.1\r\nHost: radio.example:8443\r\nAccept: */*\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in head
    assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
    assert body == (b"This station speaks HTTPS on this port, not plain HTTP: open "
                    b"https://radio.example:8443/live.mp3?x=1 instead (wss:// for the stream).\n")
    assert plain_http_answer(b"\x00\x01garbage").endswith(b"not plain HTTP: use https:// (wss:// for the stream).\n")
    injected = plain_http_answer(b"GET / HTTP/1.1\r\nHost: a\"<b>\r\n\r\n")
    assert b"<b>" not in injected and b"use https://" in injected  # only a host name is ever echoed


def _plain_get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        reply = b""
        while chunk := connection.recv(4096):
            reply += chunk
    return reply


@pytest.mark.system
def test_plain_http_to_the_tls_port_is_told_the_https_address(certificate, tls_station):  # noqa: F811
    cert, _ = certificate
    port = tls_station.port
    reply = _plain_get(port, "/healthz")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply
    assert reply.endswith(f"open https://127.0.0.1:{port}/healthz instead (wss:// for the stream).\n".encode()), reply
    trusted = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=trusted, timeout=10) as response:
        assert response.status == 200  # TLS on the same port, after the plain request


@pytest.mark.system
def test_listen_with_ws_to_the_tls_port_says_to_use_wss(tls_station):  # noqa: F811
    url = f"ws://127.0.0.1:{tls_station.port}/stream"
    result = subprocess.run([*RIFFCAST, "listen", url, "--no-play", "--quiet", "--duration", "5"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"riffcast listen: error: {url}: the station speaks TLS on this port: use "
        f"wss://127.0.0.1:{tls_station.port}/stream (with --cacert FILE for a self-signed certificate)"
    )
