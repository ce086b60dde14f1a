"""Webhooks ("notifications") the emulator POSTs after a scheduled payment ran (README §4.6).

One attempt per delivery, as PortOne by default: a network error or any status is recorded, never retried.
The body is JSON (PortOne sends JSON or a form, per a console setting); V1 webhooks carry no signature.
"""

from __future__ import annotations

import http.client
import json
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# README §4.6: the first delivery allows 10 s to connect and 30 s to read.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


class Notice(NamedTuple):
    """One delivery: where, what, and the receiver's HTTP status, or the error that stopped it."""

    url: str
    body: dict[str, Any]
    status: int | None  # None when no answer came
    error: str | None = None


def deliver(url: str, body: dict[str, Any]) -> Notice:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # e.g. "http://[::1" or a port that is not a number
        return Notice(url, body, None, f"{type(exc).__name__}: {exc}")
    if parts.scheme not in ("http", "https") or not host:
        return Notice(url, body, None, "notice_url is not an http(s) URL")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=CONNECT_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(READ_TIMEOUT)
        connection.request("POST", target, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return Notice(url, body, response.status)
    except (OSError, http.client.HTTPException) as exc:
        return Notice(url, body, None, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
