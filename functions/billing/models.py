"""The HTTP API's contract: request and response models, and the translation of validation failures.

Card fields are `SecretStr`, so a model that reaches a repr, a log line or a traceback shows `**********`.
Validation failures are reported as (field, reason) pairs only: pydantic's own errors carry the input and
attacker-chosen key names, so they never leave `parse_model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from billing import cards
from billing.errors import FieldError, InvalidRequest
from billing.terms import ITEM_ID_PATTERN, VERSION_PATTERN

CUSTOMER_UID_PATTERN = r"[A-Za-z0-9_-]{1,80}"  # it travels in PortOne's URL path
# GET /subscriptions/plans and /subscriptions/terms would shadow GET /subscriptions/{uid}
_RESERVED_UIDS = frozenset({"plans", "terms"})
_SAFE_KEY = re.compile(r"[a-z_]{1,40}")  # unknown keys are named back only when they cannot hold card digits
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TEL = re.compile(r"[0-9+() -]{2,20}")
_BIRTH_DATE_LENGTH = 6  # YYMMDD; the other form is a 10-digit business number

# pydantic's error types mapped to the API's reason codes.
_REASONS = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "string_type": "must_be_string",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "string_pattern_mismatch": "invalid_characters",
    "model_type": "must_be_object",
    "int_type": "must_be_integer",
    "greater_than": "must_be_positive",
    "literal_error": "not_an_allowed_value",
    "datetime_type": "must_be_datetime",
    "datetime_from_date_parsing": "must_be_datetime",
    "datetime_parsing": "must_be_datetime",
}

Model = TypeVar("Model", bound=BaseModel)


def _reject(reason: str) -> PydanticCustomError:
    return PydanticCustomError(reason, "invalid")


def _require_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _reject("must_be_string")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, str_strip_whitespace=True)


class CardFields(_Strict):
    """A card as the API takes it, normalised and checked; shared by every route that accepts a card."""

    card_number: SecretStr
    expiry: SecretStr
    birth: SecretStr
    # Personal cards need the PIN's first two digits; corporate cards (birth = business number) may omit them.
    pwd_2digit: Annotated[SecretStr | None, Field(validate_default=True)] = None

    @field_validator("card_number", mode="before")
    @classmethod
    def _card_number(cls, value: Any) -> str:
        digits = cards.CARD_SEPARATORS.sub("", _require_str(value))
        if problem := cards.card_number_problem(digits):
            raise _reject(problem)
        return digits

    @field_validator("expiry", mode="before")
    @classmethod
    def _expiry(cls, value: Any) -> str:
        text = _require_str(value).strip()
        if problem := cards.expiry_problem(text, cards.today_in_korea()):
            raise _reject(problem)
        return text

    @field_validator("birth", mode="before")
    @classmethod
    def _birth(cls, value: Any) -> str:
        text = _require_str(value).strip().replace("-", "")  # business numbers are often written 123-45-67890
        if problem := cards.birth_problem(text):
            raise _reject(problem)
        return text

    @field_validator("pwd_2digit", mode="before")
    @classmethod
    def _pwd(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is None:
            birth = info.data.get("birth")
            if birth is not None and len(birth.get_secret_value()) == _BIRTH_DATE_LENGTH:
                raise _reject("required")
            return None
        text = _require_str(value)
        if problem := cards.pin_problem(text):
            raise _reject(problem)
        return text


class Consents(_Strict):
    """What the customer was shown and agreed to: the terms' version and the consent items they ticked
    (terms.py checks them against the terms)."""

    version: Annotated[str, Field(pattern=VERSION_PATTERN, strict=True)]
    items: Annotated[list[Annotated[str, Field(pattern=ITEM_ID_PATTERN, strict=True)]], Field(max_length=20)]


class CustomerFields(_Strict):
    """Who the card belongs to, as PortOne stores it with the billing key."""

    # Omitted: the server mints an opaque one, so a client cannot guess or reuse another customer's.
    customer_uid: Annotated[str | None, Field(pattern=f"^{CUSTOMER_UID_PATTERN}$", strict=True)] = None
    customer_name: Annotated[str | None, Field(max_length=20, strict=True)] = None
    customer_email: Annotated[str | None, Field(max_length=200, strict=True)] = None
    customer_tel: Annotated[str | None, Field(max_length=20, strict=True)] = None

    @field_validator("customer_uid")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value in _RESERVED_UIDS:
            raise _reject("reserved")
        return value

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise _reject("email_format")
        return value

    @field_validator("customer_tel")
    @classmethod
    def _tel(cls, value: str | None) -> str | None:
        if value is not None and not _TEL.fullmatch(value):
            raise _reject("phone_format")
        return value


class IssueBillingKeyRequest(CustomerFields, CardFields):
    """Body of `POST /subscriptions/issue-billing`."""

    consents: Consents


class CardChangeRequest(CardFields):
    """Body of `PUT /subscriptions/{customer_uid}/card`."""

    consents: Consents


class ScheduleRequest(CustomerFields):
    """Body of `POST /subscriptions/schedule`, without its card fields (see `parse_schedule_request`).

    The client names a plan and may say when the first period starts; amounts, `merchant_uid`, `pg` and
    `notice_url` come from the server (design.md D10), so sending them is an `unknown_field`.
    """

    plan_id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$", strict=True)]
    start_at: AwareDatetime | None = None
    consents: Consents


@dataclass(frozen=True)
class ScheduleOrder:
    request: ScheduleRequest
    card: CardFields | None  # present: issue the billing key (a new sign-up), then schedule on it


def parse_schedule_request(payload: Any) -> ScheduleOrder:
    """Card fields (all or none) go through CardFields, the rest through ScheduleRequest."""
    if not isinstance(payload, dict):
        return ScheduleOrder(parse_model(ScheduleRequest, payload), None)
    card_part = {key: value for key, value in payload.items() if key in CardFields.model_fields}
    rest = {key: value for key, value in payload.items() if key not in CardFields.model_fields}
    errors: list[FieldError] = []  # both parts' errors, listed together
    card = _parsed(CardFields, card_part, errors) if card_part else None
    request = _parsed(ScheduleRequest, rest, errors)
    if errors or request is None:
        raise InvalidRequest(errors)
    return ScheduleOrder(request, card)


def _parsed(model: type[Model], payload: dict[str, Any], errors: list[FieldError]) -> Model | None:
    """`payload` as `model`; or None, its errors added to `errors`."""
    try:
        return parse_model(model, payload)
    except InvalidRequest as exc:
        errors.extend(exc.field_errors)
        return None


class CardSummary(BaseModel):
    """What the API shows of a card: never more than the last four digits."""

    name: str | None
    code: str | None
    last4: str | None
    type: Literal["credit", "check"] | None


class IssueBillingKeyResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    card: CardSummary


class IssueBillingKeyPending(BaseModel):
    """PortOne may or may not have issued the key, and a lookup could not tell (design.md D6)."""

    status: Literal["pending"] = "pending"
    customer_uid: str
    message: str = (
        "The payment provider did not confirm the billing key in time; it may exist. "
        "Check the customer before sending the card again."
    )


def parse_model(model: type[Model], payload: Any) -> Model:
    """Validate `payload` into `model`, or raise InvalidRequest naming each field and rule (never a value)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [_field_error(error) for error in exc.errors(include_url=False, include_input=False)]
        # `from None`: the ValidationError's text holds the submitted values and must not reach a traceback.
        raise InvalidRequest(errors) from None


def _field_error(error: Mapping[str, Any]) -> FieldError:
    location = [str(part) for part in error["loc"]]
    field = ".".join(location) or "body"
    if error["type"] == "extra_forbidden" and not _SAFE_KEY.fullmatch(field):
        field = "(unnamed)"  # an attacker-chosen key name could itself be a card number
    return FieldError(field=field, reason=_REASONS.get(error["type"], error["type"]))


class PlanView(BaseModel):
    id: str
    name: str
    amount: int
    currency: str
    interval: str
    # When a subscription started now would be charged first, and next (Korea time): the disclosure the
    # page shows before its button (전자상거래법 §13②).
    first_charge_at: AwareDatetime
    next_charge_at: AwareDatetime


class PlansResponse(BaseModel):
    plans: list[PlanView]


class ScheduledPayment(BaseModel):
    """One period at PortOne. PortOne's fail_reason (PG free text) is not shown (design.md D12)."""

    merchant_uid: str
    schedule_at: AwareDatetime
    amount: int
    currency: str
    status: Literal["scheduled", "paid", "failed", "cancelled", "revoked"]


class ScheduleResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    plan_id: str
    card: CardSummary | None  # the card, when this request issued the billing key
    schedules: list[ScheduledPayment]


class SchedulePending(BaseModel):
    """PortOne may or may not have scheduled the periods, and a lookup could not tell (design.md D6)."""

    status: Literal["pending"] = "pending"
    customer_uid: str
    plan_id: str
    message: str = (
        "The payment provider did not confirm the schedule in time; it may exist. "
        "Check the subscription before scheduling again."
    )


class PriceChangeView(BaseModel):
    """A price the merchant moved the subscription to, as the customer must be shown it before consenting
    (전자상거래법 §13⑥): the date, the old and the new price (the card is the view's `card`)."""

    previous_amount: int
    amount: int
    period_at: AwareDatetime  # the first payment at the new price (Korea time)
    consent_required: bool  # a higher price; a lower one applies without consent
    # Consent counts only inside this window: the 30 days before, until an hour before the payment.
    consent_from: AwareDatetime
    consent_until: AwareDatetime
    consented_at: AwareDatetime | None
    # Without consent by `consent_until`: the price stays (`keep`) or the subscription ends at `period_at`.
    without_consent: Literal["keep", "end"]
    lapsed: bool


class SubscriptionView(BaseModel):
    customer_uid: str
    card: CardSummary
    plan_id: str | None
    subscription_status: Literal["active", "past_due", "suspended", "cancelled"] | None
    # A cancelled subscription's paid period ends then, or a suspended one is cancelled then, and its
    # billing key deleted (Korea time).
    ends_at: AwareDatetime | None = None
    price_change: PriceChangeView | None = None
    schedules: list[ScheduledPayment]


class KeyListing(BaseModel):
    """One billing key the signed-in customer registered, and the subscription charged to it, if any."""

    customer_uid: str
    plan_id: str | None
    subscription_status: Literal["active", "past_due", "suspended", "cancelled"] | None


class KeysListing(BaseModel):
    """Answer of `GET /subscriptions`: the caller's billing keys in use, newest first. A key a card change
    replaced is not among them; its subscription is, under the new key."""

    billing_keys: list[KeyListing]


class PriceConsent(_Strict):
    """Body of `POST /subscriptions/{customer_uid}/price-consent`: the terms the customer was shown, echoed,
    and an explicit yes. Silence, a closed dialog or consent at sign-up is never consent."""

    previous_amount: Annotated[int, Field(gt=0, strict=True)]
    amount: Annotated[int, Field(gt=0, strict=True)]
    period_at: AwareDatetime
    card_last4: Annotated[str, Field(pattern=r"^[0-9]{4}$", strict=True)]
    agree: Literal[True]


class PriceConsentResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    amount: int
    period_at: AwareDatetime
    consented_at: AwareDatetime


class PriceChangeOrder(_Strict):
    """The operator's `{"action": "change-price", ...}`: move the plan's subscribers to the catalog's
    current price from the first payment on or after `effective_at`. `cursor`: where a run that stopped
    for time left off."""

    action: Literal["change-price"]
    plan_id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$", strict=True)]
    effective_at: AwareDatetime
    cursor: str | None = None


class PriceChangeReport(BaseModel):
    status: Literal["success"] = "success"
    moved: int  # subscriptions given the change (and a `subscription.price_change_requested` event)
    unchanged: int  # already at that price, or changed meanwhile
    complete: bool  # False: the run stopped for time; invoke again with `cursor` to go on
    cursor: str | None  # where to go on (None: from the start; those moved already count as unchanged)


class CardChangeResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str  # the new billing key's: the subscription's uid from now on
    previous_customer_uid: str
    card: CardSummary
    subscription_status: Literal["active", "past_due", "suspended", "cancelled"]
    # False: a period PortOne had already run on the old card is still settling; the key goes after it.
    previous_key_deleted: bool


class CardChangePending(BaseModel):
    """PortOne may or may not have issued the new key, and a lookup could not tell (design.md D6): the
    subscription stays on the old card."""

    status: Literal["pending"] = "pending"
    customer_uid: str
    previous_customer_uid: str
    message: str = (
        "The payment provider did not confirm the new card in time; the subscription stays on the old "
        "card. Check the subscription before sending the card again."
    )


class RevokeResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    revoked: list[str]


class CancelResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    revoked: list[str]
    # Periods PortOne had already charged when the cancellation came: paid, and their period still runs.
    charged: list[str] = []
    billing_key_deleted: bool
    # When the paid period ends and the billing key is deleted (Korea time); None once it is deleted.
    ends_at: AwareDatetime | None = None


class KeptRecords(BaseModel):
    """Records an erasure keeps because the law requires them (README, "Records and retention")."""

    record: Literal["consents", "price_consents", "payments"]
    count: int
    until: AwareDatetime  # when the last of them expires (Korea time)
    law: str


class ErasureResponse(BaseModel):
    status: Literal["success"] = "success"
    customer_uid: str
    # A subscription ended now, and its paid period with it: no refund is made here.
    subscription_ended: bool
    revoked: list[str]
    charged: list[str]  # run by PortOne before the erasure came: paid, and kept as payment records
    deleted: list[Literal["billing_key", "subscription", "periods", "owner"]]
    kept: list[KeptRecords]


class Notice(_Strict):
    """PortOne's V1 notice (§4.6): unsigned, so only a hint of which payment to look up."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, str_strip_whitespace=True)

    imp_uid: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,32}$", strict=True)]
    merchant_uid: Annotated[str, Field(min_length=1, max_length=40, strict=True)]
    status: Annotated[str, Field(max_length=20, strict=True)]


class NoticeResult(BaseModel):
    # deferred: over the lookup bound, left to the reconciler (subscriptions.py, handle_notice)
    status: Literal["processed", "ignored", "deferred"]
    scheduled: list[str] = []
