"""Who may act on a customer_uid, and how often: ownership records and card-testing counters in DynamoDB.

One table (template.yaml `BillingTable`, partition key `pk`, TTL on `expires_at`) holds:
- `owner#<customer_uid>`: the caller that created the uid (design.md D8); never expires.
- `attempts#<dimension>#<subject>#<window>`: attempts per caller, client IP and card fingerprint (D9).
- `failures#caller#<subject>#<window>`: card rejections per caller.
Counters live for one fixed window plus a margin, then DynamoDB's TTL removes them.

`admit` is one TransactWriteItems: the ownership claim, the three attempt counters and the failure check
succeed or fail together, so a blocked request counts nothing and costs one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import ConfigurationUnavailable, CustomerNotFound, RateLimited
from billing.observability import logger

_TTL_MARGIN_SECONDS = 300  # DynamoDB deletes expired items late; the window check does not rely on it


@dataclass(frozen=True)
class Limits:
    window_seconds: int
    attempts_per_caller: int
    attempts_per_ip: int
    attempts_per_card: int
    failures_per_caller: int


@dataclass(frozen=True)
class Attempt:
    """One request to act on a customer_uid with a card, as the access rules see it."""

    customer_uid: str
    owner: str  # who the uid belongs to: a new uid is claimed for it, an existing one must already be its
    caller: str  # the subject counted per caller
    client_ip: str
    card: str  # the card's keyed fingerprint


class AccessStore:
    def __init__(
        self,
        table_name: str,
        limits: Limits,
        *,
        client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._limits = limits
        self._client = client
        self._clock = clock

    def admit(self, attempt: Attempt) -> None:
        """Claim or confirm the uid and count the attempt; CustomerNotFound or RateLimited when refused."""
        window, expires_at = self._window()
        counters = [
            ("caller", attempt.caller, self._limits.attempts_per_caller),
            ("ip", attempt.client_ip, self._limits.attempts_per_ip),
            ("card", attempt.card, self._limits.attempts_per_card),
        ]
        items = [self._claim(attempt)]
        items += [
            self._count(f"attempts#{d}#{s}#{window}", "attempts", limit, expires_at)
            for d, s, limit in counters
        ]
        items.append(
            self._below(f"failures#caller#{attempt.caller}#{window}", self._limits.failures_per_caller)
        )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise ConfigurationUnavailable(
                    f"DynamoDB refused the attempt ({exc.response['Error']['Code']})"
                ) from None
            self._raise_for(exc, [d for d, _, _ in counters])
        except BotoCoreError as exc:
            raise ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})") from None

    def confirm_owner(self, customer_uid: str, owner: str) -> None:
        """CustomerNotFound unless the uid exists and belongs to `owner` (reads and cancellations, D8)."""
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": f"owner#{customer_uid}"}}, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})") from None
        if item is None or item["owner"]["S"] != owner:
            raise CustomerNotFound("customer_uid not owned by the caller")

    def count_failure(self, caller: str) -> None:
        """One more card rejection for the caller in this window.

        Best effort: the card's answer is already known and must reach the client even if this write fails.
        """
        window, expires_at = self._window()
        update = self._count(f"failures#caller#{caller}#{window}", "failures", None, expires_at)["Update"]
        try:
            self._client.update_item(**update)
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "failure not counted",
                extra={"outcome": "FAILURE_NOT_COUNTED", "error_fields": [type(exc).__name__]},
            )

    def _window(self) -> tuple[int, int]:
        now = int(self._clock())
        start = now - now % self._limits.window_seconds
        return start, start + self._limits.window_seconds + _TTL_MARGIN_SECONDS

    def _retry_after(self) -> int:
        now = int(self._clock())
        return self._limits.window_seconds - now % self._limits.window_seconds

    def _claim(self, attempt: Attempt) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": f"owner#{attempt.customer_uid}"}},
                "UpdateExpression": "SET #owner = :owner, created_at = if_not_exists(created_at, :now)",
                "ConditionExpression": "attribute_not_exists(pk) OR #owner = :owner",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {
                    ":owner": {"S": attempt.owner},
                    ":now": {"N": str(int(self._clock()))},
                },
            }
        }

    def _count(self, pk: str, attribute: str, limit: int | None, expires_at: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "ADD #n :one SET expires_at = :expires_at",
            "ExpressionAttributeNames": {"#n": attribute},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":expires_at": {"N": str(expires_at)}},
        }
        if limit is not None:
            update["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :limit"
            update["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        return {"Update": update}

    def _below(self, pk: str, limit: int) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"pk": {"S": pk}},
                "ConditionExpression": "attribute_not_exists(failures) OR failures < :limit",
                "ExpressionAttributeValues": {":limit": {"N": str(limit)}},
            }
        }

    def _raise_for(self, exc: ClientError, dimensions: list[str]) -> None:
        """Turn the transaction's cancellation reasons (one per item, in order) into the API's answer."""
        reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
        failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
        if not failed:
            raise ConfigurationUnavailable(f"DynamoDB cancelled the attempt ({','.join(reasons)})") from None
        # Items: 0 the claim, 1..3 the attempt counters, 4 the failure check. A limit wins over ownership,
        # so a blocked card tester learns nothing about which uids exist.
        for index, dimension in enumerate([*dimensions, "failures"], start=1):
            if index in failed:
                raise RateLimited(dimension, self._retry_after()) from None
        raise CustomerNotFound("customer_uid owned by another caller") from None
