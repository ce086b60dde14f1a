"""Moving subscribers to a new price (전자상거래법 §13⑥, 시행령 §20조의2): a lower price applies as it
comes; a higher one is charged only with the customer's explicit consent, recorded within the 30 days before
the first payment at that price. Without it the price stays, or the subscription ends with its paid period.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.cards import KST
from billing.plans import load_catalog
from local.lambda_context import LocalLambdaContext
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    RECORDS_TABLE,
    ShiftedClock,
    call,
    emitted_metrics,
    flat,
    legacy_subscription,
    logged_with,
    new_container,
    reconcile,
    runs,
    schedule,
    subscription_item,
    table_item,
)

DAY = 86_400

pytestmark = pytest.mark.usefixtures("signed_in")


@pytest.fixture
def ending_without_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack set to end subscriptions whose price increase nobody consented to in time."""
    monkeypatch.setenv("PRICE_INCREASE_WITHOUT_CONSENT", "end")
    new_container()


def change_price(plan_id: str, effective_at: datetime, **fields: Any) -> dict[str, Any]:
    """The operator's price change, as `aws lambda invoke` sends it."""
    from billing.app import lambda_handler

    event = {"action": "change-price", "plan_id": plan_id, "effective_at": effective_at.isoformat(), **fields}
    result: dict[str, Any] = lambda_handler(event, LocalLambdaContext())
    return result


def pending(stack: EmbeddedStack) -> list[int]:
    """The amounts of the schedules PortOne holds as pending."""
    return [s["amount"] for s in stack.emulator.schedules.values() if s["schedule_status"] == "scheduled"]


def paid(stack: EmbeddedStack) -> list[int]:
    return sorted(p["amount"] for p in stack.emulator.payments.values() if p["status"] == "paid")


def events(stack: EmbeddedStack) -> dict[str, dict[str, Any]]:
    """The outbox's events by type (each type once in these tests), their data decoded."""
    items = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]
    return {
        item["type"]["S"]: json.loads(item["data"]["S"])
        for item in items
        if item["pk"]["S"].startswith("event#")
    }


def consent_records(stack: EmbeddedStack) -> list[dict[str, str]]:
    items = stack.client("dynamodb").scan(TableName=RECORDS_TABLE)["Items"]
    return [flat(item) for item in items if item["record_id"]["S"].startswith("price_consent#")]


def second_period_at(first: dict[str, Any]) -> datetime:
    anchor = datetime.fromisoformat(first["schedule_at"])
    return load_catalog().find("basic_monthly").due_at(anchor, 1).astimezone(UTC)


def subscribed_then_raised(invoke, stack, clock, inbox, edit_catalog, amount: int = 12900) -> datetime:
    """A subscriber at 9,900원 whose plan the merchant raises from the next period on; period 0 is then
    paid. When the next period is due."""
    [first] = schedule(invoke, **CARD).body["schedules"]
    reconcile()  # its first run after the upgrade gives older subscriptions their recorded price
    edit_catalog(basic_monthly={"amount": amount})
    report = change_price("basic_monthly", datetime.now(UTC) + timedelta(days=1))
    assert report == {"status": "success", "moved": 1, "unchanged": 0, "complete": True, "cursor": None}
    [answer] = runs(invoke, stack, clock, inbox, 10 * 60)
    assert answer.body["status"] == "processed"
    return second_period_at(first)


def consent(invoke, at: datetime, uid: str = "sub_alice", **changes: Any) -> Any:
    body = {
        "previous_amount": 9900,
        "amount": 12900,
        "period_at": at.isoformat(),
        "card_last4": CARD["card_number"][-4:],
        "agree": True,
    }
    return call(invoke, "POST", f"/subscriptions/{uid}/price-consent", {**body, **changes})


def until(clock: ShiftedClock, moment: datetime) -> float:
    """Seconds from PortOne's now to `moment`."""
    return moment.timestamp() - clock()


def test_a_price_increase_is_charged_only_after_consent_in_its_window(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a subscriber whose next period is to cost more: it waits for consent, not registered
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    assert pending(stack) == []
    view = call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]
    assert (view["previous_amount"], view["amount"], view["consent_required"]) == (9900, 12900, True)
    assert datetime.fromisoformat(view["period_at"]) == at
    assert view["period_at"].endswith("+09:00")
    assert events(stack)["subscription.price_change_requested"]["consent_required"] is True

    # When the customer consents inside the 30 days before that period, echoing the terms they were shown
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at - timedelta(days=2)))
    answer = consent(invoke, at)
    assert answer.status == 200
    assert answer.body["amount"] == 12900

    # Then the consent is on record, and the period is registered at the new price
    [record] = consent_records(stack)
    assert (record["previous_amount"], record["amount"], record["card_last4"]) == ("9900", "12900", "0001")
    reconcile()
    assert pending(stack) == [12900]

    # And once charged, the new price is the subscription's: the next period costs it too
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at) + 10 * 60)
    assert paid(stack) == [9900, 12900]
    assert pending(stack) == [12900]
    assert subscription_item(stack, "sub_alice")["amount"] == "12900"
    assert "subscription.price_change_accepted" in events(stack)


def test_silence_keeps_the_recorded_price(invoke, stack, portone_clock, inbox, edit_catalog) -> None:
    # Given a price increase nobody consented to
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)

    # When the decision time (an hour before the period) passes and the reconciler runs
    portone_clock.advance(until(portone_clock, at - timedelta(minutes=30)))
    reconcile()

    # Then the period goes to PortOne at the price the customer pays today, and a late consent is refused
    assert pending(stack) == [9900]
    assert events(stack)["subscription.price_change_lapsed"] == {"amount": 12900, "outcome": "kept"}
    late = consent(invoke, at)
    assert (late.status, late.body["code"]) == (409, "PRICE_CHANGE_NOT_OPEN")
    runs(invoke, stack, portone_clock, inbox, 40 * 60)
    assert paid(stack) == [9900, 9900]
    assert pending(stack) == [9900]


def test_silence_ends_the_subscription_with_its_paid_period_where_set(
    invoke, stack, portone_clock, inbox, edit_catalog, ending_without_consent, logs
) -> None:
    # Given a stack that ends subscriptions whose price increase was not consented to
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)

    # When the decision time passes
    portone_clock.advance(until(portone_clock, at - timedelta(minutes=30)))
    reconcile()

    # Then nothing more is charged: it is cancelled, paid until that period's time, and then its key goes
    assert pending(stack) == []
    view = call(invoke, "GET", "/subscriptions/sub_alice").body
    assert view["subscription_status"] == "cancelled"
    assert datetime.fromisoformat(view["ends_at"]) == at
    ended = logged_with(logs, "price increase without consent: ends with the paid period")
    assert (ended["level"], ended["outcome"], ended["customer_uid"]) == (
        "INFO",
        "PRICE_CHANGE_ENDED",
        "sub_alice",
    )
    portone_clock.advance(3600)
    reconcile()
    assert "sub_alice" not in stack.emulator.customers
    assert paid(stack) == [9900]


def test_a_price_decrease_applies_without_consent(invoke, stack, portone_clock, inbox, edit_catalog) -> None:
    subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog, amount=7900)
    assert pending(stack) == [7900]
    assert events(stack)["subscription.price_change_requested"]["consent_required"] is False


def test_consent_outside_its_window_or_to_other_terms_is_refused(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)

    # Too early: more than 30 days before the period at the new price
    portone_clock.advance(until(portone_clock, at - timedelta(days=31)))
    early = consent(invoke, at)
    assert (early.status, early.body["code"]) == (409, "PRICE_CHANGE_NOT_OPEN")

    # Inside the window, but not the terms offered: each wrong field named, nothing recorded
    portone_clock.advance(2 * DAY)
    wrong = consent(invoke, at, amount=9900, card_last4="9999")
    assert wrong.status == 400
    assert {(e["field"], e["reason"]) for e in wrong.body["errors"]} == {
        ("amount", "not_the_offered_terms"),
        ("card_last4", "not_the_offered_terms"),
    }
    # A "no" is not a consent the API takes: silence and refusal are the same
    refusal = consent(invoke, at, agree=False)
    assert refusal.status == 400
    assert call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]["consented_at"] is None


def test_a_consent_is_recorded_with_the_terms_the_card_and_the_moment_it_was_given(
    invoke, stack, portone_clock, inbox, edit_catalog, logs
) -> None:
    """The record is the merchant's evidence of the consent: what was agreed, by whom, for which card and
    when (PortOne's time, as the window is); the answer gives the times in Korea's."""
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    portone_clock.advance(until(portone_clock, at - timedelta(days=2)))
    before = int(portone_clock())

    answer = consent(invoke, at)

    consented_at = datetime.fromisoformat(answer.body["consented_at"])
    assert before <= consented_at.timestamp() <= portone_clock()
    assert answer.body == {
        "status": "success",
        "customer_uid": "sub_alice",
        "amount": 12900,
        "period_at": at.astimezone(KST).isoformat(),
        "consented_at": consented_at.astimezone(KST).isoformat(),
    }
    assert answer.body["consented_at"].endswith("+09:00")
    subscription = table_item(stack, "customer#sub_alice")["subscription"]
    [record] = consent_records(stack)
    assert record == {
        "record_id": f"price_consent#{subscription}#1#{int(consented_at.timestamp())}",
        "subscription": subscription,
        "customer_uid": "sub_alice",
        "subject": "alice",
        "previous_amount": "9900",
        "amount": "12900",
        "period_at": str(int(at.timestamp())),
        "card_last4": CARD["card_number"][-4:],
        "card_name": stack.emulator.customers["sub_alice"]["card_name"],  # PortOne's name for the card
        "without_consent": "keep",
        "consented_at": str(int(consented_at.timestamp())),
    }
    accepted = events(stack)["subscription.price_change_accepted"]
    assert (accepted["amount"], accepted["period_at"]) == (12900, int(at.timestamp()))
    logged = logged_with(logs, "price change consented")
    assert (logged["outcome"], logged["customer_uid"]) == ("PRICE_CONSENTED", "sub_alice")


def test_a_bad_price_change_order_is_answered_not_raised(edit_catalog, logs, capsys) -> None:
    answer = change_price("no_such_plan", datetime.now(UTC) + timedelta(days=1))
    assert answer == {
        "status": "failed",
        "code": "INVALID_REQUEST",
        "message": "The request is not valid. See errors for each field and rule.",
        "errors": [{"field": "plan_id", "reason": "unknown_plan"}],
    }
    past = change_price("basic_monthly", datetime.now(UTC) - timedelta(days=1))
    assert past["errors"] == [{"field": "effective_at", "reason": "not_in_the_future"}]

    # The operator sees each failure in the log and in the metric
    logged = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [(line["level"], line["message"], line["outcome"]) for line in logged] == [
        ("ERROR", "price change failed", "INVALID_REQUEST")
    ] * 2
    assert emitted_metrics(capsys.readouterr().out) == {"PriceChangeFailed": 2}


def test_a_card_change_while_consent_is_awaited_registers_nothing_early(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a higher price awaiting consent, and a card change meanwhile
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    new_uid = call(invoke, "PUT", "/subscriptions/sub_alice/card", CARD).body["customer_uid"]
    reconcile()
    assert pending(stack) == []

    # When the customer consents on the new uid, then the period goes to PortOne at the new price, once
    portone_clock.advance(until(portone_clock, at - timedelta(days=2)))
    assert consent(invoke, at, new_uid).status == 200
    reconcile()
    assert pending(stack) == [12900]
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at) + 10 * 60)
    assert paid(stack) == [9900, 12900]


def test_a_second_price_change_starts_from_the_price_the_customer_consented_to(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a consented increase whose first payment is at PortOne
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at - timedelta(days=2)))
    assert consent(invoke, at).status == 200
    reconcile()
    assert pending(stack) == [12900]

    # When the merchant raises the price again
    edit_catalog(basic_monthly={"amount": 14900})
    assert change_price("basic_monthly", at + timedelta(days=1))["moved"] == 1

    # Then the new offer starts from the consented 12,900원, and the registered payment keeps its price
    offer = call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]
    assert (offer["previous_amount"], offer["amount"]) == (12900, 14900)
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at) + 10 * 60)
    assert paid(stack) == [9900, 12900]


def test_an_operators_rerun_of_the_same_change_keeps_the_consent(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    portone_clock.advance(until(portone_clock, at - timedelta(days=2)))
    assert consent(invoke, at).status == 200

    again = change_price("basic_monthly", datetime.now(UTC) + timedelta(days=1))

    assert (again["moved"], again["unchanged"]) == (0, 1)
    assert call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]["consented_at"] is not None


def test_after_a_decrease_an_increase_starts_from_the_lower_price(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a decrease to 7,900원 whose first payment is at PortOne, then an increase to 12,900원
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog, amount=7900)
    assert pending(stack) == [7900]
    edit_catalog(basic_monthly={"amount": 12900})
    change_price("basic_monthly", at + timedelta(days=1))
    offer = call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]
    assert (offer["previous_amount"], offer["amount"]) == (7900, 12900)

    # When nobody consents, then the payment after it is at 7,900원: the price paid today
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, at) + 10 * 60)
    second_at = datetime.fromisoformat(offer["period_at"])
    portone_clock.advance(until(portone_clock, second_at - timedelta(minutes=30)))
    reconcile()
    assert paid(stack) == [7900, 9900]
    assert pending(stack) == [7900]


def test_with_end_a_card_change_while_consent_is_awaited_charges_nothing_past_the_end(
    invoke, stack, portone_clock, inbox, edit_catalog, ending_without_consent
) -> None:
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    new_uid = call(invoke, "PUT", "/subscriptions/sub_alice/card", CARD).body["customer_uid"]
    portone_clock.advance(until(portone_clock, at - timedelta(minutes=30)))
    reconcile()
    assert subscription_item(stack, new_uid)["status"] == "cancelled"
    runs(invoke, stack, portone_clock, inbox, 40 * 60)
    reconcile()
    assert paid(stack) == [9900]


def test_a_price_change_waits_until_older_subscriptions_have_a_recorded_price(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a subscription from before prices were recorded, and no reconciler run since the upgrade
    legacy_subscription(invoke, stack, portone_clock, recorded=False)
    edit_catalog(basic_monthly={"amount": 12900})

    # Then the operator's price change is refused: the catalog's new price would read as theirs
    refused = change_price("basic_monthly", datetime.now(UTC) + timedelta(days=1))
    assert refused["code"] == "UPGRADE_IN_PROGRESS"

    # Once the reconciler has run, the subscription is moved like any other, and asked for consent
    edit_catalog(basic_monthly={"amount": 9900})
    reconcile()
    edit_catalog(basic_monthly={"amount": 12900})
    moved = change_price("basic_monthly", datetime.now(UTC) + timedelta(days=1))
    assert moved["moved"] == 1
    assert events(stack)["subscription.price_change_requested"]["consent_required"] is True


def test_a_run_cut_short_goes_on_from_its_cursor(invoke, stack, portone_clock, edit_catalog, capsys) -> None:
    from billing.app import lambda_handler

    for uid in ("sub_a", "sub_b", "sub_c"):
        schedule(invoke, uid, **CARD)
    reconcile()
    edit_catalog(basic_monthly={"amount": 12900})
    order = {"action": "change-price", "plan_id": "basic_monthly"}
    order["effective_at"] = (datetime.now(UTC) + timedelta(days=40)).isoformat()

    # A run with almost no time left stops before the first, and says it is not complete
    capsys.readouterr()
    cut_short = lambda_handler(order, LocalLambdaContext(timeout_seconds=4.0))
    assert (cut_short["moved"], cut_short["complete"]) == (0, False)
    assert emitted_metrics(capsys.readouterr().out) == {"SubscriptionsRepriced": 0}

    # The next run goes on from its cursor and moves all three, each once
    answer = change_price(
        "basic_monthly", datetime.fromisoformat(order["effective_at"]), cursor=cut_short["cursor"]
    )
    assert (answer["moved"], answer["complete"]) == (3, True)
    assert emitted_metrics(capsys.readouterr().out) == {"SubscriptionsRepriced": 3}
    assert change_price("basic_monthly", datetime.fromisoformat(order["effective_at"]))["unchanged"] == 3


def test_a_card_change_withdraws_a_consent_given_for_the_old_card(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given a consent to the higher price, given for the old card, before that payment is registered
    at = subscribed_then_raised(invoke, stack, portone_clock, inbox, edit_catalog)
    portone_clock.advance(until(portone_clock, at - timedelta(days=2)))
    assert consent(invoke, at).status == 200

    # When the card changes first, the consent no longer counts: the payment waits for a new one
    new_uid = call(invoke, "PUT", "/subscriptions/sub_alice/card", CARD).body["customer_uid"]
    assert call(invoke, "GET", f"/subscriptions/{new_uid}").body["price_change"]["consented_at"] is None
    assert events(stack)["subscription.card_changed"]["price_consent_withdrawn"] is True
    portone_clock.advance(until(portone_clock, at - timedelta(minutes=30)))
    reconcile()
    assert pending(stack) == [9900]


def test_a_price_change_never_touches_a_period_whose_registration_answer_was_lost(
    invoke, stack, portone_clock, inbox, edit_catalog
) -> None:
    # Given period 1's registration reached PortOne but its answer was lost
    [first] = schedule(invoke, **CARD).body["schedules"]
    reconcile()
    stack.emulator.add_fault("reset", "POST /subscribe/payments/schedule", after_effect=True)
    stack.emulator.add_fault("http_503", "GET /subscribe/payments/schedule", after_effect=False)
    runs(invoke, stack, portone_clock, inbox, 10 * 60)
    stack.emulator.clear_faults()
    assert pending(stack) == [9900]

    # When the merchant lowers the price, it applies from the period after it
    edit_catalog(basic_monthly={"amount": 7900})
    change_price("basic_monthly", datetime.now(UTC) + timedelta(days=1))
    offer = call(invoke, "GET", "/subscriptions/sub_alice").body["price_change"]
    assert datetime.fromisoformat(offer["period_at"]) > second_period_at(first)

    # Then the registration is confirmed at its own price, and the chain goes on
    reconcile()
    runs(invoke, stack, portone_clock, inbox, until(portone_clock, second_period_at(first)) + 10 * 60)
    assert paid(stack) == [9900, 9900]
    assert pending(stack) == [7900]
