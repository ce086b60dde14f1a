"""The plan catalog and the calendar of a subscription (design.md D10).

Plans live in `plans.json` beside this module: reviewed and deployed with the code, never sent by a client.
A subscription starts at an anchor time; period n is due at the anchor plus n intervals, on the same day of
the month (clamped to the month's last day) at the same time in Korea. Each attempt at a period has a
`merchant_uid` derived from the subscription's id, the period, the attempt and the card, so it is always the
same and PortOne, which never accepts a merchant_uid twice, can never schedule it twice.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.cards import KST

CATALOG = Path(__file__).with_name("plans.json")
_MERCHANT_UID = re.compile(r"sub_[0-9a-f]{16}_[0-9]{8}(?:_r[0-9])?")
# What `period_merchant_uid` makes: a 20-hex-digit subscription id, then period, attempt and card changes.
_PERIOD_MERCHANT_UID = re.compile(r"S[0-9a-f]{20}P(?:0|[1-9][0-9]*)A(?:0|[1-9][0-9]*)C(?:0|[1-9][0-9]*)")


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    name: Annotated[str, Field(min_length=1, max_length=40)]  # PortOne's `name` limit
    amount: Annotated[int, Field(gt=0)]
    currency: Literal["KRW"] = "KRW"
    interval: Literal["week", "month", "year"]
    # How many upcoming periods stay scheduled at PortOne; a paid period's outcome registers the next. One
    # for now: a declined period must not leave a later one to be charged, and taking a registered period
    # back means registering it again under a new merchant_uid, which needs per-period provider ids.
    periods_ahead: Annotated[int, Field(ge=1, le=1)] = 1

    def due_at(self, anchor: datetime, period: int) -> datetime:
        """When period `period` (0 = the first) of a subscription anchored at `anchor` is due."""
        local = anchor.astimezone(KST)
        if self.interval == "week":
            return local + timedelta(weeks=period)
        months = period * (12 if self.interval == "year" else 1)
        year, month = divmod(local.month - 1 + months, 12)
        year, month = local.year + year, month + 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        return local.replace(year=year, month=month, day=day)

    def merchant_uid(self, customer_uid: str, due: datetime, attempt: int = 0) -> str:
        """The merchant_uids of subscriptions from before subscription ids (see `period_merchant_uid`), which
        keep renewing under them: `sub_<16 hex>_<YYYYMMDD>`, and `_r<n>` for the n-th retry."""
        base = f"sub_{subscription_digest(customer_uid, self.id)}_{due.astimezone(KST):%Y%m%d}"
        return f"{base}_r{attempt}" if attempt else base


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    plans: list[Plan]

    def find(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)


def period_merchant_uid(subscription_id: str, index: int, attempt: int, card: int) -> str:
    """`S<subscription id>P<period>A<attempt>C<card changes>`: each attempt at each period of a subscription,
    on each card, a merchant_uid of its own (PortOne never accepts one twice), derived so that a request
    whose answer was lost can be looked up (D6). At most 40 characters of [A-Za-z0-9], as PortOne and the
    strictest PGs accept: 20 for the id, and room for 10,000 periods, 10 attempts and 1,000 card changes."""
    return f"S{subscription_id}P{index}A{attempt}C{card}"


def subscription_digest(customer_uid: str, plan_id: str) -> str:
    """A stable digest of customer and plan; keyless, so merchant_uids never change with a key rotation."""
    return hashlib.sha256(f"{customer_uid}\x00{plan_id}".encode()).hexdigest()[:16]


def could_be_ours(merchant_uid: str) -> bool:
    """Whether `merchant_uid` has a form this service makes (`period_merchant_uid`, or the older
    `sub_<digest>_<YYYYMMDD>`): anything else is no period of ours, known without asking anyone."""
    return bool(_PERIOD_MERCHANT_UID.fullmatch(merchant_uid) or _MERCHANT_UID.fullmatch(merchant_uid))


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog.model_validate(json.loads(CATALOG.read_text(encoding="utf-8")))
