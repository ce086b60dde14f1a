"""Card-testing limits (design.md D9): blocked before PortOne, with Retry-After and a metric."""

from __future__ import annotations

import json

import pytest

from billing.cards import luhn_valid
from local.portone_emulator import cards as magic
from tests.integration.support import (
    ENVIRONMENT,
    GENEROUS_LIMITS,
    TEST_ISSUER,
    http_event,
    sample_body,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")


def card(n: int) -> str:
    """The n-th distinct Luhn-valid test card (the emulator issues any of them)."""
    payload = f"95404900{n:07d}"
    return next(payload + d for d in "0123456789" if luhn_valid(payload + d))


def attempt(invoke, *, number: str, uid: str, subject: str | None = None, ip: str = "203.0.113.10"):
    event = http_event({**sample_body(), "card_number": number, "customer_uid": uid})
    event["requestContext"]["http"]["sourceIp"] = ip
    return invoke(with_caller(event, subject) if subject else event)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    def _set(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"LIMIT_{name.upper()}", str(value))

    return _set


def test_twenty_cards_from_one_caller_in_a_minute_hit_the_limit(invoke, stack, limits, capsys) -> None:
    # Given the embedded default as deployed: the template's limits, no JWT authorizer (anonymous callers)
    limit = int(ENVIRONMENT["LIMIT_ATTEMPTS_PER_CALLER"])
    limits(**{name[len("LIMIT_") :].lower(): int(ENVIRONMENT[name]) for name in GENEROUS_LIMITS})

    # When one caller tries twenty different cards, one after another
    statuses = [attempt(invoke, number=card(n), uid=f"tester_{n}").status for n in range(20)]

    # Then the first `limit` reach PortOne and every later one is blocked before it, with a metric each
    assert statuses == [200] * limit + [429] * (20 - limit)
    assert stack.emulator.count(*ISSUE) == limit
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(1 for m in metrics if "TooManyAttempts" in m) == 20 - limit


def test_a_blocked_attempt_says_when_to_come_back(invoke, limits) -> None:
    limits(attempts_per_ip=1)
    attempt(invoke, number=card(1), uid="a1")
    response = attempt(invoke, number=card(2), uid="a2")
    assert (response.status, response.body["code"]) == (429, "TOO_MANY_ATTEMPTS")
    assert 0 < int(response.headers["Retry-After"]) <= 3600


def test_one_address_is_limited_across_callers(invoke, stack, limits, monkeypatch) -> None:
    limits(attempts_per_ip=3)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    statuses = [attempt(invoke, number=card(n), uid=f"u{n}", subject=f"user{n}").status for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_one_card_is_limited_across_callers_and_addresses(invoke, limits, monkeypatch) -> None:
    limits(attempts_per_card=2)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    statuses = [
        attempt(invoke, number=card(7), uid=f"c{n}", subject=f"user{n}", ip=f"198.51.100.{n}").status
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]


def test_rejected_cards_exhaust_the_callers_failures(invoke, stack, limits) -> None:
    limits(failures_per_caller=2)
    rejected = [attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid=f"f{n}").status for n in range(2)]
    blocked = attempt(invoke, number=card(3), uid="f_good")  # even a good card, once the failures add up
    assert rejected == [402, 402]
    assert blocked.status == 429
    assert stack.emulator.count(*ISSUE) == 2


def test_invalid_input_costs_nothing(invoke, stack, limits) -> None:
    limits(attempts_per_ip=1)
    for _ in range(3):
        assert attempt(invoke, number="4242", uid="bad").status == 400
    assert attempt(invoke, number=card(1), uid="ok").status == 200


def test_cards_rejected_through_a_schedule_count_as_failures_too(invoke, stack, limits, monkeypatch) -> None:
    limits(failures_per_caller=2)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)

    def schedule(number: str, uid: str) -> int:
        body = {**sample_body(), "card_number": number, "customer_uid": uid, "plan_id": "basic_monthly"}
        event = http_event(body)
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/subscriptions/schedule"
        return int(invoke(with_caller(event, "tester")).status)

    rejected = [schedule(magic.CARD_WRONG_PASSWORD, f"r{n}") for n in range(2)]
    assert rejected == [402, 402]
    assert schedule(card(4), "r_good") == 429
