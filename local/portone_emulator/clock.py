"""A settable clock for tests: token lifetimes and card expiry without sleeping."""

from __future__ import annotations

import threading
from datetime import timedelta, timezone

# 2026-03-15 12:00:00 KST: after the 2026-01-26 sandbox change (README §6.1), mid-month so card expiry
# checks are not at a month edge.
DEFAULT_START = 1_773_543_600.0
# Dates (card expiry, PG transaction ids, query windows) are Korean time: the PGs are Korean (README §6.1).
KST = timezone(timedelta(hours=9))


class FakeClock:
    """Callable like ``time.time``; moves only when told to."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    @property
    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now
