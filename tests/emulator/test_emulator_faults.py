"""Injected faults: latency, 5xx, connection reset, malformed bodies and expired tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from local.portone_emulator import DEFAULT_CHANNEL_KEY, FakeClock, Fault, PortOneEmulator
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, PortOneWire, ok, order, rejected

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
SCHEDULE = ("POST", "/subscribe/payments/schedule")
AGAIN = ("POST", "/subscribe/payments/again")


def _wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_latency_with_client_timeout_after_effect(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    emulator.add_fault("latency", "POST /subscribe/customers", seconds=0.5)

    with pytest.raises(requests.Timeout):
        wire.call("POST", "/subscribe/customers/cu_1", token=token, json=_card(), timeout=0.1)

    assert "cu_1" in emulator.customers  # issued although the client saw a timeout
    assert emulator.count(*ISSUE, status=200) == 1


def test_latency_without_after_effect_lands_late(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    emulator.add_fault("latency", "POST /subscribe/customers", seconds=0.3, after_effect=False)

    with pytest.raises(requests.Timeout):
        wire.call("POST", "/subscribe/customers/cu_1", token=token, json=_card(), timeout=0.1)

    assert "cu_1" not in emulator.customers
    assert _wait_until(lambda: "cu_1" in emulator.customers)


def test_latency_delays_the_answer(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    emulator.add_fault("latency", "/users/getToken", seconds=0.2)
    started = time.monotonic()

    response = wire.get_token()

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert wire.get_token().elapsed.total_seconds() < 0.2  # one hit by default


@pytest.mark.parametrize(("after_effect", "stored"), [(True, True), (False, False)])
def test_reset_is_a_connection_error(
    wire: PortOneWire, emulator: PortOneEmulator, after_effect: bool, stored: bool
) -> None:
    token = wire.token()
    emulator.add_fault("reset", "POST /subscribe/customers", after_effect=after_effect)

    with pytest.raises(requests.ConnectionError):
        wire.call("POST", "/subscribe/customers/cu_1", token=token, json=_card())

    assert ("cu_1" in emulator.customers) is stored
    assert emulator.count(*ISSUE) == emulator.count(*ISSUE, status=0) == 1
    assert wire.call("GET", "/subscribe/customers/cu_1", token=token).status_code == (200 if stored else 404)


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)])
@pytest.mark.parametrize("after_effect", [True, False])
def test_http_5xx_with_envelope(
    wire: PortOneWire, emulator: PortOneEmulator, kind: str, status: int, after_effect: bool
) -> None:
    token = wire.token()
    emulator.add_fault(kind, "POST /subscribe/customers", after_effect=after_effect)

    response = wire.call("POST", "/subscribe/customers/cu_1", token=token, json=_card())

    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["response"]) == (-1, None)
    assert ("cu_1" in emulator.customers) is after_effect
    assert emulator.count(*ISSUE, status=status) == 1


@pytest.mark.parametrize("after_effect", [True, False])
def test_malformed_body(wire: PortOneWire, emulator: PortOneEmulator, after_effect: bool) -> None:
    token = wire.token()
    emulator.add_fault("malformed", "POST /subscribe/customers", after_effect=after_effect)

    response = wire.call("POST", "/subscribe/customers/cu_1", token=token, json=_card())

    assert response.status_code == 200
    assert response.content.startswith(b'{"code"')
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert ("cu_1" in emulator.customers) is after_effect


def test_expire_tokens(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    emulator.add_fault("expire_tokens", "GET /subscribe/customers")

    assert wire.call("GET", "/subscribe/customers/nobody", token=token).status_code == 401
    fresh = wire.token()
    assert fresh != token
    assert wire.call("GET", "/subscribe/customers/nobody", token=fresh).status_code == 404


def test_expire_tokens_from_python(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()

    emulator.expire_tokens()

    assert wire.call("GET", "/subscribe/customers/nobody", token=token).status_code == 401


def test_times_and_until_cleared(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    emulator.add_fault("http_503", "/users/getToken", times=2)
    assert [wire.get_token().status_code for _ in range(3)] == [503, 503, 200]

    emulator.add_fault("http_500", "/users/getToken", times=None)
    assert [wire.get_token().status_code for _ in range(3)] == [500, 500, 500]
    assert emulator.faults == [
        {
            "kind": "http_500",
            "route": "/users/getToken",
            "times": None,
            "seconds": 0.0,
            "after_effect": True,
            "remaining": None,
        }
    ]

    emulator.clear_faults()
    assert wire.get_token().status_code == 200


def test_fault_route_scopes(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    emulator.add_fault("http_500", "DELETE /subscribe/customers", times=None)

    assert wire.get_token().status_code == 200
    assert wire.call("GET", "/subscribe/customers/x", token=token).status_code == 404
    assert wire.call("DELETE", "/subscribe/customers/x", token=token).status_code == 500

    emulator.clear_faults()
    emulator.add_fault("http_502")  # "*": the next request, whatever it is
    assert wire.call("GET", "/subscribe/customers/x", token=token).status_code == 502


@pytest.mark.parametrize(
    ("route", "method", "path", "hit"),
    [
        ("*", "GET", "/anything", True),
        ("/subscribe/customers", "DELETE", "/subscribe/customers/a", True),
        ("/subscribe/customers", "GET", "/subscribe/customers", True),
        ("/subscribe/customers", "GET", "/subscribe/customersX", False),
        ("POST /subscribe/customers", "GET", "/subscribe/customers/a", False),
        ("post /users/getToken/", "POST", "/users/getToken", True),
    ],
)
def test_fault_route_matching(route: str, method: str, path: str, hit: bool) -> None:
    assert Fault("reset", route).matches(method, path) is hit


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"kind": "http_404"}, "unknown fault kind"),
        ({"kind": "slow"}, "unknown fault kind"),
        ({"kind": "latency"}, "latency needs seconds"),
        ({"kind": "reset", "times": 0}, "times must be at least 1"),
        ({"kind": "reset", "route": "POST"}, "route must be"),
        ({"kind": "reset", "route": "FETCH /x"}, "route must be"),
    ],
)
def test_invalid_faults_are_refused(arguments: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**arguments)


def _card() -> dict[str, str]:
    return {
        "card_number": "9540490000000001",
        "expiry": "2030-12",
        "birth": "900101",
        "pwd_2digit": "12",
        "channel_key": DEFAULT_CHANNEL_KEY,
    }


# --- the same faults on scheduled payments and payments ---


@pytest.mark.parametrize("after_effect", [True, False])
def test_schedule_arrived_but_the_answer_was_lost(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, after_effect: bool
) -> None:
    ok(wire.issue("cu_1"))
    schedule = order("sub_1", int(clock.now) + 3600)
    emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=after_effect)

    with pytest.raises(requests.ConnectionError):
        wire.schedule("cu_1", schedule)

    assert emulator.count(*SCHEDULE) == emulator.count(*SCHEDULE, status=0) == 1
    looked_up = wire.call("GET", "/subscribe/payments/schedule/sub_1")
    if after_effect:  # a client that retries blindly gets "duplicate"; one that looks first finds it
        assert ok(looked_up)["schedule_status"] == "scheduled"
        assert wire.schedule("cu_1", schedule).json()["code"] == 1
    else:
        assert looked_up.status_code == 404
        assert ok(wire.schedule("cu_1", schedule))[0]["merchant_uid"] == "sub_1"


@pytest.mark.parametrize("after_effect", [True, False])
def test_again_answered_503(wire: PortOneWire, emulator: PortOneEmulator, after_effect: bool) -> None:
    ok(wire.issue("cu_1"))
    emulator.add_fault("http_503", "POST /subscribe/payments/again", after_effect=after_effect)

    response = wire.again("cu_1", "order_1")

    assert response.status_code == 503
    assert len(emulator.payments) == (1 if after_effect else 0)
    assert emulator.count(*AGAIN, status=503) == 1
    if after_effect:
        rejected(wire.again("cu_1", "order_1"), 1, "이미 주문이 이루어진 건입니다")


@pytest.mark.parametrize(
    ("route", "method", "path"),
    [
        ("GET /subscribe/payments/schedule", "GET", "/subscribe/payments/schedule/sub_1"),
        ("/subscribe/payments/schedule/customers", "GET", "/subscribe/payments/schedule/customers/cu_1"),
        ("POST /subscribe/payments/unschedule", "POST", "/subscribe/payments/unschedule"),
        ("GET /payments", "GET", "/payments/imps_000000000000"),
    ],
)
def test_malformed_and_latency_on_the_other_new_routes(
    wire: PortOneWire, emulator: PortOneEmulator, route: str, method: str, path: str
) -> None:
    token = wire.token()
    emulator.add_fault("malformed", route)
    emulator.add_fault("latency", route, seconds=0.2)
    kwargs: dict[str, Any] = {"params": {"from": 0, "to": 1}} if "customers" in path else {}
    if method == "POST":
        kwargs["json"] = {"customer_uid": "cu_1"}

    broken = wire.call(method, path, token=token, **kwargs)
    started = time.monotonic()
    slow = wire.call(method, path, token=token, **kwargs)

    with pytest.raises(requests.JSONDecodeError):
        broken.json()
    assert time.monotonic() - started >= 0.2
    assert slow.json()["code"] in (0, 1)


def test_the_emulator_counts_the_connections_it_accepts(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    # wire keeps one connection open (a requests.Session); a plain requests.post opens one of its own
    before = emulator.connections_accepted
    wire.token()
    wire.token()
    requests.post(
        f"{emulator.url}/users/getToken", json={"imp_key": IMP_KEY, "imp_secret": IMP_SECRET}, timeout=5
    )

    assert emulator.connections_accepted - before == 2
