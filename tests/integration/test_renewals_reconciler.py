"""Renewals that cannot be lost (design.md D19): the scheduled reconciler and PortOne's notice share one
idempotent path, so a lost notice or a schedule whose answer was lost is recovered, and running both changes
nothing more. PortOne's clock (the emulator's) moves forward; the reconciler reads it from a fresh token."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from billing.errors import ProviderUnavailable
from billing.renewals import OVERDUE_METRIC, RESERVE_SECONDS, STOPPED_METRIC
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    NoticeInbox,
    ShiftedClock,
    call,
    emitted_metrics,
    legacy_subscription,
    logged_with,
    pending_schedules,
    portone_token,
    reconcile,
    schedule,
    subscription_item,
)

SCHEDULE = ("POST", "/subscribe/payments/schedule")
LOOKUP = ("GET", "/subscribe/payments/schedule/{merchant_uid}")
MINUTE = 60
# Period 0 is due five minutes after the request; the reconciler asks ten minutes after a period's time.
PAST_FIRST_SETTLE = 16 * MINUTE

pytestmark = pytest.mark.usefixtures("signed_in")


def first_period_runs(
    stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox, *, seconds: float
) -> list:
    """PortOne's clock moves on, the due payments run, and their notices are handed back (not delivered)."""
    clock.advance(seconds)
    stack.emulator.run_due_schedules()
    return inbox.take()


def test_a_lost_notice_is_recovered_by_the_next_run(invoke, stack, portone_clock, inbox, capsys) -> None:
    # Given a subscription whose first payment ran, and whose notice never arrived
    first = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)  # dropped

    # When the reconciler runs
    capsys.readouterr()
    report = reconcile()

    # Then it learnt the outcome from PortOne and put the next period on the schedule
    assert report == {"status": "success", "processed": 1, "complete": True}
    assert emitted_metrics(capsys.readouterr().out) == {"SubscriptionsReconciled": 1}
    [next_period] = pending_schedules(stack)
    assert next_period != first
    assert stack.emulator.count(*SCHEDULE) == 2


def test_a_paid_amount_other_than_the_recorded_one_settles_nothing_in_a_run(
    invoke, stack, portone_clock, inbox
) -> None:
    # Given a period recorded at another amount than PortOne charged, whose notice never arrived
    first = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    stack.client("dynamodb").update_item(
        TableName=ENVIRONMENT["TABLE_NAME"],
        Key={"pk": {"S": f"period#{first}"}},
        UpdateExpression="SET amount = :n",
        ExpressionAttributeValues={":n": {"N": "100"}},
    )
    first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)  # dropped

    # When the reconciler learns the payment from PortOne
    report = reconcile()
    after = portone_clock()

    # Then it looked the payment up, and settles nothing from it: the period stays open and no next period
    # is registered; it looks again in ten minutes
    assert report["processed"] == 1
    assert stack.emulator.count("GET", "/payments/{imp_uid}") == 1
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert (state["settled_through"], state["scheduled_through"]) == ("-1", "0")
    assert after + 10 * MINUTE - 60 <= int(state["next_work_at"]) <= after + 10 * MINUTE
    assert pending_schedules(stack) == []
    assert stack.emulator.count(*SCHEDULE) == 1


def test_a_notice_answered_503_is_recovered_by_the_next_run(invoke, stack, portone_clock, inbox) -> None:
    schedule(invoke, **CARD)
    [notice] = first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)
    stack.emulator.add_fault("http_503", "GET /payments", times=2)  # the lookup and its retry
    assert invoke(notice).status == 503

    reconcile()

    assert len(pending_schedules(stack)) == 1
    assert stack.emulator.count(*SCHEDULE) == 2


@pytest.mark.parametrize(
    "lost",
    ["never arrived", "arrived, answer lost"],
)
def test_a_schedule_whose_answer_was_lost_is_registered_or_confirmed_by_the_next_run(
    invoke, stack, portone_clock, logs, lost
) -> None:
    # Given a schedule request answered 202 pending: PortOne may or may not have the period
    if lost == "never arrived":
        stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", after_effect=False)
    else:
        stack.emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=True)
        stack.emulator.add_fault("http_503", "GET /subscribe/payments/schedule", times=2)
    assert schedule(invoke, **CARD).status == 202

    # When the reconciler runs once the request's own time is over
    portone_clock.advance(6 * MINUTE)
    reconcile()

    # Then PortOne holds the first period exactly once, and the subscription knows it
    assert len(pending_schedules(stack)) == 1
    if lost == "arrived, answer lost":  # the request's own lookup failed too: the operator reads why
        failed = logged_with(logs, "schedule lookup failed")
        assert (failed["level"], failed["outcome"], failed["customer_uid"], failed["http_status"]) == (
            "WARNING",
            "PENDING",
            "sub_alice",
            503,
        )
    assert reconcile()["processed"] == 0  # nothing left to do until the period's time


def test_a_registration_portone_still_cannot_confirm_is_tried_again_five_minutes_later(
    invoke, stack, portone_clock
) -> None:
    # Given a schedule request answered 202 pending, and PortOne still failing when the reconciler comes
    stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", times=None, after_effect=False)
    stack.emulator.add_fault("http_503", "GET /subscribe/payments/schedule", times=None)
    assert schedule(invoke, **CARD).status == 202
    portone_clock.advance(6 * MINUTE)

    before = portone_clock()
    reconcile()
    after = portone_clock()

    # Then it is neither dropped nor retried at once: the reconciler looks again five minutes later
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert state["scheduled_through"] == "-1"
    assert int(before) + 5 * MINUTE <= int(state["next_work_at"]) <= after + 5 * MINUTE
    assert pending_schedules(stack) == []


@pytest.mark.parametrize("order", ["notice first", "reconciler first", "together"])
def test_notice_and_reconciler_in_any_order_schedule_each_period_once(
    invoke, stack, portone_clock, inbox, order
) -> None:
    schedule(invoke, **CARD)
    [notice] = first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)

    answers: list[Any] = []
    if order == "notice first":
        answers += [invoke(notice), reconcile()]
    elif order == "reconciler first":
        answers += [reconcile(), invoke(notice)]
    else:
        # Both look the payment up slowly, so their work overlaps
        stack.emulator.add_fault("latency", "GET /payments", seconds=0.5, times=2)
        threads = [
            threading.Thread(target=lambda: answers.append(invoke(notice))),
            threading.Thread(target=lambda: answers.append(reconcile())),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then PortOne holds the next period once; at most one more POST tried it (and was refused), and the
    # subscription records period 0 settled, period 1 scheduled, and looks next when period 1 is due
    assert len(answers) == 2
    [next_period] = pending_schedules(stack)
    assert stack.emulator.count(*SCHEDULE) in (2, 3)
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert (state["settled_through"], state["scheduled_through"]) == ("0", "1")
    due = stack.emulator.schedules[next_period]["schedule_at"]
    assert int(state["next_work_at"]) == due + 10 * MINUTE
    assert reconcile()["processed"] == 0  # and nothing is left to do


def test_a_period_portone_already_holds_is_recorded_as_scheduled_not_registered_twice(
    invoke, stack, portone_clock, inbox, logs
) -> None:
    # Given PortOne already holds the next period: an earlier attempt got through, and both its answer and
    # its record were lost
    [first] = schedule(invoke, **CARD).body["schedules"]
    [notice] = first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)
    held = first["merchant_uid"].replace("P0A0C0", "P1A0C0")
    earlier = stack.emulator.schedules[first["merchant_uid"]]
    registered = requests.post(
        f"{stack.emulator.url}/subscribe/payments/schedule",
        json={
            "customer_uid": "sub_alice",
            "schedules": [
                {"merchant_uid": held, "schedule_at": earlier["schedule_at"] + 31 * 24 * 60 * MINUTE}
                | {key: earlier[key] for key in ("amount", "currency", "name")}
            ],
        },
        headers={"Authorization": f"Bearer {portone_token(stack)}"},
        timeout=5,
    )
    assert registered.json()["code"] == 0

    # When the paid period's notice registers the next one, and PortOne refuses its merchant_uid
    answer = invoke(notice)

    # Then the lookup shows the period is PortOne's already: recorded as scheduled, and not tried again
    assert answer.body["status"] == "processed"
    assert pending_schedules(stack) == [held]
    assert stack.emulator.count(*SCHEDULE) == 3  # ours, the earlier attempt's, the refused one
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert (state["settled_through"], state["scheduled_through"]) == ("0", "1")
    line = logged_with(logs, "periods were already scheduled")
    assert (line["level"], line["customer_uid"], line["portone_code"]) == ("INFO", "sub_alice", 1)
    assert reconcile()["processed"] == 0


def test_a_run_out_of_time_resumes_where_it_stopped(
    invoke, stack, portone_clock, inbox, monkeypatch, capsys, logs
) -> None:
    # Given eight subscriptions whose notices were all lost, PortOne answering lookups slowly, and pages of
    # three subscriptions, so runs cross pages
    monkeypatch.setattr("billing.renewals.PAGE_SIZE", 3)
    customers = [f"sub_c{n}" for n in range(8)]
    for uid in customers:
        assert (
            call(
                invoke,
                "POST",
                "/subscriptions/schedule",
                {"customer_uid": uid, "plan_id": "basic_monthly", **CARD},
                who=uid,
            ).status
            == 200
        )
    first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)
    stack.emulator.add_fault("latency", "GET /subscribe/payments/schedule", seconds=1.0, times=None)

    # When a run has time for only a few, and the next run has plenty
    capsys.readouterr()
    first = reconcile(timeout_seconds=1 + RESERVE_SECONDS + 2.5)
    cut_short = emitted_metrics(capsys.readouterr().out)
    assert logged_with(logs, "reconciler out of time")["outcome"] == "RECONCILE_INCOMPLETE"
    stack.emulator.clear_faults()
    second = reconcile()

    # Then the first stopped early, the second did the rest, and each subscription was looked at once
    assert first["complete"] is False, (first, second)
    assert 0 < first["processed"] < len(customers)
    assert cut_short == {"SubscriptionsReconciled": first["processed"], "ReconcilerIncomplete": 1}
    assert "ReconcilerIncomplete" not in emitted_metrics(capsys.readouterr().out)
    assert first["processed"] + second["processed"] == len(customers)
    assert stack.emulator.count(*LOOKUP) == len(customers)
    assert all(len(pending_schedules(stack, uid)) == 1 for uid in customers)


def test_a_renewal_without_an_outcome_long_after_its_time_is_overdue(
    invoke, stack, portone_clock, capsys
) -> None:
    # Given a first period PortOne has not run 50 minutes, then 70 minutes, after its time
    schedule(invoke, **CARD)
    portone_clock.advance(55 * MINUTE)
    reconcile()
    early = emitted_metrics(capsys.readouterr().out)
    portone_clock.advance(20 * MINUTE)
    reconcile()

    # Then it is overdue only past the hour (RenewalOverdueSeconds)
    assert OVERDUE_METRIC not in early
    assert OVERDUE_METRIC in emitted_metrics(capsys.readouterr().out)


def test_a_period_the_customer_skipped_does_not_end_the_chain(invoke, stack, portone_clock, inbox) -> None:
    # Given the customer revoked their first period through the API
    first = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    assert call(invoke, "DELETE", f"/subscriptions/sub_alice/schedules/{first}").status == 200

    # When its time has passed and the reconciler runs
    portone_clock.advance(PAST_FIRST_SETTLE)
    reconcile()

    # Then the next period is on PortOne's schedule
    [next_period] = pending_schedules(stack)
    assert next_period != first


def test_a_subscription_whose_plan_left_the_catalog_stops_with_an_alarm(
    invoke, stack, portone_clock, capsys, logs, edit_catalog
) -> None:
    # Given a subscriber whose plan a later deployment took out of the catalog
    schedule(invoke, **CARD)
    edit_catalog(basic_monthly={"id": "basic_monthly_retired"})

    # When the reconciler comes to it
    portone_clock.advance(PAST_FIRST_SETTLE)
    capsys.readouterr()
    reconcile()

    # Then the chain stops loudly (its alarm, the operator's line) and the reconciler stops looking at it
    assert emitted_metrics(capsys.readouterr().out)[STOPPED_METRIC] == 1
    stopped = logged_with(logs, "plan not in the catalog")
    assert (stopped["level"], stopped["outcome"], stopped["customer_uid"]) == (
        "ERROR",
        "PLAN_MISSING",
        "sub_alice",
    )
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert "next_work_at" not in state
    assert reconcile()["processed"] == 0


def test_a_period_revoked_outside_this_service_stops_the_chain_with_an_alarm(
    invoke, stack, portone_clock, capsys, logs
) -> None:
    # Given someone revoked the first period in PortOne's console (straight at PortOne)
    first = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    token = portone_token(stack)
    requests.post(
        f"{stack.emulator.url}/subscribe/payments/unschedule",
        json={"customer_uid": "sub_alice", "merchant_uid": [first]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).raise_for_status()

    portone_clock.advance(PAST_FIRST_SETTLE)
    reconcile()

    assert emitted_metrics(capsys.readouterr().out)[STOPPED_METRIC] == 1
    assert pending_schedules(stack) == []
    stopped = logged_with(logs, "renewal revoked outside this service")
    assert (stopped["level"], stopped["outcome"], stopped["customer_uid"], stopped["merchant_uid"]) == (
        "ERROR",
        "RENEWAL_REVOKED_ELSEWHERE",
        "sub_alice",
        first,
    )


def test_subscriptions_from_before_the_work_index_are_found_and_renewed(
    invoke, stack, portone_clock, inbox
) -> None:
    # Given a subscription as an earlier version stored it (no price, no outcomes, no work, no periods)
    first = legacy_subscription(invoke, stack, portone_clock, recorded=False)

    # When its first payment runs, its notice is lost, and the reconciler runs
    first_period_runs(stack, portone_clock, inbox, seconds=PAST_FIRST_SETTLE)
    reconcile()

    # Then it was found without a notice, and renewed
    [next_period] = pending_schedules(stack)
    assert next_period != first


def test_a_subscription_whose_work_fails_waits_its_turn_and_turns_overdue(
    invoke, stack, portone_clock, capsys, logs
) -> None:
    # Given a pending first registration whose billing key is gone (the registration keeps failing)
    stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", after_effect=False)
    assert schedule(invoke, **CARD).status == 202
    requests.delete(
        f"{stack.emulator.url}/subscribe/customers/sub_alice",
        headers={"Authorization": f"Bearer {portone_token(stack)}"},
        timeout=5,
    ).raise_for_status()

    # When the reconciler runs, and again at once, and again after the period's hour has passed
    portone_clock.advance(6 * MINUTE)
    first = reconcile()
    second = reconcile()
    portone_clock.advance(70 * MINUTE)
    reconcile()

    # Then the failure did not keep it first in line, and its lateness raised RenewalOverdue
    assert (first["processed"], second["processed"]) == (1, 0)
    assert emitted_metrics(capsys.readouterr().out)[OVERDUE_METRIC] == 1
    # and the operator reads each failed run and the lateness, by subscription and period
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    failures = [line for line in lines if line["message"] == "reconciliation failed"]
    assert [(line["level"], line["outcome"], line["subscription_id"]) for line in failures] == [
        ("ERROR", "PAYMENT_PROVIDER_REJECTED", subscription_item(stack, "sub_alice")["id"])
    ] * 2
    overdue = logged_with(logs, "renewal overdue")
    assert (overdue["level"], overdue["outcome"], overdue["customer_uid"]) == (
        "WARNING",
        "RENEWAL_OVERDUE",
        "sub_alice",
    )
    assert overdue["merchant_uid"] == f"S{subscription_item(stack, 'sub_alice')['id']}P0A0C0"  # period 0


@pytest.mark.filterwarnings("ignore:No application metrics")  # the failed invocation is what the alarm counts
def test_a_run_that_cannot_reach_portone_fails_loudly(stack, logs) -> None:
    stack.emulator.add_fault("http_503", "POST /users/getToken", times=2)

    with pytest.raises(ProviderUnavailable):
        reconcile()  # the invocation fails: the Errors metric and its alarm see it

    failed = logged_with(logs, "reconciler failed")
    assert (failed["level"], failed["outcome"]) == ("ERROR", "PAYMENT_PROVIDER_UNAVAILABLE")
