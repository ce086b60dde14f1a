"""The time an invocation has left, so every network call can be bounded by it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

# Outside an invocation (a store used on its own, e.g. in a test) work is bounded by this instead.
_OUTSIDE_AN_INVOCATION_SECONDS = 30.0


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


# The running invocation's one deadline: the handler hands it to the services, and the DynamoDB clients'
# retries (aws.py), which are handed none, read it here.
_invocation: ContextVar[Deadline | None] = ContextVar("invocation_deadline", default=None)


@contextmanager
def invocation(context: _HasRemainingTime) -> Iterator[None]:
    """Mark the time one invocation has, for as long as it runs."""
    token = _invocation.set(Deadline.from_lambda_context(context))
    try:
        yield
    finally:
        _invocation.reset(token)


def invocation_deadline() -> Deadline:
    return _invocation.get() or Deadline.after(_OUTSIDE_AN_INVOCATION_SECONDS)
