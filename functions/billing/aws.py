"""The container's AWS clients: one boto3 session, one client per service, shared by every adapter.

One session loads each service's model once (separate sessions each load it again: about 160 ms of the first
request), and one DynamoDB client keeps one connection pool for the idempotency records, the access rules and
the subscriptions. Every call fails fast: a request waiting on AWS is time PortOne's budget cannot use.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from billing.deadline import invocation_deadline

_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
_WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items"})
_CONFLICT_ATTEMPTS = 10
_CONFLICT_BACKOFF_SECONDS = (0.01, 0.4)  # first and largest backoff; full jitter in between
_CALL_RESERVE_SECONDS = 0.5  # what one more attempt may take after its backoff


class AwsClients:
    """The clients of one boto3 session."""

    def __init__(self) -> None:
        self._session = boto3.session.Session()
        self.dynamodb = ConflictRetryingDynamoDB(self._session.client("dynamodb", config=_CONFIG))
        self.secretsmanager = self._session.client("secretsmanager", config=_CONFIG)

    @cached_property
    def s3(self) -> Any:
        """S3, only for the page check's inventory (page_check.py): no request path loads its model."""
        return self._session.client("s3", config=_CONFIG)

    @cached_property
    def events(self) -> Any:
        """EventBridge, only for the stream that publishes subscription events: no other path loads its
        model. From the same session, which has loaded what the services share (endpoints, retry rules)."""
        return self._session.client("events", config=_CONFIG)


@lru_cache(maxsize=1)
def aws_clients() -> AwsClients:
    """Built on first use, after the environment (region, endpoints) is final."""
    return AwsClients()


class ConflictRetryingDynamoDB:
    """The DynamoDB client, with every write retried when DynamoDB refused it for a conflict.

    Real DynamoDB refuses a write to an item that a transaction is changing (TransactionConflictException)
    and cancels a transaction that meets another write on one of its items (TransactionCanceledException
    with a TransactionConflict reason); moto never does, and botocore retries neither. Both are safe to
    send again: nothing was written. Retried with jittered exponential backoff, while the invocation has the
    time for another attempt; then the error goes to the caller as any other DynamoDB failure.
    """

    def __init__(self, client: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self._client, name)
        if name not in _WRITES:
            return operation
        return lambda **request: self._write(operation, request)

    def _write(self, operation: Callable[..., Any], request: dict[str, Any]) -> Any:
        first, largest = _CONFLICT_BACKOFF_SECONDS
        attempts = 0
        while True:
            try:
                return operation(**request)
            except ClientError as exc:
                attempts += 1
                backoff = random.uniform(0, min(largest, first * 2**attempts))  # noqa: S311 (jitter)
                in_time = invocation_deadline().remaining() > backoff + _CALL_RESERVE_SECONDS
                if attempts == _CONFLICT_ATTEMPTS or not in_time or not _conflict(exc):
                    raise
            self._sleep(backoff)


def _conflict(exc: ClientError) -> bool:
    error = exc.response.get("Error", {}).get("Code")
    if error == "TransactionConflictException":
        return True
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    # Cancelled for a conflict and for nothing else: a failed condition is an answer, not a conflict.
    return (
        error == "TransactionCanceledException"
        and "TransactionConflict" in reasons
        and set(reasons) <= {"TransactionConflict", "None"}
    )
