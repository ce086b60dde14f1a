"""The records Korean law keeps, one RecordsStore against the stack's DynamoDB (records.py).

test_records.py and test_erasure.py check them through the routes; these pin each item as stored, when its
five years start, what a card change moves, and what an erasure reports.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.cards import KST
from billing.errors import ConfigurationUnavailable
from billing.records import RECORD_SECONDS, RecordsStore
from billing.terms import Consent, Purpose
from local.portone_emulator import FakeClock
from local.stack import EmbeddedStack
from tests.integration.support import table_of_its_own

TABLE = "records-store-test"
NOW = 1_795_000_000  # 2026-11-18 20:06:40 KST
CONTRACTS = "전자상거래법 시행령 제6조 제1항 (계약에 관한 기록, 5년)"
PAYMENTS = "전자상거래법 시행령 제6조 제1항 (대금결제에 관한 기록, 5년)"


@pytest.fixture
def client(stack: EmbeddedStack) -> Iterator[Any]:
    """A table of this test's own, shaped as the records table (its keys), in the stack's moto."""
    with table_of_its_own(stack, TABLE, "customer_uid", "record_id") as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(client: Any, clock: FakeClock) -> RecordsStore:
    return RecordsStore(TABLE, client=client, clock=clock)


def items(client: Any, customer_uid: str) -> dict[str, dict[str, Any]]:
    """The customer's records by id, each attribute as its plain value."""
    found = client.query(
        TableName=TABLE,
        KeyConditionExpression="customer_uid = :uid",
        ExpressionAttributeValues={":uid": {"S": customer_uid}},
    )["Items"]
    return {
        record["record_id"]["S"]: {name: next(iter(value.values())) for name, value in record.items()}
        for record in found
    }


def consent(*purposes: Purpose) -> Consent:
    return Consent(version="2026-11-01", items=("terms", "privacy"), purposes=frozenset(purposes))


def pay(store: RecordsStore, customer_uid: str, merchant_uid: str, paid_at: int, **keep: bool) -> None:
    store.record_payment(
        customer_uid,
        subscription="sub_1",
        merchant_uid=merchant_uid,
        imp_uid=f"imp_{merchant_uid}",
        amount=9900,
        currency="KRW",
        paid_at=datetime.fromtimestamp(paid_at, UTC),
        **keep,
    )


def test_a_consent_is_recorded_as_given_in_korea_time_with_no_end(store: RecordsStore, client: Any) -> None:
    record_id = store.record_consent("cu_1", consent("plan", "card"), caller="caller-1")

    assert record_id.startswith("consent#2026-11-18T20:06:40.000000+09:00#")
    assert items(client, "cu_1") == {
        record_id: {
            "customer_uid": "cu_1",
            "record_id": record_id,
            "terms_version": "2026-11-01",
            "items": [{"S": "terms"}, {"S": "privacy"}],
            "purposes": ["card", "plan"],
            "given_at": "2026-11-18T20:06:40+09:00",
            "caller": "caller-1",
        }
    }


def test_a_payment_is_kept_five_years_from_when_it_was_made(store: RecordsStore, client: Any) -> None:
    pay(store, "cu_1", "m_1", NOW - 60)

    assert items(client, "cu_1") == {
        "payment#m_1": {
            "customer_uid": "cu_1",
            "record_id": "payment#m_1",
            "subscription": "sub_1",
            "imp_uid": "imp_m_1",
            "amount": "9900",
            "currency": "KRW",
            "paid_at": "2026-11-18T20:05:40+09:00",
            "expires_at": str(NOW - 60 + RECORD_SECONDS),
        }
    }


def test_a_backfill_never_overwrites_a_recorded_payment(store: RecordsStore, client: Any) -> None:
    pay(store, "cu_1", "m_1", NOW - 60)
    pay(store, "cu_1", "m_1", NOW - 3600, keep_existing=True)
    assert items(client, "cu_1")["payment#m_1"]["expires_at"] == str(NOW - 60 + RECORD_SECONDS)

    pay(store, "cu_1", "m_1", NOW - 30)  # PortOne's own answer again: the same payment, one record
    assert items(client, "cu_1")["payment#m_1"]["expires_at"] == str(NOW - 30 + RECORD_SECONDS)


def test_a_closed_consent_starts_its_five_years_once(
    store: RecordsStore, client: Any, clock: FakeClock
) -> None:
    record_id = store.record_consent("cu_1", consent("card"), caller="caller-1")

    store.close("cu_1", record_id)
    clock.advance(100)
    store.close("cu_1", record_id)

    assert items(client, "cu_1")[record_id]["expires_at"] == str(NOW + RECORD_SECONDS)
    store.close("cu_2", "consent#gone")  # a record moved meanwhile: nothing is created
    assert items(client, "cu_2") == {}


def test_a_record_that_cannot_be_closed_is_logged_by_name_only(
    store: RecordsStore, client: Any, logs: io.StringIO
) -> None:
    client.delete_table(TableName=TABLE)

    store.close("cu_1", "consent#x")

    [line] = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert (line["message"], line["outcome"], line["customer_uid"], line["error_fields"]) == (
        "record not closed",
        "RECORD_NOT_CLOSED",
        "cu_1",
        ["ResourceNotFoundException"],
    )


def test_a_deleted_key_starts_its_contracts_five_years_and_says_when_the_last_record_ends(
    store: RecordsStore, client: Any
) -> None:
    record_id = store.record_consent("cu_1", consent("card"), caller="caller-1")
    pay(store, "cu_1", "m_1", NOW + 10)  # PortOne's clock a little ahead of ours

    until = store.close_customer("cu_1")

    assert until == datetime.fromtimestamp(NOW + 10 + RECORD_SECONDS, UTC)
    assert items(client, "cu_1")[record_id]["expires_at"] == str(NOW + RECORD_SECONDS)
    assert store.close_customer("cu_2") == datetime.fromtimestamp(NOW + RECORD_SECONDS, UTC)


def test_a_card_change_moves_the_subscriptions_own_records_and_leaves_the_cards(
    store: RecordsStore, client: Any
) -> None:
    plan = store.record_consent("cu_old", consent("plan", "card"), caller="caller-1")
    card_only = store.record_consent("cu_old", consent("card"), caller="caller-1")
    price = "price_consent#sub_1#3#2026-11-18T20:06:40+09:00"
    client.put_item(TableName=TABLE, Item={"customer_uid": {"S": "cu_old"}, "record_id": {"S": price}})
    closed = store.record_consent("cu_old", consent("plan"), caller="caller-1")
    store.close("cu_old", closed)

    store.move_contract("cu_old", "cu_new")

    assert set(items(client, "cu_new")) == {plan, price}
    assert set(items(client, "cu_old")) == {card_only, closed}
    assert items(client, "cu_new")[plan]["customer_uid"] == "cu_new"


def test_an_erasure_reports_what_is_kept_by_kind_until_when_and_why(
    store: RecordsStore, client: Any, clock: FakeClock
) -> None:
    store.record_consent("cu_1", consent("card"), caller="caller-1")
    pay(store, "cu_1", "m_1", NOW - 100)
    pay(store, "cu_2", "m_2", NOW - 50)
    pay(store, "cu_2", "m_old", NOW - RECORD_SECONDS)  # expired this very second: gone

    kept = {k.record: (k.count, k.until, k.law) for k in store.kept(["cu_1", "cu_2"])}

    assert kept == {
        "consents": (1, datetime.fromtimestamp(NOW + RECORD_SECONDS, KST), CONTRACTS),
        "payments": (2, datetime.fromtimestamp(NOW - 50 + RECORD_SECONDS, KST), PAYMENTS),
    }
    assert store.kept(["cu_3"]) == []


def test_a_records_table_that_cannot_be_written_or_read_is_a_503(store: RecordsStore, client: Any) -> None:
    client.delete_table(TableName=TABLE)

    for write, failed in (
        (lambda: store.record_consent("cu_1", consent("card"), caller="caller-1"), "record not written"),
        (lambda: store.close_customer("cu_1"), "records not closed"),
        (lambda: store.move_contract("cu_1", "cu_2"), "records not moved"),
        (lambda: store.kept(["cu_1"]), "records not read"),
    ):
        with pytest.raises(ConfigurationUnavailable) as raised:
            write()
        assert str(raised.value) == f"{failed} (ResourceNotFoundException)"  # the cause for the operator


def test_records_past_a_page_of_dynamodb_are_all_read(store: RecordsStore, client: Any) -> None:
    # DynamoDB answers a query a megabyte at a time: three records of 390 KB take two pages
    record_ids = [f"consent#2026-11-18T20:06:40.00000{n}+09:00#r{n}" for n in range(3)]
    for record_id in record_ids:
        item = {
            "customer_uid": "cu_1",
            "record_id": record_id,
            "terms_version": "2026-11-01",
            "note": "x" * 390_000,
        }
        client.put_item(TableName=TABLE, Item={name: {"S": value} for name, value in item.items()})

    store.close_customer("cu_1")

    [kept] = store.kept(["cu_1"])
    assert kept.count == 3
    for record_id in record_ids:
        found = client.get_item(
            TableName=TABLE, Key={"customer_uid": {"S": "cu_1"}, "record_id": {"S": record_id}}
        )
        assert found["Item"]["expires_at"] == {"N": str(NOW + RECORD_SECONDS)}
