"""How many PortOne lookups the notice route may make: a counter per minute in DynamoDB (issue 11, F4).

V1 notices are unsigned (§4.6), so the route believes one only after `GET /payments/{imp_uid}`. Notices that
cannot be true cost nothing at PortOne (subscriptions.py checks them against the table first); the rest are
bounded here, so a flood of notices naming a real merchant_uid cannot spend PortOne's capacity that card
requests and renewals need. A notice over the bound is not dropped: the reconciler asks PortOne about its
period (D19), as it would about a lost notice.

`notice-lookups#<minute>`: the lookups counted in that minute (fixed windows), removed by DynamoDB's TTL
(`expires_at`) a few minutes after the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import ConfigurationUnavailable

WINDOW_SECONDS = 60
_TTL_MARGIN_SECONDS = 300  # DynamoDB deletes expired items late; the window's key does not rely on it


class LookupBudget:
    def __init__(
        self, table_name: str, per_minute: int, *, client: Any, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._per_minute = per_minute
        self._client = client
        self._clock = clock

    def take(self) -> bool:
        """Count one lookup in this minute: False, and nothing counted, once the minute's are spent."""
        now = int(self._clock())
        window = now - now % WINDOW_SECONDS
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"notice-lookups#{window}"}},
                UpdateExpression="ADD lookups :one SET expires_at = :expires_at",
                ConditionExpression="attribute_not_exists(lookups) OR lookups < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self._per_minute)},
                    ":expires_at": {"N": str(window + WINDOW_SECONDS + _TTL_MARGIN_SECONDS)},
                },
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            raise ConfigurationUnavailable(f"DynamoDB refused the count ({code})") from None
        except BotoCoreError as exc:
            raise ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})") from None
        return True
