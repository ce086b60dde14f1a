"""DynamoDB as it really is under load (design.md D9): write conflicts, answered on the wire in front of moto
as real DynamoDB answers them (local/dynamodb_conflicts.py), on every write before and after PortOne's."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from local.moto_recorder import MotoRecorder
from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    ENVIRONMENT,
    FUNCTION,
    GENEROUS_LIMITS,
    TEST_ISSUER,
    Containers,
    flat,
    http_event,
    law_records,
    sample_body,
    with_caller,
)
from tests.integration.test_limits import card

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
# The deployed function's timeout. On two cores shared by twenty containers and the other test worker, a
# tighter one measures this machine, not the code: a shorter budget correctly ends in a 503 ("no time left
# to call PortOne"), which test_conflicts_that_do_not_end_get_a_503_in_time proves on its own.
LAMBDA_SECONDS = FUNCTION.timeout
CARRIER_ADDRESS = "203.0.113.200"  # one public address for many customers (a carrier's NAT)
CONFLICTS = [
    pytest.param({"probability": 0.3, "seed": 11}, id="each-attempt-30-percent"),
    pytest.param({"run": 3}, id="first-3-attempts-of-every-write"),
]


@pytest.fixture
def template_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits a deployed stack has (template.yaml), not the tests' generous ones."""
    for name in GENEROUS_LIMITS:
        monkeypatch.setenv(name, ENVIRONMENT[name])


def card_from(subject: str | None, n: int, *, number: str | None = None) -> dict[str, Any]:
    event = http_event({**sample_body(), "card_number": number or card(n), "customer_uid": f"nat_{n}"})
    event["requestContext"]["http"]["sourceIp"] = CARRIER_ADDRESS
    return with_caller(event, subject) if subject else event


@pytest.mark.xdist_group("containers")
@pytest.mark.usefixtures("signed_in", "template_limits")
@pytest.mark.parametrize("conflicts", CONFLICTS)
def test_twenty_accounts_behind_one_address_all_get_their_keys(
    invoke, stack: EmbeddedStack, containers: Containers, conflicts: dict[str, Any]
) -> None:
    # Given twenty signed-in customers behind one carrier address, the template's limits, and DynamoDB
    # refusing writes for conflicts
    stack.dynamodb_conflicts.set(**conflicts)

    # When all twenty send their card at once (in Lambdas of the template's timeout)
    cards = [card_from(f"customer{n}", n) for n in range(20)]
    began = time.monotonic()
    results = containers.at_once(cards, timeout_seconds=LAMBDA_SECONDS)

    # Then none is refused (no 503, no 429), and each answered in its time. A 409 asks the client to send
    # the same request again: on this loaded local stack botocore sometimes sends a slow write again after
    # its 3-second timeout, finds its own idempotency record in progress, and that record blocks the key
    # until its invocation's time is up (README, "Idempotency"). Sent again after that, it runs.
    assert set(Counter(status for status, _, _ in results)) <= {200, 409}
    assert max(seconds for _, _, seconds in results) < LAMBDA_SECONDS
    came_back = [card for card, (status, _, _) in zip(cards, results, strict=True) if status == 409]
    if came_back:
        time.sleep(max(0.0, LAMBDA_SECONDS + 1 - (time.monotonic() - began)))
    assert [invoke(card).status for card in came_back] == [200] * len(came_back)

    # And every customer has a key, which PortOne issued once
    assert stack.emulator.count(*ISSUE) == 20
    assert stack.dynamodb_conflicts.injected >= 20


@pytest.mark.xdist_group("containers")
@pytest.mark.usefixtures("signed_in")
def test_twenty_declined_cards_at_once_reach_portone_only_as_often_as_the_failure_limit(
    stack: EmbeddedStack, containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller allowed three failures (F3) in a window of a day, DynamoDB refusing writes for
    # conflicts, and PortOne slow enough that all twenty are admitted before any is declined
    monkeypatch.setenv("LIMIT_FAILURES_PER_CALLER", "3")
    monkeypatch.setenv("LIMIT_WINDOW_SECONDS", "86400")
    stack.dynamodb_conflicts.set(probability=0.3, seed=3)
    stack.emulator.add_fault("latency", "POST /subscribe/customers", seconds=3.0, times=None)

    # When one account sends twenty declined cards at once
    results = containers.at_once(
        [card_from("tester", n, number=magic.CARD_WRONG_PASSWORD) for n in range(20)]
    )

    # Then three reach PortOne and are declined, and the other seventeen are refused before it
    assert Counter(status for status, _, _ in results) == {402: 3, 429: 17}
    assert stack.emulator.count(*ISSUE) == 3


@pytest.mark.parametrize("conflicts", CONFLICTS)
def test_conflicts_after_portone_answered_lose_nothing(
    invoke, stack: EmbeddedStack, conflicts: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller allowed one failure, and DynamoDB refusing writes for conflicts
    monkeypatch.setenv("LIMIT_FAILURES_PER_CALLER", "1")
    stack.dynamodb_conflicts.set(**conflicts)
    event = http_event(sample_body())

    # When a card is sent, and sent again
    first, again = invoke(event), invoke(event)

    # Then the answer was stored (the repeat is its replay), and the failure held for it was given back
    assert first.status == again.status == 200
    assert again.headers["Idempotency-Replayed"] == "true"
    assert stack.emulator.count(*ISSUE) == 1
    counter = stack.client("dynamodb").scan(
        TableName=ENVIRONMENT["TABLE_NAME"],
        FilterExpression="begins_with(pk, :caller)",
        ExpressionAttributeValues={":caller": {"S": "limits#caller#"}},
    )["Items"]
    assert [flat(item)["failures"] for item in counter] == ["0"]
    assert stack.dynamodb_conflicts.injected > 0


def test_conflicts_that_do_not_end_get_a_503_in_time_and_nothing_reaches_portone(
    invoke, stack: EmbeddedStack
) -> None:
    stack.dynamodb_conflicts.set(run=1000)
    began = time.monotonic()
    response = invoke(http_event(sample_body()), timeout_seconds=3)
    assert (response.status, response.body["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - began < 3
    assert stack.emulator.count(*ISSUE) == 0


@pytest.mark.parametrize("caller", [None, "alice"], ids=["anonymous", "signed-in"])
def test_a_billing_key_costs_at_most_seven_write_units(
    invoke, stack: EmbeddedStack, aws_calls: MotoRecorder, caller: str | None, monkeypatch
) -> None:
    if caller:
        monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    event = http_event(sample_body())
    assert invoke(with_caller(event, caller) if caller else event).status == 200
    # Six for admission and idempotency (issue 11's bound), and one for the consent record the law asks for
    assert aws_calls.write_units() <= 7
    # Every item is under 1 KB, the size one write unit pays for
    items = [
        *stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"],
        *law_records(stack, sample_body()["customer_uid"]),
    ]
    assert len(items) > 1
    assert max(len(str(item)) for item in items) < 1024
