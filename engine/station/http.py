"""Plain HTTP answers on the station's port: the player's files, PNGs, JSON and text."""

from __future__ import annotations

import hmac
import json
from importlib import resources
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def response(status: int, body: bytes, content_type: str, *, cache: str = "no-store") -> Response:
    headers = Headers(
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", cache),
         ("Connection", "close")]
    )
    return Response(status, REASONS.get(status, ""), headers, body)


def text_response(status: int, text: str) -> Response:
    return response(status, (text + "\n").encode(), "text/plain; charset=utf-8")


def json_response(payload: dict, status: int = 200) -> Response:
    return response(status, json.dumps(payload).encode(), "application/json")


def player_file(name: str) -> Response:
    """A file of the browser player (package ``riffcast.web``), or 404."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in CONTENT_TYPES:
        return text_response(404, "not found")
    resource = resources.files("riffcast.web").joinpath(name)
    if not resource.is_file():
        return text_response(404, "not found")
    return response(200, resource.read_bytes(), CONTENT_TYPES[suffix], cache="no-cache")


def bearer_token(request: Request, query: str) -> str | None:
    """The token from ``Authorization: Bearer T`` or ``?token=T``."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    values = parse_qs(query).get("token")
    return values[0] if values else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
