"""What a PortOne notice may cost (issue 11, F4). V1 notices are unsigned (§4.6), so a notice is believed only
after `GET /payments/{imp_uid}`: a notice that cannot be true (a merchant_uid this service could not have
made, or one it never recorded) costs no PortOne call; lookups are bounded per minute, and a notice over the
bound is deferred to the reconciler, never dropped; an optional allow-list admits PortOne's published
addresses only. PortOne calls are counted by the emulator, AWS calls by moto's recorder."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.moto_recorder import MotoRecorder
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    NoticeInbox,
    ShiftedClock,
    emitted_metrics,
    ignored_notices,
    load_event,
    pending_schedules,
    reconcile,
    schedule,
    subscription_item,
    table_of_its_own,
)

LOOKUP = ("GET", "/payments/{imp_uid}")
# PortOne's notice addresses (docs/portone-v1.md §4.6, [doc S4])
PUBLISHED = ["52.78.100.19", "52.78.48.223", "52.78.5.241"]
# Period 0 is due five minutes after the request; the reconciler settles it ten minutes after its time.
PAST_FIRST_SETTLE = 16 * 60
IGNORED = {"status": "ignored", "scheduled": []}

pytestmark = pytest.mark.usefixtures("signed_in")


def notice(body: dict[str, str], source_ip: str = PUBLISHED[0]) -> dict[str, Any]:
    event = load_event("portone_notice")
    event["body"] = json.dumps(body)
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    event["requestContext"]["http"]["sourceIp"] = source_ip
    return event


def from_address(event: dict[str, Any], source_ip: str) -> dict[str, Any]:
    event["requestContext"]["http"]["sourceIp"] = source_ip
    return event


def first_payment_ran(
    invoke, stack: EmbeddedStack, clock: ShiftedClock, inbox: NoticeInbox
) -> dict[str, Any]:
    """alice's first period, run at PortOne; its notice is taken from the inbox (not delivered)."""
    schedule(invoke, **CARD)
    clock.advance(10 * 60)
    [ran] = stack.emulator.run_due_schedules()
    inbox.take()
    return ran


def test_notices_naming_impossible_merchant_uids_cost_no_portone_call(
    invoke, stack, portone_clock, inbox, logs
) -> None:
    # Given a payment that really ran (so its imp_uid is one PortOne knows)
    ran = first_payment_ran(invoke, stack, portone_clock, inbox)
    subscription_id = ran["merchant_uid"][1:21]

    # When notices name merchant_uids this service never makes
    impossible = [
        "someone_elses_order",
        "order_id_8237352",  # PortOne's own example
        f"S{subscription_id}P01A0C0",  # a leading zero
        f"S{subscription_id.upper()}P0A0C0",  # ids are lowercase hex
        f"S{subscription_id}P0A0",  # no card count
        "sub_00000000000000_20300101",  # the older form, with a short digest
        "sub_0000000000000000_2030010",
    ]
    calls = len(stack.emulator.calls)
    answers = [
        invoke(notice({"imp_uid": ran["imp_uid"], "merchant_uid": uid, "status": "paid"}))
        for uid in impossible
    ]

    # Then each is answered as any ignored notice is, and PortOne was not asked
    assert [(a.status, a.body) for a in answers] == [(200, IGNORED)] * len(impossible)
    assert len(stack.emulator.calls) == calls
    assert ignored_notices(logs) == ["not a merchant_uid of this service"] * len(impossible)


def test_a_well_formed_merchant_uid_nobody_recorded_costs_no_portone_call(
    invoke, stack, portone_clock, inbox, capsys, logs
) -> None:
    ran = first_payment_ran(invoke, stack, portone_clock, inbox)
    # The answer PortOne gets today for a notice of ours whose payment is unknown (looked up: 404)
    known = notice({"imp_uid": "imps_999999999999", "merchant_uid": ran["merchant_uid"], "status": "paid"})
    today = invoke(known)
    assert stack.emulator.count(*LOOKUP) == 1

    # When notices name merchant_uids of both forms this service makes, but none it recorded
    unknown = [
        "S0123456789abcdef0123P0A0C0",
        ran["merchant_uid"].replace("P0A0C0", "P7A0C0"),  # a period of alice's not registered yet
        "sub_0123456789abcdef_20261130",
        "sub_0123456789abcdef_20261130_r1",
    ]
    calls = len(stack.emulator.calls)
    answers = [
        invoke(notice({"imp_uid": ran["imp_uid"], "merchant_uid": uid, "status": "paid"})) for uid in unknown
    ]

    # Then PortOne was not asked, and the answers are the same as before: a forger learns nothing new
    assert len(stack.emulator.calls) == calls
    assert [(a.status, a.headers, a.body) for a in answers] == [(today.status, today.headers, IGNORED)] * 4
    assert today.body == IGNORED
    assert "NoticeIgnored" in emitted_metrics(capsys.readouterr().out)
    # (the operator's log tells them apart)
    assert ignored_notices(logs) == ["unknown imp_uid"] + ["no period recorded under this merchant_uid"] * 4


def test_a_subscriber_naming_their_own_period_cannot_spend_the_bound(
    invoke, stack: EmbeddedStack, logs
) -> None:
    # Given a subscriber who knows their own period's merchant_uid (the schedule's answer names it)
    [merchant_uid] = [s["merchant_uid"] for s in schedule(invoke, **CARD).body["schedules"]]

    # When they send it in twenty forged notices within a minute
    answers = [
        invoke(notice({"imp_uid": f"imps_forged_{n}", "merchant_uid": merchant_uid, "status": "paid"}))
        for n in range(20)
    ]

    # Then PortOne is asked once: a period costs at most one lookup a minute
    assert [(a.status, a.body) for a in answers] == [(200, IGNORED)] * 20
    assert stack.emulator.count(*LOOKUP) == 1
    assert ignored_notices(logs) == ["unknown imp_uid"] + ["the period was looked up a moment ago"] * 19


def test_a_burst_over_the_bound_is_deferred_and_the_reconciler_settles_every_one(
    invoke, stack, portone_clock, inbox, monkeypatch, capsys, logs
) -> None:
    # Given two lookups a minute, and five subscribers whose first payments ran together
    monkeypatch.setenv("NOTICE_LOOKUPS_PER_MINUTE", "2")
    uids = [f"sub_{name}" for name in ("a", "b", "c", "d", "e")]
    firsts = [schedule(invoke, uid, **CARD).body["schedules"][0]["merchant_uid"] for uid in uids]
    portone_clock.advance(PAST_FIRST_SETTLE)
    stack.emulator.run_due_schedules()
    notices = inbox.take()
    assert len(notices) == 5
    # Taken out of the reconciler's index: only what each notice does puts its subscription back
    for uid in uids:
        state = subscription_item(stack, uid)
        assert state is not None
        stack.client("dynamodb").update_item(
            TableName=ENVIRONMENT["TABLE_NAME"],
            Key={"pk": {"S": state["pk"]}},
            UpdateExpression="REMOVE #work, next_work_at",
            ExpressionAttributeNames={"#work": "work"},
        )

    # When their notices arrive at once (within one minute: lookups are counted per minute)
    if (left := 60 - time.time() % 60) < 5:
        time.sleep(left + 0.1)
    answers = [invoke(event) for event in notices]

    # Then two are looked up and processed, three deferred without a lookup; PortOne hears success for each
    assert [a.status for a in answers] == [200] * 5
    assert [a.body["status"] for a in answers] == ["processed"] * 2 + ["deferred"] * 3
    assert stack.emulator.count(*LOOKUP) == 2
    assert "NoticeDeferred" in emitted_metrics(capsys.readouterr().out)
    assert logs.getvalue().count('"outcome":"NOTICE_DEFERRED"') == 3
    # and each deferred period's subscription is the reconciler's work by its time plus ten minutes
    for event, answer in zip(notices, answers, strict=True):
        merchant_uid = json.loads(event["body"])["merchant_uid"]
        state = subscription_item(stack, uids[firsts.index(merchant_uid)])
        assert state is not None
        due = stack.emulator.schedules[merchant_uid]["schedule_at"]
        if answer.body["status"] == "deferred":
            assert state["settled_through"] == "-1"
            assert int(state["next_work_at"]) == due + 10 * 60

    # And the reconciler's next run settles every deferred one: none is lost
    report = reconcile()
    assert report["processed"] == 3
    for uid, first in zip(uids, firsts, strict=True):
        state = subscription_item(stack, uid)
        assert state is not None
        assert (state["settled_through"], state["scheduled_through"]) == ("0", "1"), uid
        [next_period] = pending_schedules(stack, uid)
        assert next_period != first
    paid = [p for p in stack.emulator.payments.values() if p["status"] == "paid"]
    assert sorted(p["merchant_uid"] for p in paid) == sorted(firsts)


def test_the_allow_list_refuses_other_addresses_and_admits_the_published_ones(
    invoke, stack: EmbeddedStack, portone_clock, inbox, monkeypatch, aws_calls: MotoRecorder, logs
) -> None:
    # Given a stack that admits PortOne's published addresses only, and a real notice
    monkeypatch.setenv("NOTICE_SOURCE_IPS", ",".join(PUBLISHED))
    schedule(invoke, **CARD)
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    [real] = inbox.take()

    # When it comes from another address, then it is ignored, with no PortOne call and no DynamoDB call
    calls = len(stack.emulator.calls)
    aws_calls.start()
    refused = invoke(from_address(real, "203.0.113.7"))
    aws_calls.pause()
    assert (refused.status, refused.body) == (200, IGNORED)
    assert len(stack.emulator.calls) == calls
    assert not [op for op in aws_calls.calls() if op.startswith("DynamoDB")]

    # And from a published address it is admitted and verified; from the others too, but its period's
    # outcome is known by then, so a repeat costs no lookup
    answers = [invoke(from_address(real, address)) for address in PUBLISHED]
    assert [a.body["status"] for a in answers] == ["processed", "ignored", "ignored"]
    assert len(answers[0].body["scheduled"]) == 1
    assert stack.emulator.count(*LOOKUP) == 1
    assert (
        ignored_notices(logs)
        == ["not from an allowed address"] + ["the period's outcome is known already"] * 2
    )


def test_a_malformed_allow_list_is_a_configuration_error(monkeypatch) -> None:
    from billing.settings import ConfigurationError, get_settings

    for value in ("52.78.100.19,999.1.1.1", "052.78.100.19", "52.78.100.19/32", "2001:db8::1"):
        monkeypatch.setenv("NOTICE_SOURCE_IPS", value)
        get_settings.cache_clear()
        with pytest.raises(ConfigurationError):
            get_settings()


def test_the_lookup_budget_counts_each_minute_on_its_own_and_its_count_expires(stack: EmbeddedStack) -> None:
    from billing.notices import LookupBudget

    with table_of_its_own(stack, "lookup-budget", "pk") as client:
        now = [1_796_000_099.5]  # the last half second of the minute that 1_796_000_040 starts
        budget = LookupBudget("lookup-budget", 2, client=client, clock=lambda: now[0])

        spent = [budget.take(), budget.take(), budget.take()]
        now[0] += 1  # the next minute
        fresh = [budget.take(), budget.take(), budget.take()]

        assert (spent, fresh) == ([True, True, False], [True, True, False])
        items = client.scan(TableName="lookup-budget")["Items"]
        windows = {item["pk"]["S"]: (item["lookups"]["N"], item["expires_at"]["N"]) for item in items}
        # each kept until five minutes after its minute ends (DynamoDB's TTL deletes late)
        assert windows == {
            "notice-lookups#1796000040": ("2", str(1_796_000_100 + 300)),
            "notice-lookups#1796000100": ("2", str(1_796_000_160 + 300)),
        }
