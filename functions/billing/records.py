"""Records kept because Korean law requires them (design.md D16), in a table of their own.

The records table (template.yaml `RecordsTable`: partition key `customer_uid`, sort key `record_id`, TTL on
`expires_at`) is apart from the live data in `BillingTable`, as PIPA §21③ asks of personal information kept
only because another law requires it. Records of contracts and of payments are kept five years
(전자상거래법 시행령 §6①), counted from the contract's end and from each payment:
- `consent#<time>#<random>`: the consents a customer gave with one card request (terms version, items,
  purposes, time, caller), written before PortOne sees the card.
- `price_consent#<subscription>#<period>#<time>`: a consent to a higher price (전자상거래법 §13⑥), written
  with the subscription's change in one transaction (subscription_store.py).
- `payment#<merchant_uid>`: a paid period (amount, when, PortOne's imp_uid), written before the period is
  settled; five years from the payment.
Never card data. A contract's records (its consents) have no expiry while their billing key may be live.
Deleting the key starts their five years; a card change first moves the subscription's own records (a plan's
consent, price consents) to the new key, whose contract goes on. An attempt that issued no key starts them at
once. Reads treat an expired item as gone: DynamoDB's TTL deletes late, typically within two days.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.cards import KST
from billing.errors import ConfigurationUnavailable
from billing.models import KeptRecords
from billing.observability import logger
from billing.terms import Consent

RECORD_SECONDS = 5 * 366 * 86_400  # five years, leap days included
PRICE_CONSENT = "price_consent#"
# What an erasure keeps, by the record's kind, and the law that keeps it.
_KINDS = {
    "consent#": ("consents", "전자상거래법 시행령 제6조 제1항 (계약에 관한 기록, 5년)"),
    PRICE_CONSENT: ("price_consents", "전자상거래법 시행령 제6조 제1항 (계약에 관한 기록, 5년)"),
    "payment#": ("payments", "전자상거래법 시행령 제6조 제1항 (대금결제에 관한 기록, 5년)"),
}


class RecordsStore:
    def __init__(self, table_name: str, *, client: Any, clock: Callable[[], float]) -> None:
        self.table = table_name
        self._client = client
        self._clock = clock

    def record_consent(self, customer_uid: str, consent: Consent, caller: str) -> str:
        """Record what the customer consented to, before anything is sent; its id, to close it by.
        A 503 when it cannot be written: no card goes to PortOne without its consent on record."""
        given_at = datetime.fromtimestamp(self._clock(), UTC).astimezone(KST)
        # Unique without a condition, so the write is safe to send twice (botocore resends a slow one)
        record_id = f"consent#{given_at.isoformat(timespec='microseconds')}#{secrets.token_hex(4)}"
        self._put(
            {
                "customer_uid": {"S": customer_uid},
                "record_id": {"S": record_id},
                "terms_version": {"S": consent.version},
                "items": {"L": [{"S": item_id} for item_id in consent.items]},
                "purposes": {"SS": sorted(consent.purposes)},
                "given_at": {"S": given_at.isoformat()},
                "caller": {"S": caller},
            }
        )
        return record_id

    def record_payment(
        self,
        customer_uid: str,
        *,
        subscription: str,
        merchant_uid: str,
        imp_uid: str,
        amount: int,
        currency: str,
        paid_at: datetime,
        keep_existing: bool = False,
    ) -> None:
        """Record a paid period, kept five years from the payment. The same payment twice is one record;
        `keep_existing`: one recorded already stays as it is (a backfill from a period item, which knows
        when the payment was due, not when PortOne made it)."""
        self._put(
            {
                "customer_uid": {"S": customer_uid},
                "record_id": {"S": f"payment#{merchant_uid}"},
                "subscription": {"S": subscription},
                "imp_uid": {"S": imp_uid},
                "amount": {"N": str(amount)},
                "currency": {"S": currency},
                "paid_at": {"S": paid_at.astimezone(KST).isoformat()},
                "expires_at": {"N": str(int(paid_at.timestamp()) + RECORD_SECONDS)},
            },
            only_if_new=keep_existing,
        )

    def close(self, customer_uid: str, record_id: str) -> None:
        """The contract this record was for never began: keep it five years from now, then let it go.
        Best effort: a record left open is kept too long, never too short."""
        try:
            self._start_retention(customer_uid, record_id, self._five_years())
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "record not closed",
                extra={
                    "outcome": "RECORD_NOT_CLOSED",
                    "customer_uid": customer_uid,
                    "error_fields": [type(exc).__name__],
                },
            )

    def close_customer(self, customer_uid: str) -> datetime:
        """The billing key `customer_uid` is deleted: its contract's records start their five years. Returns
        when the last record naming the uid expires (a payment's five years count from PortOne's clock).
        Raises ConfigurationUnavailable, so the caller's run is repeated (closing twice changes nothing)."""
        until = last = self._five_years()
        try:
            for record in self._records(customer_uid):
                if "expires_at" in record:
                    last = max(last, int(record["expires_at"]["N"]))
                else:
                    self._start_retention(customer_uid, record["record_id"]["S"], until)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"records not closed ({type(exc).__name__})") from None
        return datetime.fromtimestamp(last, UTC)

    def move_contract(self, old_uid: str, new_uid: str) -> None:
        """A card change: the subscription's own records (a plan's consent, price consents) follow it from
        the replaced key to the new one, so deleting the old key does not start their five years."""
        try:
            for record in self._open_records(old_uid):
                record_id = record["record_id"]["S"]
                if "plan" in record.get("purposes", {}).get("SS", []) or record_id.startswith(PRICE_CONSENT):
                    self._client.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": self.table,
                                    "Item": {**record, "customer_uid": {"S": new_uid}},
                                }
                            },
                            {"Delete": {"TableName": self.table, "Key": _key(old_uid, record_id)}},
                        ]
                    )
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"records not moved ({type(exc).__name__})") from None

    def kept(self, customer_uids: list[str]) -> list[KeptRecords]:
        """What is kept of a customer (their billing keys' records), by kind: how many, until when, and why.
        An expired record is gone, whether or not DynamoDB has deleted it yet."""
        now = int(self._clock())
        ends: dict[str, list[int]] = {}
        records = (record for uid in customer_uids for record in self._records(uid))
        try:
            for record in records:
                expires_at = int(record.get("expires_at", {}).get("N", now + RECORD_SECONDS))
                if expires_at > now:
                    prefix = next(p for p in _KINDS if record["record_id"]["S"].startswith(p))
                    ends.setdefault(prefix, []).append(expires_at)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"records not read ({type(exc).__name__})") from None
        return [
            KeptRecords(
                record=_KINDS[prefix][0],
                count=len(times),
                until=datetime.fromtimestamp(max(times), KST),
                law=_KINDS[prefix][1],
            )
            for prefix, times in ends.items()
        ]

    def _open_records(self, customer_uid: str) -> Iterator[dict[str, Any]]:
        return self._records(customer_uid, "attribute_not_exists(expires_at)")

    def _records(self, customer_uid: str, condition: str | None = None) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "customer_uid = :uid",
            "ExpressionAttributeValues": {":uid": {"S": customer_uid}},
            "ConsistentRead": True,
        }
        if condition:
            request["FilterExpression"] = condition
        while True:
            page = self._client.query(**request)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _five_years(self) -> int:
        return int(self._clock()) + RECORD_SECONDS

    def _start_retention(self, customer_uid: str, record_id: str, until: int) -> None:
        # Never on a record moved meanwhile, never again on one already counting its five years
        with suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table,
                Key=_key(customer_uid, record_id),
                UpdateExpression="SET expires_at = :expires_at",
                ConditionExpression="attribute_exists(customer_uid) AND attribute_not_exists(expires_at)",
                ExpressionAttributeValues={":expires_at": {"N": str(until)}},
            )

    def _put(self, item: dict[str, Any], *, only_if_new: bool = False) -> None:
        condition = {"ConditionExpression": "attribute_not_exists(customer_uid)"} if only_if_new else {}
        try:
            with suppress(self._client.exceptions.ConditionalCheckFailedException):
                self._client.put_item(TableName=self.table, Item=item, **condition)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"record not written ({type(exc).__name__})") from None


def _key(customer_uid: str, record_id: str) -> dict[str, Any]:
    return {"customer_uid": {"S": customer_uid}, "record_id": {"S": record_id}}
