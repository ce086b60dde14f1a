"""Errors the API answers with. Each carries its HTTP status, a stable code and a fixed message.

Messages are constants written for the merchant's page: they never contain request values, PortOne's
free-text PG messages or anything from an upstream body (design.md D12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

Decline = Literal["details_mismatch", "other"]


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    message: ClassVar[str] = "Something went wrong on our side. Try again later."
    # A definitive answer about the request itself: an idempotent retry replays it instead of running again.
    replayable: ClassVar[bool] = False
    # Seconds a client should wait before retrying, when retrying can help.
    retry_after: int | None = None

    def __init__(self, detail: str = "") -> None:
        # `detail` is for logs and tracebacks only (never card data); the response uses `message`.
        super().__init__(detail or self.code)

    @property
    def field_errors(self) -> list[FieldError]:
        return []

    @property
    def details(self) -> dict[str, str | int]:
        """Fields of the error body beyond the common shape: safe, fixed vocabulary, never a value."""
        return {}


class InvalidRequest(ApiError):
    status = 400
    code = "INVALID_REQUEST"
    message = "The request is not valid. See errors for each field and rule."

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("invalid fields: " + ", ".join(f"{e.field}:{e.reason}" for e in errors))
        self._errors = errors

    @property
    def field_errors(self) -> list[FieldError]:
        return self._errors


class UnsupportedMediaType(ApiError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "Send the body as application/json."


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The body is larger than this API accepts."


class Unauthorized(ApiError):
    """No verified caller where the API requires one (the JWT authorizer's claims are missing or foreign)."""

    status = 401
    code = "UNAUTHORIZED"
    message = "Sign in again."


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"
    message = "The token does not allow this."


class NotThroughTheEdge(ApiError):
    """The stack has its public edge (CloudFront and AWS WAF), and this request went around it, to the HTTP
    API's own URL: without the origin secret CloudFront adds, it passed no WAF rule (billing/edge.py)."""

    status = 403
    code = "EDGE_REQUIRED"
    message = "Use the site's own address for this request."


class CustomerNotFound(ApiError):
    """The customer_uid belongs to another caller, or may not be touched by this one (design.md D8).

    Indistinguishable from "does not exist", so the answer tells an attacker nothing about other customers.
    """

    status = 404
    code = "CUSTOMER_NOT_FOUND"
    message = "No such customer."


class SubscriptionExists(ApiError):
    status = 409
    code = "SUBSCRIPTION_EXISTS"
    message = (
        "This customer already has a subscription. To pay with another card, change its card "
        "(PUT /subscriptions/{customer_uid}/card); for another plan, cancel it first."
    )


class SubscriptionPastDue(ApiError):
    """A declined renewal of the subscription is being retried: it cannot be changed until that settles."""

    status = 409
    code = "SUBSCRIPTION_PAST_DUE"
    message = (
        "A payment of this subscription is being retried. Change its card to pay it now "
        "(PUT /subscriptions/{customer_uid}/card), or cancel it."
    )


class BillingKeyReplaced(ApiError):
    """The uid names a billing key a card change replaced: the subscription goes on under its new uid."""

    status = 409
    code = "BILLING_KEY_REPLACED"
    message = (
        "A card change replaced this billing key: the subscription goes on under its new customer_uid "
        "(the card change's answer, or the subscription.card_changed event)."
    )


class UpgradeInProgress(ApiError):
    """The operator's price change, before the reconciler has given older subscriptions their price."""

    status = 409
    code = "UPGRADE_IN_PROGRESS"
    message = (
        "Subscriptions from before prices were recorded are still being given their price by the "
        "reconciler. Try again after its next run."
    )


class SubscriptionNotRenewing(ApiError):
    """A card change for a key with no active or past_due subscription: nothing would move to the card."""

    status = 409
    code = "SUBSCRIPTION_NOT_RENEWING"
    message = "This billing key has no active or past-due subscription whose card could change."


class PriceChangeNotOpen(ApiError):
    """No price increase awaits this customer's consent now."""

    status = 409
    code = "PRICE_CHANGE_NOT_OPEN"
    message = (
        "No price change awaits consent now: there is none, its consent window (the 30 days before the first "
        "payment at the new price, until an hour before it) is not open, or it was decided."
    )


class ScheduleNotFound(ApiError):
    status = 404
    code = "SCHEDULE_NOT_FOUND"
    message = "No pending payment with this merchant_uid for this customer."


class PeriodAlreadyCharged(ApiError):
    """The payment asked to be revoked has already run at PortOne: it was charged, and nothing changed."""

    status = 409
    replayable = True
    code = "PERIOD_ALREADY_CHARGED"
    message = "This payment has already been charged and can no longer be revoked."


class RequestInProgress(ApiError):
    status = 409
    code = "REQUEST_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still running. Retry shortly to get its result."
    retry_after = 2


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used with a different body. Use a new key for a new request."


class RateLimited(ApiError):
    """Too many attempts from this caller, address or card (design.md D9): no PortOne call was made."""

    status = 429
    code = "TOO_MANY_ATTEMPTS"
    message = "Too many attempts. Try again later."

    def __init__(self, dimension: str, retry_after: int) -> None:
        super().__init__(f"limit reached: {dimension}")
        self.dimension = dimension
        self.retry_after = retry_after


class CardRejected(ApiError):
    """The card issuer or PG refused the card (PortOne code -1).

    `decline` is what the customer can do about it: "details_mismatch" (the expiry, PIN digits, birth date
    or number typed do not match the card: check them; `tries_left` more such answers are allowed on this
    card before it is refused here, so the issuer never locks it) or "other" (use another card)."""

    status = 402
    replayable = True
    code = "CARD_REJECTED"
    message = "The card was not accepted. Check the card details or use another card."

    def __init__(self, detail: str = "", *, decline: Decline = "other") -> None:
        super().__init__(detail)
        self.decline = decline
        self.tries_left: int | None = None

    @property
    def details(self) -> dict[str, str | int]:
        details: dict[str, str | int] = {"decline": self.decline}
        if self.tries_left is not None:
            details["tries_left"] = self.tries_left
        return details


class CardDetailsExhausted(ApiError):
    """The card's details did not match twice in a row: it is not tried again here until it succeeds once
    (issuers lock a card after three wrong PINs in a row). No PortOne call was made."""

    status = 403
    replayable = True
    code = "CARD_DETAILS_EXHAUSTED"
    message = (
        "The card details did not match twice in a row, so this card is not tried again here to keep the "
        "card company from locking it. Contact the card company or use another card."
    )


class ProviderRejected(ApiError):
    """PortOne refused the request for a business reason (code 1), e.g. no non-auth PG is configured."""

    status = 422
    replayable = True
    code = "PAYMENT_PROVIDER_REJECTED"
    message = "The payment provider refused the request."


class ProviderUnavailable(ApiError):
    """PortOne could not be reached; nothing was sent, so the client may retry."""

    status = 503
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    message = "The payment provider is unavailable. Try again shortly."
    retry_after = 5


class ProviderMisconfigured(ApiError):
    """PortOne refused our API keys, or the keys in Secrets Manager are missing or malformed."""

    status = 502
    code = "PAYMENT_PROVIDER_AUTH_FAILED"
    message = "The service cannot authenticate with the payment provider."


class ProviderChannelMisconfigured(ApiError):
    """The PortOne channel is misconfigured, a deployment mistake, never the card's: a live stack got a
    billing key from a test channel (the go-live guard deleted it), or the stack names no channel at all
    (the smoke check). Retrying helps only once the configuration is fixed."""

    status = 503
    code = "PAYMENT_CHANNEL_MISCONFIGURED"
    message = "The service cannot take cards right now. Please try again later."


class SignInRequired(ApiError):
    """This stack lets only signed-in customers subscribe (ALLOW_ANONYMOUS_SUBSCRIPTIONS is off)."""

    status = 401
    code = "SIGN_IN_REQUIRED"
    message = "Sign in to subscribe to a plan."


class ConfigurationUnavailable(ApiError):
    """Secrets Manager could not be read."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable. Try again shortly."
    retry_after = 5
