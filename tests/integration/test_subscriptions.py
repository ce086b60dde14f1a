"""Recurring payments on PortOne's schedule: plans, schedule (with or without a card), view, revoke, cancel,
and PortOne's notice, against moto and the emulator."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from billing.plans import load_catalog
from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    NoticeInbox,
    ShiftedClock,
    call,
    emitted_metrics,
    ignored_notices,
    load_event,
    logged_with,
    new_container,
    pending_schedules,
    portone_token,
    reconcile,
    schedule,
    subscription_item,
    subscription_status,
    with_caller,
)

SCHEDULE = ("POST", "/subscribe/payments/schedule")
ISSUE = ("POST", "/subscribe/customers/{customer_uid}")

pytestmark = pytest.mark.usefixtures("signed_in")


def pay_directly(stack: EmbeddedStack, customer_uid: str, merchant_uid: str) -> dict[str, Any]:
    """A payment with the customer's key made straight at PortOne (`again`), not by this service."""
    token = portone_token(stack)
    response = requests.post(
        f"{stack.emulator.url}/subscribe/payments/again",
        json={"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": 9900, "name": "direct"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    payment: dict[str, Any] = response.json()["response"]
    return payment


def test_the_plans_come_from_the_catalog(invoke) -> None:
    response = invoke(with_caller(load_event("list_plans"), "alice"))
    assert response.status == 200
    plans = {p["id"]: p for p in response.body["plans"]}
    assert {k: v for k, v in plans["basic_monthly"].items() if not k.endswith("_charge_at")} == {
        "id": "basic_monthly",
        "name": "베이직 월간 이용권",
        "amount": 9900,
        "currency": "KRW",
        "interval": "month",
    }


def test_each_plan_discloses_the_first_and_next_charge_as_a_sign_up_now_is_charged(invoke) -> None:
    # Given the plans as the page shows them before its button
    plans = invoke(with_caller(load_event("list_plans"), "alice")).body["plans"]
    disclosed = {p["id"]: p for p in plans}["basic_monthly"]
    first = datetime.fromisoformat(disclosed["first_charge_at"])
    following = datetime.fromisoformat(disclosed["next_charge_at"])

    # When the customer subscribes
    [period] = schedule(invoke, **CARD).body["schedules"]

    # Then the first charge is when the page said, in Korea time, and the next one a month later by the
    # calendar renewals keep (the same day, or the month's last)
    assert disclosed["first_charge_at"].endswith("+09:00")
    assert abs(datetime.fromisoformat(period["schedule_at"]) - first) < timedelta(seconds=30)
    assert following == load_catalog().find("basic_monthly").due_at(first, 1)  # type: ignore[union-attr]
    assert following - first >= timedelta(days=28)


def test_a_new_card_is_issued_then_its_first_period_scheduled(invoke, stack: EmbeddedStack) -> None:
    response = schedule(invoke, **CARD)

    assert response.status == 200
    assert response.body["card"] == {"name": "BC카드", "code": "361", "last4": "0001", "type": "credit"}
    [period] = response.body["schedules"]
    assert period["amount"] == 9900
    # At most 40 characters of [A-Za-z0-9]: some PGs refuse anything else in an order id.
    assert re.fullmatch(r"S[0-9a-f]{20}P0A0C0", period["merchant_uid"])
    assert len(period["merchant_uid"]) <= 40
    # Two PortOne calls: the key (its answer says which channel issued it), then the schedule without card
    assert [(c.method, c.route) for c in stack.emulator.calls if c.method == "POST"][1:] == [ISSUE, SCHEDULE]
    assert "sub_alice" in stack.emulator.customers
    assert stack.emulator.contract_violations == []


def test_the_full_cycle_schedules_exactly_one_next_period(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox, logs
) -> None:
    # Given a plan scheduled for a new card in one call
    first = schedule(invoke, **CARD)
    merchant_uid = first.body["schedules"][0]["merchant_uid"]

    # When its payment comes due and PortOne runs it and sends the notice, twice
    portone_clock.advance(10 * 60)
    [ran] = stack.emulator.run_due_schedules()
    stack.emulator.deliver_notice(merchant_uid)
    notices = inbox.take()
    answers = [invoke(event) for event in notices]

    # Then the paid period leads to exactly one next period, a month later
    assert ran["merchant_uid"] == merchant_uid
    assert len(notices) == 2
    assert [a.status for a in answers] == [200, 200]
    assert answers[0].body["status"] == "processed"
    [next_uid] = answers[0].body["scheduled"]
    assert answers[1].body == {"status": "ignored", "scheduled": []}  # its outcome is known: no lookup
    processed = logged_with(logs, "notice processed")
    assert (processed["outcome"], processed["customer_uid"], processed["merchant_uid"]) == (
        "NOTICE_PAID",
        "sub_alice",
        merchant_uid,
    )
    assert stack.emulator.count(*SCHEDULE) == 2
    view = call(invoke, "GET", "/subscriptions/sub_alice")
    statuses = {s["merchant_uid"]: s["status"] for s in view.body["schedules"]}
    assert statuses == {merchant_uid: "paid", next_uid: "scheduled"}
    due = {s["merchant_uid"]: datetime.fromisoformat(s["schedule_at"]) for s in view.body["schedules"]}
    assert timedelta(days=28) <= due[next_uid] - due[merchant_uid] <= timedelta(days=31)


def test_a_forged_notice_changes_nothing(invoke, stack, portone_clock, inbox, logs) -> None:
    first = schedule(invoke, **CARD)
    merchant_uid = first.body["schedules"][0]["merchant_uid"]
    portone_clock.advance(10 * 60)
    [ran] = stack.emulator.run_due_schedules()
    inbox.take()

    forged = [
        {"imp_uid": "imps_999999999999", "merchant_uid": merchant_uid, "status": "paid"},  # unknown payment
        {"imp_uid": ran["imp_uid"], "merchant_uid": "sub_0000000000000000_20300101", "status": "paid"},
    ]
    for body in forged:
        event = load_event("portone_notice")
        event["body"] = json.dumps(body)
        assert invoke(event).body == {"status": "ignored", "scheduled": []}
    assert stack.emulator.count(*SCHEDULE) == 1
    assert ignored_notices(logs) == ["unknown imp_uid", "no period recorded under this merchant_uid"]


def test_a_notice_for_a_payment_this_service_did_not_schedule_is_ignored(invoke, stack, logs) -> None:
    schedule(invoke, **CARD)
    payment = pay_directly(stack, "sub_alice", "someone_elses_order")  # paid outside this service
    event = load_event("portone_notice")
    body = {"imp_uid": payment["imp_uid"], "merchant_uid": "someone_elses_order", "status": "paid"}
    event["body"] = json.dumps(body)
    assert invoke(event).body["status"] == "ignored"
    assert stack.emulator.count(*SCHEDULE) == 1
    assert ignored_notices(logs) == ["not a merchant_uid of this service"]


# A notice's status is only a hint (the payment is looked up): an empty one is no reason to refuse it
@pytest.mark.parametrize("status", ["paid", ""])
def test_a_form_encoded_notice_is_read_too(invoke, stack, portone_clock, inbox, status: str) -> None:
    first = schedule(invoke, **CARD)
    portone_clock.advance(10 * 60)
    [ran] = stack.emulator.run_due_schedules()
    inbox.take()
    # As API Gateway hands a form body to the function: base64-encoded (the sample event is one)
    event = load_event("portone_notice_form")
    assert event["isBase64Encoded"] is True
    merchant_uid = first.body["schedules"][0]["merchant_uid"]
    form = f"imp_uid={ran['imp_uid']}&merchant_uid={merchant_uid}&status={status}"
    event["body"] = base64.b64encode(form.encode()).decode()
    answer = invoke(event)
    assert (answer.status, len(answer.body["scheduled"])) == (200, 1)


def cancellations(logs: io.StringIO) -> list[tuple[str, str, str]]:
    """The cancellations the function logged: message, outcome and customer."""
    lines = map(json.loads, logs.getvalue().splitlines())
    return [
        (line["message"], line["outcome"], line["customer_uid"])
        for line in lines
        if line["message"].startswith("subscription cancelled")
    ]


def test_cancelling_immediately_revokes_every_pending_payment_and_deletes_the_key(
    invoke, stack: EmbeddedStack, logs
) -> None:
    schedule(invoke, **CARD)
    now = {"immediately": "true"}

    first = call(invoke, "DELETE", "/subscriptions/sub_alice", query=now)
    again = call(invoke, "DELETE", "/subscriptions/sub_alice", query=now)  # a new request: safe to repeat

    assert first.status == 200
    assert len(first.body["revoked"]) == 1
    assert (first.body["billing_key_deleted"], first.body["ends_at"]) == (True, None)
    assert again.status == 200
    assert again.body["revoked"] == []
    assert "sub_alice" not in stack.emulator.customers
    assert all(s["schedule_status"] == "revoked" for s in stack.emulator.schedules.values())
    assert cancellations(logs) == [("subscription cancelled", "CANCELLED", "sub_alice")] * 2


def test_cancelling_stops_renewals_at_the_end_of_the_paid_period(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox, logs
) -> None:
    # Given a subscriber whose first month is paid and whose second is on PortOne's schedule
    schedule(invoke, **CARD)
    [paid] = run_and_notify(invoke, stack, portone_clock, inbox, 10 * 60)
    [second] = paid.body["scheduled"]

    # When they cancel
    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")

    # Then the second month is revoked now, the key stays until the paid month ends, and then it goes
    assert cancelled.status == 200
    assert (cancelled.body["revoked"], cancelled.body["charged"]) == ([second], [])
    assert cancelled.body["billing_key_deleted"] is False
    ends_at = datetime.fromisoformat(cancelled.body["ends_at"])
    assert ends_at == datetime.fromisoformat(stack_schedule_at(stack, second))
    assert call(invoke, "GET", "/subscriptions/sub_alice").body["ends_at"] == cancelled.body["ends_at"]
    reconcile()
    assert "sub_alice" in stack.emulator.customers  # the paid month still runs
    portone_clock.advance((ends_at - datetime.now(UTC)).total_seconds() + 60)
    reconcile()
    assert "sub_alice" not in stack.emulator.customers
    ended = logged_with(logs, "subscription ended: billing key deleted")
    assert (ended["level"], ended["outcome"], ended["customer_uid"]) == (
        "INFO",
        "BILLING_KEY_DELETED",
        "sub_alice",
    )
    again = call(invoke, "DELETE", "/subscriptions/sub_alice")
    assert (again.status, again.body["billing_key_deleted"], again.body["ends_at"]) == (200, True, None)
    assert cancellations(logs) == [
        ("subscription cancelled at the end of its paid period", "CANCELLED_AT_PERIOD_END", "sub_alice"),
        ("subscription cancelled", "CANCELLED", "sub_alice"),
    ]


def test_cancelling_after_portone_ran_the_next_period_says_it_was_charged(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox
) -> None:
    # Given the first period just ran at PortOne and its notice has not arrived yet
    first = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    inbox.take()

    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")

    # Then nothing was left to revoke, the answer names the period charged, and that period still runs
    assert (cancelled.body["revoked"], cancelled.body["charged"]) == ([], [first])
    assert cancelled.body["billing_key_deleted"] is False
    assert datetime.fromisoformat(cancelled.body["ends_at"]) > datetime.fromisoformat(
        stack_schedule_at(stack, first)
    )


def cancelled_before_the_notice(
    invoke, stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox
) -> dict[str, Any]:
    """alice's first period just ran at PortOne, and she cancelled before its notice (returned, not yet
    delivered) arrived; PortOne failed the cancellation's revocation, so the subscription is stopped but
    the cancellation settled nothing: the reconciler's to finish."""
    schedule(invoke, **CARD)
    clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    [notice] = inbox.take()
    stack.emulator.add_fault("http_503", "POST /subscribe/payments/unschedule", times=None)
    assert call(invoke, "DELETE", "/subscriptions/sub_alice").status == 503
    stack.emulator.clear_faults()
    return notice


def test_a_notice_arriving_after_the_subscription_was_cancelled_schedules_nothing(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox
) -> None:
    notice = cancelled_before_the_notice(invoke, stack, portone_clock, inbox)

    answer = invoke(notice)

    # The paid period is settled, and nothing after it goes to PortOne
    assert answer.body == {"status": "processed", "scheduled": []}
    assert stack.emulator.count(*SCHEDULE) == 1
    assert pending_schedules(stack) == []
    assert subscription_status(stack, "sub_alice") == "cancelled"


def test_a_cancellation_cut_short_is_finished_by_the_reconciler_though_a_notice_came_first(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox
) -> None:
    # Given a cancellation PortOne failed, and the notice of the period paid before it arriving next
    notice = cancelled_before_the_notice(invoke, stack, portone_clock, inbox)
    assert invoke(notice).body["status"] == "processed"

    # When the reconciler runs
    reconcile()

    # Then it finishes the cancellation: the subscription ends with the paid month, its key deleted then
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    plan = load_catalog().find("basic_monthly")
    assert plan is not None
    paid_until = plan.due_at(datetime.fromtimestamp(int(state["anchor"]), UTC), 1)
    assert (state["status"], state.get("ends_at")) == ("cancelled", str(int(paid_until.timestamp())))
    view = call(invoke, "GET", "/subscriptions/sub_alice")
    assert datetime.fromisoformat(view.body["ends_at"]) == paid_until
    assert "sub_alice" in stack.emulator.customers  # the paid month still runs


def test_a_sign_up_again_on_the_key_is_not_ended_by_the_old_cancellations_late_notice(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox
) -> None:
    # Given a cancellation PortOne failed, then a new sign-up on the same key, which replaces the
    # cancelled subscription, and then the old period's notice
    notice = cancelled_before_the_notice(invoke, stack, portone_clock, inbox)
    start_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert schedule(invoke, start_at=start_at).status == 200
    [pending] = pending_schedules(stack)
    assert invoke(notice).body["status"] == "processed"

    # When the reconciler runs, now and after the old paid month
    reconcile()
    portone_clock.advance(32 * 24 * 3600)
    reconcile()

    # Then the old subscription did not finish its cancellation on the key the new one uses: the new
    # one's payment stayed scheduled (it ran) and the key is still there
    assert stack.emulator.schedules[pending]["schedule_status"] != "revoked"
    assert "sub_alice" in stack.emulator.customers
    assert subscription_status(stack, "sub_alice") == "active"


def test_cancel_takes_immediately_as_true_or_false_only(invoke, stack: EmbeddedStack) -> None:
    response = call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "yes"})
    assert (response.status, response.body["errors"]) == (
        400,
        [{"field": "immediately", "reason": "true_or_false"}],
    )


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/subscriptions/sub.alice", "customer_uid"),  # PortOne takes letters, digits, - and _
        ("DELETE", "/subscriptions/sub_alice/schedules/sub-1", "merchant_uid"),  # ours: letters, digits, _
    ],
)
def test_a_uid_in_the_path_with_other_characters_is_a_400_naming_it(
    invoke, stack: EmbeddedStack, method: str, path: str, field: str
) -> None:
    response = call(invoke, method, path)

    assert (response.status, response.body["errors"]) == (
        400,
        [{"field": field, "reason": "invalid_characters"}],
    )
    assert stack.emulator.calls == ()


def stack_schedule_at(stack: EmbeddedStack, merchant_uid: str) -> str:
    return datetime.fromtimestamp(stack.emulator.schedules[merchant_uid]["schedule_at"], UTC).isoformat()


def test_one_pending_payment_can_be_revoked(invoke) -> None:
    merchant_uid = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    path = f"/subscriptions/sub_alice/schedules/{merchant_uid}"

    revoked = call(invoke, "DELETE", path)
    missing = call(invoke, "DELETE", path)

    assert (revoked.status, revoked.body["revoked"]) == (200, [merchant_uid])
    assert (missing.status, missing.body["code"]) == (404, "SCHEDULE_NOT_FOUND")


def test_a_payment_that_already_ran_cannot_be_revoked_and_the_answer_says_so(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox
) -> None:
    merchant_uid = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()

    response = call(invoke, "DELETE", f"/subscriptions/sub_alice/schedules/{merchant_uid}")

    assert (response.status, response.body["code"]) == (409, "PERIOD_ALREADY_CHARGED")


def test_the_view_shows_the_masked_card_and_the_schedules(invoke) -> None:
    schedule(invoke, **CARD)
    view = call(invoke, "GET", "/subscriptions/sub_alice")
    assert view.status == 200
    assert view.body["card"]["last4"] == "0001"
    assert view.body["plan_id"] == "basic_monthly"
    assert [s["status"] for s in view.body["schedules"]] == ["scheduled"]
    assert "9540490000000001" not in str(view.body)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/subscriptions/sub_alice"), ("DELETE", "/subscriptions/sub_alice")],
)
def test_nobody_else_reads_or_cancels_a_subscription(invoke, stack, method: str, path: str) -> None:
    schedule(invoke, **CARD)
    stack.emulator.reset()
    assert call(invoke, method, path, who="mallory").status == 404
    assert stack.emulator.calls == ()


def test_anonymous_callers_cannot_read_a_subscription(invoke, monkeypatch) -> None:
    schedule(invoke, **CARD)
    monkeypatch.setenv("JWT_ISSUER", "")
    new_container()
    assert call(invoke, "GET", "/subscriptions/sub_alice").status == 404


def test_the_client_never_sets_amount_merchant_uid_pg_or_notice_url(invoke, stack) -> None:
    response = invoke(load_event("invalid_schedule_client_amount"))
    assert response.status == 400
    assert {e["field"] for e in response.body["errors"]} == {"amount", "merchant_uid", "pg", "notice_url"}
    assert stack.emulator.calls == ()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"plan": "gold_forever"}, {"field": "plan_id", "reason": "unknown_plan"}),
        ({"start_at": "2020-01-01T00:00:00+09:00"}, {"field": "start_at", "reason": "not_in_the_future"}),
        (
            {"start_at": (datetime.now(UTC) + timedelta(days=200)).isoformat()},
            {"field": "start_at", "reason": "too_far_ahead"},
        ),
        ({"start_at": "2030-01-01T00:00:00"}, {"field": "start_at", "reason": "timezone_aware"}),
        ({"card_number": "9540490000000001"}, {"field": "expiry", "reason": "required"}),
    ],
)
def test_bad_schedule_requests_are_400s_naming_the_rule(invoke, stack, fields, error) -> None:
    fields = dict(fields)  # pytest gives each run of the test the same dict
    plan = fields.pop("plan", "basic_monthly")
    response = schedule(invoke, plan=plan, **fields)
    assert response.status == 400
    assert error in response.body["errors"]
    assert stack.emulator.calls == ()


def test_a_second_plan_while_one_is_active_is_a_409(invoke) -> None:
    schedule(invoke, **CARD)
    assert schedule(invoke, plan="pro_monthly").status == 409


def test_scheduling_an_active_plan_again_sends_nothing_new(invoke, stack: EmbeddedStack) -> None:
    first = schedule(invoke, **CARD)
    again = schedule(invoke)  # a new request without a card: the key exists
    assert again.status == 200
    assert again.body["schedules"] == first.body["schedules"]
    assert stack.emulator.count(*SCHEDULE) == 1


def test_without_a_card_the_uid_must_be_the_callers(invoke, stack: EmbeddedStack) -> None:
    schedule(invoke, **CARD)
    assert schedule(invoke, uid="sub_alice").status == 200
    response = call(
        invoke,
        "POST",
        "/subscriptions/schedule",
        {"customer_uid": "sub_alice", "plan_id": "basic_monthly"},
        who="mallory",
    )
    assert response.status == 404


def test_a_card_the_issuer_rejects_is_a_402_and_nothing_is_scheduled(invoke, stack: EmbeddedStack) -> None:
    response = schedule(invoke, **{**CARD, "card_number": magic.CARD_INVALID_NUMBER})
    assert response.status == 402
    assert stack.emulator.schedules == {}
    assert subscription_status(stack, "sub_alice") == "cancelled"  # not left active with nothing scheduled


def test_an_arrived_but_unanswered_schedule_is_confirmed_by_a_lookup(invoke, stack: EmbeddedStack) -> None:
    stack.emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=True)
    response = schedule(invoke, **CARD)
    assert response.status == 200
    assert stack.emulator.count(*SCHEDULE) == 1
    assert stack.emulator.count("GET", "/subscribe/payments/schedule/{merchant_uid}") == 1


def test_a_pending_sign_up_is_finished_on_its_retry_after_a_lookup_and_never_resends_the_card(
    invoke, stack: EmbeddedStack
) -> None:
    # Given the key was issued and the schedule failed without taking effect: the sign-up is pending
    stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", after_effect=False)
    body = {"customer_uid": "sub_alice", "plan_id": "basic_monthly", **CARD}
    first = call(invoke, "POST", "/subscriptions/schedule", body, key="pending-schedule-key")
    assert (first.status, first.body["status"]) == (202, "pending")

    # When the page sends the same request again (the pending screen's "다시 확인")
    lookups = stack.emulator.count("GET", "/subscribe/payments/schedule/{merchant_uid}")
    again = call(invoke, "POST", "/subscriptions/schedule", body, key="pending-schedule-key")

    # Then PortOne is asked first, the periods it does not have are registered, and the answer is the success
    assert (again.status, again.body["status"]) == (200, "success")
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.body["card"]["last4"] == CARD["card_number"][-4:]
    [payment] = again.body["schedules"]
    assert stack.emulator.schedules[payment["merchant_uid"]]["schedule_status"] == "scheduled"
    assert stack.emulator.count("GET", "/subscribe/payments/schedule/{merchant_uid}") == lookups + 1
    assert (stack.emulator.count(*ISSUE), stack.emulator.count(*SCHEDULE)) == (1, 2)
    # and a further retry answers the same without registering anything again
    third = call(invoke, "POST", "/subscriptions/schedule", body, key="pending-schedule-key")
    assert (third.status, third.body["schedules"]) == (200, again.body["schedules"])
    assert stack.emulator.count(*SCHEDULE) == 2


def test_a_pending_sign_up_whose_schedule_arrived_is_confirmed_without_registering_again(
    invoke, stack: EmbeddedStack
) -> None:
    # Given PortOne took the schedule, its answer was lost, and so was the lookup's
    stack.emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=True)
    stack.emulator.add_fault("http_503", "GET /subscribe/payments/schedule/", times=2)
    body = {"customer_uid": "sub_alice", "plan_id": "basic_monthly", **CARD}
    assert call(invoke, "POST", "/subscriptions/schedule", body, key="arrived-key").status == 202

    again = call(invoke, "POST", "/subscriptions/schedule", body, key="arrived-key")

    assert (again.status, again.body["status"]) == (200, "success")
    assert stack.emulator.count(*SCHEDULE) == 1


def test_a_pending_sign_up_whose_payment_portone_holds_revoked_is_not_confirmed(
    invoke, stack: EmbeddedStack
) -> None:
    # Given PortOne took the schedule, its answer and the lookup's were lost, and then the payment was
    # revoked at PortOne (in its console, outside this service)
    stack.emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=True)
    stack.emulator.add_fault("http_503", "GET /subscribe/payments/schedule/", times=2)
    body = {"customer_uid": "sub_alice", "plan_id": "basic_monthly", **CARD}
    assert call(invoke, "POST", "/subscriptions/schedule", body, key="revoked-key").status == 202
    [merchant_uid] = stack.emulator.schedules
    revoked = requests.post(
        f"{stack.emulator.url}/subscribe/payments/unschedule",
        json={"customer_uid": "sub_alice", "merchant_uid": [merchant_uid]},
        headers={"Authorization": f"Bearer {portone_token(stack)}"},
        timeout=5,
    )
    assert revoked.json()["code"] == 0

    # When the page sends the same request again
    again = call(invoke, "POST", "/subscriptions/schedule", body, key="revoked-key")

    # Then a revoked payment is not a scheduled one, neither at the lookup nor after PortOne refuses the
    # merchant_uid again (it never takes one twice): the sign-up stays pending, nothing will be charged
    assert (again.status, again.body["status"]) == (202, "pending")
    assert stack.emulator.count(*SCHEDULE) == 2
    assert stack.emulator.schedules[merchant_uid]["schedule_status"] == "revoked"
    assert pending_schedules(stack) == []
    state = subscription_item(stack, "sub_alice")
    assert state is not None
    assert (state["status"], state["scheduled_through"]) == ("active", "-1")  # the reconciler's work still


def test_a_pending_sign_up_stays_pending_while_portone_cannot_tell(invoke, stack: EmbeddedStack) -> None:
    # Given the key's answer was lost, and every lookup of it fails
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=True)
    stack.emulator.add_fault("http_503", "GET /subscribe/customers", times=None)
    body = {"customer_uid": "sub_alice", "plan_id": "basic_monthly", **CARD}
    first = call(invoke, "POST", "/subscriptions/schedule", body, key="unknown-key")

    again = call(invoke, "POST", "/subscriptions/schedule", body, key="unknown-key")

    assert (first.status, again.status, again.body) == (202, 202, first.body)
    assert (stack.emulator.count(*ISSUE), stack.emulator.count(*SCHEDULE)) == (1, 0)


def test_with_a_card_check_a_card_that_cannot_pay_is_refused_at_sign_up(
    invoke, stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Given the merchant checks cards with 1,000원 (authorised and cancelled at once by PortOne)
    monkeypatch.setenv("PORTONE_CHECKING_AMOUNT", "1000")

    # When a card PortOne issues a key for, but whose payments are declined, signs up
    declined = schedule(invoke, **{**CARD, "card_number": magic.CARD_INSUFFICIENT_FUNDS})

    # Then the sign-up is refused now, not at its first renewal: no schedule, no key left, nothing live
    assert (declined.status, declined.body["code"], declined.body["decline"]) == (
        402,
        "CARD_REJECTED",
        "other",
    )
    assert stack.emulator.schedules == {}
    assert "sub_alice" not in stack.emulator.customers
    assert call(invoke, "GET", "/subscriptions").body["billing_keys"] == []
    # and it counts as a declined card for the card-testing limits (the check is an authorisation)
    counters = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]
    [caller] = [c for c in counters if c["pk"]["S"].startswith("limits#caller#sub:alice#")]
    assert caller["failures"]["N"] == "1"
    # and the operator counts a decline no category names (its PG code says nothing of the details typed)
    assert emitted_metrics(capsys.readouterr().out)["DeclineUncategorised"] == 1
    # and a card that can pay is checked, the check cancelled, and subscribed
    assert schedule(invoke, uid="sub_bob", **CARD).status == 200
    checks = [p for p in stack.emulator.payments.values() if p["customer_uid"] == "sub_bob"]
    assert [(p["amount"], p["status"]) for p in checks] == [(1000, "cancelled")]
    assert stack.emulator.contract_violations == []


def test_the_card_check_is_sent_once_by_the_sign_up_never_by_the_reconciler(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a card check, and a sign-up whose schedule never reached PortOne (answered pending)
    monkeypatch.setenv("PORTONE_CHECKING_AMOUNT", "1000")
    stack.emulator.add_fault("http_500", "POST /subscribe/payments/schedule", after_effect=False)
    assert schedule(invoke, **{**CARD, "card_number": magic.CARD_INSUFFICIENT_FUNDS}).status == 202

    # When the reconciler registers the periods (three runs, minutes apart)
    for _ in range(3):
        portone_clock.advance(6 * 60)
        reconcile()

    # Then it registered them once, and never authorised the card: the check is the sign-up's alone
    assert stack.emulator.count(*SCHEDULE) == 2
    assert stack.emulator.payments == {}


def test_without_a_card_check_nothing_is_authorised_at_sign_up(invoke, stack: EmbeddedStack) -> None:
    assert schedule(invoke, **CARD).status == 200  # the default: PORTONE_CHECKING_AMOUNT=0

    assert stack.emulator.payments == {}


# --- prices: each period at the price it was scheduled with (the subscription's own) ------------------------


def run_and_notify(invoke, stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox, seconds: float):
    """PortOne's clock moves on `seconds`, the due payments run and their notices reach the webhook."""
    clock.advance(seconds)
    stack.emulator.run_due_schedules()
    return [invoke(event) for event in inbox.take()]


def test_a_catalog_price_change_keeps_existing_subscribers_at_their_price(
    invoke, stack: EmbeddedStack, portone_clock: ShiftedClock, inbox: NoticeInbox, edit_catalog
) -> None:
    # Given alice subscribed at 9,900원, and then the merchant raised the plan to 12,900원
    schedule(invoke, **CARD)
    edit_catalog(basic_monthly={"amount": 12900})

    # When a new customer subscribes, and alice's first period is paid
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bob = {"plan_id": "basic_monthly", "start_at": tomorrow, **CARD}
    bob_answer = call(invoke, "POST", "/subscriptions/schedule", bob, who="bob")
    [answer] = run_and_notify(invoke, stack, portone_clock, inbox, 10 * 60)

    # Then alice's notice is accepted and her next period is at her price; bob pays the new one
    assert answer.body["status"] == "processed"
    [next_uid] = answer.body["scheduled"]
    assert stack.emulator.schedules[next_uid]["amount"] == 9900
    assert [p["amount"] for p in bob_answer.body["schedules"]] == [12900]


def test_a_paid_amount_other_than_the_recorded_one_is_ignored(
    invoke, stack, portone_clock, inbox, logs
) -> None:
    # Given a period recorded at another amount than PortOne charged (the catalog agrees with PortOne)
    merchant_uid = schedule(invoke, **CARD).body["schedules"][0]["merchant_uid"]
    stack.client("dynamodb").update_item(
        TableName=ENVIRONMENT["TABLE_NAME"],
        Key={"pk": {"S": f"period#{merchant_uid}"}},
        UpdateExpression="SET amount = :n",
        ExpressionAttributeValues={":n": {"N": "100"}},
    )

    # When its notice arrives, then it renews nothing
    [answer] = run_and_notify(invoke, stack, portone_clock, inbox, 10 * 60)
    assert answer.body == {"status": "ignored", "scheduled": []}
    assert ignored_notices(logs) == ["not a period this service scheduled"]  # not at that amount
