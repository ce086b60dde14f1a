"""Erasure on a signed-in customer's request (PIPA §36): the subscription ends now, every pending payment is
revoked and confirmed before the key goes, the live data goes, and what the law requires is kept and named."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    call,
    law_records,
    runs,
    schedule,
    table_item,
)

pytestmark = pytest.mark.usefixtures("signed_in")

ERASE = "/subscriptions/sub_alice/erasure"
FIVE_YEARS = (5 * 365 * 86_400, 5 * 366 * 86_400)


def live_items(stack: EmbeddedStack) -> list[str]:
    """The keys of the live table's subscription, period and pointer items."""
    items = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]
    kinds = ("subscription#", "period#", "customer#")
    return sorted(item["pk"]["S"] for item in items if item["pk"]["S"].startswith(kinds))


def test_an_erasure_ends_everything_at_portone_first_and_keeps_only_what_the_law_requires(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given a subscriber whose first period was paid and whose second is scheduled
    schedule(invoke, **CARD)
    [paid] = runs(invoke, stack, portone_clock, inbox, 10 * 60)
    [pending] = paid.body["scheduled"]
    assert live_items(stack)

    # When she asks to erase her data
    before = len(stack.emulator.calls)
    response = call(invoke, "POST", ERASE)

    # Then the pending payment was revoked and confirmed by GET before the key was deleted at PortOne
    assert response.status == 200
    calls = [f"{c.method} {c.route}" for c in stack.emulator.calls[before:]]
    revoke = calls.index("POST /subscribe/payments/unschedule")
    confirm = calls.index("GET /subscribe/payments/schedule/{merchant_uid}")
    delete = calls.index("DELETE /subscribe/customers/{customer_uid}")
    assert revoke < confirm < delete
    assert stack.emulator.schedules[pending]["schedule_status"] == "revoked"
    assert "sub_alice" not in stack.emulator.customers
    # the live data is gone, and the uid is nobody's: not hers, nor anyone else's to claim
    assert live_items(stack) == []
    assert table_item(stack, "owner#sub_alice")["owner"] == "erased"  # type: ignore[index]
    assert call(invoke, "GET", "/subscriptions/sub_alice").status == 404
    claim = call(
        invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"}, who="bob"
    )
    assert claim.status == 404
    # the answer says the subscription ended now, what went, and what is kept, until when and why
    body = response.body
    assert (body["subscription_ended"], body["revoked"], body["charged"]) == (True, [pending], [])
    assert body["deleted"] == ["billing_key", "subscription", "periods", "owner"]
    kept = {k["record"]: k for k in body["kept"]}
    assert (kept["consents"]["count"], kept["payments"]["count"]) == (1, 1)
    assert all("전자상거래법" in k["law"] for k in body["kept"])
    payment = next(p for p in stack.emulator.payments.values() if p["status"] == "paid")
    until = datetime.fromisoformat(kept["payments"]["until"])
    assert FIVE_YEARS[0] <= until.timestamp() - payment["paid_at"] <= FIVE_YEARS[1]
    consents_kept = datetime.fromisoformat(kept["consents"]["until"]).timestamp() - time.time()
    assert FIVE_YEARS[0] <= consents_kept <= FIVE_YEARS[1]
    # and the records kept hold no card data
    records = json.dumps(law_records(stack, "sub_alice"))
    assert CARD["card_number"].replace("-", "") not in records
    assert CARD["birth"] not in records


def test_an_erasure_of_a_card_without_a_plan_deletes_the_key_and_keeps_the_consent(invoke, stack) -> None:
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"})

    response = call(invoke, "POST", ERASE)

    assert response.status == 200
    assert (response.body["subscription_ended"], response.body["deleted"]) == (
        False,
        ["billing_key", "owner"],
    )
    assert [k["record"] for k in response.body["kept"]] == ["consents"]
    assert stack.emulator.customers == {}


def test_a_repeated_erasure_replays_its_answer_and_another_is_a_404(invoke) -> None:
    schedule(invoke, **CARD)
    first = call(invoke, "POST", ERASE, key="erase-sub-alice-0001")

    again = call(invoke, "POST", ERASE, key="erase-sub-alice-0001")
    other = call(invoke, "POST", ERASE)

    assert (first.status, again.status, again.body) == (200, 200, first.body)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert other.status == 404


def test_nobody_but_the_owner_erases(invoke, stack) -> None:
    schedule(invoke, **CARD)

    assert call(invoke, "POST", ERASE, who="bob").status == 404
    assert "sub_alice" in stack.emulator.customers
