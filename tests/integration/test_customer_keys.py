"""A signed-in customer's billing keys, found by the token's subject (GET /subscriptions): the merchant's
reference for the customer maps to the uids the server minted, so no page keeps or shows a customer_uid."""

from __future__ import annotations

import pytest

from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import CARD, ENVIRONMENT, call, reconcile, schedule, table_item

pytestmark = pytest.mark.usefixtures("signed_in")


def listed(invoke, who: str = "alice") -> list[dict[str, object]]:
    response = call(invoke, "GET", "/subscriptions", who=who)
    assert response.status == 200, response.body
    keys: list[dict[str, object]] = response.body["billing_keys"]
    return keys


def test_a_customers_keys_are_listed_for_them_alone_with_their_subscriptions(invoke) -> None:
    # Given alice registered a card without a plan, and subscribed with another (uids minted by the server)
    key_only = call(invoke, "POST", "/subscriptions/issue-billing", CARD)
    subscribed = call(invoke, "POST", "/subscriptions/schedule", {"plan_id": "basic_monthly", **CARD})
    assert (key_only.status, subscribed.status) == (200, 200)

    # Then she finds both by who she is, and bob finds none of them
    found = {k["customer_uid"]: k for k in listed(invoke)}
    assert found == {
        key_only.body["customer_uid"]: {
            "customer_uid": key_only.body["customer_uid"],
            "plan_id": None,
            "subscription_status": None,
        },
        subscribed.body["customer_uid"]: {
            "customer_uid": subscribed.body["customer_uid"],
            "plan_id": "basic_monthly",
            "subscription_status": "active",
        },
    }
    assert listed(invoke, who="bob") == []


def test_newest_first(invoke, stack: EmbeddedStack) -> None:
    schedule(invoke, uid="sub_old", **CARD)
    item = table_item(stack, "owner#sub_old")  # claims are timed in whole seconds: make this one older
    assert item is not None
    older = str(int(item["created_at"]) - 10)
    stack.client("dynamodb").update_item(
        TableName=ENVIRONMENT["TABLE_NAME"],
        Key={"pk": {"S": "owner#sub_old"}},
        UpdateExpression="SET created_at = :older",
        ExpressionAttributeValues={":older": {"N": older}},
    )
    schedule(invoke, uid="sub_new", **CARD)

    assert [k["customer_uid"] for k in listed(invoke)] == ["sub_new", "sub_old"]


def test_a_declined_card_leaves_no_key_to_list(invoke) -> None:
    declined = call(
        invoke, "POST", "/subscriptions/issue-billing", {**CARD, "card_number": magic.CARD_WRONG_PASSWORD}
    )

    assert declined.status == 402
    assert listed(invoke) == []


def test_a_replaced_key_is_not_listed_its_subscription_is_under_the_new_one(invoke) -> None:
    schedule(invoke, **CARD)
    changed = call(
        invoke, "PUT", "/subscriptions/sub_alice/card", {**CARD, "card_number": magic.TEST_CARD_CHECK}
    )
    assert changed.status == 200, changed.body

    assert listed(invoke) == [
        {
            "customer_uid": changed.body["customer_uid"],
            "plan_id": "basic_monthly",
            "subscription_status": "active",
        }
    ]


def test_an_erased_customer_has_nothing_listed(invoke) -> None:
    schedule(invoke, **CARD)
    assert call(invoke, "POST", "/subscriptions/sub_alice/erasure").status == 200

    assert listed(invoke) == []


def test_an_anonymous_caller_has_no_keys_to_list(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stack without sign-in: the claims the events carry are ignored, every caller is anonymous
    monkeypatch.setenv("JWT_ISSUER", "")
    assert call(invoke, "POST", "/subscriptions/issue-billing", CARD).status == 200

    response = call(invoke, "GET", "/subscriptions")

    assert (response.status, response.body) == (200, {"billing_keys": []})


def test_claims_from_before_the_index_are_listed_after_the_reconcilers_next_run(
    invoke, stack: EmbeddedStack
) -> None:
    # Given a signed-in customer's uid claimed before claims carried their customer
    schedule(invoke, **CARD)
    stack.client("dynamodb").update_item(
        TableName=ENVIRONMENT["TABLE_NAME"],
        Key={"pk": {"S": "owner#sub_alice"}},
        UpdateExpression="REMOVE customer",
    )
    assert listed(invoke) == []

    reconcile()

    assert [k["customer_uid"] for k in listed(invoke)] == ["sub_alice"]
    assert table_item(stack, "migration#customer-keys") == {"pk": "migration#customer-keys", "done": "True"}
