"""Declined renewals (dunning, design.md D19): active -> past_due -> retries -> active again, or suspended
after the last retry and cancelled later. Each retry is a new schedule under its own merchant_uid, and a
period has at most one live attempt at PortOne at any time."""

from __future__ import annotations

from typing import Any

import pytest

from billing.renewals import STOPPED_METRIC
from local.lambda_context import LocalLambdaContext
from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    TEST_ISSUER,
    NoticeInbox,
    ShiftedClock,
    call,
    emitted_metrics,
    load_event,
    schedule,
    subscription_status,
)

DAY = 86_400
DECLINING = {**CARD, "card_number": magic.CARD_INSUFFICIENT_FUNDS}  # issued; payments: 잔액부족 또는 한도초과


@pytest.fixture(autouse=True)
def signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)


def live_attempts(stack: EmbeddedStack) -> list[str]:
    """merchant_uids PortOne holds as pending for alice."""
    return sorted(
        uid
        for uid, s in stack.emulator.schedules.items()
        if s["customer_uid"] == "sub_alice" and s["schedule_status"] == "scheduled"
    )


def runs(invoke, stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox, seconds: float) -> list[Any]:
    """PortOne's clock moves on, due payments run, and their notices reach the webhook."""
    clock.advance(seconds)
    stack.emulator.run_due_schedules()
    return [invoke(event) for event in inbox.take()]


def status(invoke) -> str:
    return str(call(invoke, "GET", "/subscriptions/sub_alice").body["subscription_status"])


def reconcile() -> dict[str, Any]:
    from billing.app import lambda_handler

    result: dict[str, Any] = lambda_handler(load_event("reconcile"), LocalLambdaContext())
    return result


def test_a_declined_renewal_is_retried_and_a_paid_retry_makes_it_active_again(
    invoke, stack, portone_clock, inbox
) -> None:
    # Given a subscriber whose card declines its first payment
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    [declined] = runs(invoke, stack, portone_clock, inbox, 10 * 60)

    # Then it is past_due, with one retry (a new merchant_uid) the next day and nothing else pending
    assert declined.body["scheduled"] == [f"{first}_r1"]
    assert live_attempts(stack) == [f"{first}_r1"]
    assert status(invoke) == "past_due"

    # When the customer's card pays again and the retry runs
    stack.emulator.card_declines("sub_alice", None)
    [paid] = runs(invoke, stack, portone_clock, inbox, DAY)

    # Then it is active again and the next period is on the schedule
    assert status(invoke) == "active"
    [next_period] = paid.body["scheduled"]
    assert live_attempts(stack) == [next_period]
    assert not next_period.endswith("_r1")


def test_the_last_retry_failing_suspends_and_a_month_later_cancels(
    invoke, stack, portone_clock, inbox, capsys
) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    runs(invoke, stack, portone_clock, inbox, 10 * 60)  # declined: retry 1 at D+1

    # When each retry is declined in turn (D+1, D+3, D+7), at most one attempt is ever pending
    pending = []
    for days in (1, 2, 4):
        runs(invoke, stack, portone_clock, inbox, days * DAY)
        pending.append(live_attempts(stack))

    # Then the third failure suspends it: nothing pending, the alarm told, the key kept for now
    assert pending == [[f"{first}_r2"], [f"{first}_r3"], []]
    assert status(invoke) == "suspended"
    assert STOPPED_METRIC in emitted_metrics(capsys.readouterr().out)
    assert "sub_alice" in stack.emulator.customers

    # And 30 days later the reconciler cancels it and deletes the key
    portone_clock.advance(31 * DAY)
    reconcile()
    assert "sub_alice" not in stack.emulator.customers
    assert subscription_status(stack, "sub_alice") == "cancelled"


def test_a_decline_no_retry_cures_suspends_at_once(invoke, stack, portone_clock, inbox, capsys) -> None:
    schedule(invoke, **{**CARD, "card_number": magic.CARD_PAYMENT_SUSPENDED})  # payments: 거래정지카드

    [declined] = runs(invoke, stack, portone_clock, inbox, 10 * 60)

    assert declined.body["scheduled"] == []
    assert live_attempts(stack) == []
    assert status(invoke) == "suspended"
    assert STOPPED_METRIC in emitted_metrics(capsys.readouterr().out)


def test_a_declined_renewal_whose_notice_was_lost_is_retried_by_the_reconciler(
    invoke, stack, portone_clock, inbox
) -> None:
    first = schedule(invoke, **DECLINING).body["schedules"][0]["merchant_uid"]
    portone_clock.advance(16 * 60)
    stack.emulator.run_due_schedules()
    inbox.take()  # lost

    reconcile()

    assert live_attempts(stack) == [f"{first}_r1"]
    assert status(invoke) == "past_due"
