"""Real DynamoDB's write conflicts, which moto never produces: a WSGI layer in front of moto's server.

Real DynamoDB refuses a single-item write to an item that a transaction is changing
(TransactionConflictException), and cancels a transaction that meets another write on one of its items
(TransactionCanceledException with a TransactionConflict reason); nothing is written either way. Which
writes meet one depends on timing no test controls, so a test sets the rule instead: every write conflicts
with a fixed probability, and the first `run` attempts of every write conflict. Answered here, on the wire,
exactly as DynamoDB answers, the function's own code cannot tell them from the real thing. Off by default.

It also applies writes one at a time, as DynamoDB applies each write to an item atomically: moto's threaded
server does not lock, so two conditional updates arriving together could otherwise both pass.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})
_ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#"
_CONFLICT = "Transaction is ongoing for the item"


class DynamoDBConflicts:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._one_write_at_a_time = threading.Lock()
        self.set()

    def set(self, *, probability: float = 0.0, run: int = 0, seed: int = 0) -> None:
        """From now on: each attempt of a write conflicts with `probability`, and a write's first `run`
        attempts conflict. Attempts of one write are the same request body sent again until it passes;
        a write with the same body after that is another write."""
        with self._lock:
            self._probability, self._run = probability, run
            self._dice = random.Random(seed)  # a test's dice: the same draws, in order, in every run
            self._attempts: Counter[str] = Counter()
            self.injected = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if operation not in _WRITES:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        if not self._conflicts(body):
            with self._one_write_at_a_time:
                return list(self._app(environ, start_response))
        answer = json.dumps(_conflict(operation, json.loads(body))).encode()
        start_response(
            "400 Bad Request",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(answer)))],
        )
        return [answer]

    def _conflicts(self, body: bytes) -> bool:
        if not (self._probability or self._run):
            return False
        write = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._attempts[write] += 1
            attempt = self._attempts[write]
            conflict = attempt <= self._run or self._dice.random() < self._probability
            if not conflict:
                del self._attempts[write]
            self.injected += conflict
        return conflict


def _conflict(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    if operation != "TransactWriteItems":
        return {"__type": f"{_ERROR_TYPE}TransactionConflictException", "message": _CONFLICT}
    items = request.get("TransactItems", [])
    reasons = [{"Code": "TransactionConflict", "Message": _CONFLICT}] + [{"Code": "None"}] * (len(items) - 1)
    codes = ", ".join(reason["Code"] for reason in reasons)
    return {
        "__type": f"{_ERROR_TYPE}TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    }
