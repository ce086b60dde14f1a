"""Subscriptions in DynamoDB: which plan a customer is on, at what price, since when, how far it is scheduled
and settled, and when the reconciler should look at it next.

- `subscription#<id>`: one subscription, under an id of its own (20 hex digits, minted when it starts; the
  merchant_uids of its periods derive from it, never from a customer_uid, so a card change keeps them). The
  billing key its periods are charged to now (`customer_uid`), the plan, the price fixed when it started
  (`amount`, `currency`; the catalog's later prices do not change it), the anchor (when period 0 is due), the
  status, `scheduled_through` (the last period handed to PortOne), `settled_through` (the last period whose
  outcome is known), `card` (how many times the card changed) and, during a card change, `moving` (the
  merchant_uids on the replaced key still to be revoked or settled) and `retired` (that key, deleted once
  nothing is pending on it), and `price_change` (a price the merchant moved it to, from which period, and
  the customer's consent) until that period is settled. While it has work at PortOne it also carries `work`
  = "due" and `next_work_at`, the keys of the sparse index `work-by-time` that the reconciler pages
  through. Kept while it lives; once it has ended (its key deleted), as long as its last period (400 days),
  and its pointers with it.
  Subscriptions from before ids are keyed by their customer_uid and have no `customer_uid` attribute; their
  periods keep the merchant_uids `sub_<digest>_<YYYYMMDD>` until a card change gives them an id.
- `customer#<customer_uid>`: which subscription a billing key belongs to (`subscription`), for the routes,
  which name the key. One per key the subscription has used.
- `period#<merchant_uid>`: one attempt at one period as it was handed to PortOne: which subscription
  (`subscription`), which key, which period and attempt, the amount, when, and its outcome once known
  (`status`, `imp_uid`). The index `period-ids` (`subscription`, `period`) lists all the provider ids of
  a period. A notice is checked against it, never against today's catalog. Live data, kept 400 days from
  its time (past every notice, retry, suspension and card dispute window); the record the law asks of a
  paid one (five years) is in the records table (records.py), as is a customer's consent to a higher price
  (전자상거래법 §13⑥: who, the old and new price, from when, which card, when), written with the change.

- `event#<id>`: a change of a subscription's state (started, card_changed, price_change_requested,
  price_change_accepted, price_change_lapsed, past_due, reactivated, suspended, cancelled, ended), written
  in the same transaction as the change (an outbox); the table's stream hands it to `events.py`, which
  publishes it to EventBridge. Kept seven days.

No card data in any. Every change of `scheduled_through` or `settled_through` is conditional, so the
notice and the reconciler, in either order or at once, cannot move either backwards or record twice.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import BillingKeyReplaced, ConfigurationUnavailable, RequestInProgress, SubscriptionExists
from billing.records import PRICE_CONSENT

PERIOD_RETENTION = timedelta(days=400)  # live data only: the law's payment records are in records.py
# An ended subscription and its pointers: as long as its last period (no notice, retry or dispute is left)
ENDED_RETENTION = PERIOD_RETENTION
EVENT_RETENTION = timedelta(days=7)
WORK_INDEX = "work-by-time"  # template.yaml BillingTable: partition `work`, sort `next_work_at`
PERIOD_INDEX = "period-ids"  # template.yaml BillingTable: partition `subscription`, sort `period`
_WORK = "due"
# Where the one-time upgrade of older subscriptions (a place in the work index, a recorded price) keeps its
# progress. (`migration#work-by-time` was the first upgrade's marker: done where it ran, so a new one.)
_BACKFILL = "migration#work-and-price"
_BACKFILL_PAGE_ITEMS = 500  # items a backfill page reads, before its filter: bounds a run's share of the work

# moved: revoked at PortOne by a card change and registered again on the new key.
PeriodStatus = Literal["scheduled", "paid", "failed", "cancelled", "revoked", "moved"]


# A price increase needs the customer's consent within the 30 days before the first period at the new
# price (전자상거래법 §13⑥, 시행령 §20조의2); it is decided this long before that period, leaving time to
# register it.
CONSENT_WINDOW = timedelta(days=30)
DECISION_LEAD = timedelta(hours=1)


@dataclass(frozen=True)
class PriceChange:
    """The merchant moved the subscription to another price (the catalog's), from period `period` on (due
    `at`). A higher price needs the customer's consent within the 30 days before `at` (전자상거래법 §13⑥);
    without it by `consent_until` the change `lapsed`."""

    amount: int
    period: int
    at: datetime
    consented_at: datetime | None = None
    lapsed: bool = False

    @property
    def consent_from(self) -> datetime:
        return self.at - CONSENT_WINDOW

    @property
    def consent_until(self) -> datetime:
        """The decision time: consent counts only before it."""
        return self.at - DECISION_LEAD


@dataclass(frozen=True)
class Subscription:
    key: str  # where the table keeps it: its id, or for one from before ids, its first customer_uid
    id: str | None  # what its merchant_uids derive from; None: from before ids (the legacy merchant_uids)
    customer_uid: str  # the billing key its periods are charged to now
    plan_id: str
    anchor: datetime
    # past_due: a renewal was declined and is being retried; suspended: its last retry failed too.
    status: Literal["active", "past_due", "suspended", "cancelled"]
    scheduled_through: int  # -1: nothing scheduled yet
    settled_through: int | None  # -1: no outcome known yet; None: started before outcomes were recorded
    amount: int | None  # each period's price, fixed at the start; None: started before prices were recorded
    currency: str
    # Cancelled at the end of the paid period, or suspended: then it ends and the billing key is deleted.
    ends_at: datetime | None = None
    attempt: int = 0  # the open period's current attempt: 0, then 1, 2, ... for its retries
    card: int = 0  # card changes so far; a period moved to a new card gets a new merchant_uid
    moving: frozenset[str] = frozenset()  # merchant_uids on a replaced key, still to revoke or settle
    retired: frozenset[str] = frozenset()  # replaced keys, deleted at PortOne once nothing is moving
    former: frozenset[str] = frozenset()  # replaced keys already deleted (for an erasure to find)
    price_change: PriceChange | None = None  # until the first period it concerns is settled
    announced: bool = False  # cancelled, and its end known and published (`cancelled`)


@dataclass(frozen=True)
class Period:
    """One attempt at one period of a subscription, as handed to PortOne, and its outcome once known."""

    merchant_uid: str
    subscription: str  # the subscription's key
    customer_uid: str  # the billing key it was handed to PortOne on
    index: int
    amount: int
    currency: str
    schedule_at: datetime
    status: PeriodStatus = "scheduled"
    imp_uid: str | None = None
    attempt: int = 0  # 0: the period's own payment; n: its n-th retry, under its own merchant_uid

    def settled(self, status: PeriodStatus, imp_uid: str | None) -> Period:
        return replace(self, status=status, imp_uid=imp_uid)


class SubscriptionStore:
    def __init__(self, table_name: str, *, records_table: str, client: Any) -> None:
        self._table = table_name
        self._records_table = records_table  # where a price consent is kept (records.py)
        self._client = client

    def start(
        self,
        customer_uid: str,
        plan_id: str,
        anchor: datetime,
        *,
        amount: int,
        currency: str,
        next_work_at: datetime,
    ) -> tuple[Subscription, bool]:
        """The customer's subscription to `plan_id`, and whether this call started it: a new one at `anchor`
        and the price `amount` (also in place of a cancelled or suspended one), or the one it already has,
        at the price it started with. SubscriptionExists when it is on another plan (cancel it first).
        """
        existing = self.for_customer(customer_uid)
        if existing is not None and existing.status not in ("cancelled", "suspended"):
            return self._existing(existing, plan_id), False
        subscription_id = secrets.token_hex(10)
        item = {
            "pk": {"S": _key(subscription_id)},
            "id": {"S": subscription_id},
            "customer_uid": {"S": customer_uid},
            "plan_id": {"S": plan_id},
            "anchor": {"N": str(int(anchor.timestamp()))},
            "status": {"S": "active"},
            "scheduled_through": {"N": "-1"},
            "settled_through": {"N": "-1"},
            "amount": {"N": str(amount)},
            "currency": {"S": currency},
            "work": {"S": _WORK},
            "next_work_at": {"N": _epoch(next_work_at)},
        }
        # The key's pointer decides between concurrent sign-ups: it must still be as read.
        writes = [self._point(customer_uid, subscription_id, existing), self._put_new(item)]
        if existing is not None:
            # A cancelled or suspended one is replaced (a new sign-up): it must not delete the key it shared,
            # and it goes as an ended one does.
            gone = {"N": _epoch(datetime.now(UTC) + ENDED_RETENTION)}
            writes.append(
                self._subscription_update(
                    existing.key,
                    "SET #status = :cancelled, expires_at = :gone REMOVE #work, next_work_at, ends_at",
                    "#status = :read AND plan_id = :plan AND anchor = :anchor",
                    {":cancelled": {"S": "cancelled"}, ":gone": gone, **_as_read(existing)},
                )
            )
        # `subscription.started` comes with its first periods at PortOne (mark_scheduled): a sign-up whose
        # card is then refused never started.
        if not self._transact(writes):
            current = self.for_customer(customer_uid)
            if current is None:  # changed between our write and our read: the caller may retry
                raise ConfigurationUnavailable("subscription changed concurrently") from None
            return self._existing(current, plan_id), False
        return _subscription(item), True

    def get(self, key: str) -> Subscription | None:
        """The subscription kept under `key` (a Subscription's or a Period's `subscription`)."""
        item = self._get_item(_key(key))
        return _subscription(item) if item else None

    def for_customer(self, customer_uid: str) -> Subscription | None:
        """The subscription whose periods are charged to the billing key `customer_uid` now; None when there
        is none. BillingKeyReplaced when a card change replaced that key: the subscription has a new uid."""
        pointer = self._get_item(f"customer#{customer_uid}")
        found = self.get(pointer["subscription"]["S"] if pointer else customer_uid)
        if found is None or found.customer_uid == customer_uid:
            return found
        # Kept under this uid without a pointer: one from before ids whose card changed (it has an id now),
        # or merely a subscription whose own id happens to be this uid.
        if pointer is not None or found.id != found.key:
            raise BillingKeyReplaced("a card change replaced this key")
        return None

    def change_card(self, subscription: Subscription, customer_uid: str, moving: list[str]) -> Subscription:
        """Charge the subscription's periods to the new key `customer_uid` from now on: `moving` (its
        periods pending on the old key) are to be revoked there and registered again on the new key (see
        `moved`), and the old key is deleted once none is left. A subscription from before ids gets one
        now. RequestInProgress when it changed meanwhile (another card change, a notice): the caller
        retries."""
        subscription_id = subscription.id or secrets.token_hex(10)
        assignments = (
            "SET customer_uid = :new, #id = :id, card = :card, #work = :work, next_work_at = :at"
            " ADD retired :old" + (", moving :moving" if moving else "")
        )
        values: dict[str, Any] = {
            ":new": {"S": customer_uid},
            ":uid": {"S": subscription.customer_uid},
            ":id": {"S": subscription_id},
            ":card": {"N": str(subscription.card + 1)},
            ":card_read": {"N": str(subscription.card)},
            ":old": {"SS": [subscription.customer_uid]},
            ":work": {"S": _WORK},
            ":at": {"N": _epoch(datetime.now(UTC))},
            ":through": {"N": str(subscription.scheduled_through)},
            ":attempt": {"N": str(subscription.attempt)},
            **_as_read(subscription),
        }
        if moving:
            values[":moving"] = {"SS": moving}
        change = subscription.price_change
        # A consent to a higher price was a consent to pay with the old card: the new one needs its own.
        withdrawn = change is not None and change.consented_at is not None and not _registered(subscription)
        if withdrawn:
            assignments += " REMOVE price_change.consented_at"
        update = self._subscription_update(
            subscription.key,
            assignments,
            # Still on the key and card read: of two card changes made at once, the second is refused.
            "#status = :read AND plan_id = :plan AND anchor = :anchor AND attribute_not_exists(moving)"
            " AND scheduled_through = :through AND (attribute_not_exists(attempt) OR attempt = :attempt)"
            " AND (attribute_not_exists(card) OR card = :card_read) AND " + _ON_KEY,
            values,
        )
        # The merchant learns the new uid from the event (its records name the customer by it).
        announce = self._event(
            replace(subscription, customer_uid=customer_uid),
            "subscription.card_changed",
            previous_customer_uid=subscription.customer_uid,
            price_consent_withdrawn=withdrawn,
        )
        if not self._transact([update, self._point(customer_uid, subscription.key, None), announce]):
            raise RequestInProgress("the subscription changed meanwhile")
        changed = self.get(subscription.key)
        assert changed is not None
        return changed

    def moved(self, subscription: Subscription, period: Period, replacement: Period | None) -> bool:
        """A period pending on a replaced key is no longer there: revoked (or never registered), with
        `replacement`, its next attempt on the new key, recorded with it; or run by PortOne first (None:
        its outcome is settled as any other's). False when another writer recorded it already."""
        condition = "contains(moving, :m)"
        values = {":mu": {"SS": [period.merchant_uid]}, ":m": {"S": period.merchant_uid}}
        writes = [self._subscription_update(subscription.key, "DELETE moving :mu", condition, values)]
        if replacement is not None:
            writes += [self._put_period(period.settled("moved", None)), self._put_period(replacement)]
        return self._transact(writes)

    def change_price(self, subscription: Subscription, change: PriceChange, current_amount: int) -> bool:
        """Move the subscription from `current_amount` (what it pays now, its price from here on) to
        `change`, replacing an earlier change, while it is as read and none of the periods `change`
        concerns is at PortOne yet. False when it changed meanwhile."""
        update = self._subscription_update(
            subscription.key,
            "SET price_change = :change, amount = :amount",
            "#status = :read AND plan_id = :plan AND anchor = :anchor AND scheduled_through = :through",
            {
                ":change": _price_change_value(change),
                ":amount": {"N": str(current_amount)},
                ":through": {"N": str(subscription.scheduled_through)},
                **_as_read(subscription),
            },
        )
        requested = self._event(
            subscription,
            "subscription.price_change_requested",
            previous_amount=current_amount,
            amount=change.amount,
            period_at=int(change.at.timestamp()),
            consent_required=change.amount > current_amount,
            consent_from=int(change.consent_from.timestamp()),
            consent_until=int(change.consent_until.timestamp()),
        )
        return self._transact([update, requested])

    def consent_to_price(
        self, subscription: Subscription, change: PriceChange, record: dict[str, Any], now: datetime
    ) -> bool:
        """Record the customer's consent to `change` (and, in the same transaction, the consent `record` in
        the records table, records.py), and make the subscription the reconciler's work `now` (a period
        waiting for the consent registers). False when the change is no longer open (replaced, consented
        already, or lapsed), or the card changed meanwhile (the consent named the old card)."""
        assert change.consented_at is not None
        update = self._subscription_update(
            subscription.key,
            "SET price_change.consented_at = :at, #work = :work, next_work_at = :now",
            f"{_OPEN_CHANGE} AND (attribute_not_exists(customer_uid) OR customer_uid = :uid)",
            {
                ":at": {"N": _epoch(change.consented_at)},
                ":work": {"S": _WORK},
                ":now": {"N": _epoch(now)},
                ":uid": {"S": subscription.customer_uid},
                **_change_values(change),
            },
        )
        item = {
            "record_id": {
                "S": f"{PRICE_CONSENT}{subscription.key}#{change.period}#{_epoch(change.consented_at)}"
            },
            **{name: _attribute(value) for name, value in record.items()},  # its customer_uid among them
        }
        accepted = self._event(
            subscription,
            "subscription.price_change_accepted",
            amount=change.amount,
            period_at=int(change.at.timestamp()),
        )
        return self._transact([update, {"Put": {"TableName": self._records_table, "Item": item}}, accepted])

    def lapse_price_change(self, subscription: Subscription, change: PriceChange, *, ending: bool) -> bool:
        """No consent came in time: the change lapsed, and the price is kept or (`ending`) the subscription
        is cancelled in the same write, paid until the change's first period (then the reconciler deletes
        its key). False when it was consented to, or lapsed, meanwhile."""
        assignments = "SET price_change.lapsed = :true"
        values = {":true": {"BOOL": True}, **_change_values(change)}
        events = [
            self._event(
                subscription,
                "subscription.price_change_lapsed",
                amount=change.amount,
                outcome="ended" if ending else "kept",
            )
        ]
        if ending:
            assignments += ", #status = :cancelled, ends_at = :end, announced = :true"
            assignments += ", #work = :work, next_work_at = :end"
            values |= {
                ":cancelled": {"S": "cancelled"},
                ":end": {"N": _epoch(change.at)},
                ":work": {"S": _WORK},
            }
            events.append(
                self._event(subscription, "subscription.cancelled", ends_at=int(change.at.timestamp()))
            )
        update = self._subscription_update(subscription.key, assignments, _OPEN_CHANGE, values)
        return self._transact([update, *events])

    def periods_of(self, subscription: Subscription) -> list[Period]:
        """Every recorded period of the subscription (each attempt, on each key), read consistently."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PERIOD_INDEX,
            "KeyConditionExpression": "subscription = :key",
            "ExpressionAttributeValues": {":key": {"S": subscription.key}},
        }
        keys: list[str] = []
        while True:
            try:
                page = self._client.query(**query)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(exc) from None
            keys += [item["pk"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        items = [self._get_item(pk) for pk in keys]
        return [_period(item) for item in items if item is not None]

    def erase(self, subscription: Subscription, periods: list[Period]) -> None:
        """An erasure: delete the subscription's `periods`, then, in one transaction, the subscription and
        the pointers of every key it used (its key is deleted at PortOne already; what the law keeps is in
        the records table). A run cut short is finished by the next: the pointer that finds the subscription
        goes with it."""
        for period in periods:
            pk = f"period#{period.merchant_uid}"
            self._write(lambda pk=pk: self._client.delete_item(TableName=self._table, Key={"pk": {"S": pk}}))
        uids = {subscription.customer_uid, *subscription.retired, *subscription.former}
        deletes = [_key(subscription.key), *(f"customer#{uid}" for uid in sorted(uids))]
        self._transact([{"Delete": {"TableName": self._table, "Key": {"pk": {"S": pk}}}} for pk in deletes])

    def retire(self, subscription: Subscription, customer_uid: str) -> None:
        """A replaced billing key is deleted at PortOne: no longer retired, but remembered as a former key."""
        update = self._subscription_update(
            subscription.key,
            "DELETE retired :old ADD former :old",
            "attribute_exists(pk)",
            {":old": {"SS": [customer_uid]}},
        )["Update"]
        self._write(lambda: self._client.update_item(**update))

    def mark_scheduled(
        self,
        subscription: Subscription,
        periods: list[Period],
        next_work_at: datetime,
        *,
        starts: str | None = None,
    ) -> bool:
        """Record `periods` as handed to PortOne, in one transaction with `scheduled_through`, which never
        moves backwards. `starts`: the plan of a subscription whose first periods these are, which is then
        `subscription.started`. False when nothing was written: another writer recorded them already (a
        notice delivered twice), or the subscription is no longer active on that key."""
        through = max(period.index for period in periods)
        condition = "#status = :active AND scheduled_through < :n AND " + _ON_KEY
        values = {
            ":uid": {"S": subscription.customer_uid},
            ":n": {"N": str(through)},
            ":work": {"S": _WORK},
            ":at": {"N": _epoch(next_work_at)},
            ":active": {"S": "active"},
        }
        started = []
        if starts is not None:
            condition += " AND scheduled_through = :none"
            values[":none"] = {"N": "-1"}
            started = [
                self._event(
                    subscription,
                    "subscription.started",
                    plan_id=starts,
                    amount=periods[0].amount,
                    first_at=int(periods[0].schedule_at.timestamp()),
                )
            ]
        advance = self._subscription_update(
            subscription.key,
            "SET scheduled_through = :n, #work = :work, next_work_at = :at",
            condition,
            values,
        )
        return self._transact([advance, *[self._put_period(p) for p in periods], *started])

    def settle(
        self,
        period: Period,
        next_work_at: datetime | None,
        *,
        reactivate: bool = False,
        price_from_now: bool = False,
    ) -> None:
        """Record a period's outcome and move `settled_through` up to it, in one transaction; `next_work_at`
        None: the subscription has no more work at PortOne. `reactivate`: a past_due subscription whose
        retry was paid is active again. `price_from_now`: the period is the first of a price change, whose
        amount is the subscription's price from now on. Settling it again changes nothing."""
        assignments = "settled_through = :n, attempt = :zero" + (", #status = :active" if reactivate else "")
        if price_from_now:
            assignments += ", amount = :amount"
        # Periods settle in order: a later one's outcome waits until the one before it is known.
        condition = (
            "attribute_exists(pk) AND (attribute_not_exists(settled_through) OR settled_through = :prev)"
        )
        values = {
            ":n": {"N": str(period.index)},
            ":prev": {"N": str(period.index - 1)},
            ":zero": {"N": "0"},
            **_work_values(next_work_at),
        }
        if price_from_now:
            # Only the change read: a newer one written meanwhile stays (this settle is then retried).
            condition += " AND price_change.period <= :n"
            values[":amount"] = {"N": str(period.amount)}
        if reactivate:
            condition += " AND #status = :past_due"
            values |= {":active": {"S": "active"}, ":past_due": {"S": "past_due"}}
        expression = _with_work(assignments, next_work_at, ("price_change",) if price_from_now else ())
        settle = self._subscription_update(period.subscription, expression, condition, values)
        events = [self._event(period, "subscription.reactivated", merchant_uid=period.merchant_uid)]
        self._transact([settle, self._put_period(period), *(events if reactivate else [])])

    def fail_attempt(self, failed: Period, retry: Period, next_work_at: datetime) -> bool:
        """A renewal attempt declined: the subscription is past_due and `retry` is its next attempt, recorded
        with the failed one in one transaction. False when this attempt was handled already."""
        update = self._subscription_update(
            failed.subscription,
            "SET #status = :past_due, attempt = :next, #work = :work, next_work_at = :at",
            _OPEN_ATTEMPT,
            {
                ":past_due": {"S": "past_due"},
                ":next": {"N": str(retry.attempt)},
                ":work": {"S": _WORK},
                ":at": {"N": _epoch(next_work_at)},
                **_open_attempt_values(failed),
            },
        )
        past_due = self._event(
            failed,
            "subscription.past_due",
            merchant_uid=failed.merchant_uid,
            retry_merchant_uid=retry.merchant_uid,
            retry_at=int(retry.schedule_at.timestamp()),
        )
        return self._transact([update, self._put_period(failed), self._put_period(retry), past_due])

    def suspend(self, failed: Period, ends_at: datetime) -> bool:
        """The last attempt of a renewal declined: the subscription is suspended, and ends at `ends_at` unless
        the customer subscribes again before. False when this attempt was handled already."""
        update = self._subscription_update(
            failed.subscription,
            "SET #status = :suspended, settled_through = :p, attempt = :zero, ends_at = :end,"
            " #work = :work, next_work_at = :end",
            _OPEN_ATTEMPT,
            {
                ":suspended": {"S": "suspended"},
                ":zero": {"N": "0"},
                ":end": {"N": _epoch(ends_at)},
                ":work": {"S": _WORK},
                **_open_attempt_values(failed),
            },
        )
        suspended = self._event(
            failed,
            "subscription.suspended",
            merchant_uid=failed.merchant_uid,
            ends_at=int(ends_at.timestamp()),
        )
        return self._transact([update, self._put_period(failed), suspended])

    def reschedule_work(self, subscription: Subscription, next_work_at: datetime | None) -> None:
        """When the reconciler should look at the subscription again (None: never, it has no work). Only
        while it is as it was read: a subscription started again meanwhile keeps its own work."""
        update = self._subscription_update(
            subscription.key,
            _with_work("", next_work_at),
            "#status = :read AND plan_id = :plan AND anchor = :anchor",
            {**_work_values(next_work_at), **_as_read(subscription)},
        )["Update"]
        self._write(lambda: self._client.update_item(**update))

    def due_by(self, key: str, at: datetime) -> None:
        """The reconciler looks at the renewing subscription under `key` by `at` at the latest (a notice
        about it was deferred, notices.py); work due sooner stays as it is."""
        update = self._subscription_update(
            key,
            "SET #work = :work, next_work_at = :at",
            "#status IN (:active, :past_due) AND (attribute_not_exists(next_work_at) OR next_work_at > :at)",
            {
                ":work": {"S": _WORK},
                ":at": {"N": _epoch(at)},
                ":active": {"S": "active"},
                ":past_due": {"S": "past_due"},
            },
        )["Update"]
        self._write(lambda: self._client.update_item(**update))

    def close(self, subscription: Subscription) -> None:
        """A subscription that ended (cancelled at the end of its paid period, or suspended too long) and
        whose billing key is now deleted: it and its pointers expire with its last period."""
        gone = self._expire_pointers(subscription, datetime.now(UTC) + ENDED_RETENTION)
        update = self._subscription_update(
            subscription.key,
            "SET #status = :cancelled, expires_at = :gone REMOVE #work, next_work_at, ends_at",
            "#status = :read AND plan_id = :plan AND anchor = :anchor AND attribute_exists(ends_at)",
            {":cancelled": {"S": "cancelled"}, ":gone": gone, **_as_read(subscription)},
        )
        self._transact([update, self._event(subscription, "subscription.ended")])

    def backfill_work(
        self, now: datetime, prices: dict[str, int], pages: int = 4, page_items: int = _BACKFILL_PAGE_ITEMS
    ) -> bool:
        """Give active subscriptions from before the work index their place in it, due `now`, and those from
        before prices were recorded their plan's price in `prices` (the catalog's when this runs, its first
        run after the upgrade): once, a few pages of `page_items` items a call, resuming where the last
        call stopped. True once the whole table is done."""
        if self.upgraded():
            return True
        marker = self._get_item(_BACKFILL)
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :sub) AND #status IN (:active, :past_due)"
            " AND (attribute_not_exists(#work) OR attribute_not_exists(amount))",
            "ExpressionAttributeNames": {"#status": "status", "#work": "work"},
            "ExpressionAttributeValues": {
                ":sub": {"S": "subscription#"},
                ":active": {"S": "active"},
                ":past_due": {"S": "past_due"},
            },
            "Limit": page_items,
        }
        if marker is not None and "cursor" in marker:
            scan["ExclusiveStartKey"] = {"pk": marker["cursor"]}
        for _ in range(pages):
            try:
                page = self._client.scan(**scan)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(exc) from None
            for item in page.get("Items", []):
                assignments = (
                    "#work = if_not_exists(#work, :work), next_work_at = if_not_exists(next_work_at, :at)"
                )
                values = {
                    ":work": {"S": _WORK},
                    ":at": {"N": _epoch(now)},
                    ":active": {"S": "active"},
                    ":past_due": {"S": "past_due"},
                }
                if item["plan_id"]["S"] in prices:
                    assignments += ", amount = if_not_exists(amount, :amount)"
                    values[":amount"] = {"N": str(prices[item["plan_id"]["S"]])}
                update = self._subscription_update(
                    item["pk"]["S"].removeprefix("subscription#"),
                    "SET " + assignments,
                    "#status IN (:active, :past_due)",
                    values,
                )["Update"]
                self._write(lambda update=update: self._client.update_item(**update))
            if "LastEvaluatedKey" not in page:
                self._write(
                    lambda: self._client.put_item(
                        TableName=self._table, Item={"pk": {"S": _BACKFILL}, "done": {"BOOL": True}}
                    )
                )
                return True
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        cursor = {"pk": {"S": _BACKFILL}, "cursor": scan["ExclusiveStartKey"]["pk"]}
        self._write(lambda: self._client.put_item(TableName=self._table, Item=cursor))
        return False

    def renewing_on(self, plan_id: str, after: str | None, page_size: int = 100) -> Iterator[Subscription]:
        """The subscriptions on `plan_id` that renew (active or past_due), page by page, from the one after
        the key `after` on. A scan: for an operator's rare price change, not a hot path."""
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :sub) AND plan_id = :plan"
            " AND #status IN (:active, :past_due)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":sub": {"S": "subscription#"},
                ":plan": {"S": plan_id},
                ":active": {"S": "active"},
                ":past_due": {"S": "past_due"},
            },
            "ConsistentRead": True,
            "Limit": page_size,
        }
        if after:
            scan["ExclusiveStartKey"] = {"pk": {"S": _key(after)}}
        while True:
            try:
                page = self._client.scan(**scan)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(exc) from None
            yield from (_subscription(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def upgraded(self) -> bool:
        """Whether every subscription from before has its place in the work index and a recorded price."""
        marker = self._get_item(_BACKFILL)
        return marker is not None and "done" in marker

    def with_work_due(self, now: datetime, page_size: int = 25) -> Iterator[str]:
        """The keys of subscriptions whose work is due by `now`, earliest first, page by page.

        A subscription the caller has dealt with moves out of the range (its `next_work_at` is later), so a
        run that stops early leaves the rest first in line for the next run: nothing skipped or repeated.
        """
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": WORK_INDEX,
            "KeyConditionExpression": "#work = :work AND next_work_at <= :now",
            "ExpressionAttributeNames": {"#work": "work"},
            "ExpressionAttributeValues": {":work": {"S": _WORK}, ":now": {"N": _epoch(now)}},
            "Limit": page_size,
        }
        while True:
            try:
                page = self._client.query(**query)
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable(exc) from None
            for item in page.get("Items", []):
                yield item["pk"]["S"].removeprefix("subscription#")
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record(self, period: Period, *, only_if_new: bool = False) -> None:
        """Record one period again as it now stands at PortOne (e.g. registered again, later); with
        `only_if_new`, only one that has no record yet (an outcome recorded meanwhile stays)."""
        put: dict[str, Any] = {"TableName": self._table, "Item": _period_item(period)}
        if only_if_new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        self._write(lambda: self._client.put_item(**put))

    def period(self, merchant_uid: str) -> Period | None:
        """The period recorded under `merchant_uid`; None for one this service did not record."""
        item = self._get_item(f"period#{merchant_uid}")
        return _period(item) if item else None

    def note_lookup(self, merchant_uid: str, now: datetime, every: timedelta) -> bool:
        """Record that a notice about this period is being looked up at PortOne; False when one was looked
        up less than `every` ago (notices.py: a period costs at most one lookup per `every`)."""
        return self._write(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"period#{merchant_uid}"}},
                UpdateExpression="SET looked_up_at = :now",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(looked_up_at) OR looked_up_at <= :since)",
                ExpressionAttributeValues={":now": {"N": _epoch(now)}, ":since": {"N": _epoch(now - every)}},
            )
        )

    def mark_revoked(self, merchant_uid: str) -> None:
        """The customer revoked this period through the API: the reconciler skips it, and does not alarm.
        Only a period still pending: an outcome recorded already stays."""
        update = {
            "TableName": self._table,
            "Key": {"pk": {"S": f"period#{merchant_uid}"}},
            "UpdateExpression": "SET #status = :revoked",
            "ConditionExpression": "#status = :scheduled",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":revoked": {"S": "revoked"}, ":scheduled": {"S": "scheduled"}},
        }
        self._write(lambda: self._client.update_item(**update))

    def cancel(self, subscription: Subscription, follow_up_at: datetime | None) -> None:
        """Stop the subscription at once, so nothing new is registered. No event: `cancelled` says how it
        ends, and a sign-up that never started is simply dropped (`follow_up_at` None): it and its pointer
        are gone at once (expired). Otherwise the reconciler finishes the cancellation at `follow_up_at` if
        the caller could not (PortOne failed)."""
        values = {":cancelled": {"S": "cancelled"}, **_work_values(follow_up_at)}
        assignments = "#status = :cancelled"
        if follow_up_at is None:
            values[":gone"] = self._expire_pointers(subscription, datetime.now(UTC))
            assignments += ", expires_at = :gone"
        update = self._subscription_update(
            subscription.key, _with_work(assignments, follow_up_at), "attribute_exists(pk)", values
        )["Update"]
        self._write(lambda: self._client.update_item(**update))

    def cancelled(self, subscription: Subscription, ends_at: datetime | None) -> None:
        """A stopped subscription ends at `ends_at` (the reconciler deletes the key then), or has ended (None:
        the key is gone; it and its pointers expire with its last period). The first time with
        `subscription.cancelled`; a repeat only updates the end."""
        if ends_at is None:
            gone = self._expire_pointers(subscription, datetime.now(UTC) + ENDED_RETENTION)
            ending, values = "SET expires_at = :gone REMOVE ends_at, #work, next_work_at", {":gone": gone}
        else:
            ending = "SET ends_at = :at, #work = :work, next_work_at = :at"
            values = {":at": {"N": _epoch(ends_at)}, ":work": {"S": _WORK}}
        values[":cancelled"] = {"S": "cancelled"}
        # `announced` makes the event once per cancellation (a new start replaces the whole item).
        announce = "SET announced = :true, " + ending.removeprefix("SET ")
        first = self._subscription_update(
            subscription.key,
            announce,
            "#status = :cancelled AND attribute_not_exists(announced)",
            {**values, ":true": {"BOOL": True}},
        )
        data = {"ends_at": int(ends_at.timestamp()) if ends_at else None}
        if not self._transact([first, self._event(subscription, "subscription.cancelled", **data)]):
            again = self._subscription_update(subscription.key, ending, "#status = :cancelled", values)[
                "Update"
            ]
            self._write(lambda: self._client.update_item(**again))

    # --- DynamoDB -----------------------------------------------------------------------------------------

    def _existing(self, existing: Subscription, plan_id: str) -> Subscription:
        if existing.plan_id != plan_id:
            raise SubscriptionExists(f"on plan {existing.plan_id}")
        return existing

    def _point(self, customer_uid: str, key: str, replacing: Subscription | None) -> dict[str, Any]:
        """The pointer from a billing key to its subscription, written only if it is still as read (none,
        or an expired one, reads as none)."""
        values = {":now": {"N": _epoch(datetime.now(UTC))}}
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {"pk": {"S": f"customer#{customer_uid}"}, "subscription": {"S": key}},
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": values,
        }
        if replacing is not None:
            put["ConditionExpression"] += " OR #to = :replaced"
            put["ExpressionAttributeNames"] = {"#to": "subscription"}
            values[":replaced"] = {"S": replacing.key}
        return {"Put": put}

    def _expire_pointers(self, subscription: Subscription, at: datetime) -> dict[str, str]:
        """Let the pointers of every key the ended subscription used expire `at`, as it will; `at` as a
        value. Written before the subscription's own end, which a retry repeats (setting it again is safe)."""
        gone = {"N": _epoch(at)}
        # A subscription from before ids is kept under its first key, which has no pointer
        uids = {subscription.customer_uid, *subscription.retired, *subscription.former} - {subscription.key}
        for uid in sorted(uids):
            update = {
                "TableName": self._table,
                "Key": {"pk": {"S": f"customer#{uid}"}},
                "UpdateExpression": "SET expires_at = :gone",
                "ConditionExpression": "#to = :key",
                "ExpressionAttributeNames": {"#to": "subscription"},
                "ExpressionAttributeValues": {":gone": gone, ":key": {"S": subscription.key}},
            }
            self._write(lambda update=update: self._client.update_item(**update))
        return gone

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        put = {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        return {"Put": put}

    def _event(self, of: Subscription | Period, kind: str, **data: Any) -> dict[str, Any]:
        """The outbox item of one state change; its `id` is what consumers de-duplicate on."""
        now = datetime.now(UTC)
        item = {
            "pk": {"S": f"event#{uuid.uuid4().hex}"},
            "type": {"S": kind},
            "subscription_id": {"S": of.key if isinstance(of, Subscription) else of.subscription},
            "customer_uid": {"S": of.customer_uid},
            "occurred_at": {"N": str(int(now.timestamp() * 1000))},  # ms: events come unordered
            "data": {"S": json.dumps(data, separators=(",", ":"), sort_keys=True)},
            "expires_at": {"N": _epoch(now + EVENT_RETENTION)},
        }
        return {"Put": {"TableName": self._table, "Item": item}}

    def _subscription_update(
        self, key: str, expression: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": _key(key)}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
        }
        names = {name: name[1:] for name in ("#work", "#status", "#id") if name in expression + condition}
        if names:
            update["ExpressionAttributeNames"] = names
        if values:
            update["ExpressionAttributeValues"] = values
        return {"Update": update}

    def _put_period(self, period: Period) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": _period_item(period)}}

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """True when written; False when the first item's condition failed (already done by another)."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] != ["ConditionalCheckFailed"]:
                raise _unavailable(exc) from None
            return False
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return True

    def _write(self, call: Any) -> bool:
        """An update whose failed condition means there is nothing to change: False then, True if written."""
        try:
            call()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _unavailable(exc) from None
            return False
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return True

    def _get_item(self, pk: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        item: dict[str, Any] | None = response.get("Item")
        if item is not None and "expires_at" in item and int(item["expires_at"]["N"]) <= time.time():
            return None  # expired: gone, though DynamoDB's TTL deletes it late
        return item


def _key(key: str) -> str:
    return f"subscription#{key}"


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _with_work(assignments: str, next_work_at: datetime | None, removals: tuple[str, ...] = ()) -> str:
    """An update expression that makes `assignments`, removes `removals` and sets (or, for None, removes)
    the work keys."""
    sets = [assignments] if assignments else []
    removes = list(removals)
    if next_work_at is not None:
        sets.append("#work = :work, next_work_at = :at")
    else:
        removes += ["#work", "next_work_at"]
    clauses = ["SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else ""]
    return " ".join(filter(None, clauses))


# The price change is still the one read, and neither consented to nor lapsed.
_OPEN_CHANGE = (
    "price_change.amount = :amount AND price_change.period = :p"
    " AND attribute_not_exists(price_change.consented_at) AND attribute_not_exists(price_change.lapsed)"
)


def _change_values(change: PriceChange) -> dict[str, Any]:
    return {":amount": {"N": str(change.amount)}, ":p": {"N": str(change.period)}}


# Periods go to PortOne on the subscription's current key (one from before ids has no `customer_uid`).
_ON_KEY = "(attribute_not_exists(customer_uid) OR customer_uid = :uid)"

# The attempt being failed is the subscription's open one, of a subscription still renewing.
_OPEN_ATTEMPT = (
    "#status IN (:active, :past_due) AND (attribute_not_exists(attempt) OR attempt = :attempt)"
    " AND (attribute_not_exists(settled_through) OR settled_through < :p)"
)


def _open_attempt_values(failed: Period) -> dict[str, Any]:
    return {
        ":active": {"S": "active"},
        ":past_due": {"S": "past_due"},
        ":attempt": {"N": str(failed.attempt)},
        ":p": {"N": str(failed.index)},
    }


def _as_read(subscription: Subscription) -> dict[str, Any]:
    return {
        ":read": {"S": subscription.status},
        ":plan": {"S": subscription.plan_id},
        ":anchor": {"N": _epoch(subscription.anchor)},
    }


def _work_values(next_work_at: datetime | None) -> dict[str, Any]:
    if next_work_at is None:
        return {}
    return {":work": {"S": _WORK}, ":at": {"N": _epoch(next_work_at)}}


def _subscription(item: dict[str, Any]) -> Subscription:
    key = item["pk"]["S"].removeprefix("subscription#")
    return Subscription(
        key=key,
        id=item["id"]["S"] if "id" in item else None,
        customer_uid=item["customer_uid"]["S"] if "customer_uid" in item else key,
        plan_id=item["plan_id"]["S"],
        anchor=datetime.fromtimestamp(int(item["anchor"]["N"]), UTC),
        status=item["status"]["S"],
        scheduled_through=int(item["scheduled_through"]["N"]),
        settled_through=int(item["settled_through"]["N"]) if "settled_through" in item else None,
        amount=int(item["amount"]["N"]) if "amount" in item else None,
        currency=item["currency"]["S"] if "currency" in item else "KRW",
        ends_at=datetime.fromtimestamp(int(item["ends_at"]["N"]), UTC) if "ends_at" in item else None,
        attempt=int(item["attempt"]["N"]) if "attempt" in item else 0,
        card=int(item["card"]["N"]) if "card" in item else 0,
        moving=frozenset(item["moving"]["SS"]) if "moving" in item else frozenset(),
        retired=frozenset(item["retired"]["SS"]) if "retired" in item else frozenset(),
        former=frozenset(item["former"]["SS"]) if "former" in item else frozenset(),
        price_change=_price_change(item["price_change"]["M"]) if "price_change" in item else None,
        announced="announced" in item,
    )


def _registered(subscription: Subscription) -> bool:
    """Whether the first period of the subscription's price change is at PortOne already."""
    change = subscription.price_change
    return change is not None and change.period <= subscription.scheduled_through


def _price_change_value(change: PriceChange) -> dict[str, Any]:
    value = {
        "amount": {"N": str(change.amount)},
        "period": {"N": str(change.period)},
        "at": {"N": _epoch(change.at)},
    }
    return {"M": value}


def _price_change(value: dict[str, Any]) -> PriceChange:
    return PriceChange(
        amount=int(value["amount"]["N"]),
        period=int(value["period"]["N"]),
        at=datetime.fromtimestamp(int(value["at"]["N"]), UTC),
        consented_at=datetime.fromtimestamp(int(value["consented_at"]["N"]), UTC)
        if "consented_at" in value
        else None,
        lapsed="lapsed" in value,
    )


def _attribute(value: str | int) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": value}


def _period_item(period: Period) -> dict[str, Any]:
    item = {
        "pk": {"S": f"period#{period.merchant_uid}"},
        "subscription": {"S": period.subscription},
        "customer_uid": {"S": period.customer_uid},
        "period": {"N": str(period.index)},
        "amount": {"N": str(period.amount)},
        "currency": {"S": period.currency},
        "schedule_at": {"N": _epoch(period.schedule_at)},
        "status": {"S": period.status},
        "attempt": {"N": str(period.attempt)},
        "expires_at": {"N": _epoch(period.schedule_at + PERIOD_RETENTION)},
    }
    if period.imp_uid:
        item["imp_uid"] = {"S": period.imp_uid}
    return item


def _period(item: dict[str, Any]) -> Period:
    return Period(
        merchant_uid=item["pk"]["S"].removeprefix("period#"),
        # One recorded before ids belongs to the subscription kept under its customer_uid.
        subscription=item.get("subscription", item["customer_uid"])["S"],
        customer_uid=item["customer_uid"]["S"],
        index=int(item["period"]["N"]),
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        schedule_at=datetime.fromtimestamp(int(item["schedule_at"]["N"]), UTC),
        status=item.get("status", {}).get("S", "scheduled"),
        imp_uid=item["imp_uid"]["S"] if "imp_uid" in item else None,
        attempt=int(item["attempt"]["N"]) if "attempt" in item else 0,
    )


def _unavailable(exc: Exception) -> ConfigurationUnavailable:
    return ConfigurationUnavailable(f"DynamoDB unreachable ({type(exc).__name__})")
