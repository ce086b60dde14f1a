"""Use cases: what the API and the schedule ask for, in terms of the PortOne client. No HTTP details here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from billing import cards
from billing.credentials import SecretsManagerCredentials
from billing.deadline import Deadline
from billing.errors import (
    ApiError,
    CardRejected,
    ProviderMisconfigured,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.models import CardSummary, IssueBillingKeyRequest, IssueBillingKeyResponse
from billing.observability import logger
from billing.portone.client import PortOneClient
from billing.portone.errors import (
    PortOneAuthFailed,
    PortOneBusinessError,
    PortOneCardRejected,
    PortOneError,
    PortOneOutcomeUnknown,
)
from billing.portone.models import BillingKeyCard, Customer
from billing.settings import Settings, get_settings

_CARD_TYPES: dict[int, Literal["credit", "check"]] = {0: "credit", 1: "check"}


@dataclass(frozen=True)
class BillingService:
    portone: PortOneClient
    settings: Settings

    def issue_billing_key(
        self, request: IssueBillingKeyRequest, deadline: Deadline
    ) -> IssueBillingKeyResponse:
        card = BillingKeyCard(
            card_number=request.card_number,
            expiry=request.expiry,
            birth=request.birth,
            pwd_2digit=request.pwd_2digit,
        )
        with _portone_errors_as_api_errors(request.customer_uid):
            customer = self.portone.issue_billing_key(
                request.customer_uid, card, extra=self._issue_extras(request), deadline=deadline
            )
        summary = _card_summary(customer)
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

    def smoke_check(self, deadline: Deadline) -> None:
        """Prove the secret is readable and PortOne accepts the keys (design.md D14). Raises on failure."""
        with _portone_errors_as_api_errors(self.settings.smoke_customer_uid or None):
            self.portone.check_credentials(deadline=deadline)
            if self.settings.smoke_customer_uid:
                self.portone.get_customer(self.settings.smoke_customer_uid, deadline=deadline)
        logger.info("smoke check passed", extra={"outcome": "SMOKE_CHECK_PASSED"})

    def _issue_extras(self, request: IssueBillingKeyRequest) -> dict[str, str]:
        """The non-card fields PortOne takes; the PG settings come from config, never from the client."""
        extras = {
            "pg": self.settings.portone_pg,
            "channel_key": self.settings.portone_channel_key,
            "customer_name": request.customer_name,
            "customer_email": request.customer_email,
            "customer_tel": request.customer_tel,
        }
        return {name: value for name, value in extras.items() if value}


def _card_summary(customer: Customer) -> CardSummary:
    card_type = _CARD_TYPES.get(customer.card_type) if customer.card_type is not None else None
    return CardSummary(
        name=customer.card_name,
        code=customer.card_code,
        last4=cards.last4(customer.card_number),
        type=card_type,
    )


@contextmanager
def _portone_errors_as_api_errors(customer_uid: str | None) -> Iterator[None]:
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
        return CardRejected(kind)
    if isinstance(exc, PortOneBusinessError):
        return ProviderRejected(kind)
    if isinstance(exc, PortOneAuthFailed):
        return ProviderMisconfigured(kind)
    if isinstance(exc, PortOneOutcomeUnknown):
        return ProviderOutcomeUnknown(str(exc))
    return ProviderUnavailable(str(exc))


@lru_cache(maxsize=1)
def get_service() -> BillingService:
    """The container's service: built on first use (not at import) so tests can configure the environment."""
    settings = get_settings()
    credentials = SecretsManagerCredentials(settings.portone_secret_id, settings.secret_max_age_seconds)
    client = PortOneClient(
        credentials,
        base_url=settings.portone_base_url,
        connect_timeout=settings.portone_connect_timeout,
        read_timeout=settings.portone_read_timeout,
    )
    return BillingService(portone=client, settings=settings)
