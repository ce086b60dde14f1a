"""Live data after a contract ends without an erasure (README, "Records and retention"): the subscription and
its pointers expire with its last period, the owner record only holds the uid for its owner until the law's
records naming it expire, and every read treats an expired item as gone (DynamoDB's TTL deletes late)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    call,
    law_records,
    reconcile,
    runs,
    schedule,
    table_item,
)

pytestmark = pytest.mark.usefixtures("signed_in")

DAY = 86_400
LAST_PERIOD = 400 * DAY  # a period's own retention (subscription_store.PERIOD_RETENTION)
FIVE_YEARS = (5 * 365 * DAY, 5 * 366 * DAY)


def expires_in(stack: EmbeddedStack, pk: str) -> float:
    item = table_item(stack, pk)
    assert item is not None, pk
    assert "expires_at" in item, item
    return int(item["expires_at"]) - time.time()


def listed(invoke, who: str = "alice") -> list[str]:
    return [k["customer_uid"] for k in call(invoke, "GET", "/subscriptions", who=who).body["billing_keys"]]


def expire_now(stack: EmbeddedStack, *pks: str) -> None:
    """As the items stand once their time has passed and before DynamoDB's TTL has deleted them."""
    for pk in pks:
        stack.client("dynamodb").update_item(
            TableName=ENVIRONMENT["TABLE_NAME"],
            Key={"pk": {"S": pk}},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
        )


def test_a_subscription_that_ends_at_its_paid_periods_end_expires_with_its_last_period(
    invoke, stack: EmbeddedStack, portone_clock, inbox
) -> None:
    # Given a subscriber whose first month was paid, who cancels; the reconciler ends it when the month ends
    schedule(invoke, **CARD)
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    cancelled = call(invoke, "DELETE", "/subscriptions/sub_alice")
    subscription = table_item(stack, "customer#sub_alice")["subscription"]  # type: ignore[index]
    # while the paid month runs, nothing expires and the key is hers to see
    assert "expires_at" not in (table_item(stack, f"subscription#{subscription}") or {})
    assert listed(invoke) == ["sub_alice"]
    ends_at = datetime.fromisoformat(cancelled.body["ends_at"])
    portone_clock.advance((ends_at - datetime.now(UTC)).total_seconds() + 60)
    reconcile()
    assert "sub_alice" not in stack.emulator.customers

    # Then the subscription and its pointer go with its last period, 400 days from now
    for pk in (f"subscription#{subscription}", "customer#sub_alice"):
        assert LAST_PERIOD - 60 <= expires_in(stack, pk) <= LAST_PERIOD
    # and the owner record holds the uid, unlisted, until the law's records naming it expire
    owner = table_item(stack, "owner#sub_alice")
    assert owner is not None
    assert "customer" not in owner
    assert "admitted" not in owner
    records = law_records(stack, "sub_alice")  # the sign-up's consent, and the payment (PortOne's clock)
    assert int(owner["expires_at"]) == max(int(r["expires_at"]["N"]) for r in records)
    assert FIVE_YEARS[0] <= expires_in(stack, "owner#sub_alice")
    assert listed(invoke) == []
    # nobody else may claim it meanwhile
    claim = call(
        invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"}, who="bob"
    )
    assert claim.status == 404


def test_an_immediate_cancel_after_a_card_change_lets_every_keys_items_expire(
    invoke, stack: EmbeddedStack
) -> None:
    schedule(invoke, **CARD)
    changed = call(
        invoke, "PUT", "/subscriptions/sub_alice/card", {**CARD, "card_number": magic.TEST_CARD_CHECK}
    )
    new_uid = changed.body["customer_uid"]
    subscription = table_item(stack, f"customer#{new_uid}")["subscription"]  # type: ignore[index]

    call(invoke, "DELETE", f"/subscriptions/{new_uid}", query={"immediately": "true"})

    for pk in (f"subscription#{subscription}", "customer#sub_alice", f"customer#{new_uid}"):
        assert LAST_PERIOD - 60 <= expires_in(stack, pk) <= LAST_PERIOD
    for uid in ("sub_alice", new_uid):
        assert FIVE_YEARS[0] <= expires_in(stack, f"owner#{uid}") <= FIVE_YEARS[1]
    assert listed(invoke) == []


def test_expired_items_read_as_gone_and_the_owner_may_subscribe_on_the_uid_again(
    invoke, stack: EmbeddedStack
) -> None:
    # Given a subscription that ended, whose items' time has passed but which TTL has not deleted
    schedule(invoke, **CARD)
    subscription = table_item(stack, "customer#sub_alice")["subscription"]  # type: ignore[index]
    call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "true"})
    expire_now(stack, f"subscription#{subscription}", "customer#sub_alice")

    # Then the owner's new sign-up on that uid is a new subscription, not the ended one
    again = schedule(invoke, **CARD)
    assert again.status == 200, again.body
    pointer = table_item(stack, "customer#sub_alice")
    assert pointer is not None
    assert pointer["subscription"] != subscription
    assert "expires_at" not in pointer
    view = call(invoke, "GET", "/subscriptions/sub_alice").body
    assert view["subscription_status"] == "active"
    assert again.body["schedules"][0]["merchant_uid"] in [s["merchant_uid"] for s in view["schedules"]]
    # and the uid is live again: hers, listed, with no expiry
    owner = table_item(stack, "owner#sub_alice")
    assert owner is not None
    assert "expires_at" not in owner
    assert listed(invoke) == ["sub_alice"]


def test_a_cancelled_subscription_replaced_by_a_new_sign_up_goes_as_an_ended_one(
    invoke, stack: EmbeddedStack
) -> None:
    schedule(invoke, **CARD)
    replaced = table_item(stack, "customer#sub_alice")["subscription"]  # type: ignore[index]
    call(invoke, "DELETE", "/subscriptions/sub_alice")  # at the end of the paid period: the key stays

    assert schedule(invoke).status == 200  # a new sign-up on the same key

    assert LAST_PERIOD - 60 <= expires_in(stack, f"subscription#{replaced}") <= LAST_PERIOD
    current = table_item(stack, "customer#sub_alice")
    assert current is not None
    assert current["subscription"] != replaced
    assert "expires_at" not in current


def test_an_owner_record_past_its_time_is_gone_for_its_owner_too(invoke, stack: EmbeddedStack) -> None:
    schedule(invoke, **CARD)
    call(invoke, "DELETE", "/subscriptions/sub_alice", query={"immediately": "true"})
    expire_now(stack, "owner#sub_alice")

    assert call(invoke, "GET", "/subscriptions/sub_alice").status == 404
    # and, the records naming it gone too, anyone may claim it
    claim = call(
        invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"}, who="bob"
    )
    assert claim.status == 200


def test_a_card_declined_on_a_held_uid_gives_the_hold_back(invoke, stack: EmbeddedStack) -> None:
    # Given a uid whose key was deleted, held for its owner
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "card_only"})
    call(invoke, "DELETE", "/subscriptions/card_only", query={"immediately": "true"})
    held = table_item(stack, "owner#card_only")
    assert held is not None
    assert "expires_at" in held

    # When its owner registers a card on it that is declined
    declined = call(
        invoke,
        "POST",
        "/subscriptions/issue-billing",
        {**CARD, "customer_uid": "card_only", "card_number": magic.CARD_WRONG_PASSWORD},
    )

    # Then no key came of it, and the uid is held as before, unlisted, for as long as any record on it:
    # this attempt's consent record too
    assert declined.status == 402
    after = table_item(stack, "owner#card_only")
    assert after is not None
    assert {k: v for k, v in after.items() if k != "expires_at"} == {
        k: v for k, v in held.items() if k != "expires_at"
    }
    records_end = max(int(r["expires_at"]["N"]) for r in law_records(stack, "card_only"))
    assert int(after["expires_at"]) >= max(int(held["expires_at"]), records_end)
    assert listed(invoke) == []


def test_a_key_issued_on_a_held_uid_makes_it_live_again(invoke, stack: EmbeddedStack) -> None:
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "card_only"})
    call(invoke, "DELETE", "/subscriptions/card_only", query={"immediately": "true"})

    again = call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "card_only"})

    assert again.status == 200
    owner = table_item(stack, "owner#card_only")
    assert owner is not None
    assert "expires_at" not in owner
    assert listed(invoke) == ["card_only"]


def test_two_claims_of_a_hold_at_once_keep_it_a_hold_until_both_are_settled(stack: EmbeddedStack) -> None:
    # The owner's two requests on a held uid, both admitted before either is settled (AccessStore directly)
    from billing.access import AccessStore, Attempt, Limits
    from billing.aws import aws_clients

    store = AccessStore(
        ENVIRONMENT["TABLE_NAME"], Limits(86_400, 10, 5, 10, 10), client=aws_clients().dynamodb
    )
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    who = Attempt("held", owner="sub:a", caller="sub:a", address="203.0.113.1", card="c", customer="a")
    first = store.admit(who)
    store.key_deleted("held", until)  # as if the key went between the first claim and the second
    first_again, second = store.admit(who), store.admit(Attempt(**{**who.__dict__, "card": "d"}))
    assert (first_again.held_until, second.held_until) == (int(until.timestamp()),) * 2
    # both still held while they run: the end stays on the item
    assert table_item(stack, "owner#held")["expires_at"] == str(int(until.timestamp()))  # type: ignore[index]

    first_again.outcome = second.outcome = "declined"
    store.settle(first_again)
    assert "customer" in (table_item(stack, "owner#held") or {})  # one ticket left: still claimed
    store.settle(second)

    owner = table_item(stack, "owner#held")
    assert owner is not None
    assert "customer" not in owner
    assert "admitted" not in owner
    assert int(owner["expires_at"]) >= time.time() + FIVE_YEARS[0]  # as long as their consent records
    assert first.held_until is None  # the first claim was of a live uid


def test_a_sign_up_whose_card_is_declined_leaves_nothing_live(invoke, stack: EmbeddedStack) -> None:
    # Given a card registered without a plan; its owner then signs up on it with a card that is declined
    call(invoke, "POST", "/subscriptions/issue-billing", {**CARD, "customer_uid": "sub_alice"})
    declined = schedule(invoke, **{**CARD, "card_number": magic.CARD_WRONG_PASSWORD})
    assert declined.status == 402

    # Then the sign-up that never started is gone at once (expired, until TTL deletes it)
    pointer = table_item(stack, "customer#sub_alice")
    assert pointer is not None
    assert expires_in(stack, "customer#sub_alice") <= 0
    assert expires_in(stack, f"subscription#{pointer['subscription']}") <= 0
    # and every read says so: the key is listed as the card it still is, with no plan
    assert call(invoke, "GET", "/subscriptions").body["billing_keys"] == [
        {"customer_uid": "sub_alice", "plan_id": None, "subscription_status": None}
    ]
    assert call(invoke, "GET", "/subscriptions/sub_alice").body["plan_id"] is None
