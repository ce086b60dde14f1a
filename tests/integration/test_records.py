"""Records kept as the law says (design.md D16, records.py): apart from the live data, five years from the
contract's end and from each payment, never from when the record was made."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    call,
    law_records,
    new_container,
    reconcile,
    runs,
    schedule,
    table_item,
)

pytestmark = pytest.mark.usefixtures("signed_in")

DAY = 86_400
FIVE_YEARS = (5 * 365 * DAY, 5 * 366 * DAY)  # leap days included


def kept_for(record: dict[str, Any], since: float) -> float:
    return int(record["expires_at"]["N"]) - since


def by_kind(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        kinds.setdefault(record["record_id"]["S"].split("#", 1)[0], []).append(record)
    return kinds


def test_a_paid_period_is_recorded_for_five_years_from_the_payment(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given a subscriber whose first period comes due and is paid
    [first] = schedule(invoke, **CARD).body["schedules"]
    [answer] = runs(invoke, stack, portone_clock, inbox, 10 * 60)
    assert answer.body["status"] == "processed"

    # Then the payment is on record apart from the live data: what, how much, when (Korea time), PortOne's id
    [payment] = by_kind(law_records(stack, "sub_alice"))["payment"]
    paid = next(p for p in stack.emulator.payments.values() if p["merchant_uid"] == first["merchant_uid"])
    assert payment["record_id"]["S"] == f"payment#{first['merchant_uid']}"
    assert (payment["imp_uid"]["S"], payment["amount"]["N"]) == (paid["imp_uid"], "9900")
    paid_at = datetime.fromisoformat(payment["paid_at"]["S"])
    assert (paid_at.timestamp(), paid_at.isoformat()[-6:]) == (paid["paid_at"], "+09:00")
    # kept five years from the payment (PortOne's time), not from when it was recorded
    assert FIVE_YEARS[0] <= kept_for(payment, paid["paid_at"]) <= FIVE_YEARS[1]
    # and the live period it settled goes long before that
    period = table_item(stack, f"period#{first['merchant_uid']}")
    assert period is not None
    assert int(period["expires_at"]) - int(period["schedule_at"]) == 400 * DAY


def test_the_consents_stay_while_the_key_lives_and_count_five_years_from_its_deletion(
    invoke, stack: EmbeddedStack
) -> None:
    # Given a subscriber, whose consents have no end while the contract runs
    assert schedule(invoke, **CARD).status == 200
    assert [r for r in law_records(stack, "sub_alice") if "expires_at" in r] == []

    # When the subscription is cancelled at once (the key is deleted now)
    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "true"})
    assert cancelled.body["billing_key_deleted"] is True

    # Then the consents count their five years from now
    [consent] = law_records(stack, "sub_alice")
    assert FIVE_YEARS[0] <= kept_for(consent, time.time()) <= FIVE_YEARS[1]

    # And cancelling again changes nothing
    call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "true"})
    assert law_records(stack, "sub_alice") == [consent]


def test_a_card_change_moves_the_contracts_records_to_the_new_key_and_ends_the_old_cards(
    invoke, stack: EmbeddedStack
) -> None:
    # Given a subscriber (one consent: the card's and the plan's)
    assert schedule(invoke, **CARD).status == 200
    [signed_up] = law_records(stack, "sub_alice")

    # When the card changes (the old key is deleted)
    second = call(
        invoke, "PUT", "/subscriptions/sub_alice/card", {**CARD, "card_number": magic.TEST_CARD_CHECK}
    )
    assert second.body["previous_key_deleted"] is True
    second_uid = second.body["customer_uid"]

    # Then the sign-up's consent, which holds the plan's, follows the contract to the new key, still open,
    # beside the new card's consent; nothing is left on the old key
    moved, second_card = law_records(stack, second_uid)
    assert {**moved, "customer_uid": signed_up["customer_uid"]} == signed_up
    assert second_card["purposes"]["SS"] == ["card"]
    assert [record for record in (moved, second_card) if "expires_at" in record] == []
    assert law_records(stack, "sub_alice") == []

    # And when it changes again, the plan's consent moves on, and the second card's consent, which was only
    # that card's, stays on its deleted key and counts its five years from now
    third = call(invoke, "PUT", f"/subscriptions/{second_uid}/card", CARD)
    assert third.body["previous_key_deleted"] is True
    [ended] = law_records(stack, second_uid)
    assert ended["record_id"] == second_card["record_id"]
    assert FIVE_YEARS[0] <= kept_for(ended, time.time()) <= FIVE_YEARS[1]
    plan_consent, _ = law_records(stack, third.body["customer_uid"])
    assert plan_consent["record_id"] == moved["record_id"]


def test_an_issued_card_without_a_plan_keeps_its_consent_open_until_its_key_is_deleted(
    invoke, stack: EmbeddedStack
) -> None:
    issued = call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "card_only"})
    assert issued.status == 200
    [consent] = law_records(stack, "card_only")
    assert "expires_at" not in consent

    call(invoke, "DELETE", "/subscriptions/card_only", query={"immediately": "true"})

    [closed] = law_records(stack, "card_only")
    assert FIVE_YEARS[0] <= kept_for(closed, time.time()) <= FIVE_YEARS[1]


def test_a_payment_that_cannot_be_recorded_is_not_settled_and_is_settled_later(
    invoke, stack: EmbeddedStack, portone_clock, inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a subscriber, and then the records table out of reach
    [first] = schedule(invoke, **CARD).body["schedules"]
    monkeypatch.setenv("RECORDS_TABLE_NAME", "no-such-table")
    new_container()

    # When the payment's notice arrives, it is not settled (503: PortOne's notice is answered as failed)
    [answer] = runs(invoke, stack, portone_clock, inbox, 10 * 60)
    assert answer.status == 503
    period = table_item(stack, f"period#{first['merchant_uid']}")
    assert period is not None
    assert period["status"] == "scheduled"

    # And once the table is back, the reconciler settles it, with its record
    monkeypatch.setenv("RECORDS_TABLE_NAME", ENVIRONMENT["RECORDS_TABLE_NAME"])
    new_container()
    portone_clock.advance(2 * 3600)
    reconcile()
    assert by_kind(law_records(stack, "sub_alice"))["payment"]


def test_a_payment_charged_before_an_immediate_cancel_is_recorded_though_its_notice_is_lost(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given the first period ran at PortOne, and its notice is lost (V1 notices are best effort)
    [first] = schedule(invoke, **CARD).body["schedules"]
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    inbox.take()

    # When the subscription is cancelled at once
    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "true"})

    # Then the charged period was settled then and there, with its payment on record
    assert cancelled.body["charged"] == [first["merchant_uid"]]
    assert [r["record_id"]["S"] for r in by_kind(law_records(stack, "sub_alice"))["payment"]] == [
        f"payment#{first['merchant_uid']}"
    ]
    period = table_item(stack, f"period#{first['merchant_uid']}")
    assert period is not None
    assert period["status"] == "paid"
