"""Declined renewals (dunning, design.md D19): active -> past_due -> retries -> active again, or suspended
after the last retry and cancelled later. Each retry is a new schedule under its own merchant_uid, and a
period has at most one live attempt at PortOne at any time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from billing.renewals import STOPPED_METRIC
from local.portone_emulator import cards as magic
from tests.integration.support import (
    CARD,
    call,
    emitted_metrics,
    logged_with,
    pending_schedules,
    reconcile,
    retry_of,
    runs,
    schedule,
    subscription_item,
    subscription_status,
)

DAY = 86_400
DECLINING = {**CARD, "card_number": magic.CARD_INSUFFICIENT_FUNDS}  # issued; payments: 잔액부족 또는 한도초과

pytestmark = pytest.mark.usefixtures("signed_in")


def status(invoke) -> str:
    return str(call(invoke, "GET", "/subscriptions/sub_alice").body["subscription_status"])


def test_a_declined_renewal_is_retried_and_a_paid_retry_makes_it_active_again(
    invoke, stack, portone_clock, inbox, capsys, logs
) -> None:
    # Given a subscriber whose card declines its first payment
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    capsys.readouterr()
    [declined] = runs(invoke, stack, portone_clock, inbox, 10 * 60)

    # Then it is past_due, with one retry (a new merchant_uid) the next day and nothing else pending
    assert declined.body["scheduled"] == [retry_of(first, 1)]
    assert pending_schedules(stack) == [retry_of(first, 1)]
    assert status(invoke) == "past_due"
    # and the operator sees the retry counted and logged
    assert emitted_metrics(capsys.readouterr().out)["RenewalRetryScheduled"] == 1
    retrying = logged_with(logs, "renewal declined, retry scheduled")
    assert (retrying["level"], retrying["outcome"], retrying["customer_uid"], retrying["merchant_uid"]) == (
        "WARNING",
        "PAST_DUE",
        "sub_alice",
        retry_of(first, 1),
    )

    # When the customer's card pays again and the retry runs
    stack.emulator.card_declines("sub_alice", None)
    [paid] = runs(invoke, stack, portone_clock, inbox, DAY)

    # Then it is active again and the next period is on the schedule
    assert status(invoke) == "active"
    [next_period] = paid.body["scheduled"]
    assert pending_schedules(stack) == [next_period]
    assert next_period.endswith("A0C0")


def test_a_declined_payment_whose_notice_says_paid_is_past_due_as_portone_says(
    invoke, stack, portone_clock, inbox
) -> None:
    # Given a subscriber whose card declines its first payment
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    [event] = inbox.take()
    notice = json.loads(event["body"])
    assert notice["status"] == "failed"

    # When its notice arrives saying "paid" instead (V1 notices are unsigned: anyone can send one)
    event["body"] = json.dumps({**notice, "status": "paid"})
    answer = invoke(event)

    # Then the payment PortOne returns decides: declined, so the retry is scheduled, not the next period
    assert answer.body == {"status": "processed", "scheduled": [retry_of(first, 1)]}
    assert pending_schedules(stack) == [retry_of(first, 1)]
    assert status(invoke) == "past_due"


def test_the_last_retry_failing_suspends_and_a_month_later_cancels(
    invoke, stack, portone_clock, inbox, capsys
) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    runs(invoke, stack, portone_clock, inbox, 10 * 60)  # declined: retry 1 at D+1

    # When each retry is declined in turn (D+1, D+3, D+7), at most one attempt is ever pending
    pending = []
    for days in (1, 2, 4):
        runs(invoke, stack, portone_clock, inbox, days * DAY)
        pending.append(pending_schedules(stack))

    # Then the third failure suspends it: nothing pending, the alarm told, the key kept for now
    assert pending == [[retry_of(first, 2)], [retry_of(first, 3)], []]
    assert status(invoke) == "suspended"
    assert STOPPED_METRIC in emitted_metrics(capsys.readouterr().out)
    assert "sub_alice" in stack.emulator.customers

    # And 30 days later the reconciler cancels it and deletes the key
    portone_clock.advance(31 * DAY)
    reconcile()
    assert "sub_alice" not in stack.emulator.customers
    assert subscription_status(stack, "sub_alice") == "cancelled"


def test_a_decline_no_retry_cures_suspends_at_once(invoke, stack, portone_clock, inbox, capsys, logs) -> None:
    [first] = schedule(invoke, **{**CARD, "card_number": magic.CARD_PAYMENT_SUSPENDED}).body["schedules"]

    [declined] = runs(invoke, stack, portone_clock, inbox, 10 * 60)

    assert declined.body["scheduled"] == []
    assert pending_schedules(stack) == []
    assert status(invoke) == "suspended"
    # cancelled thirty days later (SUSPENDED_CANCEL_DAYS) unless the customer comes back: the reconciler's
    # work then
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert state["ends_at"] == state["next_work_at"]
    assert time.time() + 30 * DAY - 60 <= int(state["ends_at"]) <= time.time() + 30 * DAY
    assert emitted_metrics(capsys.readouterr().out)[STOPPED_METRIC] == 1
    stopped = logged_with(logs, "renewal declined for good: suspended")
    assert (stopped["level"], stopped["outcome"], stopped["customer_uid"], stopped["merchant_uid"]) == (
        "ERROR",
        "SUSPENDED",
        "sub_alice",
        first["merchant_uid"],
    )


def test_a_declined_renewal_whose_notice_was_lost_is_retried_by_the_reconciler(
    invoke, stack, portone_clock, inbox
) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    portone_clock.advance(16 * 60)
    stack.emulator.run_due_schedules()
    inbox.take()  # lost

    reconcile()

    assert pending_schedules(stack) == [retry_of(first, 1)]
    assert status(invoke) == "past_due"


def test_cancelling_while_past_due_ends_when_the_unpaid_period_began(
    invoke, stack, portone_clock, inbox
) -> None:
    schedule(invoke, **DECLINING)
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    unpaid_since = stack.emulator.schedules[retry_of(pending_schedules(stack)[0], 0)]["schedule_at"]

    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")

    # The retry is revoked, nothing was charged, and the key goes at the next run (the period was unpaid)
    assert (len(cancelled.body["revoked"]), cancelled.body["charged"]) == (1, [])
    assert datetime.fromisoformat(cancelled.body["ends_at"]).timestamp() == unpaid_since
    reconcile()
    assert "sub_alice" not in stack.emulator.customers


def test_cancelling_after_a_retry_was_charged_keeps_the_period_it_paid(
    invoke, stack, portone_clock, inbox
) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    stack.emulator.card_declines("sub_alice", None)
    portone_clock.advance(DAY)
    stack.emulator.run_due_schedules()  # the retry is paid; its notice is still on the way
    inbox.take()

    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")

    assert cancelled.body["charged"] == [retry_of(first, 1)]
    assert datetime.fromisoformat(cancelled.body["ends_at"]) > datetime.now(UTC) + timedelta(days=20)


def test_cancelling_while_suspended_promises_no_unpaid_month(invoke, stack, portone_clock, inbox) -> None:
    schedule(invoke, **{**CARD, "card_number": magic.CARD_PAYMENT_SUSPENDED})
    runs(invoke, stack, portone_clock, inbox, 10 * 60)

    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")

    assert datetime.fromisoformat(cancelled.body["ends_at"]) < datetime.now(UTC) + timedelta(days=1)


def test_a_retry_cannot_be_revoked_to_waive_the_debt(invoke, stack, portone_clock, inbox) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    runs(invoke, stack, portone_clock, inbox, 10 * 60)

    response = call(invoke, "DELETE", f"/subscriptions/sub_alice/schedules/{retry_of(first, 1)}")

    assert (response.status, response.body["errors"]) == (
        400,
        [{"field": "merchant_uid", "reason": "retry_not_revocable"}],
    )
    assert pending_schedules(stack) == [retry_of(first, 1)]


def test_a_suspended_customer_subscribes_afresh_with_a_new_card(invoke, stack, portone_clock, inbox) -> None:
    schedule(invoke, **{**CARD, "card_number": magic.CARD_PAYMENT_SUSPENDED})
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    assert status(invoke) == "suspended"

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    again = schedule(invoke, start_at=tomorrow, **CARD)

    assert again.status == 200
    assert status(invoke) == "active"
    assert pending_schedules(stack) == [p["merchant_uid"] for p in again.body["schedules"]]


def test_a_past_due_subscription_cannot_be_changed_until_it_settles(
    invoke, stack, portone_clock, inbox
) -> None:
    schedule(invoke, **DECLINING)
    runs(invoke, stack, portone_clock, inbox, 10 * 60)

    response = schedule(invoke, **CARD)

    assert (response.status, response.body["code"]) == (409, "SUBSCRIPTION_PAST_DUE")


def test_a_retry_whose_registration_was_lost_is_registered_before_its_time(
    invoke, stack, portone_clock, inbox
) -> None:
    # Given the retry's POST never reached PortOne
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", after_effect=False)
    [declined] = runs(invoke, stack, portone_clock, inbox, 10 * 60)
    assert declined.body["scheduled"] == []
    # the reconciler is due five minutes later (on this service's clock, as the notice read it)
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert time.time() + 5 * 60 - 60 <= int(state["next_work_at"]) <= time.time() + 5 * 60

    # When the reconciler runs minutes later
    portone_clock.advance(6 * 60)
    reconcile()

    # Then the retry is at PortOne, still at its own time (the next day)
    assert pending_schedules(stack) == [retry_of(first, 1)]
    retry_at = stack.emulator.schedules[retry_of(first, 1)]["schedule_at"]
    assert retry_at - stack.emulator.schedules[first]["schedule_at"] == DAY
