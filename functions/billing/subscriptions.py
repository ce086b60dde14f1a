"""Use cases for recurring payments on PortOne's schedule: plans, scheduling, viewing, revoking, cancelling,
and the notice PortOne sends when a scheduled payment has run.

Amounts, currencies, names and merchant_uids come from the plan catalog (design.md D10); a POST whose
outcome is unknown is looked up before anything else happens (D6); only a uid's owner may act on it (D8).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from billing.aws import aws_clients
from billing.cards import KST
from billing.deadline import Deadline
from billing.errors import (
    ApiError,
    CustomerNotFound,
    FieldError,
    InvalidRequest,
    ScheduleNotFound,
    SignInRequired,
)
from billing.identity import Caller
from billing.models import (
    CancelResponse,
    Notice,
    NoticeResult,
    PlansResponse,
    PlanView,
    RevokeResponse,
    ScheduledPayment,
    ScheduleOrder,
    SchedulePending,
    ScheduleResponse,
    SubscriptionView,
)
from billing.observability import logger, metrics
from billing.plans import Catalog, Plan, load_catalog, parse_merchant_uid, subscription_digest
from billing.portone.errors import PortOneBusinessError, PortOneError, PortOneNotFound, PortOneOutcomeUnknown
from billing.portone.models import Payment, ScheduleResult
from billing.service import (
    SANDBOX_KEY_METRIC,
    BillingService,
    card_summary,
    get_service,
    mint_customer_uid,
    portone_errors_as_api_errors,
)
from billing.subscription_store import Period, Subscription, SubscriptionStore

_MIN_LEAD = timedelta(minutes=1)  # PortOne only schedules in the future; leave room for the request itself
_MAX_LEAD = timedelta(days=90)  # a first payment further out is a mistake, not a plan
# PortOne lists at most "three months" per query (§4.4); 89 days fit that under any reading.
_LISTING_WINDOW = timedelta(days=89)


@dataclass(frozen=True)
class SubscriptionService:
    billing: BillingService
    store: SubscriptionStore
    catalog: Catalog

    def plans(self, caller: Caller) -> PlansResponse:
        """The plans this caller may subscribe to: none for an anonymous caller where only signed-in
        customers subscribe, so the page offers the card form alone."""
        if not self._may_subscribe(caller):
            return PlansResponse(plans=[])
        return PlansResponse(
            plans=[
                PlanView.model_validate(plan.model_dump(exclude={"periods_ahead"}))
                for plan in self.catalog.plans
            ]
        )

    def schedule(
        self, order: ScheduleOrder, caller: Caller, request_identity: str, deadline: Deadline
    ) -> ScheduleResponse | SchedulePending:
        """Schedule the plan's upcoming periods; with a card, issue (or replace) the billing key first.

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
        start = request.start_at or now + 5 * _MIN_LEAD
        if start < now + _MIN_LEAD:
            raise InvalidRequest([FieldError("start_at", "not_in_the_future")])
        if start > now + _MAX_LEAD:
            raise InvalidRequest([FieldError("start_at", "too_far_ahead")])
        if order.card is None and request.customer_uid is None:
            raise InvalidRequest([FieldError("customer_uid", "required_without_card")])
        customer_uid = request.customer_uid or mint_customer_uid()

        if order.card is None:
            self.billing.access.confirm_owner(customer_uid, self.billing.owner_id(caller, request_identity))
            subscription, _ = self.store.start(
                customer_uid, plan.id, start, amount=plan.amount, currency=plan.currency
            )
            summary = None
        else:
            attempt = self.billing.admit_card(customer_uid, order.card, caller, request_identity)
            subscription, started = self.store.start(
                customer_uid, plan.id, start, amount=plan.amount, currency=plan.currency
            )
            # The key first, on its own: its answer says which channel issued it (schedule results do not),
            # and PortOne ignores card fields sent with a schedule for a uid that already has a key.
            try:
                customer = self.billing.issue_key(attempt, order.card, request, deadline)
            except ApiError:
                if started:  # nothing of this subscription reached PortOne
                    self.store.cancel(customer_uid)
                raise
            if customer is None:
                return SchedulePending(customer_uid=customer_uid, plan_id=plan.id)
            summary = card_summary(customer)
        upcoming = self._upcoming_periods(plan, subscription, after=now)
        due = [(n, at) for n, at in upcoming if n > subscription.scheduled_through]
        with portone_errors_as_api_errors(customer_uid):
            confirmed = self._schedule_at_portone(plan, subscription, due, deadline)
        if not confirmed:
            return SchedulePending(customer_uid=customer_uid, plan_id=plan.id)
        if due:
            self.store.mark_scheduled(customer_uid, self._records(plan, subscription, due))
        schedules = [
            ScheduledPayment(
                merchant_uid=record.merchant_uid,
                schedule_at=record.schedule_at.astimezone(KST),
                amount=record.amount,
                currency=record.currency,
                status="scheduled",
            )
            for record in self._records(plan, subscription, upcoming)
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

    def view(self, customer_uid: str, caller: Caller, deadline: Deadline) -> SubscriptionView:
        """The key's masked card and the schedules PortOne holds around now (past and upcoming)."""
        self._confirm_reader(customer_uid, caller)
        subscription = self.store.get(customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        # A window of three months that ends just after the furthest period kept scheduled.
        now = datetime.now(UTC)
        ahead = plan.due_at(now, plan.periods_ahead) - now if plan else timedelta()
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
            schedules=[_payment(s) for s in sorted(schedules, key=lambda s: s.schedule_at)],
        )

    def revoke(
        self, customer_uid: str, merchant_uid: str, caller: Caller, deadline: Deadline
    ) -> RevokeResponse:
        """Revoke one pending payment of the customer's."""
        self._confirm_reader(customer_uid, caller)
        with portone_errors_as_api_errors(customer_uid):
            revoked = self.billing.portone.unschedule(customer_uid, [merchant_uid], deadline=deadline)
        if not revoked:
            raise ScheduleNotFound("nothing pending under that merchant_uid")
        logger.info(
            "payment revoked",
            extra={"outcome": "REVOKED", "customer_uid": customer_uid, "merchant_uid": merchant_uid},
        )
        return RevokeResponse(customer_uid=customer_uid, revoked=[r.merchant_uid for r in revoked])

    def cancel(self, customer_uid: str, caller: Caller, deadline: Deadline) -> CancelResponse:
        """Revoke every pending payment, then delete the billing key. A repeat finds nothing left to do."""
        self._confirm_reader(customer_uid, caller)
        # The subscription stops first, so a notice arriving meanwhile schedules nothing new.
        self.store.cancel(customer_uid)
        with portone_errors_as_api_errors(customer_uid):
            revoked = self.billing.portone.unschedule(customer_uid, None, deadline=deadline)
            with suppress(PortOneNotFound):  # deleted by an earlier call: cancelling is safe to repeat
                self.billing.portone.delete_customer(customer_uid, deadline=deadline)
        logger.info("subscription cancelled", extra={"outcome": "CANCELLED", "customer_uid": customer_uid})
        return CancelResponse(
            customer_uid=customer_uid, revoked=[r.merchant_uid for r in revoked], billing_key_deleted=True
        )

    def handle_notice(self, notice: Notice, deadline: Deadline) -> NoticeResult:
        """PortOne says a scheduled payment ran. V1 notices are unsigned (§4.6): believe only what a lookup of
        the payment confirms, and on a paid period keep the next ones scheduled (idempotently)."""
        with portone_errors_as_api_errors(None):
            try:
                payment = self.billing.portone.get_payment(notice.imp_uid, deadline=deadline)
            except PortOneNotFound:
                return _ignored("unknown imp_uid", notice)
        if payment.merchant_uid != notice.merchant_uid or not payment.customer_uid:
            return _ignored("payment does not match the notice", notice)
        if payment.sandbox and self.billing.settings.portone_channel == "live":
            # A test channel's payment moves no money: it never renews a live subscription. A test-channel key
            # is on this live stack (kept with `accept`, or issued while pending): the guard's alarm says so.
            metrics.add_metric(name=SANDBOX_KEY_METRIC, unit=MetricUnit.Count, value=1)
            return _ignored("test-channel payment on a live stack", notice)
        subscription = self.store.get(payment.customer_uid)
        plan = self.catalog.find(subscription.plan_id) if subscription else None
        period = self._paid_period(payment, subscription, plan) if plan and subscription else None
        if plan is None or subscription is None or period is None:
            return _ignored("not a period this service scheduled", notice)
        if payment.status != "paid":
            logger.warning(
                "scheduled payment not paid",
                extra={
                    "outcome": f"PAYMENT_{payment.status.upper()}",
                    "customer_uid": subscription.customer_uid,
                    "merchant_uid": payment.merchant_uid,
                },
            )
            return NoticeResult(status="processed")
        if subscription.status != "active":
            return NoticeResult(status="processed")
        due = [
            (n, at)
            for n, at in self._periods(plan, subscription, period + 1, plan.periods_ahead)
            if n > subscription.scheduled_through
        ]
        with portone_errors_as_api_errors(subscription.customer_uid):
            confirmed = self._schedule_at_portone(plan, subscription, due, deadline)
        if confirmed and due:
            self.store.mark_scheduled(subscription.customer_uid, self._records(plan, subscription, due))
        scheduled = [plan.merchant_uid(subscription.customer_uid, at) for _, at in due] if confirmed else []
        logger.info(
            "notice processed",
            extra={
                "outcome": "NOTICE_PAID",
                "customer_uid": subscription.customer_uid,
                "merchant_uid": payment.merchant_uid,
            },
        )
        return NoticeResult(status="processed", scheduled=scheduled)

    # --- periods ------------------------------------------------------------------------------------------

    def _periods(
        self, plan: Plan, subscription: Subscription, first: int, count: int
    ) -> list[tuple[int, datetime]]:
        return [(n, plan.due_at(subscription.anchor, n)) for n in range(first, first + count)]

    def _first_period_after(self, plan: Plan, subscription: Subscription, after: datetime) -> int:
        period = 0
        while plan.due_at(subscription.anchor, period) < after + _MIN_LEAD:
            period += 1
        return period

    def _upcoming_periods(
        self, plan: Plan, subscription: Subscription, after: datetime
    ) -> list[tuple[int, datetime]]:
        """The `periods_ahead` periods due after `after`, which should be at PortOne."""
        first = self._first_period_after(plan, subscription, after)
        return self._periods(plan, subscription, first, plan.periods_ahead)

    def _records(
        self, plan: Plan, subscription: Subscription, periods: list[tuple[int, datetime]]
    ) -> list[Period]:
        """The periods as handed to PortOne: at the subscription's own price, never today's catalog's."""
        return [
            Period(
                merchant_uid=plan.merchant_uid(subscription.customer_uid, at),
                customer_uid=subscription.customer_uid,
                index=n,
                amount=_price(subscription, plan),
                currency=subscription.currency,
                schedule_at=at,
            )
            for n, at in periods
        ]

    def _paid_period(self, payment: Payment, subscription: Subscription, plan: Plan) -> int | None:
        """The index of the period `payment` paid, if it is one of this subscription's at the amount that
        period was scheduled with; None for anything else."""
        recorded = self.store.period(payment.merchant_uid)
        if recorded is not None:
            ours = recorded.customer_uid == subscription.customer_uid and payment.amount == recorded.amount
            return recorded.index if ours else None
        # Scheduled before periods were recorded: derived from the merchant_uid, at the subscription's price.
        period = self._period_of(plan, subscription, payment.merchant_uid)
        return period if period is not None and payment.amount == _price(subscription, plan) else None

    def _period_of(self, plan: Plan, subscription: Subscription, merchant_uid: str) -> int | None:
        """The period index a merchant_uid names, if it is one of this subscription's periods."""
        parsed = parse_merchant_uid(merchant_uid)
        if parsed is None or parsed[0] != subscription_digest(subscription.customer_uid, plan.id):
            return None
        for period in range(0, subscription.scheduled_through + 1):
            if (
                plan.merchant_uid(subscription.customer_uid, plan.due_at(subscription.anchor, period))
                == merchant_uid
            ):
                return period
        return None

    # --- PortOne ------------------------------------------------------------------------------------------

    def _schedule_at_portone(
        self, plan: Plan, subscription: Subscription, due: list[tuple[int, datetime]], deadline: Deadline
    ) -> bool:
        """Hand the periods to PortOne. True once PortOne has them; False if that could not be confirmed."""
        if not due:
            return True
        customer_uid = subscription.customer_uid
        entries = [self._entry(record, plan.name) for record in self._records(plan, subscription, due)]
        try:
            self.billing.portone.schedule(customer_uid, entries, deadline=deadline)
            return True
        except PortOneOutcomeUnknown:
            pass  # the request may have arrived: look it up below, never send it again blindly (D6)
        except PortOneBusinessError as exc:
            # A merchant_uid PortOne already has: an earlier attempt got through. Anything else is a refusal.
            if not self._already_scheduled(customer_uid, entries[0]["merchant_uid"], deadline):
                raise
            logger.info(
                "periods were already scheduled",
                extra={"customer_uid": customer_uid, "portone_code": exc.code},
            )
            return True
        return self._already_scheduled(customer_uid, entries[0]["merchant_uid"], deadline)

    def _already_scheduled(self, customer_uid: str, merchant_uid: str, deadline: Deadline) -> bool:
        try:
            found = self.billing.portone.get_schedule(merchant_uid, deadline=deadline)
        except PortOneError as exc:
            logger.warning(
                "schedule lookup failed",
                extra={"outcome": "PENDING", "customer_uid": customer_uid, "http_status": exc.http_status},
            )
            return False
        return found.customer_uid == customer_uid and found.schedule_status != "revoked"

    def _entry(self, record: Period, name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "merchant_uid": record.merchant_uid,
            "schedule_at": int(record.schedule_at.timestamp()),
            "amount": record.amount,
            "currency": record.currency,
            "name": name,
        }
        if self.billing.settings.notice_url:
            entry["notice_url"] = self.billing.settings.notice_url
        return entry

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


def _price(subscription: Subscription, plan: Plan) -> int:
    """What each period of the subscription costs: its own price; the catalog's only for a subscription that
    started before prices were recorded."""
    return subscription.amount if subscription.amount is not None else plan.amount


def _ignored(reason: str, notice: Notice) -> NoticeResult:
    logger.warning(
        "notice not verified",
        extra={"outcome": "NOTICE_IGNORED", "merchant_uid": notice.merchant_uid, "error_fields": [reason]},
    )
    return NoticeResult(status="ignored")


@lru_cache(maxsize=1)
def get_subscription_service() -> SubscriptionService:
    billing = get_service()
    return SubscriptionService(
        billing=billing,
        store=SubscriptionStore(billing.settings.table_name, client=aws_clients().dynamodb),
        catalog=load_catalog(),
    )
