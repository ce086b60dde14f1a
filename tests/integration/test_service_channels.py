"""PortOne test channels and live ones (PortOne notes §5.4): renewals on a test channel, sandbox payments on a
live stack, and the go-live guard that catches a test channel left in production on the first card.

The emulator is a test channel by default, as PortOne's test mode is: its keys and payments are `sandbox`,
and `GET /payments/{imp_uid}` hides them unless the client sends `include_sandbox=true`.
"""

from __future__ import annotations

import json

import pytest

from billing.service import SANDBOX_KEY_METRIC
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    NoticeInbox,
    ShiftedClock,
    call,
    consents,
    emitted_metrics,
    http_event,
    logged_with,
    sample_body,
    schedule,
    subscription_status,
    with_caller,
)

SCHEDULE = ("POST", "/subscribe/payments/schedule")
UNSCHEDULE = ("POST", "/subscribe/payments/unschedule")
DELETE_KEY = ("DELETE", "/subscribe/customers/{customer_uid}")
GET_PAYMENT = ("GET", "/payments/{imp_uid}")

pytestmark = pytest.mark.usefixtures("signed_in")


@pytest.fixture
def live_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function configured for a live PortOne channel (the template's default)."""
    monkeypatch.setenv("PORTONE_CHANNEL", "live")


@pytest.fixture
def live_channel(stack: EmbeddedStack) -> None:
    """PortOne issuing on a live channel: keys and payments are not sandbox."""
    stack.emulator.test_channel = False
    yield
    stack.emulator.test_channel = True


def renew_once(invoke, stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox) -> list:
    """Schedule a plan with a new card, let PortOne run the first payment, hand its notice to the webhook."""
    first = schedule(invoke, **CARD)
    assert first.status == 200, first.body
    clock.advance(10 * 60)
    [ran] = stack.emulator.run_due_schedules()
    assert ran["payment_status"] == "paid"
    return [invoke(event) for event in inbox.take()]


# --- renewals --------------------------------------------------------------------------------------------


def test_renewals_continue_on_a_test_channel(invoke, stack, portone_clock, inbox) -> None:
    # Given a test stack on the emulator's default channel, which hides sandbox payments from lookups
    # that do not ask for them (the client must send include_sandbox=true, or this notice is "unknown")
    [answer] = renew_once(invoke, stack, portone_clock, inbox)

    # Then the paid period was verified and the next one scheduled
    assert answer.body["status"] == "processed"
    assert len(answer.body["scheduled"]) == 1
    assert stack.emulator.count(*SCHEDULE) == 2
    assert stack.emulator.count(*GET_PAYMENT, status=200) == 1


def test_renewals_continue_on_a_live_channel(invoke, stack, portone_clock, inbox, live_stack, live_channel):
    [answer] = renew_once(invoke, stack, portone_clock, inbox)

    assert answer.body["status"] == "processed"
    assert len(answer.body["scheduled"]) == 1


def test_a_live_stack_ignores_a_sandbox_payment_logs_why_and_alarms(
    invoke, stack, portone_clock, inbox, live_stack, monkeypatch, logs, capsys
) -> None:
    # Given a live stack that accepted a test-channel key (and alarmed then), so a test payment can run
    monkeypatch.setenv("PORTONE_SANDBOX_KEY_ON_LIVE", "accept")
    assert schedule(invoke, **CARD).status == 200
    capsys.readouterr()  # forget the sign-up's own metrics
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()

    # When PortOne's notice of that sandbox payment arrives
    [answer] = [invoke(event) for event in inbox.take()]

    # Then it renews nothing, the log says why, and the go-live alarm hears of it again
    assert answer.body == {"status": "ignored", "scheduled": []}
    assert stack.emulator.count(*SCHEDULE) == 1
    ignored = [json.loads(line) for line in logs.getvalue().splitlines() if "notice not verified" in line]
    assert [line["error_fields"] for line in ignored] == [["test-channel payment on a live stack"]]
    assert SANDBOX_KEY_METRIC in emitted_metrics(capsys.readouterr().out)


# --- the go-live guard -------------------------------------------------------------------------------------


def test_a_live_stack_refuses_a_test_channel_key_and_deletes_it(invoke, stack, live_stack, capsys) -> None:
    # When a live stack gets a billing key from a test channel
    response = invoke(with_caller(http_event(sample_body()), "alice"))

    # Then the customer gets a configuration error (not a card error), the key is gone, and the alarm's
    # metric is emitted
    assert (response.status, response.body["code"]) == (503, "PAYMENT_CHANNEL_MISCONFIGURED")
    assert "card" not in response.body
    assert "Retry-After" not in response.headers  # retrying cannot help until the channel is fixed
    assert stack.emulator.customers == {}
    assert stack.emulator.count(*DELETE_KEY, status=200) == 1
    assert SANDBOX_KEY_METRIC in emitted_metrics(capsys.readouterr().out)


@pytest.mark.parametrize("route", ["issue-billing", "schedule"])
def test_a_refused_request_goes_through_once_the_channel_is_fixed(invoke, stack, live_stack, route) -> None:
    # Given a request refused by the go-live guard
    body = sample_body() | {"customer_uid": "sub_alice"}
    if route == "schedule":
        body |= {"plan_id": "basic_monthly", "consents": consents("plan", "card")}
    event = with_caller(http_event(body, key="go-live-guard-retry"), "alice")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/subscriptions/{route}"
    event["routeKey"] = f"POST /subscriptions/{route}"
    assert invoke(event).status == 503

    # When the operator puts the live channel in and the customer retries the same request
    stack.emulator.test_channel = False
    retried = invoke(event)

    # Then it runs again (the refusal was not stored) and succeeds
    assert retried.status == 200, retried.body
    assert "Idempotency-Replayed" not in retried.headers
    assert stack.emulator.customers["sub_alice"]["sandbox"] is False
    if route == "schedule":
        assert [s["schedule_status"] for s in stack.emulator.schedules.values()] == ["scheduled"]
        assert subscription_status(stack, "sub_alice") == "active"


def test_a_live_stack_set_to_accept_keeps_the_key_and_still_alarms(
    invoke, stack, live_stack, monkeypatch, capsys, logs
) -> None:
    monkeypatch.setenv("PORTONE_SANDBOX_KEY_ON_LIVE", "accept")

    response = invoke(with_caller(http_event(sample_body()), "alice"))

    assert response.status == 200
    assert response.body["customer_uid"] in stack.emulator.customers
    assert emitted_metrics(capsys.readouterr().out)[SANDBOX_KEY_METRIC] == 1
    alarmed = logged_with(logs, "test-channel billing key on a live stack")
    assert (alarmed["level"], alarmed["outcome"], alarmed["customer_uid"]) == (
        "ERROR",
        "SANDBOX_KEY_ACCEPTED",
        response.body["customer_uid"],
    )


def test_a_live_key_on_a_live_stack_passes_the_guard(invoke, stack, live_stack, live_channel, capsys) -> None:
    response = invoke(with_caller(http_event(sample_body()), "alice"))

    assert response.status == 200
    assert SANDBOX_KEY_METRIC not in emitted_metrics(capsys.readouterr().out)


def test_schedule_with_a_card_refuses_a_test_channel_key_before_scheduling_anything(
    invoke, stack, live_stack, capsys, logs
) -> None:
    # When a live stack schedules a plan with a new card and PortOne issues the key on a test channel
    response = schedule(invoke, **CARD)

    # Then the key's own answer carried the flag, so nothing was scheduled; the key is deleted and the
    # subscription the request started is not left active
    assert (response.status, response.body["code"]) == (503, "PAYMENT_CHANNEL_MISCONFIGURED")
    assert stack.emulator.count(*SCHEDULE) == 0
    assert stack.emulator.customers == {}
    assert emitted_metrics(capsys.readouterr().out)[SANDBOX_KEY_METRIC] == 1
    assert subscription_status(stack, "sub_alice") == "cancelled"
    refused = logged_with(logs, "test-channel billing key on a live stack")
    assert (refused["level"], refused["outcome"], refused["customer_uid"]) == (
        "ERROR",
        "SANDBOX_KEY_REFUSED",
        "sub_alice",
    )


def test_a_test_channel_card_change_revokes_what_would_run_on_it(invoke, stack, live_stack) -> None:
    # Given a live subscriber
    stack.emulator.test_channel = False
    assert schedule(invoke, **CARD).status == 200

    # When a new card comes back from a test channel (PortOne has replaced the live key by then)
    stack.emulator.test_channel = True
    response = call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"})

    # Then the refused key is deleted and no payment is left to run on it
    assert (response.status, response.body["code"]) == (503, "PAYMENT_CHANNEL_MISCONFIGURED")
    assert stack.emulator.customers == {}
    assert [s["schedule_status"] for s in stack.emulator.schedules.values()] == ["revoked"]


def test_a_failed_withdrawal_still_answers_the_configuration_error(invoke, stack, live_stack, logs) -> None:
    stack.emulator.add_fault("http_503", "DELETE /subscribe/customers", times=2)  # the DELETE and its retry

    response = invoke(with_caller(http_event(sample_body()), "alice"))

    assert (response.status, response.body["code"]) == (503, "PAYMENT_CHANNEL_MISCONFIGURED")
    uid = logged_with(logs, "test-channel billing key on a live stack")["customer_uid"]
    kept = logged_with(logs, "test-channel key not withdrawn")
    assert (kept["level"], kept["outcome"], kept["customer_uid"], kept["http_status"]) == (
        "ERROR",
        "SANDBOX_KEY_NOT_WITHDRAWN",
        uid,
        503,
    )


def test_the_guard_is_off_on_a_test_stack(invoke, stack, capsys) -> None:
    response = invoke(with_caller(http_event(sample_body()), "alice"))

    assert response.status == 200
    assert SANDBOX_KEY_METRIC not in emitted_metrics(capsys.readouterr().out)
