"""Subscriptions in DynamoDB: which plan a customer is on, since when, and how far it is scheduled.

`subscription#<customer_uid>` (one per billing key) holds the plan, the anchor (when period 0 is due), the
status and `scheduled_through`, the last period index handed to PortOne. No card data, no amounts beyond the
plan id: the catalog is the source of amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import ConfigurationUnavailable, SubscriptionExists


@dataclass(frozen=True)
class Subscription:
    customer_uid: str
    plan_id: str
    anchor: datetime
    status: Literal["active", "cancelled"]
    scheduled_through: int  # -1: nothing scheduled yet


class SubscriptionStore:
    def __init__(self, table_name: str, *, client: Any) -> None:
        self._table = table_name
        self._client = client

    def start(self, customer_uid: str, plan_id: str, anchor: datetime) -> tuple[Subscription, bool]:
        """The customer's active subscription to `plan_id`, and whether this call started it: a new one at
        `anchor`, or the one it already has. SubscriptionExists when it is on another plan (cancel it first).
        """
        item = {
            "pk": {"S": _key(customer_uid)},
            "plan_id": {"S": plan_id},
            "anchor": {"N": str(int(anchor.timestamp()))},
            "status": {"S": "active"},
            "scheduled_through": {"N": "-1"},
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
        item = self._get_item(customer_uid)
        return _subscription(item) if item else None

    def mark_scheduled(self, customer_uid: str, through: int) -> None:
        """Record that periods up to `through` are at PortOne; never moves backwards."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _key(customer_uid)}},
                UpdateExpression="SET scheduled_through = :n",
                ConditionExpression="attribute_exists(pk) AND scheduled_through < :n",
                ExpressionAttributeValues={":n": {"N": str(through)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None

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

    def _get_item(self, customer_uid: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": _key(customer_uid)}}, ConsistentRead=True
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
    )


def _unavailable(exc: Exception) -> ConfigurationUnavailable:
    return ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})")
