"""Idempotency-Key (design.md D7): replays, conflicts, concurrency, and a store that holds no card data."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from billing.idempotency import IdempotencyStore, IdempotentRequest
from local.lambda_context import LocalLambdaContext
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    Containers,
    call,
    emitted_metrics,
    http_event,
    load_event,
    new_container,
    sample_body,
    schedule,
    table_of_its_own,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")


def test_a_repeat_replays_the_first_answer_and_says_so(invoke, stack: EmbeddedStack, capsys) -> None:
    event = http_event(sample_body())

    first = invoke(event)
    assert "IdempotentReplay" not in emitted_metrics(capsys.readouterr().out)
    second = invoke(event)

    assert first.status == second.status == 200
    assert second.body == first.body
    assert "Idempotency-Replayed" not in first.headers
    assert second.headers["Idempotency-Replayed"] == "true"
    assert emitted_metrics(capsys.readouterr().out)["IdempotentReplay"] == 1  # counted for the operator
    assert stack.emulator.count(*ISSUE) == 1


def test_a_rejected_card_is_replayed_too(invoke, stack: EmbeddedStack) -> None:
    event = load_event("issue_billing_declined")
    assert [invoke(event).status for _ in range(3)] == [402, 402, 402]
    assert stack.emulator.count(*ISSUE) == 1


def test_the_same_body_in_another_key_order_is_the_same_request(invoke, stack: EmbeddedStack) -> None:
    body = sample_body()
    event = http_event(body, key="order-test-key-1")
    assert invoke(event).status == 200
    reordered = http_event(dict(reversed(list(body.items()))), key="order-test-key-1")
    assert invoke(reordered).headers["Idempotency-Replayed"] == "true"


@pytest.mark.usefixtures("signed_in")
def test_a_signed_in_callers_key_with_another_body_is_a_422(invoke, stack: EmbeddedStack) -> None:
    first = with_caller(http_event(sample_body(), key="reused-key-0001"), "alice")
    again = with_caller(http_event({**sample_body(), "expiry": "2031-01"}, key="reused-key-0001"), "alice")
    assert invoke(first).status == 200
    response = invoke(again)
    assert (response.status, response.body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert stack.emulator.count(*ISSUE) == 1


@pytest.mark.usefixtures("signed_in")
def test_another_callers_same_key_and_body_is_their_own_request(invoke, stack: EmbeddedStack) -> None:
    # Given alice's card registered under a key
    first = invoke(with_caller(http_event(sample_body(), key="callers-key-0001"), "alice"))

    # When another signed-in caller sends the very same key and body (a leaked or guessed key)
    other = invoke(with_caller(http_event(sample_body(), key="callers-key-0001"), "mallory"))

    # Then it is not a replay of alice's answer but mallory's own request: the uid is alice's, so a 404
    assert first.status == 200
    assert (other.status, other.body.get("code")) == (404, "CUSTOMER_NOT_FOUND")
    assert "Idempotency-Replayed" not in other.headers
    assert "card" not in other.body
    assert stack.emulator.count(*ISSUE) == 1


@pytest.mark.usefixtures("signed_in")
@pytest.mark.parametrize("route", ["cancel", "revoke"])
def test_another_caller_reusing_the_owners_key_on_a_delete_route_meets_the_ownership_check(
    invoke, stack: EmbeddedStack, route: str
) -> None:
    # Given alice cancelled her subscription, or revoked its pending payment, under a key
    merchant_uid = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    path = "/subscriptions/sub_alice" + (f"/schedules/{merchant_uid}" if route == "revoke" else "")
    owners = call(invoke, "DELETE", path, key="delete-key-0001")

    # When another signed-in caller sends the same DELETE under the same key (a DELETE has no body to differ)
    other = call(invoke, "DELETE", path, key="delete-key-0001", who="mallory")

    # Then it is refused as any foreign uid is, and gets nothing of alice's answer
    assert owners.status == 200
    assert (other.status, other.body.get("code")) == (404, "CUSTOMER_NOT_FOUND")
    assert "Idempotency-Replayed" not in other.headers
    assert "revoked" not in other.body


def test_another_anonymous_client_reusing_a_key_learns_nothing_from_it(invoke, stack: EmbeddedStack) -> None:
    # Given an anonymous client's request under a key (F2: all anonymous callers share one scope)
    first = invoke(http_event({**sample_body(), "customer_uid": None}, key="shared-key-0001"))

    # When another anonymous client sends its own card under the same key
    other = invoke(
        http_event({**sample_body(), "customer_uid": None, "expiry": "2031-01"}, key="shared-key-0001")
    )

    # Then its request runs as its own: no replay of the first answer, no 422 saying the key is in use
    assert first.status == other.status == 200
    assert "Idempotency-Replayed" not in other.headers
    assert other.body["customer_uid"] != first.body["customer_uid"]
    assert stack.emulator.count(*ISSUE) == 2


def test_a_transient_failure_is_not_stored_so_a_retry_runs_again(invoke, stack, monkeypatch) -> None:
    event = http_event(sample_body())
    monkeypatch.setenv("PORTONE_BASE_URL", "http://127.0.0.1:9")
    assert invoke(event).status == 503

    monkeypatch.setenv("PORTONE_BASE_URL", stack.emulator.url)
    new_container()
    assert invoke(event).status == 200


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "required"),
        ("short", "format_8_to_128_url_safe"),
        ("has spaces in it", "format_8_to_128_url_safe"),
    ],
)
def test_a_missing_or_malformed_key_is_a_400(invoke, stack, key: str | None, reason: str) -> None:
    event = http_event(sample_body())
    if key is None:
        del event["headers"]["idempotency-key"]
    else:
        event["headers"]["idempotency-key"] = key
    response = invoke(event)
    assert response.status == 400
    assert response.body["errors"] == [{"field": "Idempotency-Key", "reason": reason}]
    assert stack.emulator.calls == ()


def test_the_sample_event_without_a_key_is_a_400(invoke) -> None:
    assert invoke(load_event("invalid_missing_idempotency_key")).status == 400


def test_an_unreachable_store_is_a_503_and_no_portone_call(invoke, stack, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    response = invoke(http_event(sample_body()))
    assert (response.status, response.body["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert stack.emulator.calls == ()


def test_records_live_24_hours_and_hold_no_card_data(invoke, stack: EmbeddedStack) -> None:
    invoke(http_event(sample_body()))
    items = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]
    records = [i for i in items if i["pk"]["S"].startswith("idempotency#")]

    assert len(records) == 1
    assert abs(int(records[0]["expires_at"]["N"]) - (time.time() + 24 * 3600)) < 60
    text = str(items)
    for value in ("9540490000000001", "9540-4900-0000-0001", "2030-12", "880101"):
        assert value not in text


@pytest.mark.xdist_group("containers")  # one pool of containers per test session
def test_ten_identical_requests_at_once_reach_portone_once(
    stack: EmbeddedStack, containers: Containers
) -> None:
    # Given PortOne is slow enough that all ten arrive while the first is still running
    # (long enough that the last of ten containers, spawned on two busy cores, still finds the first running)
    stack.emulator.add_fault("latency", "POST /subscribe/customers", seconds=6.0)
    event = http_event(sample_body())

    # When ten separate containers handle the same request at the same moment
    results = containers.at_once([event] * 10)

    # Then one issues the key, the others are told to come back, and PortOne saw one POST
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {200: 1, 409: 9}
    assert all(headers.get("Retry-After") == "2" for status, headers, _ in results if status == 409)
    assert stack.emulator.count(*ISSUE) == 1


def test_an_answer_whose_record_cannot_be_saved_still_goes_out_and_the_operator_is_told(
    stack: EmbeddedStack, logs
) -> None:
    with table_of_its_own(stack, "idempotency-save-fails", "pk") as client:
        store = IdempotencyStore("idempotency-save-fails", client=client)
        answer = {"status": 200, "body": {"status": "success"}, "headers": {}}

        def portone_answered_then_dynamodb_failed() -> dict:
            client.delete_table(TableName="idempotency-save-fails")
            return answer

        request = IdempotentRequest(
            "anonymous|POST /subscriptions/issue-billing", "key-1", "hmac", anonymous=True
        )
        got = store.run(
            request, context=LocalLambdaContext(), operation=portone_answered_then_dynamodb_failed
        )

    assert got == answer
    [line] = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert (line["level"], line["message"], line["outcome"], line["error_fields"]) == (
        "ERROR",
        "idempotency result not saved",
        "IDEMPOTENCY_SAVE_FAILED",
        ["ResourceNotFoundException"],
    )
