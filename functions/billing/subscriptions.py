"""Use cases for recurring payments on PortOne's schedule: plans, scheduling, viewing, revoking, cancelling,
the notice PortOne sends when a scheduled payment has run, and the scheduled reconciler. The chain of periods
itself (registering, settling, reconciling) is `renewals.py`.

Amounts, currencies, names and merchant_uids come from the plan catalog (design.md D10); a POST whose
outcome is unknown is looked up before anything else happens (D6); only a uid's owner may act on it (D8).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from aws_lambda_powertools.metrics import MetricUnit

from billing.access import Admission
from billing.aws import aws_clients
from billing.cards import KST
from billing.deadline import Deadline
from billing.errors import (
    ApiError,
    BillingKeyReplaced,
    CardRejected,
    CustomerNotFound,
    FieldError,
    InvalidRequest,
    PeriodAlreadyCharged,
    PriceChangeNotOpen,
    ProviderRejected,
    ProviderUnavailable,
    RequestInProgress,
    ScheduleNotFound,
    SignInRequired,
    SubscriptionExists,
    SubscriptionNotRenewing,
    SubscriptionPastDue,
    UpgradeInProgress,
)
from billing.identity import Caller
from billing.models import (
    CancelResponse,
    CardChangePending,
    CardChangeResponse,
    CardFields,
    CardSummary,
    CustomerFields,
    ErasureResponse,
    KeyListing,
    KeysListing,
    Notice,
    NoticeResult,
    PlansResponse,
    PlanView,
    PriceChangeOrder,
    PriceChangeReport,
    PriceChangeView,
    PriceConsent,
    PriceConsentResponse,
    RevokeResponse,
    ScheduledPayment,
    ScheduleOrder,
    SchedulePending,
    ScheduleResponse,
    SubscriptionView,
)
from billing.notices import LookupBudget
from billing.observability import logger, metrics
from billing.plans import Catalog, Plan, could_be_ours, load_catalog
from billing.portone.errors import PortOneError, PortOneNotFound
from billing.portone.models import ScheduleResult
from billing.renewals import (
    MIN_LEAD,
    REGISTRATION_DELAY,
    SETTLE_DELAY,
    ReconcileReport,
    Renewals,
    price,
    recorded_price,
    settled_through,
)
from billing.service import (
    SANDBOX_KEY_METRIC,
    BillingService,
    card_summary,
    get_service,
    holds_card,
    mint_customer_uid,
    portone_errors_as_api_errors,
)
from billing.subscription_store import Period, PriceChange, Subscription, SubscriptionStore
from billing.terms import Consent

# A notice about a period PortOne already told us the outcome of (or that moved to another key, confirmed
# revoked) changes nothing; one still scheduled, revoked or cancelled may have been charged after all.
_OUTCOME_KNOWN = frozenset({"paid", "failed", "moved"})
_LOOKUP_EVERY = timedelta(minutes=1)
_RESERVE_SECONDS = 5.0  # a price-change run stops taking pages when less is left: time to answer
DEFAULT_LEAD = 5 * MIN_LEAD  # a sign-up's first charge when it names no start: shortly after it
_MAX_LEAD = timedelta(days=90)  # a first payment further out is a mistake, not a plan
# PortOne lists at most "three months" per query (§4.4); 89 days fit that under any reading.
_LISTING_WINDOW = timedelta(days=89)


@dataclass(frozen=True)
class SubscriptionService:
    billing: BillingService
    store: SubscriptionStore
    catalog: Catalog
    renewals: Renewals
    lookups: LookupBudget  # PortOne lookups for notices, bounded per minute

    def plans(self, caller: Caller) -> PlansResponse:
        """The plans this caller may subscribe to: none for an anonymous caller where only signed-in
        customers subscribe, so the page offers the card form alone."""
        if not self._may_subscribe(caller):
            return PlansResponse(plans=[])
        first = datetime.now(UTC) + DEFAULT_LEAD
        return PlansResponse(
            plans=[
                PlanView(
                    **plan.model_dump(exclude={"periods_ahead"}),
                    first_charge_at=first.astimezone(KST),
                    next_charge_at=plan.due_at(first, 1),
                )
                for plan in self.catalog.plans
            ]
        )

    def schedule(
        self,
        order: ScheduleOrder,
        consent: Consent,
        caller: Caller,
        request_identity: str,
        deadline: Deadline,
    ) -> ScheduleResponse | SchedulePending:
        """Schedule the plan's upcoming periods; with a card, issue the billing key first.

        An anonymous caller (where allowed at all) must send the card: without one it could only name an
        existing uid, which no anonymous request but the one that claimed it may touch (design.md D8).
        """
        if not self._may_subscribe(caller):
            raise SignInRequired("anonymous subscriptions are off")
        request = order.request
        plan = self.catalog.find(request.plan_id)
        if plan is None:
            raise InvalidRequest([FieldError("plan_id", "unknown_plan")])
        now = datetime.now(UTC)
        start = request.start_at or now + DEFAULT_LEAD
        if start < now + MIN_LEAD:
            raise InvalidRequest([FieldError("start_at", "not_in_the_future")])
        if start > now + _MAX_LEAD:
            raise InvalidRequest([FieldError("start_at", "too_far_ahead")])
        if order.card is None and request.customer_uid is None:
            raise InvalidRequest([FieldError("customer_uid", "required_without_card")])
        customer_uid = request.customer_uid or mint_customer_uid()

        if order.card is None:
            self.billing.access.confirm_owner(customer_uid, self.billing.owner_id(caller, request_identity))
            record = self.billing.records.record_consent(customer_uid, consent, caller.key)
            try:
                subscription, started = self._start(customer_uid, plan, start, now)
            except ApiError:
                self.billing.records.close(customer_uid, record)  # the contract never began
                raise
            registered = self._register_sign_up(
                subscription, plan, now, deadline, started=started, consent_record=record
            )
            summary = None
        else:
            with self.billing.admitted(
                customer_uid, order.card, consent, caller, request_identity
            ) as admission:
                subscription, started = self._start(customer_uid, plan, start, now)
                if not started and subscription.scheduled_through >= 0:
                    # A card change never re-issues on the uid the periods are charged to (change_card);
                    # a sign-up whose key was never confirmed may send its card again.
                    raise SubscriptionExists("subscribed already: change the card with PUT .../card")
                # The key first, on its own: its answer says which channel issued it (schedule results do
                # not), and PortOne ignores card fields sent with a schedule for a uid that already has a key.
                try:
                    customer = self.billing.issue_key(admission, order.card, request, deadline)
                except ApiError:
                    if started:  # nothing of this subscription reached PortOne: dropped, nothing to follow
                        self.store.cancel(subscription, follow_up_at=None)
                    raise
                if customer is None:
                    return SchedulePending(customer_uid=customer_uid, plan_id=plan.id)
                # Inside the admission: a card the check refuses counts as a declined card (D9)
                registered = self._register_sign_up(
                    subscription, plan, now, deadline, started=started, admission=admission
                )
            summary = card_summary(customer)
        if registered is None:
            return SchedulePending(customer_uid=customer_uid, plan_id=plan.id)
        return self._scheduled(subscription, plan, now, summary)

    def _register_sign_up(
        self,
        subscription: Subscription,
        plan: Plan,
        now: datetime,
        deadline: Deadline,
        *,
        started: bool,
        admission: Admission | None = None,
        consent_record: str | None = None,
    ) -> list[str] | None:
        """The sign-up's first periods to PortOne; the request that started the subscription sends the card
        check (checking_amount), once: never a retry, nor the reconciler. A card the check refuses ends the
        sign-up before it began: the subscription is dropped and its consent closed, the card counted as a
        declined card (`admission`: the sign-up brought it), and a key this request claimed a new uid for is
        deleted (it cannot pay); a key the uid had before stays."""
        check = started and self.renewals.checking_amount > 0
        try:
            return self.renewals.register(subscription, plan, now, deadline, check_card=check)
        except (CardRejected, ProviderRejected):
            if not check:
                raise
            self.store.cancel(subscription, follow_up_at=None)
            if consent_record is not None:
                self.billing.records.close(subscription.customer_uid, consent_record)
            if admission is not None:
                admission.outcome = "declined"  # the admission then closes its consent record
                if admission.new_claim:
                    self._drop_key(subscription.customer_uid, deadline)
            raise

    def confirm_schedule(
        self, customer_uid: str, order: ScheduleOrder, deadline: Deadline
    ) -> ScheduleResponse | None:
        """A retry of a sign-up answered 202 pending: ask PortOne again, never send the card again (D6). With
        the key there (with this card, when the sign-up brought one), the periods PortOne does not have yet
        are registered by the reconciler's own path, a registration whose answer was lost looked up first;
        the success then. None while it still cannot be told."""
        subscription = self.store.for_customer(customer_uid)
        plan = self.catalog.find(order.request.plan_id)
        if subscription is None or plan is None or subscription.plan_id != plan.id:
            return None
        if subscription.status != "active":
            return None
        summary = None
        try:
            if order.card is not None:
                customer = self.billing.portone.get_customer(customer_uid, deadline=deadline)
                if not holds_card(customer, order.card.card_number):
                    return None
                summary = card_summary(customer)
            now = datetime.fromtimestamp(self.billing.portone.refresh_clock(deadline=deadline), UTC)
            with portone_errors_as_api_errors(customer_uid):
                registered = self.renewals.register(subscription, plan, now, deadline, look_up_first=True)
        except (PortOneError, ApiError):
            return None
        current = self.store.get(subscription.key) if registered is not None else None
        if current is None or current.status != "active" or current.scheduled_through < 0:
            return None
        logger.info("pending confirmed", extra={"outcome": "PENDING_CONFIRMED", "customer_uid": customer_uid})
        return self._scheduled(current, plan, now, summary)

    def _scheduled(
        self, subscription: Subscription, plan: Plan, now: datetime, summary: CardSummary | None
    ) -> ScheduleResponse:
        """The sign-up's answer: the card it registered, if any, and the periods now at PortOne."""
        customer_uid = subscription.customer_uid
        schedules = [
            ScheduledPayment(
                merchant_uid=period.merchant_uid,
                schedule_at=period.schedule_at.astimezone(KST),
                amount=period.amount,
                currency=period.currency,
                status="scheduled",
            )
            for period in self.renewals.upcoming(subscription, plan, now)
        ]
        logger.info(
            "periods scheduled",
            extra={
                "outcome": "SCHEDULED",
                "customer_uid": customer_uid,
                "merchant_uid": schedules[0].merchant_uid,
            },
        )
        return ScheduleResponse(customer_uid=customer_uid, plan_id=plan.id, card=summary, schedules=schedules)

    def list_keys(self, caller: Caller) -> KeysListing:
        """The billing keys the signed-in caller registered, by the token's subject (the merchant's reference
        for the customer): the page never keeps a customer_uid. An anonymous caller has none (D8)."""
        if caller.subject is None:
            return KeysListing(billing_keys=[])
        listed = []
        for customer_uid in self.billing.access.keys_of(caller.subject):
            try:
                subscription = self.store.for_customer(customer_uid)
            except BillingKeyReplaced:
                continue  # listed under the key that replaced it
            listed.append(
                KeyListing(
                    customer_uid=customer_uid,
                    plan_id=subscription.plan_id if subscription else None,
                    subscription_status=subscription.status if subscription else None,
                )
            )
        return KeysListing(billing_keys=listed)

    def view(self, customer_uid: str, caller: Caller, deadline: Deadline) -> SubscriptionView:
        """The key's masked card and the schedules PortOne holds around now (past and upcoming)."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.for_customer(customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        # A window of three months that ends just after the furthest period kept scheduled: the periods ahead
        # counted from now, or the subscription's own furthest registered period if later (months counted
        # from its anchor can end after those counted from today, as Dec 1 + 1 month after Nov 30 + 1 month).
        now = datetime.now(UTC)
        ahead = plan.due_at(now, plan.periods_ahead) - now if plan else timedelta()
        if plan and subscription and subscription.scheduled_through >= 0:
            ahead = max(ahead, plan.due_at(subscription.anchor, subscription.scheduled_through) - now)
        end = now + min(ahead + timedelta(days=1), _LISTING_WINDOW)
        with portone_errors_as_api_errors(customer_uid):
            try:
                customer = self.billing.portone.get_customer(customer_uid, deadline=deadline)
            except PortOneNotFound:
                raise CustomerNotFound("no billing key") from None
            schedules = self.billing.portone.list_schedules(
                customer_uid,
                start=int((end - _LISTING_WINDOW).timestamp()),
                end=int(end.timestamp()),
                deadline=deadline,
            )
        return SubscriptionView(
            customer_uid=customer_uid,
            card=card_summary(customer),
            plan_id=subscription.plan_id if subscription else None,
            subscription_status=subscription.status if subscription else None,
            ends_at=subscription.ends_at.astimezone(KST) if subscription and subscription.ends_at else None,
            price_change=self._price_change_view(subscription, plan) if subscription and plan else None,
            schedules=[_payment(s) for s in sorted(schedules, key=lambda s: s.schedule_at)],
        )

    def change_price(self, order: PriceChangeOrder, deadline: Deadline) -> PriceChangeReport:
        """The operator moves a plan's subscribers to the catalog's current price, from each one's first
        payment on or after `effective_at` that is not at PortOne yet. A lower price applies as it comes; a
        higher one only with the customer's consent (`consent_to_price`), asked for through the
        `subscription.price_change_requested` event. Pages through the plan's subscribers while there is
        time; the answer's `cursor` goes on where this run stopped."""
        plan = self.catalog.find(order.plan_id)
        if plan is None:
            raise InvalidRequest([FieldError("plan_id", "unknown_plan")])
        if order.effective_at <= datetime.now(UTC):
            raise InvalidRequest([FieldError("effective_at", "not_in_the_future")])
        if not self.store.upgraded():
            # Subscriptions from before prices were recorded would read the edited catalog as their price.
            raise UpgradeInProgress("older subscriptions are still being given their recorded price")
        moved = unchanged = 0
        last = order.cursor  # the last subscription dealt with: where a run cut short goes on
        for subscription in self.store.renewing_on(plan.id, order.cursor):
            if deadline.remaining() < _RESERVE_SECONDS:
                logger.info("price change stopped for time", extra={"outcome": "PRICE_CHANGE_INCOMPLETE"})
                return PriceChangeReport(moved=moved, unchanged=unchanged, complete=False, cursor=last)
            if self._move_to_price(subscription, plan, order.effective_at):
                moved += 1
            else:
                unchanged += 1
            last = subscription.key
        logger.info("price change recorded", extra={"outcome": "PRICE_CHANGE_REQUESTED"})
        return PriceChangeReport(moved=moved, unchanged=unchanged, complete=True, cursor=None)

    def _move_to_price(self, subscription: Subscription, plan: Plan, effective_at: datetime) -> bool:
        # What is, or may be, at PortOne keeps its price: the periods registered, and the next one while its
        # registration may be in flight or its answer lost (scheduled_through has not moved yet).
        index = settled_through(subscription, plan) + 1 + plan.periods_ahead
        while plan.due_at(subscription.anchor, index) < effective_at:
            index += 1
        earlier = subscription.price_change
        if earlier is not None and earlier.period <= subscription.scheduled_through:
            # An earlier change reached PortOne already: its price (if it took) is what the customer pays.
            current = price(subscription, plan, index)
        else:  # none, or one that never reached PortOne: replaced, with its consent
            current = recorded_price(subscription, plan)
        if earlier is not None and earlier.amount == plan.amount and earlier.at >= effective_at:
            return False  # the same change again (an operator's rerun): its consent stays
        if current == plan.amount and (earlier is None or earlier.period <= subscription.scheduled_through):
            return False  # at that price already
        change = PriceChange(amount=plan.amount, period=index, at=plan.due_at(subscription.anchor, index))
        return self.store.change_price(subscription, change, current)

    def consent_to_price(
        self, customer_uid: str, consent: PriceConsent, caller: Caller, deadline: Deadline
    ) -> PriceConsentResponse:
        """Record the customer's explicit consent to a price increase: the terms they echo must be the
        offered ones (date, old and new price, card), inside the 30 days before the first payment at the
        new price. That payment is then registered at the new price (by the reconciler's next run)."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.for_customer(customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        view = self._price_change_view(subscription, plan) if subscription and plan else None
        if subscription is None or view is None or subscription.price_change is None:
            raise PriceChangeNotOpen("no price change")
        change = subscription.price_change
        with portone_errors_as_api_errors(customer_uid):
            try:
                card = card_summary(self.billing.portone.get_customer(customer_uid, deadline=deadline))
            except PortOneNotFound:
                raise CustomerNotFound("no billing key") from None
            # PortOne's clock, read fresh: the window is about PortOne's payment time, as the reconciler
            # sees it.
            now = datetime.fromtimestamp(self.billing.portone.refresh_clock(deadline=deadline), UTC)
        offered = {
            "previous_amount": view.previous_amount,
            "amount": view.amount,
            "period_at": view.period_at,
            "card_last4": card.last4,
        }
        wrong = [name for name, value in offered.items() if getattr(consent, name) != value]
        if wrong:
            raise InvalidRequest([FieldError(name, "not_the_offered_terms") for name in wrong])
        if change.consented_at is None:  # (a consent given already is simply confirmed)
            if not view.consent_required or view.lapsed or not view.consent_from <= now < view.consent_until:
                raise PriceChangeNotOpen("outside the consent window")
            record = {
                "subscription": subscription.key,
                "customer_uid": customer_uid,
                "subject": caller.subject or "",
                "previous_amount": view.previous_amount,
                "amount": change.amount,
                "period_at": int(change.at.timestamp()),
                "card_last4": card.last4 or "",
                "card_name": card.name or "",
                "without_consent": view.without_consent,
                "consented_at": int(now.timestamp()),
            }
            if not self.store.consent_to_price(subscription, replace(change, consented_at=now), record, now):
                raise PriceChangeNotOpen("decided meanwhile")
            change = replace(change, consented_at=now)
            logger.info(
                "price change consented", extra={"outcome": "PRICE_CONSENTED", "customer_uid": customer_uid}
            )
        assert change.consented_at is not None
        return PriceConsentResponse(
            customer_uid=customer_uid,
            amount=change.amount,
            period_at=change.at.astimezone(KST),
            consented_at=change.consented_at.astimezone(KST),
        )

    def _price_change_view(self, subscription: Subscription, plan: Plan) -> PriceChangeView | None:
        change = subscription.price_change
        if change is None:
            return None
        previous = recorded_price(subscription, plan)
        return PriceChangeView(
            previous_amount=previous,
            amount=change.amount,
            period_at=change.at.astimezone(KST),
            consent_required=change.amount > previous,
            consent_from=change.consent_from.astimezone(KST),
            consent_until=change.consent_until.astimezone(KST),
            consented_at=change.consented_at.astimezone(KST) if change.consented_at else None,
            without_consent=self.renewals.without_consent,
            lapsed=change.lapsed,
        )

    def revoke(
        self, customer_uid: str, merchant_uid: str, caller: Caller, deadline: Deadline
    ) -> RevokeResponse:
        """Revoke one pending payment of the customer's."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.for_customer(customer_uid)
        recorded = self.store.period(merchant_uid)
        if recorded is not None and (subscription is None or recorded.subscription != subscription.key):
            raise ScheduleNotFound("not a payment of this subscription")
        if recorded is not None and recorded.attempt > 0:
            # A retry collects a declined period: revoking it would waive the debt, not skip a period.
            raise InvalidRequest([FieldError("merchant_uid", "retry_not_revocable")])
        # Recorded first: a period revoked at PortOne without this record would read as revoked elsewhere,
        # which ends the chain. The record matters only once PortOne says the period is revoked.
        self.store.mark_revoked(merchant_uid)
        with portone_errors_as_api_errors(customer_uid):
            revoked = self.billing.portone.unschedule(customer_uid, [merchant_uid], deadline=deadline)
            if not revoked and self.renewals.was_charged(customer_uid, merchant_uid, deadline):
                raise PeriodAlreadyCharged("the payment ran before it could be revoked")
        if not revoked:
            raise ScheduleNotFound("nothing pending under that merchant_uid")
        logger.info(
            "payment revoked",
            extra={"outcome": "REVOKED", "customer_uid": customer_uid, "merchant_uid": merchant_uid},
        )
        return RevokeResponse(customer_uid=customer_uid, revoked=[r.merchant_uid for r in revoked])

    def cancel(
        self, customer_uid: str, caller: Caller, deadline: Deadline, *, immediately: bool
    ) -> CancelResponse:
        """Stop renewals. By default at the end of the paid period: every payment pending at PortOne is
        revoked now (one PortOne already ran is reported as charged), and the reconciler deletes the billing
        key when the paid period ends. `immediately`: the key is deleted now too. Safe to repeat."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.for_customer(customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        now = datetime.now(UTC)
        # The subscription stops first, so a notice arriving meanwhile registers nothing new; should
        # PortOne fail below, the reconciler's next run finishes the cancellation (at the end of the paid
        # period).
        if subscription is not None:
            self.store.cancel(subscription, follow_up_at=now)
        if subscription is not None and plan is not None and (subscription.moving or subscription.retired):
            # A card change not finished: what is pending on the old key is revoked there (and, moved,
            # taken back), and the old key deleted, before the rest.
            if not self.renewals.finish_card_change(subscription, plan, now, deadline):
                raise ProviderUnavailable("the card change could not be finished")
            subscription = self.store.get(subscription.key) or subscription
        done = subscription is not None and subscription.announced and subscription.ends_at is None
        if not (immediately or done or subscription is None or plan is None):
            revoked, charged, ends_at = self.renewals.end_with_paid_period(subscription, plan, deadline)
            logger.info(
                "subscription cancelled at the end of its paid period",
                extra={"outcome": "CANCELLED_AT_PERIOD_END", "customer_uid": customer_uid},
            )
            return CancelResponse(
                customer_uid=customer_uid,
                revoked=revoked,
                charged=charged,
                billing_key_deleted=False,
                ends_at=ends_at.astimezone(KST),
            )
        with portone_errors_as_api_errors(customer_uid):
            revoked = [
                r.merchant_uid for r in self.billing.portone.unschedule(customer_uid, None, deadline=deadline)
            ]
            # Each confirmed by GET before the key goes; those PortOne ran first are reported as charged
            self.renewals.confirm_revoked(revoked, deadline)
            charged = (
                self.renewals.charged(subscription, plan, revoked, deadline)
                if subscription is not None and plan is not None
                else []
            )
            with suppress(PortOneNotFound):  # deleted by an earlier call: cancelling is safe to repeat
                self.billing.portone.delete_customer(customer_uid, deadline=deadline)
        self.billing.key_deleted(customer_uid)
        if subscription is not None:
            self.store.cancelled(subscription, None)
        logger.info("subscription cancelled", extra={"outcome": "CANCELLED", "customer_uid": customer_uid})
        return CancelResponse(
            customer_uid=customer_uid, revoked=revoked, charged=charged, billing_key_deleted=True
        )

    def erase(self, customer_uid: str, caller: Caller, deadline: Deadline) -> ErasureResponse:
        """The customer asks to erase their data (PIPA §36). The subscription ends now, its paid period with
        it (no refund is made here), as a cancellation `immediately` ends it: every pending payment revoked
        and confirmed by GET, a payment PortOne ran first settled and recorded, then the key deleted at
        PortOne. What the law requires is kept (records.py), a paid period recorded before this service kept
        payment records included, and the answer says what and until when. Then the live data goes (the
        subscription, its periods, the pointers of every key it used) and the owner of each of those keys
        becomes a tombstone that nobody can claim while records name it; the erased uid's own last, so a run
        cut short is finished by its retry."""
        ended = self.cancel(customer_uid, caller, deadline, immediately=True)  # the caller's, or 404
        subscription = self.store.for_customer(customer_uid)
        periods = self.store.periods_of(subscription) if subscription else []
        for period in periods:
            if period.status == "paid" and period.imp_uid:  # paid before payments were recorded, maybe
                self.renewals.record_payment(period, period.imp_uid, period.schedule_at, keep_existing=True)
        earlier = (
            sorted({*subscription.retired, *subscription.former} - {customer_uid}) if subscription else []
        )
        kept = self.billing.records.kept([customer_uid, *earlier])
        until = max((k.until for k in kept), default=None)
        for uid in earlier:
            self.billing.access.erase_owner(uid, until)
        if subscription is not None:
            self.store.erase(subscription, periods)
        self.billing.access.erase_owner(customer_uid, until)
        logger.info("customer erased", extra={"outcome": "ERASED", "customer_uid": customer_uid})
        return ErasureResponse(
            customer_uid=customer_uid,
            subscription_ended=subscription is not None,
            revoked=ended.revoked,
            charged=ended.charged,
            deleted=["billing_key", *(["subscription", "periods"] if subscription else []), "owner"],
            kept=kept,
        )

    def handle_notice(self, notice: Notice, source_ip: str, deadline: Deadline) -> NoticeResult:
        """PortOne says a scheduled payment ran. V1 notices are unsigned (§4.6): believe only what a lookup of
        the payment confirms, and on a paid period keep the next ones scheduled (idempotently).

        The lookup is made only for a notice that may be true, checked without PortOne (issue 11, F4): from
        PortOne's addresses when the allow-list is on, naming a period this service recorded whose outcome
        is not known yet, and not looked up in the last minute. At most `notice_lookups_per_minute` are
        made: a notice over that is deferred to the reconciler."""
        sources = self.billing.settings.notice_sources()
        if sources and source_ip not in sources:
            return _ignored("not from an allowed address", notice)
        if not could_be_ours(notice.merchant_uid):
            return _ignored("not a merchant_uid of this service", notice)
        # Only a recorded period is ever settled by a notice. An older merchant_uid registered before periods
        # were recorded is left to the reconciler, which has its subscription as work at the period's time.
        recorded = self.store.period(notice.merchant_uid)
        if recorded is None:
            return _ignored("no period recorded under this merchant_uid", notice)
        if recorded.status in _OUTCOME_KNOWN:
            return _ignored("the period's outcome is known already", notice)
        # One lookup per period a minute: naming their own periods, a subscriber cannot spend the bound.
        if not self.store.note_lookup(notice.merchant_uid, datetime.now(UTC), _LOOKUP_EVERY):
            return _ignored("the period was looked up a moment ago", notice)
        if not self.lookups.take():
            return self._defer(recorded, notice)
        with portone_errors_as_api_errors(None):
            try:
                payment = self.billing.portone.get_payment(notice.imp_uid, deadline=deadline)
            except PortOneNotFound:
                return _ignored("unknown imp_uid", notice)
        if payment.merchant_uid != notice.merchant_uid or not payment.customer_uid:
            return _ignored("payment does not match the notice", notice)
        if payment.sandbox and self.billing.settings.portone_channel == "live":
            # A test channel's payment moves no money: it never renews a live subscription.
            _count_sandbox_payment()
            return _ignored("test-channel payment on a live stack", notice)
        found = self.renewals.find(payment.merchant_uid, payment.customer_uid)
        if found is None or payment.amount != found[2].amount:
            return _ignored("not a period this service scheduled", notice)
        subscription, plan, period = found
        scheduled = self.renewals.settle_payment(
            subscription, plan, period, payment, datetime.now(UTC), deadline
        )
        logger.info(
            "notice processed",
            extra={
                "outcome": f"NOTICE_{payment.status.upper()}",
                "customer_uid": subscription.customer_uid,
                "merchant_uid": payment.merchant_uid,
            },
        )
        return NoticeResult(status="processed", scheduled=scheduled)

    def _defer(self, period: Period, notice: Notice) -> NoticeResult:
        """Over the lookup bound: not looked up now, and never dropped. The reconciler learns the period's
        outcome from PortOne as it does a lost notice's (D19), on its first run after the period's time
        plus SETTLE_DELAY; one already settled has nothing left to learn. PortOne gets a success
        (V1 does not resend notices), and the log and metric say what happened."""
        if period.status == "scheduled":
            self.store.due_by(period.subscription, period.schedule_at + SETTLE_DELAY)
        logger.warning(
            "notice deferred to the reconciler",
            extra={"outcome": "NOTICE_DEFERRED", "merchant_uid": notice.merchant_uid},
        )
        return NoticeResult(status="deferred")

    def change_card(
        self,
        customer_uid: str,
        card: CardFields,
        consent: Consent,
        caller: Caller,
        request_identity: str,
        deadline: Deadline,
    ) -> CardChangeResponse | CardChangePending:
        """Charge the subscription to a new card: a new billing key under a new uid (PortOne wants one per
        customer and card; the old uid is never re-issued), then every pending period moves to it and the
        old key is deleted (renewals.change_card). A past_due subscription's overdue period is charged to
        the new card shortly."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.for_customer(customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        if subscription is None or plan is None or subscription.status not in ("active", "past_due"):
            raise SubscriptionNotRenewing("no renewing subscription on this billing key")
        if subscription.moving:
            raise RequestInProgress("the last card change is still moving periods")
        # Everything that can fail before the new key exists comes first: a key nobody uses is an orphan
        # holding a card. PortOne's clock, read fresh: a period moved shortly ahead must be in its future.
        with portone_errors_as_api_errors(customer_uid):
            now = datetime.fromtimestamp(self.billing.portone.refresh_clock(deadline=deadline), UTC)
        new_uid = mint_customer_uid()
        with self.billing.admitted(new_uid, card, consent, caller, request_identity) as admission:
            customer = self.billing.issue_key(admission, card, CustomerFields(), deadline)
        if customer is None:  # unconfirmed, so it may exist: the subscription stays on the old card
            self._drop_key(new_uid, deadline)
            return CardChangePending(customer_uid=new_uid, previous_customer_uid=customer_uid)
        try:
            changed = self.renewals.change_card(subscription, plan, new_uid, now, deadline)
        except ApiError:
            # Not made (changed meanwhile, or DynamoDB failed): the new key must not stay, unless the
            # change was written after all.
            with suppress(ApiError):
                current = self.store.get(subscription.key)
                if current is None or current.customer_uid != new_uid:
                    self._drop_key(new_uid, deadline)
            raise
        return CardChangeResponse(
            customer_uid=new_uid,
            previous_customer_uid=customer_uid,
            card=card_summary(customer),
            subscription_status=changed.status,
            previous_key_deleted=not changed.retired,
        )

    def _drop_key(self, customer_uid: str, deadline: Deadline) -> None:
        """Delete a billing key no subscription uses (best effort: one that stays is logged)."""
        try:
            with portone_errors_as_api_errors(customer_uid), suppress(PortOneNotFound):
                self.billing.portone.delete_customer(customer_uid, deadline=deadline)
            self.billing.key_deleted(customer_uid)
        except ApiError as error:
            logger.warning(
                "unused billing key not deleted", extra={"outcome": error.code, "customer_uid": customer_uid}
            )

    def reconcile(self, deadline: Deadline) -> ReconcileReport:
        """The scheduled run: every subscription with work at PortOne, while there is time. Signed-in claims
        from before the customer-keys index get their customer first (once, a few pages a run)."""
        self.billing.access.backfill_customers()
        return self.renewals.reconcile(deadline)

    def _start(
        self, customer_uid: str, plan: Plan, start: datetime, now: datetime
    ) -> tuple[Subscription, bool]:
        # Until its first periods are confirmed at PortOne, the new subscription is the reconciler's work.
        subscription, started = self.store.start(
            customer_uid,
            plan.id,
            start,
            amount=plan.amount,
            currency=plan.currency,
            next_work_at=now + REGISTRATION_DELAY,
        )
        if subscription.status == "past_due":
            # Its declined period is being retried: the way out is a new card (change_card).
            raise SubscriptionPastDue("a renewal is being retried: change the card with PUT .../card")
        return subscription, started

    def _may_subscribe(self, caller: Caller) -> bool:
        return not caller.anonymous or self.billing.settings.allow_anonymous_subscriptions

    def _confirm_reader(self, customer_uid: str, caller: Caller) -> None:
        """Only a signed-in owner reads or changes a subscription; anonymous callers never can (D8)."""
        if caller.subject is None:
            raise CustomerNotFound("anonymous callers cannot act on an existing customer_uid")
        self.billing.access.confirm_owner(customer_uid, f"sub:{caller.subject}")


def _payment(schedule: ScheduleResult) -> ScheduledPayment:
    status = schedule.payment_status or ("revoked" if schedule.schedule_status == "revoked" else "scheduled")
    return ScheduledPayment(
        merchant_uid=schedule.merchant_uid,
        schedule_at=datetime.fromtimestamp(schedule.schedule_at, KST),
        amount=int(schedule.amount),
        currency=schedule.currency or "KRW",
        status=status,
    )


def _ignored(reason: str, notice: Notice) -> NoticeResult:
    logger.warning(
        "notice not verified",
        extra={"outcome": "NOTICE_IGNORED", "merchant_uid": notice.merchant_uid, "error_fields": [reason]},
    )
    return NoticeResult(status="ignored")


@lru_cache(maxsize=1)
def get_subscription_service() -> SubscriptionService:
    billing = get_service()
    store = SubscriptionStore(
        billing.settings.table_name,
        records_table=billing.settings.records_table_name,
        client=aws_clients().dynamodb,
    )
    catalog = load_catalog()
    settings = billing.settings
    renewals = Renewals(
        portone=billing.portone,
        store=store,
        catalog=catalog,
        notice_url=settings.notice_url,
        overdue_after=timedelta(seconds=settings.renewal_overdue_seconds),
        live=settings.portone_channel == "live",
        on_sandbox_payment=_count_sandbox_payment,
        retry_days=tuple(int(days) for days in settings.retry_days.split(",") if days),
        suspended_for=timedelta(days=settings.suspended_cancel_days),
        without_consent=settings.price_increase_without_consent,
        records=billing.records,
        key_deleted=billing.key_deleted,
        checking_amount=settings.portone_checking_amount,
    )
    lookups = LookupBudget(
        settings.table_name, settings.notice_lookups_per_minute, client=aws_clients().dynamodb
    )
    return SubscriptionService(
        billing=billing, store=store, catalog=catalog, renewals=renewals, lookups=lookups
    )


def _count_sandbox_payment() -> None:
    # A test-channel key is on this live stack (kept with `accept`, or issued while pending): the go-live
    # guard's alarm hears of every payment made with it.
    metrics.add_metric(name=SANDBOX_KEY_METRIC, unit=MetricUnit.Count, value=1)
