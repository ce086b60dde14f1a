"""Subscription events (design.md D19): each state change is recorded with the change (the outbox) and
published from the table's stream to EventBridge, at least once, with an id consumers de-duplicate on.

moto's EventBridge delivers to a rule's SQS target, so the test reads what a merchant's rule would get."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from billing.cards import KST
from local.lambda_context import LocalLambdaContext
from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    ENVIRONMENT,
    call,
    emitted_metrics,
    new_container,
    reconcile,
    schedule,
)

DAY = 86_400

pytestmark = pytest.mark.usefixtures("signed_in")


@pytest.fixture
def merchant_rule(stack: EmbeddedStack) -> Iterator[Any]:
    """A rule on the default bus for this service's events, delivering to a queue the test reads."""
    events, sqs = stack.client("events"), stack.client("sqs")
    queue = sqs.create_queue(QueueName="merchant-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="subscriptions", EventPattern=json.dumps({"source": ["portone-billing"]}))
    events.put_targets(Rule="subscriptions", Targets=[{"Id": "queue", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    yield received
    events.remove_targets(Rule="subscriptions", Ids=["queue"])
    events.delete_rule(Name="subscriptions")
    sqs.delete_queue(QueueUrl=queue)


def stream_records(stack: EmbeddedStack) -> list[dict[str, Any]]:
    """The table's new `event#` items as its stream hands them to the function (after the filter)."""
    items = stack.client("dynamodb").scan(
        TableName=ENVIRONMENT["TABLE_NAME"],
        FilterExpression="begins_with(pk, :event)",
        ExpressionAttributeValues={":event": {"S": "event#"}},
    )["Items"]
    return [
        {
            "eventSource": "aws:dynamodb",
            "eventName": "INSERT",
            "dynamodb": {"Keys": {"pk": item["pk"]}, "NewImage": item, "SequenceNumber": str(n)},
        }
        for n, item in enumerate(items)
    ]


def publish(records: list[dict[str, Any]]) -> dict[str, Any]:
    from billing.app import lambda_handler

    result: dict[str, Any] = lambda_handler({"Records": records}, LocalLambdaContext())
    return result


def logged(logs: Any, message: str) -> list[dict[str, Any]]:
    """The function's log entries with this message."""
    entries = [json.loads(line) for line in logs.getvalue().splitlines()]
    return [entry for entry in entries if entry["message"] == message]


def receive_all(received: Any) -> list[dict[str, Any]]:
    everything, batch = [], received()
    while batch:
        everything += batch
        batch = received()
    return everything


def test_every_state_change_is_published_with_its_documented_shape(
    invoke, stack, portone_clock, inbox, merchant_rule
) -> None:
    # Given a subscription that starts, is declined (past_due), pays its retry (reactivated), changes its
    # card and is cancelled
    schedule(invoke, **{**CARD, "card_number": magic.CARD_INSUFFICIENT_FUNDS})
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    [invoke(event) for event in inbox.take()]
    stack.emulator.card_declines("sub_alice", None)
    portone_clock.advance(DAY)
    stack.emulator.run_due_schedules()
    [invoke(event) for event in inbox.take()]
    new_uid = call(invoke, "PUT", "/subscriptions/sub_alice/card", CARD).body["customer_uid"]
    assert call(invoke, "DELETE", f"/subscriptions/{new_uid}").status == 200

    # When the table's stream hands the new records to the function
    started = datetime.now(KST)
    records = stream_records(stack)
    answer = publish(records)

    # Then each change reached the merchant's rule once, with its id, type, customer and time
    assert answer == {"batchItemFailures": []}
    delivered = receive_all(merchant_rule)
    kinds = sorted(event["detail-type"] for event in delivered)
    assert kinds == [
        "subscription.cancelled",
        "subscription.card_changed",
        "subscription.past_due",
        "subscription.reactivated",
        "subscription.started",
    ]
    on_new_card = {"subscription.card_changed", "subscription.cancelled"}
    for event in delivered:
        assert event["source"] == "portone-billing"
        detail = event["detail"]
        assert set(detail) == {"id", "type", "subscription_id", "customer_uid", "occurred_at", "data"}
        assert detail["type"] == event["detail-type"]
        assert detail["customer_uid"] == (new_uid if detail["type"] in on_new_card else "sub_alice")
        assert detail["occurred_at"].endswith("+09:00")
        # within the test's run, on PortOne's clock (a day ahead by the end)
        assert started - timedelta(minutes=10) < datetime.fromisoformat(detail["occurred_at"])
        assert datetime.fromisoformat(detail["occurred_at"]) < datetime.now(KST) + timedelta(days=2)
    written = {record["dynamodb"]["NewImage"]["pk"]["S"] for record in records}
    assert {f"event#{event['detail']['id']}" for event in delivered} == written  # the record's own id
    assert len({event["detail"]["subscription_id"] for event in delivered}) == 1
    card_changed = next(e["detail"] for e in delivered if e["detail-type"] == "subscription.card_changed")
    assert card_changed["data"] == {"previous_customer_uid": "sub_alice", "price_consent_withdrawn": False}
    past_due = next(e["detail"] for e in delivered if e["detail-type"] == "subscription.past_due")
    assert past_due["data"]["retry_merchant_uid"].endswith("A1C0")


def test_a_record_handed_over_twice_keeps_its_id(invoke, stack, merchant_rule, logs, capsys) -> None:
    schedule(invoke, **CARD)
    records = stream_records(stack)
    capsys.readouterr()

    publish(records)
    publish(records)  # the stream may hand a record over again: at least once

    assert emitted_metrics(capsys.readouterr().out) == {"SubscriptionEventsPublished": 2}
    ids = [event["detail"]["id"] for event in receive_all(merchant_rule)]
    assert len(ids) == 2
    assert len(set(ids)) == 1  # consumers de-duplicate on it
    published = logged(logs, "subscription events published")
    assert [(entry["outcome"], entry.get("error_fields")) for entry in published] == [
        ("EVENTS_PUBLISHED", None)
    ] * 2


def test_suspension_and_the_end_are_published(invoke, stack, portone_clock, inbox, merchant_rule) -> None:
    schedule(invoke, **{**CARD, "card_number": magic.CARD_PAYMENT_SUSPENDED})
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    [invoke(event) for event in inbox.take()]
    portone_clock.advance(31 * DAY)
    reconcile()

    reconcile()  # a second run finds nothing more to end

    publish(stream_records(stack))
    kinds = sorted(event["detail-type"] for event in receive_all(merchant_rule))
    assert kinds == ["subscription.ended", "subscription.started", "subscription.suspended"]


def test_a_sign_up_whose_card_is_refused_publishes_nothing(invoke, stack, merchant_rule) -> None:
    response = schedule(invoke, **{**CARD, "card_number": magic.CARD_INVALID_NUMBER})

    assert response.status == 402
    assert stream_records(stack) == []


def test_cancelling_twice_publishes_one_cancellation_with_its_end(invoke, stack, merchant_rule) -> None:
    schedule(invoke, **CARD)
    first = call(invoke, "DELETE", "/subscriptions/sub_alice")
    call(invoke, "DELETE", "/subscriptions/sub_alice")

    publish(stream_records(stack))

    cancelled = [
        e["detail"] for e in receive_all(merchant_rule) if e["detail-type"] == "subscription.cancelled"
    ]
    assert len(cancelled) == 1
    ends_at = datetime.fromisoformat(first.body["ends_at"]).timestamp()
    assert cancelled[0]["data"] == {"ends_at": ends_at}


def test_a_failed_publication_hands_every_record_back(invoke, stack, monkeypatch, capsys, logs) -> None:
    schedule(invoke, **CARD)
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    new_container()
    # The stream may hand a record over again: twelve, two PutEvents calls of at most ten entries
    [record] = stream_records(stack)
    records = [{**record, "dynamodb": {**record["dynamodb"], "SequenceNumber": str(n)}} for n in range(12)]
    capsys.readouterr()

    answer = publish(records)

    failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
    assert failed == [record["dynamodb"]["SequenceNumber"] for record in records]
    assert emitted_metrics(capsys.readouterr().out) == {
        "SubscriptionEventsPublished": 0,
        "SubscriptionEventsFailed": 12,
    }
    # The log says why (the exception's class) and how many go again
    failures = logged(logs, "events not published")
    assert [(f["outcome"], f["error_fields"]) for f in failures] == [
        ("EVENTS_FAILED", ["ResourceNotFoundException"])
    ] * 2
    [summary] = logged(logs, "subscription events published")
    assert (summary["outcome"], summary["error_fields"]) == ("EVENTS_PUBLISHED", [f"failed:{len(records)}"])
