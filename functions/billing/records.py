"""Records kept because Korean law requires them (design.md D16), in a table of their own.

The records table (template.yaml `RecordsTable`: partition key `customer_uid`, sort key `record_id`, TTL on
`expires_at`) is apart from the live data in `BillingTable`, as PIPA §21③ asks of personal information kept
only because another law requires it. It holds:
- `consent#<time>#<random>`: the consents a customer gave with one card request (terms version, items,
  purposes, time, caller), written before PortOne sees the card. Never card data.

A record has no expiry while its contract may be live; the attempt that ends without a billing key starts
the 5 years (전자상거래법 시행령 §6: records of contracts) at once. Reads treat an expired item as gone:
DynamoDB's TTL deletes late, typically within two days.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.cards import KST
from billing.errors import ConfigurationUnavailable
from billing.observability import logger
from billing.terms import Consent

CONTRACT_RECORD_SECONDS = 5 * 366 * 86_400  # five years, leap days included


class RecordsStore:
    def __init__(self, table_name: str, *, client: Any, clock: Callable[[], float]) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def record_consent(self, customer_uid: str, consent: Consent, caller: str) -> str:
        """Record what the customer consented to, before anything is sent; its key, to close it by.
        A 503 when it cannot be written: no card goes to PortOne without its consent on record."""
        given_at = datetime.fromtimestamp(self._clock(), UTC).astimezone(KST)
        # Unique without a condition, so the write is safe to send twice (botocore resends a slow one)
        record_id = f"consent#{given_at.isoformat(timespec='microseconds')}#{secrets.token_hex(4)}"
        item = {
            "customer_uid": {"S": customer_uid},
            "record_id": {"S": record_id},
            "terms_version": {"S": consent.version},
            "items": {"L": [{"S": item_id} for item_id in consent.items]},
            "purposes": {"SS": sorted(consent.purposes)},
            "given_at": {"S": given_at.isoformat()},
            "caller": {"S": caller},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"consent not recorded ({type(exc).__name__})") from None
        return record_id

    def close(self, customer_uid: str, record_id: str) -> None:
        """The contract this record was for never began: keep it for five years from now, then let it go.
        Best effort: a record left open is kept too long, never too short."""
        expires_at = int(self._clock()) + CONTRACT_RECORD_SECONDS
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"customer_uid": {"S": customer_uid}, "record_id": {"S": record_id}},
                UpdateExpression="SET expires_at = :expires_at",
                ConditionExpression="attribute_exists(customer_uid)",
                ExpressionAttributeValues={":expires_at": {"N": str(expires_at)}},
            )
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "record not closed",
                extra={
                    "outcome": "RECORD_NOT_CLOSED",
                    "customer_uid": customer_uid,
                    "error": type(exc).__name__,
                },
            )
