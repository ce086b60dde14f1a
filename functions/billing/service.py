"""Use cases: what the API and the schedule ask for, in terms of the PortOne client. No HTTP details here."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import SecretStr

from billing import cards
from billing.access import DETAILS_MISMATCHES_PER_CARD, AccessStore, Admission, Attempt
from billing.aws import aws_clients
from billing.deadline import Deadline
from billing.errors import (
    ApiError,
    CardDetailsExhausted,
    CardRejected,
    ConfigurationUnavailable,
    CustomerNotFound,
    ProviderChannelMisconfigured,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from billing.fingerprints import Fingerprints
from billing.idempotency import IdempotencyStore
from billing.identity import Caller
from billing.keys import HmacKey, PortOneKeys, Secrets
from billing.models import (
    CardFields,
    CardSummary,
    CustomerFields,
    IssueBillingKeyPending,
    IssueBillingKeyRequest,
    IssueBillingKeyResponse,
)
from billing.observability import logger, metrics
from billing.portone.client import PortOneClient
from billing.portone.errors import (
    PortOneAuthFailed,
    PortOneBusinessError,
    PortOneCardRejected,
    PortOneError,
    PortOneNotFound,
    PortOneOutcomeUnknown,
    PortOneProtocolError,
    PortOneUnavailable,
)
from billing.portone.models import BillingKeyCard, Customer
from billing.records import RecordsStore
from billing.settings import Settings, get_settings
from billing.terms import Consent

_CLOCK_TOLERANCE_SECONDS = 5  # PortOne's `updated` and our estimate of its clock may differ this much
_CARD_TYPES: dict[int, Literal["credit", "check"]] = {0: "credit", 1: "check"}
SANDBOX_KEY_METRIC = "SandboxKeyOnLiveStack"  # the go-live guard fired (template.yaml SandboxKeyAlarm)


@dataclass(frozen=True)
class BillingService:
    portone: PortOneClient
    access: AccessStore
    idempotency: IdempotencyStore
    fingerprints: Fingerprints
    records: RecordsStore
    settings: Settings

    def issue_billing_key(
        self,
        request: IssueBillingKeyRequest,
        consent: Consent,
        caller: Caller,
        request_identity: str,
        deadline: Deadline,
    ) -> IssueBillingKeyResponse | IssueBillingKeyPending:
        """Issue (or, for its owner, replace) a billing key, within the ownership and card-testing rules."""
        customer_uid = request.customer_uid or mint_customer_uid()
        with self.admitted(customer_uid, request, consent, caller, request_identity) as admission:
            customer = self.issue_key(admission, request, request, deadline)
        if customer is None:
            return IssueBillingKeyPending(customer_uid=customer_uid)
        summary = card_summary(customer)
        logger.info(
            "billing key issued",
            extra={
                "outcome": "BILLING_KEY_ISSUED",
                "customer_uid": customer.customer_uid,
                "card_last4": summary.last4,
                "card_code": summary.code,
            },
        )
        return IssueBillingKeyResponse(customer_uid=customer.customer_uid, card=summary)

    def confirm_pending(
        self, customer_uid: str, card: CardFields, deadline: Deadline
    ) -> IssueBillingKeyResponse | None:
        """A retry of a request answered 202 pending: ask PortOne again, never send the card again (D6). The
        success, when the key is there with this card; None while it still cannot be told."""
        try:
            customer = self.portone.get_customer(customer_uid, deadline=deadline)
        except PortOneError:
            return None
        if not holds_card(customer, card.card_number):
            return None
        logger.info("pending confirmed", extra={"outcome": "PENDING_CONFIRMED", "customer_uid": customer_uid})
        return IssueBillingKeyResponse(customer_uid=customer_uid, card=card_summary(customer))

    @contextmanager
    def admitted(
        self, customer_uid: str, card: CardFields, consent: Consent, caller: Caller, request_identity: str
    ) -> Iterator[Admission]:
        """Claim or confirm the uid and count the attempt (D8, D9), and record the customer's consent (D16),
        for the block; settle the admission by its outcome however the block ends. Refused attempts never
        reach PortOne, and neither does a card whose consent could not be recorded."""
        attempt = Attempt(
            customer_uid=customer_uid,
            owner=self.owner_id(caller, request_identity),
            caller=caller.key,
            customer=caller.subject,
            address=caller.address,
            card=self.fingerprints.card(card.card_number.get_secret_value()),
        )
        try:
            admission = self.access.admit(attempt)
        except (RateLimited, CustomerNotFound, CardDetailsExhausted) as refused:
            logger.warning("attempt refused", extra={"outcome": refused.code, "customer_uid": customer_uid})
            raise
        record = None
        try:
            record = self.records.record_consent(customer_uid, consent, attempt.caller)
            yield admission
        finally:
            if record is not None and admission.issued_nothing:  # the contract never began
                self.records.close(customer_uid, record)  # first: a uid held for it outlasts its five years
            self.access.settle(admission)

    def issue_key(
        self, admission: Admission, card: CardFields, customer: CustomerFields, deadline: Deadline
    ) -> Customer | None:
        """Issue (or replace) the billing key of an admitted attempt, and record its outcome for settling:
        a card the issuer rejects counts against the caller (D9); an answer that was lost is looked up, never
        resent (D6); a test-channel key on a live stack meets the go-live guard. None: PortOne may have
        issued it, but a lookup could not confirm it."""
        uid = admission.attempt.customer_uid
        admission.outcome = "unknown"
        try:
            with portone_errors_as_api_errors(uid):
                # On PortOne's clock, which a cold container learns from the token it fetches here
                sent_at = self.portone.portone_time(deadline=deadline)
                issued = self._issue(uid, wire_card(card), customer, sent_at, deadline)
        except CardRejected as rejected:
            admission.outcome = "declined"
            if rejected.decline == "details_mismatch":
                admission.details_mismatch = True
                rejected.tries_left = max(0, DETAILS_MISMATCHES_PER_CARD - admission.card_mismatches - 1)
            raise
        except (ProviderRejected, ProviderMisconfigured):
            admission.outcome = "refused"  # PortOne answered, and issued nothing
            raise
        except ProviderUnavailable:
            admission.outcome = "not_sent"  # the client raises it only for a POST that never left
            raise
        if issued is not None:
            admission.outcome = "issued"
            self.guard_live_channel(issued, deadline)
        return issued

    def key_deleted(self, customer_uid: str) -> None:
        """The uid's billing key is deleted at PortOne: its contract's records start their five years, and
        its owner record holds the uid only until they end (access.py). Safe to repeat."""
        self.access.key_deleted(customer_uid, self.records.close_customer(customer_uid))

    def owner_id(self, caller: Caller, request_identity: str) -> str:
        """Who a new uid belongs to. An anonymous caller is known only by the request that claimed the uid
        (its route, Idempotency-Key and body: `IdempotentRequest.identity`), so a retry of that very request
        can finish the claim, and any other request, even with the same key, cannot touch it (design.md D8).
        An Idempotency-Key is a retry token, not a credential."""
        if caller.subject:
            return f"sub:{caller.subject}"
        return f"anon:{self.fingerprints.token(request_identity)}"

    def guard_live_channel(self, customer: Customer, deadline: Deadline) -> None:
        """The go-live guard: on a live stack, a key from a PortOne test channel is caught on the first card.

        A test channel left in production takes every card and charges nothing (or charges and refunds the
        same night), and a live stack ignores its payments, so every renewal would be lost. Always an error
        log and the SandboxKeyOnLiveStack metric (it has an alarm). With PORTONE_SANDBOX_KEY_ON_LIVE=refuse,
        also revoke every payment pending on the key (they would run on the test channel), delete the key
        and answer 503: a configuration error, never the customer's card.
        """
        if self.settings.portone_channel != "live" or customer.sandbox is not True:
            return
        refuse = self.settings.portone_sandbox_key_on_live == "refuse"
        uid = customer.customer_uid
        metrics.add_metric(name=SANDBOX_KEY_METRIC, unit=MetricUnit.Count, value=1)
        logger.error(
            "test-channel billing key on a live stack",
            extra={
                "outcome": "SANDBOX_KEY_REFUSED" if refuse else "SANDBOX_KEY_ACCEPTED",
                "customer_uid": uid,
            },
        )
        if not refuse:
            return
        try:
            self.portone.unschedule(uid, None, deadline=deadline)
            with suppress(PortOneNotFound):  # already gone: what refusing wants
                self.portone.delete_customer(uid, deadline=deadline)
            self.key_deleted(uid)
        except (PortOneError, ConfigurationUnavailable) as exc:
            # The answer is still the configuration error; a retry of the request withdraws the key again.
            logger.error(
                "test-channel key not withdrawn",
                extra={
                    "outcome": "SANDBOX_KEY_NOT_WITHDRAWN",
                    "customer_uid": uid,
                    "http_status": exc.http_status if isinstance(exc, PortOneError) else None,
                },
            )
        raise ProviderChannelMisconfigured("PortOne issued a test-channel key to a live stack")

    def smoke_check(self, deadline: Deadline) -> None:
        """Prove the stack names a PortOne channel, the secret is readable and PortOne accepts the keys
        (design.md D14). Raises on failure."""
        if not (self.settings.portone_channel_key or self.settings.portone_pg):
            # PortOne's current schema requires channel_key to issue a key (docs/portone-v1.md §3.1): every
            # card would be refused. `pg` is the older way, still accepted where PortOne still takes it.
            raise ProviderChannelMisconfigured("neither PORTONE_CHANNEL_KEY nor PORTONE_PG is set")
        with portone_errors_as_api_errors(self.settings.smoke_customer_uid or None):
            self.portone.check_credentials(deadline=deadline)
            if self.settings.smoke_customer_uid:
                self.portone.get_customer(self.settings.smoke_customer_uid, deadline=deadline)
        logger.info("smoke check passed", extra={"outcome": "SMOKE_CHECK_PASSED"})

    def _issue(
        self,
        customer_uid: str,
        card: BillingKeyCard,
        customer: CustomerFields,
        sent_at: float,
        deadline: Deadline,
    ) -> Customer | None:
        """The issued customer; None when PortOne may have issued it but a lookup could not confirm it."""
        try:
            return self.portone.issue_billing_key(
                customer_uid, card, extra=self.issue_extras(customer), deadline=deadline
            )
        except PortOneOutcomeUnknown:
            # Never send the card twice (D6): ask PortOne what happened instead.
            return self._reconcile(customer_uid, card, sent_at, deadline)

    def _reconcile(
        self, customer_uid: str, card: BillingKeyCard, sent_at: float, deadline: Deadline
    ) -> Customer | None:
        try:
            customer = self.portone.get_customer(customer_uid, deadline=deadline)
        except PortOneError as exc:
            logger.warning(
                "reconciliation lookup failed",
                extra={"outcome": "PENDING", "customer_uid": customer_uid, "http_status": exc.http_status},
            )
            return None
        # Ours if PortOne updated the key at or after our request (its `updated` is in its own clock) and the
        # key's card ends like ours: an earlier key for the same uid fails one test or the other.
        updated_since = customer.updated >= int(sent_at) - _CLOCK_TOLERANCE_SECONDS
        if holds_card(customer, card.card_number) and updated_since:
            logger.info(
                "reconciled: issued", extra={"outcome": "RECONCILED_ISSUED", "customer_uid": customer_uid}
            )
            return customer
        logger.warning(
            "reconciled: not confirmed", extra={"outcome": "PENDING", "customer_uid": customer_uid}
        )
        return None

    def issue_extras(self, customer: CustomerFields) -> dict[str, str]:
        """The non-card fields PortOne takes with a new key; PG settings come from config, not the client."""
        extras = {
            "pg": self.settings.portone_pg,
            "channel_key": self.settings.portone_channel_key,
            "customer_name": customer.customer_name,
            "customer_email": customer.customer_email,
            "customer_tel": customer.customer_tel,
        }
        return {name: value for name, value in extras.items() if value}


def mint_customer_uid() -> str:
    """An opaque uid nobody can guess: 128 random bits."""
    return "cu_" + secrets.token_urlsafe(16)


def wire_card(card: CardFields) -> BillingKeyCard:
    """The API's card as PortOne's billing-key fields: the one mapping between the two models."""
    return BillingKeyCard(
        card_number=card.card_number, expiry=card.expiry, birth=card.birth, pwd_2digit=card.pwd_2digit
    )


def holds_card(customer: Customer, card_number: SecretStr) -> bool:
    """Whether PortOne's key is for this card, as far as its masked number tells (every digit it shows, in
    its place). A mask that shows too little to tell is not evidence: the outcome stays pending."""
    return cards.shows(customer.card_number, card_number.get_secret_value()) is True


def card_summary(customer: Customer) -> CardSummary:
    card_type = _CARD_TYPES.get(customer.card_type) if customer.card_type is not None else None
    return CardSummary(
        name=customer.card_name,
        code=customer.card_code,
        last4=cards.last4(customer.card_number),
        type=card_type,
    )


@contextmanager
def portone_errors_as_api_errors(customer_uid: str | None) -> Iterator[None]:
    """Translate the client's errors into the API's, logging PortOne's codes (never its free text)."""
    try:
        yield
    except PortOneError as exc:
        api_error = _api_error_for(exc)
        logger.warning(
            "PortOne call failed",
            extra={
                "outcome": api_error.code,
                "customer_uid": customer_uid,
                "http_status": exc.http_status,
                "portone_code": exc.code,
                "pg_code": exc.pg_code,
            },
        )
        raise api_error from None


def _api_error_for(exc: PortOneError) -> ApiError:
    kind = type(exc).__name__
    if isinstance(exc, PortOneCardRejected):
        if exc.details_mismatch:
            return CardRejected(kind, decline="details_mismatch")
        metrics.add_metric(name="DeclineUncategorised", unit=MetricUnit.Count, value=1)
        return CardRejected(kind)
    if isinstance(exc, PortOneBusinessError):
        return ProviderRejected(kind)
    if isinstance(exc, PortOneAuthFailed):
        return ProviderMisconfigured(kind)
    if isinstance(exc, PortOneUnavailable | PortOneProtocolError):
        return ProviderUnavailable(str(exc))
    # A POST whose outcome is unknown must have been reconciled before it gets here.
    return ApiError(f"unhandled {kind}")


@lru_cache(maxsize=1)
def get_service() -> BillingService:
    """The container's service: built on first use (not at import) so tests can configure the environment."""
    settings = get_settings()
    aws = aws_clients()
    secrets_manager = Secrets(settings.secret_max_age_seconds, client=aws.secretsmanager)
    client = PortOneClient(
        PortOneKeys(secrets_manager, settings.portone_secret_id),
        base_url=settings.portone_base_url,
        connect_timeout=settings.portone_connect_timeout,
        read_timeout=settings.portone_read_timeout,
    )
    return BillingService(
        portone=client,
        access=AccessStore(settings.table_name, settings.limits(), client=aws.dynamodb),
        idempotency=IdempotencyStore(settings.table_name, client=aws.dynamodb),
        fingerprints=Fingerprints(HmacKey(secrets_manager, settings.hmac_key_secret_id)),
        records=RecordsStore(settings.records_table_name, client=aws.dynamodb, clock=time.time),
        settings=settings,
    )
