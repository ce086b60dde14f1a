"""Helpers for the integration tier: sample events, the handler's answer, moto's request recorder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from local.invoke import function_environment
from local.template import ROOT, function_definition

EVENTS = ROOT / "events"
FUNCTION = function_definition("BillingFunction")
ENVIRONMENT = function_environment(FUNCTION, EVENTS / "env.json")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def http_event(body: Any, *, content_type: str | None = "application/json") -> dict[str, Any]:
    """The sample API event with another body (a dict is sent as JSON)."""
    event = load_event("issue_billing")
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    if content_type is None:
        event["headers"].pop("content-type")
    else:
        event["headers"]["content-type"] = content_type
    return event


@dataclass
class Invocation:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class MotoRecorder:
    """moto's own request recorder, read over its HTTP API: which AWS calls the function made."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    def start(self) -> None:
        requests.post(f"{self._endpoint}/moto-api/recorder/reset-recording", timeout=5)
        requests.post(f"{self._endpoint}/moto-api/recorder/start-recording", timeout=5)

    def stop(self) -> None:
        requests.post(f"{self._endpoint}/moto-api/recorder/stop-recording", timeout=5)

    def count(self, target: str) -> int:
        """Calls of one JSON-protocol operation, e.g. "secretsmanager.GetSecretValue"."""
        text = requests.get(f"{self._endpoint}/moto-api/recorder/download-recording", timeout=5).text
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        return sum(1 for e in entries if e["headers"].get("X-Amz-Target") == target)
