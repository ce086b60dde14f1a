"""The chain of periods at PortOne: registering them, learning their outcomes, keeping the next ones scheduled
(design.md D19). A subscription must never stop silently, and PortOne V1 does not retry its notices.

- `register` hands PortOne the periods that should be there: the `periods_ahead` after the last settled one.
  A POST whose answer was lost is looked up, never resent blindly (D6); unconfirmed, it stays the
  reconciler's work.
- `settle` records a period's outcome. PortOne's notice and the reconciler both end there, and every write
  is conditional (subscription_store.py), so running both, in either order, at once, or twice, changes
  nothing more: one accepted schedule per period at PortOne.
- `reconcile` is the scheduled run: it pages through the subscriptions whose work is due (an index on
  `next_work_at`, not a scan), asks PortOne about each (`GET /subscribe/payments/schedule/{merchant_uid}`,
  then the payment), and stops while there is still time to answer; the rest stay first in line.

Times are PortOne's: a reconciler run reads PortOne's clock from a fresh token, since a payment is due when
PortOne says so.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from billing.deadline import Deadline
from billing.declines import retryable
from billing.errors import ApiError, BillingKeyReplaced, ProviderUnavailable
from billing.observability import logger, metrics
from billing.plans import Catalog, Plan, period_merchant_uid
from billing.portone.client import PortOneClient
from billing.portone.errors import PortOneBusinessError, PortOneError, PortOneNotFound, PortOneOutcomeUnknown
from billing.portone.models import Payment, ScheduleResult
from billing.records import RecordsStore
from billing.service import portone_errors_as_api_errors
from billing.subscription_store import Period, PeriodStatus, Subscription, SubscriptionStore

MIN_LEAD = timedelta(minutes=1)  # PortOne only schedules in the future; leave room for the request itself
# After a period's time, how long its notice may take before the reconciler asks PortOne itself.
SETTLE_DELAY = timedelta(minutes=10)
# A registration not yet confirmed at PortOne (a request in flight, or one whose answer was lost).
REGISTRATION_DELAY = timedelta(minutes=5)
# A reconciler run stops taking subscriptions when less than this is left: one subscription's calls fit.
RESERVE_SECONDS = 4.0
OVERDUE_METRIC = "RenewalOverdue"
# A chain ended without the customer asking: suspended after its last retry, a period revoked outside this
# service, a plan gone from the catalog. It has an alarm.
STOPPED_METRIC = "RenewalStopped"
PAGE_SIZE = 25  # subscriptions per page of the work index


@dataclass(frozen=True)
class ReconcileReport:
    processed: int
    complete: bool  # False: the run stopped for time; the rest are first in line next run


@dataclass(frozen=True)
class Renewals:
    portone: PortOneClient
    store: SubscriptionStore
    catalog: Catalog
    notice_url: str
    overdue_after: timedelta
    # A test-channel payment renews nothing on a live stack (see the go-live guard in service.py).
    live: bool
    on_sandbox_payment: Callable[[], None]
    # Dunning: days after a declined period's time for each retry, and how long a suspension lasts.
    retry_days: tuple[int, ...]
    suspended_for: timedelta
    # A price increase nobody consented to in time: "keep" the recorded price, or "end" with the paid period.
    without_consent: str
    records: RecordsStore  # the law's records: payments, and the contracts' consents (records.py)
    # What PortOne authorises, and cancels at once, with a subscription's first registration: proof that the
    # card can pay, not only that it exists (0: no check; a server setting, never the client's, D10).
    checking_amount: int
    key_deleted: Callable[[str], None]  # a key is deleted at PortOne: what names it starts to expire

    # --- registering periods --------------------------------------------------------------------------------

    def upcoming(self, subscription: Subscription, plan: Plan, now: datetime) -> list[Period]:
        """The periods that should be at PortOne: the `periods_ahead` after the last settled one."""
        settled = settled_through(subscription, plan)
        return [
            self.period(subscription, plan, n, now)
            for n in range(settled + 1, settled + 1 + plan.periods_ahead)
        ]

    def register(
        self,
        subscription: Subscription,
        plan: Plan,
        now: datetime,
        deadline: Deadline,
        *,
        look_up_first: bool = False,
        check_card: bool = False,
    ) -> list[str] | None:
        """Hand PortOne the upcoming periods it does not have yet, and record them. The merchant_uids this
        call registered (or found registered); None when PortOne's answer was lost and a lookup could not
        confirm it: the subscription stays the reconciler's work. `look_up_first`: a registration that may
        have arrived before is looked up before anything is sent again (D6). `check_card`: with the card
        check (`checking_amount`), which only the sign-up's own request sends."""
        missing = [
            p for p in self.upcoming(subscription, plan, now) if p.index > subscription.scheduled_through
        ]
        if subscription.status != "active" or not missing:
            return []
        decided = self._price_decided(subscription, plan, missing[-1].index, now)
        if decided is None:
            return []
        if decided != subscription:  # the change lapsed, or was consented to, meanwhile: its price now
            subscription = decided
            missing = [self.period(subscription, plan, p.index, now) for p in missing]
        uid = subscription.customer_uid
        with portone_errors_as_api_errors(uid):
            confirmed = (
                look_up_first and self._already_scheduled(uid, missing[0].merchant_uid, deadline)
            ) or self._schedule_at_portone(uid, plan, missing, deadline, checking=check_card)
        if not confirmed:
            return None
        # The reconciler looks next when the open period's outcome should be known (one period ahead, so
        # what is registered is the open period).
        first = subscription.scheduled_through == -1  # its first periods: the subscription starts
        next_look = missing[0].schedule_at + SETTLE_DELAY
        if self.store.mark_scheduled(subscription, missing, next_look, starts=plan.id if first else None):
            return [p.merchant_uid for p in missing]
        current = self.store.get(subscription.key)
        if current is None or current.status != "active" or current.customer_uid != uid:
            # Cancelled, or its card changed, while this call registered: take back what it registered.
            self._take_back(uid, [p.merchant_uid for p in missing], deadline)
        return []

    def period(
        self, subscription: Subscription, plan: Plan, index: int, now: datetime, attempt: int = 0
    ) -> Period:
        """Attempt `attempt` of period `index` at the subscription's own price: attempt 0 at the period's
        time, retry n `retry_days[n-1]` days after it; one whose time has passed goes shortly ahead."""
        due = plan.due_at(subscription.anchor, index)
        at = due + timedelta(days=self.retry_days[attempt - 1]) if attempt else due
        merchant_uid = (
            period_merchant_uid(subscription.id, index, attempt, subscription.card)
            if subscription.id
            else plan.merchant_uid(subscription.key, due, attempt)  # a subscription from before ids
        )
        return Period(
            merchant_uid=merchant_uid,
            subscription=subscription.key,
            customer_uid=subscription.customer_uid,
            index=index,
            amount=price(subscription, plan, index),
            currency=subscription.currency,
            schedule_at=now + 5 * MIN_LEAD if at < now + MIN_LEAD else at,
            attempt=attempt,
        )

    # --- outcomes -------------------------------------------------------------------------------------------

    def settle(
        self,
        subscription: Subscription,
        plan: Plan,
        period: Period,
        status: PeriodStatus,
        imp_uid: str | None,
        now: datetime,
        deadline: Deadline,
        *,
        fail_reason: str | None = None,
    ) -> list[str]:
        """Record a period's outcome. Paid (or skipped by the customer): the next periods go to PortOne, and
        a past_due subscription is active again. Declined: the next retry, or suspension after the last.
        The merchant_uids this call registered."""
        renewing = subscription.status in ("active", "past_due")
        if status in ("failed", "cancelled") and renewing:
            return self._declined(
                subscription, plan, period.settled(status, imp_uid), fail_reason, now, deadline
            )
        continues = status in ("paid", "revoked") and renewing
        # An ended subscription keeps only the work it has (deleting its key when it ends); a cancellation
        # that could not finish at PortOne stays the reconciler's to finish, unless a new sign-up on the key
        # replaced it: finishing it would revoke the new one's payments and delete the key they use.
        next_work = now + REGISTRATION_DELAY if continues else subscription.ends_at
        if subscription.status == "cancelled" and not subscription.announced and next_work is None:
            next_work = now if self._charged_to_its_key(subscription) else None
        change = subscription.price_change
        self.store.settle(
            period.settled(status, imp_uid),
            next_work,
            reactivate=subscription.status == "past_due",
            price_from_now=change is not None and period.index >= change.period,
        )
        if not continues:
            return []
        current = self.store.get(subscription.key) or subscription
        return self.register(current, plan, now, deadline) or []

    def _charged_to_its_key(self, subscription: Subscription) -> bool:
        """Whether the subscription is still the one its billing key charges (no new sign-up replaced it)."""
        try:
            current = self.store.for_customer(subscription.customer_uid)
        except BillingKeyReplaced:
            return False
        return current is not None and current.key == subscription.key

    def settle_payment(
        self,
        subscription: Subscription,
        plan: Plan,
        period: Period,
        payment: Payment,
        now: datetime,
        deadline: Deadline,
    ) -> list[str]:
        """Settle `period` by the payment PortOne returned for it (checked by `outcome_counts` first). A paid
        one is on record first (records.py): a record that cannot be written leaves the period unsettled, for
        the next notice or reconciler run."""
        status = payment_status(payment)
        if status == "paid":
            paid_at = datetime.fromtimestamp(payment.paid_at, UTC) if payment.paid_at else now
            self.record_payment(period, payment.imp_uid, paid_at)
        fail_reason = payment.fail_reason
        return self.settle(
            subscription, plan, period, status, payment.imp_uid, now, deadline, fail_reason=fail_reason
        )

    def record_payment(
        self, period: Period, imp_uid: str, paid_at: datetime, *, keep_existing: bool = False
    ) -> None:
        """The law's record of a paid period (records.py), kept five years from `paid_at`."""
        self.records.record_payment(
            period.customer_uid,
            subscription=period.subscription,
            merchant_uid=period.merchant_uid,
            imp_uid=imp_uid,
            amount=period.amount,
            currency=period.currency,
            paid_at=paid_at,
            keep_existing=keep_existing,
        )

    def _declined(
        self,
        subscription: Subscription,
        plan: Plan,
        failed: Period,
        fail_reason: str | None,
        now: datetime,
        deadline: Deadline,
    ) -> list[str]:
        """Dunning: a declined attempt is retried under a new merchant_uid (never PortOne's /retry, which
        reuses the failed one) until the retries run out or the decline is one no retry cures; then the
        subscription is suspended, and cancelled `suspended_for` later. One live attempt per period: the
        next is registered only once this one is known to have failed."""
        uid = subscription.customer_uid
        if failed.status == "failed" and retryable(fail_reason) and failed.attempt < len(self.retry_days):
            retry = self.period(subscription, plan, failed.index, now, attempt=failed.attempt + 1)
            if not self.store.fail_attempt(failed, retry, retry.schedule_at + SETTLE_DELAY):
                return []  # this attempt was handled already
            metrics.add_metric(name="RenewalRetryScheduled", unit=MetricUnit.Count, value=1)
            logger.warning(
                "renewal declined, retry scheduled",
                extra={"outcome": "PAST_DUE", "customer_uid": uid, "merchant_uid": retry.merchant_uid},
            )
            return self._register_attempt(subscription, plan, retry, now, deadline)
        if self.store.suspend(failed, now + self.suspended_for):
            _stopped("renewal declined for good: suspended", "SUSPENDED", uid, failed)
        return []

    def _register_attempt(
        self, subscription: Subscription, plan: Plan, attempt: Period, now: datetime, deadline: Deadline
    ) -> list[str]:
        """Hand PortOne a recorded attempt (a retry, or a period moved to a new card). Unconfirmed: the
        reconciler looks it up, or registers it, shortly. Cancelled, or its card changed, meanwhile: taken
        back."""
        uid = attempt.customer_uid
        with portone_errors_as_api_errors(uid):
            confirmed = self._schedule_at_portone(uid, plan, [attempt], deadline)
        current = self.store.get(subscription.key)
        if current is None or current.status not in ("active", "past_due") or current.customer_uid != uid:
            self._take_back(uid, [attempt.merchant_uid], deadline)
            return []
        if not confirmed:
            self.store.reschedule_work(current, now + REGISTRATION_DELAY)
            return []
        return [attempt.merchant_uid]

    def _take_back(self, customer_uid: str, merchant_uids: list[str], deadline: Deadline) -> None:
        with portone_errors_as_api_errors(customer_uid):
            self.portone.unschedule(customer_uid, merchant_uids, deadline=deadline)

    # --- price changes --------------------------------------------------------------------------------------

    def _price_decided(
        self, subscription: Subscription, plan: Plan, through: int, now: datetime
    ) -> Subscription | None:
        """The subscription whose periods up to `through` may be registered now, at their price; None while
        a price increase they include still waits for the customer's consent (the reconciler comes back at
        the decision time), or once it ended the subscription. At the decision time without consent the
        change lapses: the recorded price is kept, or the subscription ends with its paid period."""
        change = subscription.price_change
        if change is None or not awaiting_consent(subscription, plan, through):
            return subscription
        if now < change.consent_until:
            self.store.reschedule_work(subscription, change.consent_until)
            return None
        ending = self.without_consent == "end"
        if self.store.lapse_price_change(subscription, change, ending=ending) and ending:
            logger.info(
                "price increase without consent: ends with the paid period",
                extra={"outcome": "PRICE_CHANGE_ENDED", "customer_uid": subscription.customer_uid},
            )
        current = self.store.get(subscription.key)
        if current is None or current.status != "active":
            return None  # ended by the lapse (or otherwise stopped meanwhile)
        return current  # kept, or consented to at the last moment (one conditional write decided it)

    # --- changing the card ----------------------------------------------------------------------------------

    def change_card(
        self, subscription: Subscription, plan: Plan, customer_uid: str, now: datetime, deadline: Deadline
    ) -> Subscription:
        """Charge the subscription to the new billing key `customer_uid` (already issued). Each period
        pending on the old key is revoked there, confirmed by GET, and registered on the new key under a new
        merchant_uid (a past_due period's retry shortly ahead); one PortOne already ran stays on the old card
        and only later periods move. The old key is deleted once nothing is pending on it. What this call
        cannot finish, the reconciler does, on the same path. The subscription as it now stands."""
        pending = self._pending(subscription, plan, now)
        changed = self.store.change_card(subscription, customer_uid, [p.merchant_uid for p in pending])
        logger.info(
            "card changed",
            extra={"outcome": "CARD_CHANGED", "customer_uid": customer_uid, "subscription_id": changed.key},
        )
        try:
            self.finish_card_change(changed, plan, now, deadline)
            return self.store.get(changed.key) or changed
        except ApiError as error:
            # The change itself is made: the reconciler finishes the move on its next run (work is due).
            logger.warning(
                "card change not finished yet",
                extra={"outcome": error.code, "customer_uid": customer_uid, "subscription_id": changed.key},
            )
            return changed

    def _pending(self, subscription: Subscription, plan: Plan, now: datetime) -> list[Period]:
        """The periods that may be pending at PortOne on the subscription's key, each recorded: the open
        period's live attempt (even if its registration is unconfirmed: its answer may have been lost) and
        those after it, including one the customer skipped (the skip moves with it)."""
        open_index = settled_through(subscription, plan) + 1
        pending = []
        for index in range(open_index, max(open_index, subscription.scheduled_through) + 1):
            period = self._recorded(
                subscription, plan, index, now, subscription.attempt if index == open_index else 0
            )
            if index > subscription.scheduled_through and awaiting_consent(subscription, plan, index):
                continue  # held back until the customer consents: not at PortOne
            if period.status in ("scheduled", "revoked"):
                # One from before periods were recorded, or never confirmed: recorded as it would have been.
                self.store.record(period, only_if_new=True)
                pending.append(period)
        return pending

    def finish_card_change(
        self, subscription: Subscription, plan: Plan, now: datetime, deadline: Deadline
    ) -> bool:
        """Move what is still pending on a replaced key (`moving`), then delete that key. Every step is
        looked up first, so running it again, or from the reconciler, changes nothing more. True when the
        change is complete."""
        for merchant_uid in sorted(subscription.moving):
            period = self.store.period(merchant_uid)
            if period is None or not self._move(subscription, plan, period, now, deadline):
                return False
        self._delete_keys(subscription, sorted(subscription.retired), deadline)
        return True

    def _move(
        self, subscription: Subscription, plan: Plan, period: Period, now: datetime, deadline: Deadline
    ) -> bool:
        """One period pending on a replaced key: revoked there (confirmed by GET) and registered on the new
        key (or, skipped by the customer, recorded there as skipped); or, when PortOne ran it first, settled
        by its outcome. False when neither is known yet."""
        old = period.customer_uid
        with portone_errors_as_api_errors(old):
            found = self._schedule(period.merchant_uid, deadline)
            # A skip counts once PortOne has revoked it (a skip whose revoke failed left only the mark).
            skipped = period.status == "revoked" and (found is None or found.schedule_status == "revoked")
            if found is not None and found.schedule_status == "scheduled":
                self.portone.unschedule(old, [period.merchant_uid], deadline=deadline)
                found = self._schedule(period.merchant_uid, deadline)
            if found is None or found.schedule_status == "revoked":
                replacement = self.period(subscription, plan, period.index, now, period.attempt)
                if subscription.status == "past_due":  # the overdue period, on the new card at once
                    replacement = replace(replacement, schedule_at=now + 5 * MIN_LEAD)
                if skipped:
                    replacement = replacement.settled("revoked", None)
                if self.store.moved(subscription, period, replacement) and not skipped:
                    self._register_attempt(subscription, plan, replacement, now, deadline)
                return True
            if found.schedule_status != "executed" or not found.imp_uid:
                return False
            payment = self.portone.get_payment(found.imp_uid, deadline=deadline)
        if not self.outcome_counts(payment, period):
            return False
        # Settled before it leaves `moving`: a run cut short in between settles it again (a no-op).
        self.settle_payment(subscription, plan, period, payment, now, deadline)
        self.store.moved(subscription, period, None)
        return True

    def _delete_keys(self, subscription: Subscription, customer_uids: list[str], deadline: Deadline) -> None:
        for customer_uid in customer_uids:
            with portone_errors_as_api_errors(customer_uid), suppress(PortOneNotFound):
                self.portone.delete_customer(customer_uid, deadline=deadline)
            if customer_uid in subscription.retired:  # a card change: the contract goes on, on the new key
                self.records.move_contract(customer_uid, subscription.customer_uid)
            self.key_deleted(customer_uid)
            if customer_uid in subscription.retired:
                self.store.retire(subscription, customer_uid)

    def _schedule(self, merchant_uid: str, deadline: Deadline) -> ScheduleResult | None:
        try:
            return self.portone.get_schedule(merchant_uid, deadline=deadline)
        except PortOneNotFound:
            return None

    # --- cancelling -----------------------------------------------------------------------------------------

    def charged(
        self, subscription: Subscription, plan: Plan, revoked: list[str], deadline: Deadline
    ) -> list[str]:
        """Periods after the last settled one that were not revoked because PortOne had already charged
        them. Each is settled now, its payment on record: for a subscription that stops, no reconciler run
        may come, and a notice may be lost (V1 notices are best effort)."""
        charged = []
        now = datetime.now(UTC)
        stopped = replace(subscription, status="cancelled")  # settling registers nothing after it
        open_index = settled_through(subscription, plan) + 1
        for index in range(open_index, subscription.scheduled_through + 1):
            attempt = subscription.attempt if index == open_index else 0  # a past_due period's retry
            period = self._recorded(subscription, plan, index, now, attempt)
            if period.merchant_uid in revoked:
                continue
            found = self._schedule(period.merchant_uid, deadline)
            if found is None or not _paid(found, period.customer_uid):
                continue
            charged.append(period.merchant_uid)
            payment = self.portone.get_payment(found.imp_uid, deadline=deadline) if found.imp_uid else None
            if payment is not None and self.outcome_counts(payment, period):
                self.settle_payment(stopped, plan, period, payment, now, deadline)
        return charged

    def confirm_revoked(self, merchant_uids: list[str], deadline: Deadline) -> None:
        """Ask PortOne again about each payment it said it revoked, before the key they were on goes: one
        still scheduled would run on a deleted key (ProviderUnavailable, and the caller tries again)."""
        for merchant_uid in merchant_uids:
            found = self._schedule(merchant_uid, deadline)
            if found is not None and found.schedule_status == "scheduled":
                raise ProviderUnavailable(f"{merchant_uid} is still scheduled after its revocation")

    def was_charged(self, customer_uid: str, merchant_uid: str, deadline: Deadline) -> bool:
        """Whether PortOne has run the customer's schedule `merchant_uid` and been paid (so it can no longer
        be revoked)."""
        found = self._schedule(merchant_uid, deadline)
        return found is not None and _paid(found, customer_uid)

    def end_with_paid_period(
        self, subscription: Subscription, plan: Plan, deadline: Deadline
    ) -> tuple[list[str], list[str], datetime]:
        """Finish a cancellation at the end of the paid period: every payment pending on the key is revoked
        (one PortOne already ran is charged, and its period still runs), and the subscription ends when the
        paid periods do (the key is deleted then). The merchant_uids revoked, those charged, and the end."""
        uid = subscription.customer_uid
        with portone_errors_as_api_errors(uid):
            revoked = [r.merchant_uid for r in self.portone.unschedule(uid, None, deadline=deadline)]
            charged = self.charged(subscription, plan, revoked, deadline)
        ends_at = self.paid_until(subscription, plan, charged)
        self.store.cancelled(subscription, ends_at)
        return revoked, charged, ends_at

    def paid_until(self, subscription: Subscription, plan: Plan, charged: list[str]) -> datetime:
        """When the paid periods end: the time of the first period neither paid nor charged. A suspended
        subscription's last settled period is the one that was never paid."""
        settled = settled_through(subscription, plan)
        if subscription.status == "suspended":
            return plan.due_at(subscription.anchor, settled)
        return plan.due_at(subscription.anchor, settled + 1 + len(charged))

    def _close(self, subscription: Subscription, now: datetime, deadline: Deadline) -> None:
        """A subscription cancelled at the end of its paid period, or suspended: once it ends, the billing
        key is deleted (and a suspended one is cancelled)."""
        assert subscription.ends_at is not None
        if now < subscription.ends_at:
            self.store.reschedule_work(subscription, subscription.ends_at)
            return
        # The replaced keys first: their contract's records move to the current key before it is closed
        self._delete_keys(subscription, [*subscription.retired, subscription.customer_uid], deadline)
        self.store.close(subscription)
        logger.info(
            "subscription ended: billing key deleted",
            extra={"outcome": "BILLING_KEY_DELETED", "customer_uid": subscription.customer_uid},
        )

    # --- the reconciler -------------------------------------------------------------------------------------

    def reconcile(self, deadline: Deadline) -> ReconcileReport:
        """Walk every subscription whose work is due, earliest first, while there is time."""
        with portone_errors_as_api_errors(None):
            now = datetime.fromtimestamp(self.portone.refresh_clock(deadline=deadline), UTC)
        # Subscriptions from before the work index get their place in it, and those from before prices were
        # recorded, their price (once, a few pages a run).
        self.store.backfill_work(now, {plan.id: plan.amount for plan in self.catalog.plans})
        processed, seen = 0, set()
        for key in self.store.with_work_due(now, page_size=PAGE_SIZE):
            if deadline.remaining() < RESERVE_SECONDS:
                logger.info("reconciler out of time", extra={"outcome": "RECONCILE_INCOMPLETE"})
                return ReconcileReport(processed, complete=False)
            if key in seen:
                continue
            seen.add(key)
            try:
                self._reconcile_one(key, now, deadline)
            except ApiError as error:
                # One failure must not stop the others, nor stay first in line: it is looked at again
                # later, and RenewalOverdue speaks once its period is late.
                logger.error("reconciliation failed", extra={"outcome": error.code, "subscription_id": key})
                self._retry_later(key, now)
            processed += 1
        return ReconcileReport(processed, complete=True)

    def _retry_later(self, key: str, now: datetime) -> None:
        with suppress(ApiError):  # DynamoDB itself may be what failed: then it stays due, as it was
            subscription = self.store.get(key)
            if subscription is not None:
                self.store.reschedule_work(subscription, now + SETTLE_DELAY)

    def _reconcile_one(self, key: str, now: datetime, deadline: Deadline) -> None:
        subscription = self.store.get(key)
        if subscription is None:
            return
        customer_uid = subscription.customer_uid
        if subscription.moving or subscription.retired:
            # A card change to finish first: what was pending on the old key moves to the new one.
            plan = self.catalog.find(subscription.plan_id)
            if plan is not None and not self.finish_card_change(subscription, plan, now, deadline):
                self._note_if_overdue(subscription, plan, now)
                self.store.reschedule_work(subscription, now + REGISTRATION_DELAY)
                return
            subscription = self.store.get(key) or subscription
        if subscription.status in ("cancelled", "suspended"):
            plan = self.catalog.find(subscription.plan_id)
            if subscription.ends_at:
                self._close(subscription, now, deadline)
            elif subscription.status == "cancelled" and not subscription.announced and plan is not None:
                # A cancellation whose request could not finish at PortOne: finished here.
                self.end_with_paid_period(subscription, plan, deadline)
            else:
                self.store.reschedule_work(subscription, None)
            return
        plan = self.catalog.find(subscription.plan_id)
        if plan is None:
            _stopped("plan not in the catalog", "PLAN_MISSING", customer_uid, None)
            self.store.reschedule_work(subscription, None)
            return
        open_period = self._note_if_overdue(subscription, plan, now)
        if subscription.scheduled_through < open_period.index:
            # A registration never confirmed (its answer was lost, D6): look it up, or register it, now.
            if self.register(subscription, plan, now, deadline, look_up_first=True) is None:
                self.store.reschedule_work(subscription, now + REGISTRATION_DELAY)
            return
        if now < open_period.schedule_at + SETTLE_DELAY:
            # Here before the period's time when its registration may not be confirmed (a retry, a period
            # moved to a new card, a registration just made): look it up.
            with portone_errors_as_api_errors(customer_uid):
                known = open_period.status == "revoked" or self._already_scheduled(
                    customer_uid, open_period.merchant_uid, deadline
                )
            if not known and not self._register_attempt(subscription, plan, open_period, now, deadline):
                return
            self.register(subscription, plan, now, deadline)
            self.store.reschedule_work(subscription, open_period.schedule_at + SETTLE_DELAY)
            return
        self._learn_outcome(subscription, plan, open_period, now, deadline)

    def _note_if_overdue(self, subscription: Subscription, plan: Plan, now: datetime) -> Period:
        """The open period (the first without a known outcome), counted `RenewalOverdue` when it is late."""
        open_index = settled_through(subscription, plan) + 1
        open_period = self._recorded(subscription, plan, open_index, now, subscription.attempt)
        if now >= open_period.schedule_at + self.overdue_after:
            metrics.add_metric(name=OVERDUE_METRIC, unit=MetricUnit.Count, value=1)
            logger.warning(
                "renewal overdue",
                extra={
                    "outcome": "RENEWAL_OVERDUE",
                    "customer_uid": subscription.customer_uid,
                    "merchant_uid": open_period.merchant_uid,
                },
            )
        return open_period

    def _learn_outcome(
        self, subscription: Subscription, plan: Plan, period: Period, now: datetime, deadline: Deadline
    ) -> None:
        """Ask PortOne what became of a period whose time has passed, and act on it."""
        uid = subscription.customer_uid
        with portone_errors_as_api_errors(uid):
            found = self._schedule(period.merchant_uid, deadline)
            if found is None and period.status == "revoked":
                # Skipped by the customer before a card change moved it: never registered on the new key.
                self.settle(subscription, plan, period, "revoked", None, now, deadline)
                return
            if found is None:
                # PortOne never got it: register it again, shortly ahead.
                again = self.period(subscription, plan, period.index, now, period.attempt)
                if self._schedule_at_portone(uid, plan, [again], deadline):
                    self.store.record(again)
                    self.store.reschedule_work(subscription, again.schedule_at + SETTLE_DELAY)
                return
            if found.schedule_status == "revoked":
                if period.status == "revoked":  # the customer skipped it through this API
                    self.settle(subscription, plan, period, "revoked", None, now, deadline)
                else:
                    _stopped("renewal revoked outside this service", "RENEWAL_REVOKED_ELSEWHERE", uid, period)
                    self.store.reschedule_work(subscription, None)
                return
            payment = None
            if found.schedule_status == "executed" and found.imp_uid:
                payment = self.portone.get_payment(found.imp_uid, deadline=deadline)
        if payment is not None and self.outcome_counts(payment, period):
            self.settle_payment(subscription, plan, period, payment, now, deadline)
            return
        self.store.reschedule_work(subscription, now + SETTLE_DELAY)

    def outcome_counts(self, payment: Payment, period: Period) -> bool:
        """Whether a payment PortOne returned may settle `period`: the same order, customer and amount, and
        on a live stack never a test channel's."""
        if payment.sandbox and self.live:
            self.on_sandbox_payment()
            return False
        return (
            payment.merchant_uid == period.merchant_uid
            and payment.customer_uid == period.customer_uid
            and payment.amount == period.amount
        )

    def find(self, merchant_uid: str, customer_uid: str) -> tuple[Subscription, Plan, Period] | None:
        """The subscription, plan and period that PortOne's `merchant_uid` on the key `customer_uid` is, as
        recorded; None when it is not one of ours. (A period registered before periods were recorded has no
        record: the reconciler, not a notice, settles it.)"""
        recorded = self.store.period(merchant_uid)
        subscription = self.store.get(recorded.subscription) if recorded else None
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        if recorded is None or subscription is None or plan is None:
            return None
        return (subscription, plan, recorded) if recorded.customer_uid == customer_uid else None

    def _recorded(
        self, subscription: Subscription, plan: Plan, index: int, now: datetime, attempt: int = 0
    ) -> Period:
        """Attempt `attempt` of period `index` as recorded; one from before periods were recorded, as it
        would have been."""
        derived = self.period(subscription, plan, index, now, attempt)
        recorded = self.store.period(derived.merchant_uid)
        if recorded is not None:
            return recorded
        return Period(**{**derived.__dict__, "schedule_at": plan.due_at(subscription.anchor, index)})

    # --- PortOne --------------------------------------------------------------------------------------------

    def _schedule_at_portone(
        self,
        customer_uid: str,
        plan: Plan,
        periods: list[Period],
        deadline: Deadline,
        *,
        checking: bool = False,
    ) -> bool:
        """Hand the periods to PortOne (`checking`: with the card check of a first registration). True once
        PortOne has them; False if that could not be confirmed."""
        entries = [self._entry(period, plan.name) for period in periods]
        amount = self.checking_amount if checking else 0
        try:
            self.portone.schedule(customer_uid, entries, deadline=deadline, checking_amount=amount)
            return True
        except PortOneOutcomeUnknown:
            pass  # the request may have arrived: look it up below, never send it again blindly (D6)
        except PortOneBusinessError as exc:
            # A merchant_uid PortOne already has: an earlier attempt got through. Anything else is a refusal.
            if not self._already_scheduled(customer_uid, periods[0].merchant_uid, deadline):
                raise
            logger.info(
                "periods were already scheduled",
                extra={"customer_uid": customer_uid, "portone_code": exc.code},
            )
            return True
        return self._already_scheduled(customer_uid, periods[0].merchant_uid, deadline)

    def _already_scheduled(self, customer_uid: str, merchant_uid: str, deadline: Deadline) -> bool:
        try:
            found = self.portone.get_schedule(merchant_uid, deadline=deadline)
        except PortOneError as exc:
            logger.warning(
                "schedule lookup failed",
                extra={"outcome": "PENDING", "customer_uid": customer_uid, "http_status": exc.http_status},
            )
            return False
        return found.customer_uid == customer_uid and found.schedule_status != "revoked"

    def _entry(self, period: Period, name: str) -> dict[str, object]:
        entry: dict[str, object] = {
            "merchant_uid": period.merchant_uid,
            "schedule_at": int(period.schedule_at.timestamp()),
            "amount": period.amount,
            "currency": period.currency,
            "name": name,
        }
        if self.notice_url:
            entry["notice_url"] = self.notice_url
        return entry


def settled_through(subscription: Subscription, plan: Plan) -> int:
    """The last period whose outcome is known (-1: none yet); for a subscription from before outcomes were
    recorded, the one before those it keeps scheduled."""
    if subscription.settled_through is not None:
        return subscription.settled_through
    return max(-1, subscription.scheduled_through - plan.periods_ahead)


def awaiting_consent(subscription: Subscription, plan: Plan, index: int) -> bool:
    """Whether period `index` is at a higher price the customer has not (yet) consented to, so must not be
    registered before the decision (see `Renewals._price_decided`)."""
    change = subscription.price_change
    return (
        change is not None
        and index >= change.period
        and change.consented_at is None
        and not change.lapsed
        and change.amount > recorded_price(subscription, plan)
    )


def recorded_price(subscription: Subscription, plan: Plan) -> int:
    """The subscription's own price, before any price change; the catalog's only for a subscription that
    started before prices were recorded."""
    return subscription.amount if subscription.amount is not None else plan.amount


def price(subscription: Subscription, plan: Plan, index: int) -> int:
    """What period `index` of the subscription costs: its recorded price, or from a price change's first
    period on, the new price if it is lower or the customer consented to it."""
    recorded = recorded_price(subscription, plan)
    change = subscription.price_change
    if change is None or index < change.period:
        return recorded
    return change.amount if change.amount <= recorded or change.consented_at else recorded


def _paid(schedule: ScheduleResult, customer_uid: str) -> bool:
    """A schedule of the key `customer_uid` that PortOne has run and been paid for."""
    return (
        schedule.customer_uid == customer_uid
        and schedule.schedule_status == "executed"
        and schedule.payment_status == "paid"
    )


def payment_status(payment: Payment) -> PeriodStatus:
    return "paid" if payment.status == "paid" else "cancelled" if payment.status == "cancelled" else "failed"


def _stopped(message: str, outcome: str, customer_uid: str, period: Period | None) -> None:
    """A chain of renewals ended without the customer asking: counted for its alarm, and logged."""
    metrics.add_metric(name=STOPPED_METRIC, unit=MetricUnit.Count, value=1)
    logger.error(
        message,
        extra={
            "outcome": outcome,
            "customer_uid": customer_uid,
            "merchant_uid": period.merchant_uid if period else None,
        },
    )
