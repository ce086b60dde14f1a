"""PortOne and AWS failing under the handler: each gives its defined answer and never a second POST."""

from __future__ import annotations

import time

import pytest

from local.portone_emulator.cards import TEST_CARD_CHECK
from local.stack import EmbeddedStack
from tests.integration.support import (
    TEST_ISSUER,
    ShiftedClock,
    http_event,
    load_event,
    logged_with,
    new_container,
    sample_body,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
LOOKUP = ("GET", "/subscribe/customers/{customer_uid}")


@pytest.mark.parametrize("kind", ["reset", "http_500", "malformed"])
def test_a_post_that_arrived_unanswered_is_confirmed_by_a_lookup(
    invoke, stack: EmbeddedStack, kind: str, logs
) -> None:
    # Given PortOne issues the key but its answer is lost
    stack.emulator.add_fault(kind, "POST /subscribe/customers", after_effect=True)

    response = invoke(http_event(sample_body()))

    # Then the lookup finds our key: a success, and the card went to PortOne exactly once
    assert response.status == 200
    assert response.body["card"]["last4"] == "0001"
    assert stack.emulator.count(*ISSUE) == 1
    assert stack.emulator.count(*LOOKUP) == 1
    issued = logged_with(logs, "reconciled: issued")
    assert (issued["level"], issued["outcome"], issued["customer_uid"]) == (
        "INFO",
        "RECONCILED_ISSUED",
        response.body["customer_uid"],
    )


def test_a_cold_containers_first_lost_answer_is_confirmed_on_portones_clock(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock
) -> None:
    # Given PortOne's clock a minute behind ours, and a cold container (as every test starts) holding no
    # token yet, so not knowing that clock
    portone_clock.advance(-60)
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=True)

    # When its first request issues the key but the answer is lost
    response = invoke(http_event(sample_body()))

    # Then the key's `updated` (PortOne's clock) is compared with the request's time on PortOne's clock,
    # learnt from the token it fetched first, not with ours: the lookup confirms the key
    assert (response.status, response.body["status"]) == (200, "success")
    assert response.body["card"]["last4"] == "0001"
    assert stack.emulator.count(*ISSUE) == 1
    assert stack.emulator.count(*LOOKUP) == 1


@pytest.mark.parametrize("kind", ["reset", "http_500", "malformed"])
def test_an_unconfirmed_post_is_pending_and_the_card_is_never_sent_again(invoke, stack, kind: str) -> None:
    # Given the request is lost before PortOne acts on it
    stack.emulator.add_fault(kind, "POST /subscribe/customers", after_effect=False)
    event = http_event(sample_body())

    first = invoke(event)
    again = invoke(event)  # the page retries with the same Idempotency-Key

    assert (first.status, first.body["status"]) == (202, "pending")
    assert (again.status, again.body) == (202, first.body)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert stack.emulator.count(*ISSUE) == 1


def test_a_pending_answer_is_confirmed_on_its_retry_and_the_card_is_never_sent_again(
    invoke, stack: EmbeddedStack, logs
) -> None:
    # Given PortOne issues the key but its answer is lost, and the lookup right after fails too
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=True)
    stack.emulator.add_fault("http_503", "GET /subscribe/customers", times=2)  # the lookup and its retry
    event = http_event(sample_body())
    first = invoke(event)

    # When the page sends the same request again (the pending screen's "다시 확인")
    again = invoke(event)

    # Then PortOne is asked again, never sent the card again, and the answer is the success
    assert (first.status, first.body["status"]) == (202, "pending")
    assert (again.status, again.body["status"], again.body["card"]["last4"]) == (200, "success", "0001")
    assert again.headers["Idempotency-Replayed"] == "true"
    assert stack.emulator.count(*ISSUE) == 1
    assert stack.emulator.count(*LOOKUP, status=200) == 1
    # And the operator can follow it: the failed lookup with PortOne's status, then the confirmation
    uid = again.body["customer_uid"]
    failed = logged_with(logs, "reconciliation lookup failed")
    assert (failed["level"], failed["outcome"], failed["customer_uid"], failed["http_status"]) == (
        "WARNING",
        "PENDING",
        uid,
        503,
    )
    confirmed = logged_with(logs, "pending confirmed")
    assert (confirmed["level"], confirmed["outcome"], confirmed["customer_uid"]) == (
        "INFO",
        "PENDING_CONFIRMED",
        uid,
    )


def test_an_earlier_key_for_the_uid_does_not_pass_for_ours(invoke, stack: EmbeddedStack, monkeypatch) -> None:
    # Given a signed-in customer who already has a key for another card, replacing it
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    assert (
        invoke(with_caller(http_event({**sample_body(), "card_number": TEST_CARD_CHECK}), "user-1")).status
        == 200
    )
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=False)

    response = invoke(with_caller(http_event(sample_body()), "user-1"))

    assert response.status == 202  # the lookup shows the old card, not ours: not confirmed


def test_the_same_card_registered_before_does_not_pass_for_a_lost_new_registration(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, monkeypatch, logs
) -> None:
    # Given a signed-in customer who registered this very card on the uid a minute ago (on PortOne's clock;
    # the next request lands on a new container, which learns that clock from its token)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    assert invoke(with_caller(http_event(sample_body()), "user-1")).status == 200
    portone_clock.advance(60)
    new_container()
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=False)

    # When they register it again and the request is lost before PortOne acts on it
    response = invoke(with_caller(http_event(sample_body()), "user-1"))

    # Then the key PortOne shows holds the card but was updated before this request: not ours, pending
    assert (response.status, response.body["status"]) == (202, "pending")
    assert stack.emulator.count(*ISSUE) == 2
    assert stack.emulator.count(*LOOKUP) == 1
    unconfirmed = logged_with(logs, "reconciled: not confirmed")
    assert (unconfirmed["level"], unconfirmed["outcome"], unconfirmed["customer_uid"]) == (
        "WARNING",
        "PENDING",
        response.body["customer_uid"],
    )


def test_a_post_slower_than_the_invocation_is_pending(invoke, stack: EmbeddedStack) -> None:
    stack.emulator.add_fault("latency", "POST /subscribe/customers", seconds=12.0)
    # A 6 s Lambda budget: the 10 s read timeout is cut to what the invocation has left (less 1 s to answer),
    # so no time is left for the lookup.
    started = time.monotonic()
    response = invoke(http_event(sample_body()), timeout_seconds=6.0)
    assert time.monotonic() - started < 6.0
    assert response.status == 202
    assert stack.emulator.count(*ISSUE) == 1


def test_portone_refusing_connections_is_a_503_with_retry_after(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_BASE_URL", "http://127.0.0.1:9")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503
    assert response.body["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert response.headers["Retry-After"] == "5"


def test_a_token_expired_at_portone_is_refreshed_transparently(invoke, stack: EmbeddedStack) -> None:
    assert invoke(http_event({**sample_body(), "customer_uid": "first"})).status == 200
    stack.emulator.expire_tokens()
    assert invoke(http_event({**sample_body(), "customer_uid": "second"})).status == 200
    assert stack.emulator.count(*ISSUE, status=401) == 1


def test_secrets_manager_unreachable_is_a_503_and_no_portone_call(invoke, stack, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503
    assert response.body["code"] == "SERVICE_UNAVAILABLE"
    assert stack.emulator.calls == ()


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        ('{"imp_key": "imp_local_key", "imp_secret": "not-the-secret"}', 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
        ('{"imp_key": "imp_local_key"}', 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
        ("not json", 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
    ],
)
def test_bad_keys_in_the_secret_are_a_502(invoke, other_secret, request, value, status, code) -> None:
    other_secret(f"bad-keys-{request.node.callspec.id}", value)
    response = invoke(load_event("issue_billing"))
    assert (response.status, response.body["code"]) == (status, code)


def test_a_missing_secret_is_a_503(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_SECRET_ID", "no-such-secret")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503


def test_broken_settings_are_a_500_in_the_error_shape(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_READ_TIMEOUT", "forever")
    response = invoke(load_event("issue_billing"))
    assert response.status == 500
    assert response.body["code"] == "INTERNAL_ERROR"
    assert set(response.body) == {"status", "code", "message", "request_id"}
