"""PortOne V1 wire models: what goes on the wire and what comes back, parsed strictly.

Separate from the API's models (billing.models): the service maps between the two explicitly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel, SecretStr


class _Wire(BaseModel):
    # PortOne adds fields over time (sandbox, channel_key...): ignore what we do not read.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class Envelope(_Wire):
    """Every V1 body: code 0 is success; `message` is null then and free text otherwise (§1.2)."""

    code: int
    message: str | None = None
    response: Any = None


class AccessToken(_Wire):
    access_token: SecretStr
    now: int
    expired_at: int


class Customer(_Wire):
    """The CustomerAnnotation of a billing key (§3.1). `card_number` is PortOne's masked form."""

    customer_uid: str
    pg_provider: str | None = None
    pg_id: str | None = None
    card_name: str | None = None
    card_code: str | None = None
    card_number: str | None = None
    card_type: int | None = None
    inserted: int
    updated: int
    # Issued on a PortOne test channel (§3.1, required since the 2026 schema); None in an older answer.
    sandbox: bool | None = None


class ScheduleResult(_Wire):
    """A ScheduleResultAnnotation (§4.1): `imp_uid` and `payment_status` stay null until it runs."""

    customer_uid: str
    merchant_uid: str
    imp_uid: str | None = None
    schedule_at: int
    executed_at: int = 0
    revoked_at: int = 0
    amount: float
    currency: str | None = None
    name: str | None = None
    schedule_status: Literal["scheduled", "executed", "revoked"]
    payment_status: Literal["paid", "failed", "cancelled"] | None = None


class ScheduleList(RootModel[list[ScheduleResult]]):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)


class SchedulePage(_Wire):
    """The per-customer schedule list: paged, as PortOne's own SDKs read it (§4.4)."""

    total: int
    previous: int
    next: int
    list: list[ScheduleResult]


class Payment(_Wire):
    """The parts of a PaymentAnnotation (§5.3) a scheduled payment's notice is checked against."""

    imp_uid: str
    merchant_uid: str
    amount: float
    currency: str | None = None
    status: Literal["ready", "paid", "cancelled", "failed"]
    fail_reason: str | None = None  # the PG's text for a decline (§5.3): logged never, read for retries
    customer_uid: str | None = None
    paid_at: int | None = None  # epoch seconds; 0 when not paid (§5.3)
    # Made on a PortOne test channel (§5.4, required since the 2026 schema); None in an older answer.
    sandbox: bool | None = None


class BillingKeyCard(BaseModel):
    """The card fields of `POST /subscribe/customers/{customer_uid}`, already validated and normalised."""

    model_config = ConfigDict(frozen=True)

    card_number: SecretStr
    expiry: SecretStr
    birth: SecretStr
    pwd_2digit: SecretStr | None

    def wire(self) -> dict[str, str]:
        return {name: secret.get_secret_value() for name, secret in self if secret is not None}


class Credentials(BaseModel):
    """The secret's JSON: `{"imp_key": ..., "imp_secret": ...}` (design.md D4)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    imp_key: str
    imp_secret: SecretStr
