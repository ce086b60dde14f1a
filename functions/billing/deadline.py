"""The time an invocation has left, so every network call can be bounded by it."""

from __future__ import annotations

import time
from typing import Protocol


class _HasRemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """A point on the monotonic clock by which the work must be done."""

    def __init__(self, at: float) -> None:
        self._at = at

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_lambda_context(cls, context: _HasRemainingTime, reserve_seconds: float = 1.0) -> Deadline:
        """The Lambda's own limit minus a reserve to log, flush metrics and answer before it is killed."""
        return cls.after(context.get_remaining_time_in_millis() / 1000 - reserve_seconds)

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())
