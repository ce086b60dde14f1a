"""The emulator's own HTTP API under ``/__emulator__/`` (not PortOne's; plain JSON, never counted).

- ``GET /__emulator__/stats``: recorded calls, counts per route and status, contract violations, faults.
- ``POST /__emulator__/faults``: add a fault, body like ``{"kind": "reset", "route": "POST
  /subscribe/customers", "times": 1, "after_effect": false}`` (fields as ``PortOneEmulator.add_fault``).
- ``DELETE /__emulator__/faults``: clear all faults.
- ``POST /__emulator__/reset``: forget tokens, customers, payments, schedules, notices, calls and violations;
  the channel switches return to how the emulator was started.
- ``POST /__emulator__/clock``: ``{"advance": seconds}``; only when the emulator runs on a ``FakeClock``.
- ``POST /__emulator__/run-due``: run the due schedules and send their webhooks; answers ``{"ran": [the
  schedules that ran], "notices": [their deliveries]}``.
- ``GET /__emulator__/notices``: every webhook delivery so far.
- ``POST /__emulator__/notices``: ``{"merchant_uid": ...}``, send an executed schedule's webhook again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local.portone_emulator.clock import FakeClock
from local.portone_emulator.notices import Notice
from local.portone_emulator.server import RawRequest, RawResponse

if TYPE_CHECKING:
    from local.portone_emulator.emulator import PortOneEmulator

PREFIX = "/__emulator__/"


def handle(emulator: PortOneEmulator, request: RawRequest) -> RawResponse:
    action = (request.method, request.path.removeprefix(PREFIX).rstrip("/"))
    try:
        payload = json.loads(request.body or b"{}")
        if not isinstance(payload, dict):
            raise TypeError("the body must be a JSON object")
        if action == ("GET", "stats"):
            return _answer(200, stats(emulator))
        if action == ("POST", "faults"):
            emulator.add_fault(**payload)
            return _answer(201, {"faults": emulator.faults})
        if action == ("DELETE", "faults"):
            emulator.clear_faults()
            return _answer(200, {"faults": []})
        if action == ("POST", "reset"):
            emulator.reset()
            return _answer(200, {"reset": True})
        if action == ("POST", "clock"):
            return _advance(emulator, payload)
        if action == ("POST", "run-due"):
            before = len(emulator.notices)
            ran = emulator.run_due_schedules()
            return _answer(200, {"ran": ran, "notices": _notices(emulator.notices[before:])})
        if action == ("GET", "notices"):
            return _answer(200, {"notices": _notices(emulator.notices)})
        if action == ("POST", "notices"):
            merchant_uid = payload.get("merchant_uid")
            if not isinstance(merchant_uid, str):
                raise TypeError("merchant_uid must be a string")
            return _answer(200, {"notice": emulator.deliver_notice(merchant_uid)._asdict()})
    except (ValueError, TypeError) as exc:
        return _answer(400, {"error": str(exc)})
    return _answer(404, {"error": f"no admin route {request.method} {request.path}"})


def stats(emulator: PortOneEmulator) -> dict[str, Any]:
    calls = emulator.calls
    counts: dict[str, dict[str, int]] = {}
    for call in calls:
        per_status = counts.setdefault(f"{call.method} {call.route}", {})
        per_status[str(call.status)] = per_status.get(str(call.status), 0) + 1
    return {
        "calls": [call._asdict() for call in calls],
        "counts": counts,
        "contract_violations": emulator.contract_violations,
        "faults": emulator.faults,
        "customers": len(emulator.customers),
        "schedules": len(emulator.schedules),
        "payments": len(emulator.payments),
        "notices": _notices(emulator.notices),
    }


def _notices(notices: tuple[Notice, ...]) -> list[dict[str, Any]]:
    return [notice._asdict() for notice in notices]


def _advance(emulator: PortOneEmulator, payload: dict[str, Any]) -> RawResponse:
    if not isinstance(emulator.clock, FakeClock):
        return _answer(409, {"error": "the emulator runs on the real clock; start it with a FakeClock"})
    seconds = payload.get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError("advance must be a number of seconds")
    return _answer(200, {"now": emulator.clock.advance(seconds)})


def _answer(status: int, body: dict[str, Any]) -> RawResponse:
    return RawResponse(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))
