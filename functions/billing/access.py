"""Who may act on a customer_uid, and how often: ownership records and card-testing counters in DynamoDB.

One table (template.yaml `BillingTable`, partition key `pk`, TTL on `expires_at`) holds:
- `owner#<customer_uid>`: the caller that created the uid (design.md D8), and the tickets of the admissions
  whose key may exist; a claim an admission created is released when it issued nothing and no other
  admission holds the uid (F5). A signed-in caller's claim also carries `customer`, the token's subject:
  the index `customer-keys` lists a customer's uids by it (GET /subscriptions). Once the uid's billing key
  is deleted at PortOne, the record only holds the uid for its owner until the records naming it expire
  (`expires_at`; no `customer`, no tickets), so no other customer's records join theirs; a claim of the
  owner's makes it live again, and gives the hold back if no key comes of it. After an erasure, a
  tombstone (`erased`) nobody can claim, for as long.
- `limits#caller#<caller>#<window>`: `attempts` and `failures` of one caller (a signed-in account, or an
  anonymous caller's address), and the tickets of the attempts holding a failure (`holds`).
- `limits#card#<fingerprint>#<window>`: `attempts` with one card, by anyone.
- `limits#address#<address>#<window>`: `failures` (declined cards) from one address, by anyone.
- `card#<fingerprint>`: `mismatches`, the card's declines in a row for details that do not match it. Reset
  by a success on the card; a card stopped here (two in a row) cannot succeed here, so for it this is a
  stop for a year after its last mismatch (then TTL), and the customer uses another card.
Counters live for one fixed window plus a margin, then DynamoDB's TTL removes them; an expired item is
read as gone and counted afresh (TTL deletes late).

Built for real DynamoDB under load (README, "Card-testing limits"): every write is a conditional update of
one item, never a transaction. A transaction costs twice the write units, and DynamoDB cancels it when
another request touches one of its items, which customers arriving together from one carrier address would
do all day. A signed-in caller's attempts are not counted per address at all, only declined cards are, so
customers who share an address never refuse each other. A billing key costs four writes here (count, card,
claim, settle) and two idempotency writes; a card's details mismatch, and the success that clears it, one
more each.

Exact under concurrency: admission holds one unit of the caller's failure budget before PortOne is called,
and settling gives it back unless the card was declined, so parallel declined cards from one caller reach
PortOne at most `failures_per_caller` times. Each admission has a ticket, and a give-back or a release is
conditional on its ticket, so a write botocore sends twice (after a lost answer) cannot give back twice.

An address whose declined cards reached `failures_per_address` refuses nobody outright (customers behind a
carrier's NAT would pay for a tester's declines): each caller behind it is allowed one failure instead of
`failures_per_caller`, so a customer with no decline still gets through, and a tester gets one per account.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import CardDetailsExhausted, ConfigurationUnavailable, CustomerNotFound, RateLimited
from billing.observability import logger
from billing.records import RECORD_SECONDS

_TTL_MARGIN_SECONDS = 300  # DynamoDB deletes expired items late; the window check does not rely on it
# Details that do not match, in a row, after which a card is not tried again here: issuers typically lock a
# card after three wrong PINs in a row, and the third must be the customer's own choice at the card company.
DETAILS_MISMATCHES_PER_CARD = 2
_MISMATCHES_KEPT_SECONDS = 366 * 24 * 3600
ERASED = "erased"  # the owner of an erased customer's uid: matches no caller
CUSTOMER_INDEX = "customer-keys"  # template.yaml BillingTable: partition `customer`, sort `created_at`
_KEYS_LISTED = 50  # a customer's newest uids: one per card they registered
_CUSTOMERS_BACKFILL = "migration#customer-keys"  # the progress of giving older claims their `customer`
_BACKFILL_PAGE_ITEMS = 500  # items a backfill page reads, before its filter: bounds a run's share of the work

# What became of an admitted attempt: nothing sent to PortOne; sent, with no answer known; the key issued;
# the card declined; or refused by PortOne for a reason that is not the card (no key was issued).
Outcome = Literal["not_sent", "unknown", "issued", "declined", "refused"]
_NO_KEY: frozenset[Outcome] = frozenset({"not_sent", "declined", "refused"})


@dataclass(frozen=True)
class Limits:
    window_seconds: int
    attempts_per_caller: int
    failures_per_caller: int
    attempts_per_card: int
    failures_per_address: int


@dataclass(frozen=True)
class Attempt:
    """One request to act on a customer_uid with a card, as the access rules see it."""

    customer_uid: str
    owner: str  # who the uid belongs to: a new uid is claimed for it, an existing one must already be its
    caller: str  # the subject counted per caller
    address: str  # the client address as counted (an IPv6 /64)
    card: str  # the card's keyed fingerprint
    customer: str | None = None  # a signed-in caller's subject: lists the uid as theirs (GET /subscriptions)


@dataclass
class Admission:
    """An admitted attempt, to be settled once its outcome is known."""

    attempt: Attempt
    window: int  # the window it was counted in: settled in the same one
    ticket: str  # this admission's mark on the caller's holds and on the uid's claim
    new_claim: bool  # this admission created the uid's claim (no live one existed)
    held_until: int | None  # the end of the owner's hold on the uid it claimed (its key was deleted)
    card_mismatches: int  # the card's details mismatches in a row before this attempt
    outcome: Outcome = "not_sent"
    details_mismatch: bool = False  # declined because the details typed do not match the card

    @property
    def issued_nothing(self) -> bool:
        """PortOne answered without a key, or was never sent the card: no key exists for this attempt."""
        return self.outcome in _NO_KEY


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

    def admit(self, attempt: Attempt) -> Admission:
        """Count the attempt and claim or confirm the uid; CardDetailsExhausted, RateLimited or
        CustomerNotFound when refused.

        The limits come before ownership, so a blocked card tester learns nothing about which uids exist.
        The card's mismatches are read, not held: attempts with one card sent at the same moment may pass
        its cap together, within the card's attempts per window.
        """
        window, ticket = self._window_start(), secrets.token_hex(8)
        address_failures, card_mismatches = self._read_before(attempt, window)
        address_capped = address_failures >= self._limits.failures_per_address
        self._count_caller(attempt.caller, window, ticket, 1 if address_capped else None)
        try:
            self._count_card(attempt.card, window)
            # After the limits, which count it: whether a card is stopped here is not free to learn.
            if card_mismatches >= DETAILS_MISMATCHES_PER_CARD:
                raise CardDetailsExhausted("details mismatches in a row on this card")
            new_claim, held_until = self._claim(attempt, ticket)
        except Exception:
            # Refused before PortOne: the card did not fail. A failed give-back must not hide the refusal.
            self._best_effort(self._give_back, attempt.caller, window, ticket)
            raise
        return Admission(
            attempt=attempt,
            window=window,
            ticket=ticket,
            new_claim=new_claim,
            held_until=held_until,
            card_mismatches=card_mismatches,
        )

    def settle(self, admission: Admission) -> None:
        """Settle an admission by its outcome. Best effort: the outcome is known and must reach the client
        even if these writes fail, which leaves the hold counted as a failure (the safe side).

        - A declined card keeps its hold as the caller's failure and counts for the address; declined for
          details that do not match, it counts for the card too, until the card succeeds once.
        - Any other outcome gives the hold back.
        - When no key can come of an attempt that created the uid's claim, its ticket leaves the claim, and
          a claim left with no ticket is released (F5): the uid is free again. A claim that existed before
          the attempt is never released (a key may exist for it), nor one an issued or unknown outcome holds.
        """
        attempt, window, ticket = admission.attempt, admission.window, admission.ticket
        if admission.outcome == "declined":
            self._best_effort(self._count_address_failure, attempt.address, window)
        else:
            self._best_effort(self._give_back, attempt.caller, window, ticket)
        if admission.details_mismatch:
            self._best_effort(self._count_mismatch, attempt.card)
        elif admission.outcome == "issued" and admission.card_mismatches:
            self._best_effort(self._forget_mismatches, attempt.card)
        claimed_here = admission.new_claim or admission.held_until is not None
        if claimed_here and admission.issued_nothing:
            self._best_effort(self._release_claim, admission)
        elif admission.held_until is not None:
            self._best_effort(self._live_again, admission)

    def erase_owner(self, customer_uid: str, until: datetime | None) -> None:
        """An erasure: the uid's owner no longer names the customer. A tombstone that nobody can claim stays
        `until` the records naming the uid expire (so no other customer's records join theirs); with none
        kept, the owner record goes."""
        key = {"pk": {"S": f"owner#{customer_uid}"}}
        if until is None:
            self._call(self._client.delete_item, TableName=self._table, Key=key)
            return
        self._call(
            self._client.put_item,
            TableName=self._table,
            Item={**key, "owner": {"S": ERASED}, "expires_at": {"N": str(int(until.timestamp()))}},
        )

    def key_deleted(self, customer_uid: str, until: datetime) -> None:
        """The uid's billing key is deleted at PortOne: its owner record no longer lists it, and holds the
        uid for the owner only `until` the records naming it expire. A tombstone stays as it is."""
        with suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._call(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": f"owner#{customer_uid}"}},
                UpdateExpression="SET expires_at = :until REMOVE customer, admitted",
                ConditionExpression="attribute_exists(pk) AND #owner <> :erased",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":until": {"N": str(int(until.timestamp()))},
                    ":erased": {"S": ERASED},
                },
            )

    def confirm_owner(self, customer_uid: str, owner: str) -> None:
        """CustomerNotFound unless the uid exists and belongs to `owner` (reads and cancellations, D8)."""
        item = self._call(
            self._client.get_item,
            TableName=self._table,
            Key={"pk": {"S": f"owner#{customer_uid}"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None or item["owner"]["S"] != owner or _expired(item, self._clock()):
            raise CustomerNotFound("customer_uid not owned by the caller")

    def backfill_customers(self, pages: int = 4, page_items: int = _BACKFILL_PAGE_ITEMS) -> bool:
        """Give the live claims of signed-in callers from before `customer` existed their customer, so that
        GET /subscriptions lists them: once, a few pages of `page_items` items a call, resuming where the
        last call stopped (the reconciler calls it). True once the whole table is done."""
        marker = self._call(
            self._client.get_item, TableName=self._table, Key={"pk": {"S": _CUSTOMERS_BACKFILL}}
        ).get("Item")
        if marker is not None and "done" in marker:
            return True
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :owners) AND begins_with(#owner, :signed_in)"
            " AND attribute_not_exists(customer) AND attribute_not_exists(expires_at)",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owners": {"S": "owner#"}, ":signed_in": {"S": "sub:"}},
            "Limit": page_items,
        }
        if marker is not None:
            scan["ExclusiveStartKey"] = {"pk": marker["cursor"]}
        for _ in range(pages):
            page = self._call(self._client.scan, **scan)
            for item in page.get("Items", []):
                owner = item["owner"]["S"]
                with suppress(self._client.exceptions.ConditionalCheckFailedException):  # changed meanwhile
                    self._call(
                        self._client.update_item,
                        TableName=self._table,
                        Key={"pk": item["pk"]},
                        UpdateExpression="SET customer = :customer",
                        ConditionExpression="#owner = :owner AND attribute_not_exists(expires_at)",
                        ExpressionAttributeNames={"#owner": "owner"},
                        ExpressionAttributeValues={
                            ":owner": {"S": owner},
                            ":customer": {"S": owner.removeprefix("sub:")},
                        },
                    )
            if "LastEvaluatedKey" not in page:
                done = {"pk": {"S": _CUSTOMERS_BACKFILL}, "done": {"BOOL": True}}
                self._call(self._client.put_item, TableName=self._table, Item=done)
                return True
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        cursor = {"pk": {"S": _CUSTOMERS_BACKFILL}, "cursor": scan["ExclusiveStartKey"]["pk"]}
        self._call(self._client.put_item, TableName=self._table, Item=cursor)
        return False

    def keys_of(self, customer: str) -> list[str]:
        """The uids `customer` (a token's subject) claimed, newest first; an expired claim is gone."""
        try:
            items = self._client.query(
                TableName=self._table,
                IndexName=CUSTOMER_INDEX,
                KeyConditionExpression="customer = :customer",
                ExpressionAttributeValues={":customer": {"S": customer}},
                ScanIndexForward=False,
                Limit=_KEYS_LISTED,
            )["Items"]
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationUnavailable(f"DynamoDB did not list the keys ({type(exc).__name__})") from None
        # Only live claims carry `customer`: a deleted key's hold and a tombstone never show here.
        return [item["pk"]["S"].removeprefix("owner#") for item in items]

    def _read_before(self, attempt: Attempt, window: int) -> tuple[int, int]:
        """The address's failures in this window and the card's mismatches in a row: one round trip."""
        keys = [self._pk("address", attempt.address, window), f"card#{attempt.card}"]
        response = self._call(
            self._client.batch_get_item,
            RequestItems={self._table: {"Keys": [{"pk": {"S": k}} for k in keys], "ConsistentRead": True}},
        )
        if response.get("UnprocessedKeys"):
            raise ConfigurationUnavailable("DynamoDB left the limits unread")
        items = {item["pk"]["S"]: item for item in response["Responses"].get(self._table, [])}
        address, card = (items.get(k, {}) for k in keys)
        if _expired(card, self._clock()):
            card = {}  # TTL deletes late, and an expired item is gone
        return int(address.get("failures", {}).get("N", "0")), int(card.get("mismatches", {}).get("N", "0"))

    def _count_caller(self, caller: str, window: int, ticket: str, failures: int | None) -> None:
        """One more attempt, and one unit of the failure budget held (under the ticket) until settled."""
        counted = self._update(
            self._pk("caller", caller, window),
            "ADD attempts :one, failures :one, holds :ticket SET expires_at = :expires_at",
            condition="(attribute_not_exists(attempts) OR attempts < :attempts)"
            " AND (attribute_not_exists(failures) OR failures < :failures)",
            values={
                ":one": _number(1),
                ":ticket": {"SS": [ticket]},
                ":expires_at": self._expiry(window),
                ":attempts": _number(self._limits.attempts_per_caller),
                ":failures": _number(failures or self._limits.failures_per_caller),
            },
        )
        if not counted:
            raise RateLimited("caller", self._retry_after())

    def _count_card(self, card: str, window: int) -> None:
        counted = self._update(
            self._pk("card", card, window),
            "ADD attempts :one SET expires_at = :expires_at",
            condition="attribute_not_exists(attempts) OR attempts < :attempts",
            values={
                ":one": _number(1),
                ":expires_at": self._expiry(window),
                ":attempts": _number(self._limits.attempts_per_card),
            },
        )
        if not counted:
            raise RateLimited("card", self._retry_after())

    def _give_back(self, caller: str, window: int, ticket: str) -> None:
        # Once per ticket, and only to a counter that still exists (one TTL deleted must not come back).
        self._update(
            self._pk("caller", caller, window),
            "ADD failures :minus_one DELETE holds :tickets",
            condition="contains(holds, :ticket)",
            values={":minus_one": _number(-1), ":tickets": {"SS": [ticket]}, ":ticket": {"S": ticket}},
        )

    def _count_address_failure(self, address: str, window: int) -> None:
        self._update(
            self._pk("address", address, window),
            "ADD failures :one SET expires_at = :expires_at",
            values={":one": _number(1), ":expires_at": self._expiry(window)},
        )

    def _count_mismatch(self, card: str) -> None:
        now = int(self._clock())
        kept = {":one": _number(1), ":expires_at": _number(now + _MISMATCHES_KEPT_SECONDS)}
        counted = self._update(
            f"card#{card}",
            "ADD mismatches :one SET expires_at = :expires_at",
            condition="attribute_not_exists(expires_at) OR expires_at > :now",
            values={**kept, ":now": _number(now)},
        )
        if not counted:  # an expired count TTL has not deleted yet: this mismatch starts a new one
            self._update(f"card#{card}", "SET mismatches = :one, expires_at = :expires_at", values=kept)

    def _forget_mismatches(self, card: str) -> None:
        self._call(self._client.delete_item, TableName=self._table, Key={"pk": {"S": f"card#{card}"}})

    def _claim(self, attempt: Attempt, ticket: str) -> tuple[bool, int | None]:
        """Claim a new uid, or confirm the caller owns it; either way the ticket joins the claim. Whether
        this attempt created the claim, and, when the uid was the owner's hold (its key deleted), the hold's
        end: the hold stays on the item until the outcome is known (settle), so a resent write sees it too."""
        values = {
            ":owner": {"S": attempt.owner},
            ":now": _number(int(self._clock())),
            ":tickets": {"SS": [ticket]},
            **({":customer": {"S": attempt.customer}} if attempt.customer else {}),
        }
        listed = ", customer = :customer" if attempt.customer else ""
        try:
            old = self._call(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": f"owner#{attempt.customer_uid}"}},
                UpdateExpression="SET #owner = :owner, created_at = if_not_exists(created_at, :now)"
                + listed
                + " ADD admitted :tickets REMOVE expires_at",
                # New, the caller's live claim, or one whose time is over (a tombstone's, a hold's)
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now"
                " OR (#owner = :owner AND attribute_not_exists(expires_at))",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False, self._claim_hold(attempt, values, listed)
        before = old.get("Attributes")
        return before is None or _expired(before, self._clock()), None

    def _claim_hold(self, attempt: Attempt, values: dict[str, Any], listed: str) -> int:
        """The caller's own hold on the uid (its key was deleted): claimed, its end kept; its end, or
        CustomerNotFound when the uid is someone else's (or a tombstone)."""
        try:
            old = self._call(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": f"owner#{attempt.customer_uid}"}},
                UpdateExpression=f"SET #owner = :owner{listed} ADD admitted :tickets",
                ConditionExpression="#owner = :owner AND expires_at > :now",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise CustomerNotFound("customer_uid owned by another caller") from None
        return int(old["Attributes"]["expires_at"]["N"])

    def _live_again(self, admission: Admission) -> None:
        """A claim of the owner's hold from which a key may have come (issued, or unknown): the uid is live
        again, with no end."""
        self._call(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": f"owner#{admission.attempt.customer_uid}"}},
            UpdateExpression="REMOVE expires_at",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": admission.attempt.owner}},
        )

    def _release_claim(self, admission: Admission) -> None:
        """Take the ticket off the claim from which no key came. With no other ticket left, no key can
        exist: a claim this admission created is deleted; the owner's hold it claimed is a hold again,
        unlisted, lasting at least as long as this attempt's own consent record."""
        attempt, ticket = admission.attempt, admission.ticket
        key, owner = {"pk": {"S": f"owner#{attempt.customer_uid}"}}, {"#owner": "owner"}
        unheld = "#owner = :owner AND attribute_not_exists(admitted)"
        with suppress(self._client.exceptions.ConditionalCheckFailedException):  # taken off already
            left = self._call(
                self._client.update_item,
                TableName=self._table,
                Key=key,
                UpdateExpression="DELETE admitted :tickets",
                ConditionExpression="#owner = :owner AND contains(admitted, :ticket)",
                ExpressionAttributeNames=owner,
                ExpressionAttributeValues={
                    ":owner": {"S": attempt.owner},
                    ":ticket": {"S": ticket},
                    ":tickets": {"SS": [ticket]},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
            if "admitted" in left:
                return
            if admission.held_until is None:
                self._call(
                    self._client.delete_item,
                    TableName=self._table,
                    Key=key,
                    ConditionExpression=unheld,
                    ExpressionAttributeNames=owner,
                    ExpressionAttributeValues={":owner": {"S": attempt.owner}},
                )
                return
            until = max(admission.held_until, int(self._clock()) + RECORD_SECONDS)
            self._call(
                self._client.update_item,
                TableName=self._table,
                Key=key,
                UpdateExpression="SET expires_at = :until REMOVE customer",
                ConditionExpression=unheld,
                ExpressionAttributeNames=owner,
                ExpressionAttributeValues={":owner": {"S": attempt.owner}, ":until": _number(until)},
            )

    def _update(
        self, pk: str, expression: str, *, values: dict[str, Any], condition: str | None = None
    ) -> bool:
        """One update of one counter item; False when its condition (a limit) refused it."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            self._call(self._client.update_item, **request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _call(self, operation: Callable[..., Any], **request: Any) -> Any:
        """A DynamoDB call; a failed condition is the caller's to handle, any other failure is a 503."""
        try:
            return operation(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            raise
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise ConfigurationUnavailable(f"DynamoDB refused the attempt ({code})") from None
        except BotoCoreError as exc:
            raise ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})") from None

    def _best_effort(self, write: Callable[..., None], *args: Any) -> None:
        try:
            write(*args)
        except ConfigurationUnavailable:
            logger.error("admission not settled", extra={"outcome": "ADMISSION_NOT_SETTLED"})

    def _pk(self, dimension: str, subject: str, window: int) -> str:
        return f"limits#{dimension}#{subject}#{window}"

    def _expiry(self, window: int) -> dict[str, str]:
        return _number(window + self._limits.window_seconds + _TTL_MARGIN_SECONDS)

    def _window_start(self) -> int:
        now = int(self._clock())
        return now - now % self._limits.window_seconds

    def _retry_after(self) -> int:
        now = int(self._clock())
        return self._limits.window_seconds - now % self._limits.window_seconds


def _expired(item: dict[str, Any], now: float) -> bool:
    """An item whose `expires_at` has passed: gone, whether or not DynamoDB's TTL has deleted it yet."""
    return "expires_at" in item and int(item["expires_at"]["N"]) <= now


def _number(value: int) -> dict[str, str]:
    return {"N": str(value)}
