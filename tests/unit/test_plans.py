"""The plans' merchant_uids of subscriptions from before subscription ids, which keep renewing under them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from billing.plans import could_be_ours, load_catalog


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
