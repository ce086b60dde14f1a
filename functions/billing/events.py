"""Subscription events for the merchant (design.md D19): every change of a subscription's state is recorded in
the same DynamoDB transaction as the change (`event#<id>`, subscription_store.py), and the table's stream
hands each new record to this code, which puts it on EventBridge. So an event is published at least once,
never for a change that did not happen; consumers de-duplicate on `detail.id`.

The event, as a rule on the bus sees it: `source` "portone-billing" (EVENT_SOURCE), `detail-type` the event's
type, and `detail`:

    {"id": "3f2b...", "type": "subscription.past_due", "customer_uid": "cu_...",
     "occurred_at": "2026-11-30T12:00:00+09:00", "data": {"merchant_uid": "...", "retry_at": ...}}

Types: subscription.started, .past_due, .reactivated, .suspended, .cancelled, .ended.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.cards import KST
from billing.observability import logger

_BATCH = 10  # PutEvents takes at most ten entries


def publish(records: list[dict[str, Any]], *, client: Any, bus: str, source: str) -> list[str]:
    """Put the events of these stream records on `bus`. Returns the records that failed (their stream
    sequence numbers), for the stream to hand them over again."""
    failed: list[str] = []
    for start in range(0, len(records), _BATCH):
        failed += _put(records[start : start + _BATCH], client=client, bus=bus, source=source)
    logger.info(
        "subscription events published",
        extra={"outcome": "EVENTS_PUBLISHED", "error_fields": [f"failed:{len(failed)}"] if failed else None},
    )
    return failed


def _put(batch: list[dict[str, Any]], *, client: Any, bus: str, source: str) -> list[str]:
    """One PutEvents call; the records of the batch that failed."""
    entries = [_entry(record["dynamodb"]["NewImage"], bus, source) for record in batch]
    try:
        results = client.put_events(Entries=entries)["Entries"]
    except (ClientError, BotoCoreError) as exc:
        # The whole call failed (throttled, unreachable, no such bus): every record of it goes again.
        logger.error(
            "events not published",
            extra={"outcome": "EVENTS_FAILED", "error_fields": [type(exc).__name__]},
        )
        return [record["dynamodb"]["SequenceNumber"] for record in batch]
    return [
        record["dynamodb"]["SequenceNumber"]
        for record, result in zip(batch, results, strict=True)
        if "ErrorCode" in result
    ]


def _entry(image: dict[str, Any], bus: str, source: str) -> dict[str, Any]:
    kind = image["type"]["S"]
    detail = {
        "id": image["pk"]["S"].removeprefix("event#"),
        "type": kind,
        # One written before subscription ids: its subscription is kept under its customer_uid.
        "subscription_id": image.get("subscription_id", image["customer_uid"])["S"],
        "customer_uid": image["customer_uid"]["S"],
        "occurred_at": datetime.fromtimestamp(int(image["occurred_at"]["N"]) / 1000, KST).isoformat(
            timespec="milliseconds"
        ),
        "data": json.loads(image["data"]["S"]),
    }
    return {"Source": source, "DetailType": kind, "Detail": json.dumps(detail), "EventBusName": bus}
