"""moto's own request recorder, read over its HTTP API: which AWS calls were made (tests, benchmarks)."""

from __future__ import annotations

import collections
import json

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
        text = requests.get(f"{self._endpoint}/moto-api/recorder/download-recording", timeout=60).text
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        return collections.Counter(e["headers"].get("X-Amz-Target", e["method"]) for e in entries)

    def count(self, target: str) -> int:
        """Calls of one operation, e.g. "secretsmanager.GetSecretValue"."""
        return self.calls()[target]

    def _post(self, action: str) -> None:
        requests.post(f"{self._endpoint}/moto-api/recorder/{action}", timeout=10)
