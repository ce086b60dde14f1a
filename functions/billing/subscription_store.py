"""Subscriptions in DynamoDB: which plan a customer is on, at what price, since when, and how far it is
scheduled.

- `subscription#<customer_uid>` (one per billing key): the plan, the price fixed when it started (`amount`,
  `currency`; the catalog's later prices do not change it), the anchor (when period 0 is due), the status and
  `scheduled_through`, the last period index handed to PortOne. Kept while the subscription lives.
- `period#<merchant_uid>`: one period as it was handed to PortOne: whose, which index, the amount and when.
  A notice is checked against it, never against today's catalog. Payment records: kept five years (Korean
  e-commerce law keeps records of payments that long), then DynamoDB's TTL removes them.

No card data in either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import ConfigurationUnavailable, SubscriptionExists

PERIOD_RETENTION = timedelta(days=5 * 366)


@dataclass(frozen=True)
class Subscription:
    customer_uid: str
    plan_id: str
    anchor: datetime
    status: Literal["active", "cancelled"]
    scheduled_through: int  # -1: nothing scheduled yet
    amount: int | None  # each period's price, fixed at the start; None: started before prices were recorded
    currency: str


@dataclass(frozen=True)
class Period:
    """One period of a subscription, as handed to PortOne."""

    merchant_uid: str
    customer_uid: str
    index: int
    amount: int
    currency: str
    schedule_at: datetime


class SubscriptionStore:
    def __init__(self, table_name: str, *, client: Any) -> None:
        self._table = table_name
        self._client = client

    def start(
        self, customer_uid: str, plan_id: str, anchor: datetime, *, amount: int, currency: str
    ) -> tuple[Subscription, bool]:
        """The customer's active subscription to `plan_id`, and whether this call started it: a new one at
        `anchor` and the price `amount`, or the one it already has (at the price it started with).
        SubscriptionExists when it is on another plan (cancel it first).
        """
        item = {
            "pk": {"S": _key(customer_uid)},
            "plan_id": {"S": plan_id},
            "anchor": {"N": str(int(anchor.timestamp()))},
            "status": {"S": "active"},
            "scheduled_through": {"N": "-1"},
            "amount": {"N": str(amount)},
            "currency": {"S": currency},
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #status = :cancelled",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":cancelled": {"S": "cancelled"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _unavailable(exc) from None
            existing = self.get(customer_uid)
            if existing is None:  # deleted between our write and our read: the caller may retry
                raise ConfigurationUnavailable("subscription changed concurrently") from None
            if existing.plan_id != plan_id:
                raise SubscriptionExists(f"on plan {existing.plan_id}") from None
            return existing, False
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return _subscription(item), True

    def get(self, customer_uid: str) -> Subscription | None:
        item = self._get_item(_key(customer_uid))
        return _subscription(item) if item else None

    def mark_scheduled(self, customer_uid: str, periods: list[Period]) -> None:
        """Record `periods` as handed to PortOne, in one transaction with `scheduled_through`, which never
        moves backwards: a second writer of the same periods (a notice delivered twice) changes nothing."""
        through = max(period.index for period in periods)
        advance = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": _key(customer_uid)}},
                "UpdateExpression": "SET scheduled_through = :n",
                "ConditionExpression": "attribute_exists(pk) AND scheduled_through < :n",
                "ExpressionAttributeValues": {":n": {"N": str(through)}},
            }
        }
        records = [{"Put": {"TableName": self._table, "Item": _period_item(p)}} for p in periods]
        try:
            self._client.transact_write_items(TransactItems=[advance, *records])
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] != ["ConditionalCheckFailed"]:  # anything but "already recorded"
                raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None

    def period(self, merchant_uid: str) -> Period | None:
        """The period recorded under `merchant_uid`; None for one this service did not record."""
        item = self._get_item(f"period#{merchant_uid}")
        return _period(item) if item else None

    def cancel(self, customer_uid: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(customer_uid)}},
                UpdateExpression="SET #status = :cancelled",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":cancelled": {"S": "cancelled"}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None

    def _get_item(self, pk: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        item: dict[str, Any] | None = response.get("Item")
        return item


def _key(customer_uid: str) -> str:
    return f"subscription#{customer_uid}"


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription(
        customer_uid=item["pk"]["S"].removeprefix("subscription#"),
        plan_id=item["plan_id"]["S"],
        anchor=datetime.fromtimestamp(int(item["anchor"]["N"]), UTC),
        status=item["status"]["S"],
        scheduled_through=int(item["scheduled_through"]["N"]),
        amount=int(item["amount"]["N"]) if "amount" in item else None,
        currency=item["currency"]["S"] if "currency" in item else "KRW",
    )


def _period_item(period: Period) -> dict[str, Any]:
    return {
        "pk": {"S": f"period#{period.merchant_uid}"},
        "customer_uid": {"S": period.customer_uid},
        "period": {"N": str(period.index)},
        "amount": {"N": str(period.amount)},
        "currency": {"S": period.currency},
        "schedule_at": {"N": str(int(period.schedule_at.timestamp()))},
        "expires_at": {"N": str(int((period.schedule_at + PERIOD_RETENTION).timestamp()))},
    }


def _period(item: dict[str, Any]) -> Period:
    return Period(
        merchant_uid=item["pk"]["S"].removeprefix("period#"),
        customer_uid=item["customer_uid"]["S"],
        index=int(item["period"]["N"]),
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        schedule_at=datetime.fromtimestamp(int(item["schedule_at"]["N"]), UTC),
    )


def _unavailable(exc: Exception) -> ConfigurationUnavailable:
    return ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})")
