"""The plan catalog and the calendar of a subscription (design.md D10).

Plans live in `plans.json` beside this module: reviewed and deployed with the code, never sent by a client.
A subscription starts at an anchor time; period n is due at the anchor plus n intervals, on the same day of
the month (clamped to the month's last day) at the same time in Korea. Each period's `merchant_uid` is derived
from the customer, the plan and the period's due date, so the same period always gets the same merchant_uid
and PortOne, which never accepts a merchant_uid twice, can never schedule it twice.
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
_MERCHANT_UID = re.compile(r"sub_([0-9a-f]{16})_([0-9]{8})(?:_r[0-9])?")


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
        """`sub_<16 hex>_<YYYYMMDD>`, and `_r<n>` for the n-th retry of a failed payment (a new order: PortOne
        never accepts a merchant_uid twice): at most 32 characters of [A-Za-z0-9_], within PortOne's 40."""
        base = f"sub_{subscription_digest(customer_uid, self.id)}_{due.astimezone(KST):%Y%m%d}"
        return f"{base}_r{attempt}" if attempt else base


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    plans: list[Plan]

    def find(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)


def subscription_digest(customer_uid: str, plan_id: str) -> str:
    """A stable digest of customer and plan; keyless, so merchant_uids never change with a key rotation."""
    return hashlib.sha256(f"{customer_uid}\x00{plan_id}".encode()).hexdigest()[:16]


def parse_merchant_uid(merchant_uid: str) -> tuple[str, str] | None:
    """(digest, YYYYMMDD) of a merchant_uid this service made, or None for anything else."""
    match = _MERCHANT_UID.fullmatch(merchant_uid)
    return (match.group(1), match.group(2)) if match else None


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog.model_validate(json.loads(CATALOG.read_text(encoding="utf-8")))
