"""The subscriptions' table, one SubscriptionStore against the stack's DynamoDB (subscription_store.py).

The routes and the reconciler drive it in the other integration tests; these pin how its items read back
(every attribute, and the defaults of items from before an attribute existed), the one-time upgrade of
older subscriptions, which only a table from before it can show, the outbox item a state change leaves for
the publisher, a plan's subscribers read page by page from a cursor, and a table that fails.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.errors import ConfigurationUnavailable
from billing.subscription_store import EVENT_RETENTION, Period, PriceChange, Subscription, SubscriptionStore
from local.stack import EmbeddedStack
from tests.integration.support import table_of_its_own

TABLE = "subscription-store-test"
NOW = datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)
EARLIER = "1794000000"  # a place in the work index the subscription already had


@pytest.fixture
def client(stack: EmbeddedStack) -> Iterator[Any]:
    """A table of this test's own, shaped as the billing table (its key), in the stack's moto."""
    with table_of_its_own(stack, TABLE, "pk") as client:
        yield client


@pytest.fixture
def store(client: Any) -> SubscriptionStore:
    return SubscriptionStore(TABLE, records_table="records-unused", client=client)


def put(client: Any, subscription_id: str, **attributes: str | int) -> None:
    """A subscription item as written: each attribute a string, or a number for an int."""
    values = {k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in attributes.items()}
    client.put_item(TableName=TABLE, Item={"pk": {"S": f"subscription#{subscription_id}"}, **values})


def upgrade_of(client: Any, subscription_id: str) -> tuple[str | None, str | None, str | None]:
    """The subscription's place in the work index (its partition, its time) and its recorded price."""
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": f"subscription#{subscription_id}"}})["Item"]
    values = {name: next(iter(value.values())) for name, value in item.items()}
    return values.get("work"), values.get("next_work_at"), values.get("amount")


def test_older_subscriptions_are_upgraded_a_few_pages_a_call_resuming_where_the_last_call_stopped(
    store: SubscriptionStore, client: Any
) -> None:
    # Given subscriptions from before the work index and recorded prices, and some the upgrade leaves alone
    for n in range(4):
        put(client, f"old_{n}", status="active", plan_id="basic")
    put(client, "old_retrying", status="past_due", plan_id="basic")
    put(client, "old_unpriced_plan", status="active", plan_id="retired")  # a plan the catalog no longer has
    put(client, "placed", status="active", plan_id="basic", work="due", next_work_at=EARLIER)  # no price yet
    put(client, "priced", status="active", plan_id="basic", amount="8900")  # no place yet
    put(client, "cancelled", status="cancelled", plan_id="basic")
    put(client, "upgraded", status="active", plan_id="basic", work="due", next_work_at=EARLIER, amount="8900")

    # When the reconciler's runs each read one page of two items
    calls = [store.backfill_work(NOW, {"basic": 9900}, pages=1, page_items=2)]
    while not calls[-1]:
        assert len(calls) < 9, "the upgrade never finished: it does not resume where it stopped"
        calls.append(store.backfill_work(NOW, {"basic": 9900}, pages=1, page_items=2))

    # Then each run went on from where the last one stopped, until every subscription was upgraded
    assert calls[0] is False
    assert len(calls) >= 5  # ten items, two a run
    assert store.upgraded()
    due_now = ("due", str(int(NOW.timestamp())), "9900")
    assert {n: upgrade_of(client, f"old_{n}") for n in range(4)} == dict.fromkeys(range(4), due_now)
    assert upgrade_of(client, "old_retrying") == due_now
    assert upgrade_of(client, "old_unpriced_plan") == (*due_now[:2], None)
    assert upgrade_of(client, "placed") == ("due", EARLIER, "9900")  # its place kept, its price given
    assert upgrade_of(client, "priced") == (*due_now[:2], "8900")  # the price it started at, kept
    assert upgrade_of(client, "cancelled") == (None, None, None)
    assert upgrade_of(client, "upgraded") == ("due", EARLIER, "8900")


def test_a_finished_upgrade_reads_no_more_pages(store: SubscriptionStore, client: Any) -> None:
    assert store.backfill_work(NOW, {"basic": 9900}) is True  # an empty table: done at once
    put(client, "late", status="active", plan_id="basic")  # as no subscription of today's code is

    assert store.backfill_work(NOW, {"basic": 9900}) is True
    assert upgrade_of(client, "late") == (None, None, None)


def test_an_upgrade_call_reads_four_pages(store: SubscriptionStore, client: Any) -> None:
    for n in range(6):
        put(client, f"old_{n}", status="active", plan_id="basic")

    assert store.backfill_work(NOW, {"basic": 9900}, page_items=1) is False
    assert sum(upgrade_of(client, f"old_{n}")[0] == "due" for n in range(6)) == 4
    assert not store.upgraded()


def test_a_subscription_is_read_back_as_written_and_one_from_before_each_attribute_with_its_default(
    store: SubscriptionStore, client: Any
) -> None:
    def at(seconds: int) -> dict[str, str]:
        return {"N": str(seconds)}

    full = {
        "pk": {"S": "subscription#s1"},
        "id": {"S": "0123456789abcdef0123"},
        "customer_uid": {"S": "cu_now"},
        "plan_id": {"S": "basic_monthly"},
        "anchor": at(1_796_000_000),
        "status": {"S": "past_due"},
        "scheduled_through": at(3),
        "settled_through": at(2),
        "amount": at(9900),
        "currency": {"S": "USD"},  # read as written, not the default
        "ends_at": at(1_797_000_000),
        "attempt": at(2),
        "card": at(1),
        "moving": {"SS": ["S1P3A0C0"]},
        "retired": {"SS": ["cu_before"]},
        "former": {"SS": ["cu_first"]},
        "price_change": {"M": {"amount": at(12900), "period": at(4), "at": at(1_798_000_000)}},
        "announced": {"BOOL": True},
    }
    client.put_item(TableName=TABLE, Item=full)
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "subscription#cu_legacy"},
            "plan_id": {"S": "basic_monthly"},
            "anchor": at(1_796_000_000),
            "status": {"S": "active"},
            "scheduled_through": at(0),
        },
    )

    def moment(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    assert store.get("s1") == Subscription(
        key="s1",
        id="0123456789abcdef0123",
        customer_uid="cu_now",
        plan_id="basic_monthly",
        anchor=moment(1_796_000_000),
        status="past_due",
        scheduled_through=3,
        settled_through=2,
        amount=9900,
        currency="USD",
        ends_at=moment(1_797_000_000),
        attempt=2,
        card=1,
        moving=frozenset({"S1P3A0C0"}),
        retired=frozenset({"cu_before"}),
        former=frozenset({"cu_first"}),
        price_change=PriceChange(amount=12900, period=4, at=moment(1_798_000_000)),
        announced=True,
    )
    assert store.get("cu_legacy") == Subscription(
        key="cu_legacy",
        id=None,
        customer_uid="cu_legacy",
        plan_id="basic_monthly",
        anchor=moment(1_796_000_000),
        status="active",
        scheduled_through=0,
        settled_through=None,
        amount=None,
        currency="KRW",
    )
    assert store.get("nobody") is None


def test_a_period_is_read_back_as_written_and_one_from_before_ids_belongs_to_its_customer_uid(
    store: SubscriptionStore, client: Any
) -> None:
    common = {"customer_uid": {"S": "cu_1"}, "period": {"N": "2"}, "amount": {"N": "9900"}}
    common |= {"currency": {"S": "KRW"}, "schedule_at": {"N": "1796000000"}}
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "period#S1P2A1C0"},
            "subscription": {"S": "s1"},
            "status": {"S": "paid"},
            "imp_uid": {"S": "imp_1"},
            "attempt": {"N": "1"},
            **common,
        },
    )
    client.put_item(TableName=TABLE, Item={"pk": {"S": "period#sub_legacy_20261201"}, **common})

    due = datetime.fromtimestamp(1_796_000_000, UTC)
    assert store.period("S1P2A1C0") == Period(
        merchant_uid="S1P2A1C0",
        subscription="s1",
        customer_uid="cu_1",
        index=2,
        amount=9900,
        currency="KRW",
        schedule_at=due,
        status="paid",
        imp_uid="imp_1",
        attempt=1,
    )
    assert store.period("sub_legacy_20261201") == Period(
        merchant_uid="sub_legacy_20261201",
        subscription="cu_1",
        customer_uid="cu_1",
        index=2,
        amount=9900,
        currency="KRW",
        schedule_at=due,
    )


def test_a_plans_renewing_subscriptions_are_read_page_by_page_and_from_the_one_after_a_cursor(
    store: SubscriptionStore, client: Any
) -> None:
    read = {"anchor": 1_796_000_000, "scheduled_through": 0}
    for n in range(3):
        put(client, f"active_{n}", plan_id="basic", status="active", **read)
    put(client, "retrying", plan_id="basic", status="past_due", **read)
    put(client, "stopped", plan_id="basic", status="cancelled", **read)
    put(client, "elsewhere", plan_id="premium", status="active", **read)

    listed = [s.key for s in store.renewing_on("basic", None, page_size=2)]

    assert sorted(listed) == ["active_0", "active_1", "active_2", "retrying"]  # each once, over three pages
    # A price change cut short goes on from the last subscription it dealt with (its cursor)
    assert [s.key for s in store.renewing_on("basic", listed[1], page_size=2)] == listed[2:]
    assert [s.key for s in store.renewing_on("basic", listed[-1])] == []


def test_a_state_change_leaves_the_outbox_item_the_publisher_reads_expiring_a_week_later(
    store: SubscriptionStore, client: Any
) -> None:
    read = {"anchor": 1_796_000_000, "scheduled_through": 2}
    put(client, "s1", customer_uid="cu_1", plan_id="basic_monthly", status="active", **read)
    subscription = store.get("s1")
    assert subscription is not None
    change = PriceChange(amount=12900, period=4, at=datetime(2027, 1, 18, tzinfo=UTC))
    before = time.time()

    assert store.change_price(subscription, change, 9900)

    after = time.time()
    events = client.scan(
        TableName=TABLE,
        FilterExpression="begins_with(pk, :event)",
        ExpressionAttributeValues={":event": {"S": "event#"}},
    )["Items"]
    (event,) = events
    assert re.fullmatch(r"event#[0-9a-f]{32}", event.pop("pk")["S"])  # its id, what consumers de-duplicate on
    occurred_ms = int(event.pop("occurred_at")["N"])
    assert int(before * 1000) <= occurred_ms <= int(after * 1000)  # milliseconds: events come unordered
    assert int(event.pop("expires_at")["N"]) == occurred_ms // 1000 + EVENT_RETENTION.total_seconds()
    data = {  # compact, its keys sorted
        "amount": 12900,
        "consent_from": int(change.consent_from.timestamp()),
        "consent_required": True,
        "consent_until": int(change.consent_until.timestamp()),
        "period_at": int(change.at.timestamp()),
        "previous_amount": 9900,
    }
    assert event == {
        "type": {"S": "subscription.price_change_requested"},
        "subscription_id": {"S": "s1"},
        "customer_uid": {"S": "cu_1"},
        "data": {"S": json.dumps(data, separators=(",", ":"))},
    }


def test_a_period_reads_back_as_recorded_and_only_if_new_keeps_an_outcome_recorded_meanwhile(
    store: SubscriptionStore,
) -> None:
    due = datetime(2026, 12, 18, tzinfo=UTC)
    scheduled = Period(
        "S1P2A1C0", "s1", "cu_1", index=2, amount=9900, currency="KRW", schedule_at=due, attempt=1
    )
    paid = scheduled.settled("paid", "imp_1")
    assert (paid.status, paid.imp_uid, paid.merchant_uid) == ("paid", "imp_1", "S1P2A1C0")

    store.record(paid)
    store.record(scheduled, only_if_new=True)  # registered again, while its outcome was recorded: kept

    assert store.period("S1P2A1C0") == paid
    store.record(scheduled)
    assert store.period("S1P2A1C0") == scheduled


def test_a_table_that_cannot_be_read_or_written_is_unavailable_naming_only_the_cause(
    store: SubscriptionStore, client: Any
) -> None:
    put(client, "s1", plan_id="basic", status="active", anchor=1_796_000_000, scheduled_through=0)
    subscription = store.get("s1")
    assert subscription is not None
    due = datetime(2026, 12, 18, tzinfo=UTC)
    period = Period("S1P0A0C0", "s1", "cu_1", index=0, amount=9900, currency="KRW", schedule_at=due)
    client.delete_table(TableName=TABLE)

    for call in (
        lambda: store.get("s1"),
        lambda: store.periods_of(subscription),
        lambda: list(store.renewing_on("basic", None)),
        lambda: list(store.with_work_due(NOW)),
        lambda: store.backfill_work(NOW, {"basic": 9900}),
        lambda: store.record(period),
        lambda: store.close(subscription),
    ):
        with pytest.raises(ConfigurationUnavailable) as raised:
            call()
        assert str(raised.value) == "DynamoDB unreachable (ResourceNotFoundException)"


def test_a_started_subscription_reads_back_as_started_and_starting_it_again_returns_it(
    store: SubscriptionStore,
) -> None:
    anchor = datetime(2026, 12, 1, tzinfo=UTC)

    started, new = store.start("cu_1", "basic", anchor, amount=9900, currency="KRW", next_work_at=anchor)

    assert new
    assert store.get(started.key) == store.for_customer("cu_1") == started
    assert (started.status, started.scheduled_through, started.settled_through) == ("active", -1, -1)
    assert (started.amount, started.currency, started.anchor) == (9900, "KRW", anchor)
    # Again (a retried sign-up), at another price: the one it has, at the price it started with
    again = store.start("cu_1", "basic", anchor, amount=12900, currency="KRW", next_work_at=anchor)
    assert again == (started, False)
