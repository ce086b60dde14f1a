"""The function's configuration: one validated model, read from the environment once per container.

The environment holds names and endpoints only (the secret's id, PortOne's base URL), never secret values.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from billing.access import Limits
from billing.portone.client import DEFAULT_BASE_URL

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"  # 0-255, no leading zero
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
NOTICE_SOURCE_IPS_PATTERN = rf"^$|^{_IPV4}(,{_IPV4}){{0,9}}$"  # the template's NoticeSourceIps too


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Name or ARN of the Secrets Manager secret holding {"imp_key": ..., "imp_secret": ...}.
    portone_secret_id: Annotated[str, Field(min_length=1)]
    portone_base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] = DEFAULT_BASE_URL
    # PortOne's `pg` (e.g. "nice.nictest04m") and `channel_key` for new keys; empty: PortOne's default.
    portone_pg: Annotated[str, Field(max_length=80)] = ""
    portone_channel_key: Annotated[str, Field(max_length=55)] = ""
    # 원 PortOne authorises, and cancels at once, when a subscription's first periods are registered: a card
    # that cannot pay is refused at sign-up (0: no check). A server setting, never the client's (D10).
    portone_checking_amount: Annotated[int, Field(ge=0, le=100_000)] = 0
    # The kind of PortOne channel this stack's keys come from: "test" (staging, go-live rehearsal) or "live".
    # A live stack ignores test-channel (sandbox) payments in notices and guards against test-channel keys.
    portone_channel: Literal["test", "live"] = "live"
    # The go-live guard: what a live stack does with a billing key PortOne issued on a test channel.
    # "refuse": revoke the payments pending on it, delete it and answer 503; "accept": keep it.
    # Both log an error and emit the SandboxKeyOnLiveStack metric, which has an alarm.
    portone_sandbox_key_on_live: Literal["refuse", "accept"] = "refuse"
    portone_connect_timeout: Annotated[float, Field(gt=0, le=10)] = 3.05
    portone_read_timeout: Annotated[float, Field(gt=0, le=25)] = 10.0
    # How long the PortOne keys are cached after a read (design.md D4: at most 5 minutes).
    secret_max_age_seconds: Annotated[int, Field(ge=0, le=300)] = 300
    # Where PortOne sends the notice of each scheduled payment (this API's /webhooks/portone); empty: the URL
    # set in PortOne's console.
    notice_url: Annotated[str, Field(pattern=r"^(https?://\S+)?$")] = ""
    # PortOne lookups the notice route may make a minute (issue 11, F4); a notice over the bound is left to
    # the reconciler. Up to 50 a second: the one PortOne rate limit documented (a PG's, §6.2).
    notice_lookups_per_minute: Annotated[int, Field(ge=1, le=3000)] = 600
    # The addresses notices may come from (PortOne publishes its three, §4.6), comma-separated IPv4;
    # empty: any address. A notice from elsewhere is ignored before DynamoDB and PortOne.
    notice_source_ips: Annotated[str, Field(pattern=NOTICE_SOURCE_IPS_PATTERN)] = ""

    def notice_sources(self) -> frozenset[str]:
        return frozenset(filter(None, self.notice_source_ips.split(",")))

    # The secret CloudFront adds to each request it forwards (edge.py); empty: the stack has no edge.
    origin_secret_id: str = ""
    # The page check (page_check.py): the edge's origin, and the bucket holding the page and its inventory.
    page_url: Annotated[str, Field(pattern=r"^(https?://[^\s/]+)?$")] = ""
    page_bucket: str = ""
    # The hash of the page's inventory make deploy uploaded (local/page.py), kept apart from its bucket.
    page_manifest_digest: Annotated[str, Field(pattern=r"^$|^sha384-[A-Za-z0-9+/]{64}$")] = ""

    # Retries of a declined renewal (dunning): days after the period's time, one per retry, e.g. "1,3,7".
    retry_days: Annotated[str, Field(pattern=r"^[1-9][0-9]?(,[1-9][0-9]?){0,4}$")] = "1,3,7"

    @field_validator("retry_days")
    @classmethod
    def _ascending(cls, value: str) -> str:
        days = [int(day) for day in value.split(",") if day]
        if days != sorted(set(days)):
            raise ValueError("retry days must be ascending")
        return value

    # A subscription suspended after its last retry is cancelled, and its billing key deleted, this late.
    suspended_cancel_days: Annotated[int, Field(ge=1, le=365)] = 30
    # A subscriber moved to a higher price who has not consented in time (전자상거래법 §13⑥) keeps the price
    # they pay, or the subscription ends with its paid period.
    price_increase_without_consent: Literal["keep", "end"] = "keep"
    # A renewal still without a known outcome this long after its time counts RenewalOverdue (an alarm).
    renewal_overdue_seconds: Annotated[int, Field(ge=900, le=7 * 86_400)] = 3600
    # Where subscription events go (events.py): an EventBridge bus, and the `source` of its events.
    event_bus_name: Annotated[str, Field(min_length=1)] = "default"
    event_source: Annotated[str, Field(min_length=1)] = "portone-billing"
    # The smoke check also looks this billing key up when it is set (design.md D14).
    smoke_customer_uid: str = ""
    # The one DynamoDB table: idempotency records, customer_uid owners, card-testing counters.
    table_name: Annotated[str, Field(min_length=3)]
    # Records kept because the law requires them (records.py), apart from the live data (PIPA §21③).
    records_table_name: Annotated[str, Field(min_length=3)]
    # The template-generated key for keyed fingerprints of cards and bodies.
    hmac_key_secret_id: Annotated[str, Field(min_length=1)]
    # The JWT authorizer's issuer; empty: the stack has none and every caller is anonymous (design.md D8).
    jwt_issuer: str = ""
    jwt_scope: str = ""
    # Whether anonymous callers (no JWT authorizer) may subscribe to a plan. Off in production: a
    # subscription is cancelled and viewed by its signed-in owner only (design.md D8).
    allow_anonymous_subscriptions: bool = False
    # Card-testing limits (design.md D9), per fixed window.
    limit_window_seconds: Annotated[int, Field(ge=60, le=86_400)] = 3600
    # A caller is a signed-in account, or an anonymous caller's address (an IPv6 /64).
    limit_attempts_per_caller: Annotated[int, Field(ge=1)] = 5
    # Failures are declined cards, and attempts still in flight (so parallel requests cannot exceed them).
    limit_failures_per_caller: Annotated[int, Field(ge=1)] = 3
    limit_attempts_per_card: Annotated[int, Field(ge=1)] = 3
    # Declined cards from one address, by every caller behind it (a carrier's NAT: README, "Card-testing
    # limits"); signed-in callers' attempts are not counted per address.
    limit_failures_per_address: Annotated[int, Field(ge=1)] = 100

    def limits(self) -> Limits:
        return Limits(
            window_seconds=self.limit_window_seconds,
            attempts_per_caller=self.limit_attempts_per_caller,
            failures_per_caller=self.limit_failures_per_caller,
            attempts_per_card=self.limit_attempts_per_card,
            failures_per_address=self.limit_failures_per_address,
        )


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration (a deployment mistake, not a client's)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {
        name: os.environ[name.upper()] for name in Settings.model_fields if os.environ.get(name.upper())
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False))
        raise ConfigurationError(f"invalid settings: {fields}") from None
