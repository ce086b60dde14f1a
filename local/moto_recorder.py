"""moto's own request recorder, read over its HTTP API: which AWS calls were made (tests, benchmarks)."""

from __future__ import annotations

import base64
import collections
import json
from typing import Any

import requests


class MotoRecorder:
    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    def start(self) -> None:
        """Forget what was recorded and record from now on."""
        self._post("reset-recording")
        self._post("start-recording")

    def pause(self) -> None:
        self._post("stop-recording")

    def resume(self) -> None:
        """Record again, after what was recorded before the pause."""
        self._post("start-recording")

    def calls(self) -> collections.Counter[str]:
        """Calls so far by operation: the JSON protocol's X-Amz-Target (e.g. "DynamoDB_20120810.PutItem")."""
        return collections.Counter(e["headers"].get("X-Amz-Target", e["method"]) for e in self._entries())

    def write_units(self) -> int:
        """DynamoDB write units the recorded writes cost, as DynamoDB bills items under 1 KB: one per item
        written on its own, two per item written in a transaction."""
        units = 0
        for entry in self._entries():
            operation = entry["headers"].get("X-Amz-Target", "").removeprefix("DynamoDB_20120810.")
            if operation in ("PutItem", "UpdateItem", "DeleteItem"):
                units += 1
            elif operation == "TransactWriteItems":
                units += 2 * len(_body(entry)["TransactItems"])
            elif operation == "BatchWriteItem":
                units += sum(len(requests) for requests in _body(entry)["RequestItems"].values())
        return units

    def _entries(self) -> list[dict[str, Any]]:
        text = requests.get(f"{self._endpoint}/moto-api/recorder/download-recording", timeout=60).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def bodies(self, target: str) -> list[Any]:
        """The request bodies of one operation's calls, e.g. "DynamoDB_20120810.BatchGetItem"."""
        return [_body(e) for e in self._entries() if e["headers"].get("X-Amz-Target") == target]

    def count(self, target: str) -> int:
        """Calls of one operation, e.g. "secretsmanager.GetSecretValue"."""
        return self.calls()[target]

    def _post(self, action: str) -> None:
        requests.post(f"{self._endpoint}/moto-api/recorder/{action}", timeout=10)


def _body(entry: dict[str, Any]) -> Any:
    body = entry["body"]
    return json.loads(base64.b64decode(body) if entry.get("body_encoded") else body)
