"""Errors the API answers with. Each carries its HTTP status, a stable code and a fixed message.

Messages are constants written for the merchant's page: they never contain request values, PortOne's
free-text PG messages or anything from an upstream body (design.md D12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    message: ClassVar[str] = "Something went wrong on our side. Try again later."
    # Seconds a client should wait before retrying, when retrying can help.
    retry_after: ClassVar[int | None] = None

    def __init__(self, detail: str = "") -> None:
        # `detail` is for logs and tracebacks only (never card data); the response uses `message`.
        super().__init__(detail or self.code)

    @property
    def field_errors(self) -> list[FieldError]:
        return []


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


class CardRejected(ApiError):
    """The card issuer or PG refused the card (PortOne code -1)."""

    status = 402
    code = "CARD_REJECTED"
    message = "The card was not accepted. Check the card details or use another card."


class ProviderRejected(ApiError):
    """PortOne refused the request for a business reason (code 1), e.g. no non-auth PG is configured."""

    status = 422
    code = "PAYMENT_PROVIDER_REJECTED"
    message = "The payment provider refused the request."


class ProviderUnavailable(ApiError):
    """PortOne could not be reached; nothing was sent, so the client may retry."""

    status = 503
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    message = "The payment provider is unavailable. Try again shortly."
    retry_after = 5


class ProviderOutcomeUnknown(ApiError):
    """The request may have reached PortOne but no answer came back (timeout, reset, 5xx, garbled body)."""

    status = 504
    code = "PAYMENT_PROVIDER_TIMEOUT"
    message = "The payment provider did not answer in time; the outcome is not known yet."


class ProviderMisconfigured(ApiError):
    """PortOne refused our API keys, or the keys in Secrets Manager are missing or malformed."""

    status = 502
    code = "PAYMENT_PROVIDER_AUTH_FAILED"
    message = "The service cannot authenticate with the payment provider."


class ConfigurationUnavailable(ApiError):
    """Secrets Manager could not be read."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable. Try again shortly."
    retry_after = 5
