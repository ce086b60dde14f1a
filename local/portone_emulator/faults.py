"""Injected faults: what a flaky network or a struggling PortOne does to a call.

A fault hits requests whose method and path match ``route``: ``"*"`` (everything), ``"/prefix"`` (any
method) or ``"METHOD /prefix"``; the prefix matches whole path segments, so ``"POST /subscribe/customers"``
hits ``POST /subscribe/customers/cu_1``. It hits ``times`` requests (``None``: until cleared), one fault per
request, first added first. Admin calls are never hit.

Kinds, all acting after the whole request has been read:

- ``latency``: wait ``seconds`` before answering.
- ``http_500`` ... ``http_599``: answer that status with an envelope body.
- ``reset``: close the socket with SO_LINGER 0, so the client sees a connection reset and no answer.
- ``malformed``: answer 200 with the first half of the JSON body, which no JSON parser accepts.
- ``expire_tokens``: invalidate every access token, then handle the request normally.

``after_effect`` says whether the request took effect in PortOne, which is what a client's recovery logic
has to cope with (e.g. the billing key was issued although the client saw a timeout). It defaults to True:
the request reached PortOne. For ``http_5xx``, ``reset`` and ``malformed`` False means the request is
dropped. For ``latency`` True means "handled, then the answer is slow" (the effect is visible as soon as
the client starts waiting) and False means "the request is slow to arrive": it is handled after the wait,
so the effect lands ``seconds`` later even if the client gave up. ``expire_tokens`` ignores the flag.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

SIMPLE_KINDS = frozenset({"latency", "reset", "malformed", "expire_tokens"})
_HTTP_KIND = re.compile(r"^http_(5\d\d)$")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Fault:
    kind: str
    route: str = "*"
    times: int | None = 1
    seconds: float = 0.0
    after_effect: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SIMPLE_KINDS and not _HTTP_KIND.match(self.kind):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if not isinstance(self.after_effect, bool):
            raise TypeError("after_effect must be true or false")
        if self.times is not None and (isinstance(self.times, bool) or self.times < 1):
            raise ValueError("times must be at least 1, or None for 'until cleared'")
        if self.seconds < 0 or (self.kind == "latency" and self.seconds == 0):
            raise ValueError("latency needs seconds > 0")
        _parse_route(self.route)

    @property
    def status(self) -> int | None:
        """The HTTP status of an ``http_5xx`` fault."""
        match = _HTTP_KIND.match(self.kind)
        return int(match[1]) if match else None

    def matches(self, method: str, path: str) -> bool:
        wanted_method, prefix = _parse_route(self.route)
        if wanted_method not in (None, method):
            return False
        return prefix == "/" or path == prefix or path.startswith(prefix + "/")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_route(route: str) -> tuple[str | None, str]:
    if route.strip() == "*":
        return None, "/"
    parts = route.split()
    if len(parts) == 1 and parts[0].startswith("/"):
        return None, parts[0].rstrip("/") or "/"
    if len(parts) == 2 and parts[0].upper() in _METHODS and parts[1].startswith("/"):
        return parts[0].upper(), parts[1].rstrip("/") or "/"
    raise ValueError(f"route must be '*', '/prefix' or 'METHOD /prefix', not {route!r}")


@dataclass
class _Entry:
    fault: Fault
    remaining: int | None


class FaultBook:
    """The active faults and how many hits each has left; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._entries.append(_Entry(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault that hits this request, using up one of its hits."""
        with self._lock:
            for entry in self._entries:
                if entry.fault.matches(method, path):
                    if entry.remaining is not None:
                        entry.remaining -= 1
                        if entry.remaining == 0:
                            self._entries.remove(entry)
                    return entry.fault
            return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**e.fault.to_dict(), "remaining": e.remaining} for e in self._entries]
