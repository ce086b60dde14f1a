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
    RECORDS_TABLE,
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
    tombstone = table_item(stack, "owner#sub_alice")
    assert tombstone is not None
    assert tombstone["owner"] == "erased"
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
    # the tombstone lasts as long as the last record naming the uid, and DynamoDB's TTL removes it then
    last = max(datetime.fromisoformat(k["until"]) for k in body["kept"])
    assert int(tombstone["expires_at"]) == int(last.timestamp())
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


def test_an_erasure_with_no_record_to_keep_leaves_no_tombstone(invoke, stack) -> None:
    # Given a card whose consent record is gone (from before this service kept records)
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"})
    dynamodb = stack.client("dynamodb")
    schema = dynamodb.describe_table(TableName=RECORDS_TABLE)["Table"]["KeySchema"]
    keys = [key["AttributeName"] for key in schema]
    for record in law_records(stack, "sub_alice"):
        dynamodb.delete_item(TableName=RECORDS_TABLE, Key={key: record[key] for key in keys})

    response = call(invoke, "POST", ERASE)

    # Then nothing names the uid any more, so nothing holds it: the owner record goes, not a tombstone
    assert response.status == 200
    assert (response.body["deleted"], response.body["kept"]) == (["billing_key", "owner"], [])
    assert table_item(stack, "owner#sub_alice") is None


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


def test_a_payment_portone_ran_before_the_erasure_is_settled_and_kept(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given the first period just ran (paid) at PortOne and its notice has not come yet
    [first] = schedule(invoke, **CARD).body["schedules"]
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    late = inbox.take()

    # When she asks for erasure, and the notice comes after it
    erased = call(invoke, "POST", ERASE)
    for notice in late:
        invoke(notice)

    # Then the payment was settled by the erasure itself, and its record is kept (and named)
    assert erased.body["charged"] == [first["merchant_uid"]]
    assert {k["record"]: k["count"] for k in erased.body["kept"]} == {"consents": 1, "payments": 1}
    [payment] = [r for r in law_records(stack, "sub_alice") if r["record_id"]["S"].startswith("payment#")]
    assert payment["record_id"]["S"] == f"payment#{first['merchant_uid']}"


def test_a_paid_period_from_before_payment_records_is_recorded_before_its_period_goes(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given a paid period whose payment record does not exist (paid before this service kept them)
    [first] = schedule(invoke, **CARD).body["schedules"]
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    stack.client("dynamodb").delete_item(
        TableName=ENVIRONMENT["RECORDS_TABLE_NAME"],
        Key={"customer_uid": {"S": "sub_alice"}, "record_id": {"S": f"payment#{first['merchant_uid']}"}},
    )

    # When she asks for erasure
    erased = call(invoke, "POST", ERASE)

    # Then the period's payment is on record, five years from when it was due, before the period went
    assert {k["record"]: k["count"] for k in erased.body["kept"]} == {"consents": 1, "payments": 1}
    [payment] = [r for r in law_records(stack, "sub_alice") if r["record_id"]["S"].startswith("payment#")]
    due = datetime.fromisoformat(first["schedule_at"]).timestamp()
    assert FIVE_YEARS[0] <= int(payment["expires_at"]["N"]) - due <= FIVE_YEARS[1]


def test_an_erasure_cut_short_is_finished_by_its_retry(
    invoke, stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from billing.subscriptions import get_subscription_service

    # Given a subscriber, and DynamoDB refusing the erasure's last transaction once
    schedule(invoke, **CARD)
    client = get_subscription_service().store._client
    real = client.transact_write_items
    refusals = iter([ClientError({"Error": {"Code": "ThrottlingException"}}, "TransactWriteItems")])

    def once(**request):
        deleting = any("Delete" in item for item in request["TransactItems"])
        if deleting and (refused := next(refusals, None)):
            raise refused
        return real(**request)

    monkeypatch.setattr(client, "transact_write_items", once)

    # When she asks, gets a 503, and her client sends the same request again
    first = call(invoke, "POST", ERASE, key="erase-attempt-0001")
    again = call(invoke, "POST", ERASE, key="erase-attempt-0001")

    # Then the retry finished it: nothing of the subscription is left
    assert (first.status, again.status) == (503, 200)
    assert again.body["deleted"] == ["billing_key", "subscription", "periods", "owner"]
    assert live_items(stack) == []


def test_an_erasure_after_card_changes_leaves_nothing_naming_the_earlier_keys(invoke, stack) -> None:
    from local.portone_emulator import cards as magic

    # Given a subscriber whose card changed (the first key is deleted)
    schedule(invoke, **CARD)
    changed = call(
        invoke, "PUT", "/subscriptions/sub_alice/card", {**CARD, "card_number": magic.TEST_CARD_CHECK}
    )
    assert changed.body["previous_key_deleted"] is True
    new_uid = changed.body["customer_uid"]

    # When she asks for erasure on the key she has now
    erased = call(invoke, "POST", f"/subscriptions/{new_uid}/erasure")

    # Then no live item names either key or her, both owners are tombstones, and the kept records of both
    # keys are named (the sign-up's consent moved to the new key, the new card's consent)
    assert erased.status == 200
    items = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]
    naming = [i["pk"]["S"] for i in items if "sub_alice" in i["pk"]["S"] or new_uid in i["pk"]["S"]]
    assert sorted(naming) == sorted([f"owner#{new_uid}", "owner#sub_alice"])
    assert {i.get("owner", {}).get("S") for i in items if i["pk"]["S"] in naming} == {"erased"}
    # (only the card-testing counters, which expire within their window, name the caller)
    assert [i["pk"]["S"] for i in items if "sub:alice" in json.dumps(i)] == [
        i["pk"]["S"] for i in items if i["pk"]["S"].startswith("limits#caller#sub:alice#")
    ]
    assert {k["record"]: k["count"] for k in erased.body["kept"]} == {"consents": 2}


def test_an_expired_tombstone_is_a_new_claim_that_a_declined_card_releases(invoke, stack) -> None:
    from local.portone_emulator import cards as magic

    # Given an erased uid whose records (and so its tombstone) have expired, not yet deleted by TTL
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"})
    assert call(invoke, "POST", ERASE).status == 200
    stack.client("dynamodb").update_item(
        TableName=ENVIRONMENT["TABLE_NAME"],
        Key={"pk": {"S": "owner#sub_alice"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}},
    )

    # When someone else's card is declined on that uid
    declined = {**CARD, "customer_uid": "sub_alice", "card_number": magic.CARD_WRONG_PASSWORD}
    assert call(invoke, "POST", "/subscriptions/issue-billing", declined, who="bob").status == 402

    # Then the claim it made is released (F5), as for any uid that was free
    assert table_item(stack, "owner#sub_alice") is None
