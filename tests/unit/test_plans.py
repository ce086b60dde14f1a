"""The plans: when each period is due, and the merchant_uids of subscriptions from before subscription ids."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from billing.cards import KST
from billing.plans import Plan, could_be_ours, load_catalog


def test_a_subscription_from_before_ids_keeps_its_merchant_uids() -> None:
    plan = load_catalog().find("basic_monthly")
    assert plan is not None
    digest = hashlib.sha256(b"cu_1\x00basic_monthly").hexdigest()[:16]
    due = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # Dec 1 in Korea: the date is Korea's

    assert plan.merchant_uid("cu_1", due) == f"sub_{digest}_20261201"
    assert plan.merchant_uid("cu_1", due, attempt=2) == f"sub_{digest}_20261201_r2"
    assert plan.merchant_uid("cu_2", due) != plan.merchant_uid("cu_1", due)
    assert could_be_ours(plan.merchant_uid("cu_1", due, attempt=2))
    assert not could_be_ours(f"sub_{digest}_2026120")


def plan_every(interval: str) -> Plan:
    return Plan(id=f"p_{interval}", name="플랜", amount=9900, interval=interval)


def test_periods_fall_on_the_anchors_korean_day_and_a_short_month_ends_early() -> None:
    # Jan 31, 09:00 in Korea, stored in UTC (midnight)
    anchor = datetime(2026, 1, 31, 0, 0, tzinfo=UTC)
    monthly = [plan_every("month").due_at(anchor, period) for period in range(4)]
    assert [(due.month, due.day, due.hour) for due in monthly] == [
        (1, 31, 9),
        (2, 28, 9),
        (3, 31, 9),
        (4, 30, 9),
    ]
    assert all(due.utcoffset() == timedelta(hours=9) for due in monthly)
    assert plan_every("month").due_at(anchor, 13) == datetime(2027, 2, 28, 9, 0, tzinfo=KST)
    assert plan_every("year").due_at(anchor, 2) == datetime(2028, 1, 31, 9, 0, tzinfo=KST)
    assert plan_every("week").due_at(anchor, 3) == datetime(2026, 2, 21, 9, 0, tzinfo=KST)


def test_a_leap_day_anchor_renews_on_the_last_day_of_february() -> None:
    anchor = datetime(2028, 2, 29, 3, 0, tzinfo=KST)
    assert plan_every("year").due_at(anchor, 1) == datetime(2029, 2, 28, 3, 0, tzinfo=KST)
    assert plan_every("year").due_at(anchor, 4) == datetime(2032, 2, 29, 3, 0, tzinfo=KST)
