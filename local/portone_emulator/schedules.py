"""Scheduled payments: reading ``schedules[]``, the ``ScheduleResultAnnotation`` and the paged list.

Pure functions; ``PortOneState`` keeps the schedule records and runs them. A record is the annotation plus
the emulator's own keys (``notice_url``, ``card_quota``, ``seq``), which ``annotation`` leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from local.portone_emulator.fields import (
    PortOneError,
    bad_search,
    free_text,
    given,
    integer,
    missing,
    number,
    text,
    too_long,
)
from local.portone_emulator.payments import (
    BUYER_FIELD_LIMITS,
    INVALID_AMOUNT,
    MERCHANT_UID_MAX,
    NAME_MAX,
    buyer,
)

NO_CUSTOMER = "등록된 고객정보가 없습니다."  # README §4.1: unknown customer_uid and no card fields
NOTHING_TO_REVOKE = "취소할 예약결제 기록이 존재하지 않습니다."  # README §4.2
# README §4.1: a duplicate gets code 1, its text is unknown (§9); this one is the emulator's.
DUPLICATE = "이미 예약되었거나 결제에 사용된 merchant_uid({})입니다."
# README §4.1: nothing documents a past schedule_at on POST; the wording follows the spec's 400 for PUT,
# "예약시각이 현재 시각보다 과거인 경우" [inf].
PAST = "예약시각이 현재 시각보다 과거입니다."
# README §4.3: 404 for an unknown merchant_uid, text unknown; this is the spec's own 404 description.
NOT_FOUND = "merchant_uid로 조회되는 예약결제건이 존재하지 않습니다."
# README §4.5: PUT answers 400 for a schedule already executed or revoked; the spec's words again [inf].
NOT_PENDING = "이미 실행 혹은 취소된 결제예약입니다."
# retry and reschedule (README §4.5) take only a run that failed or a revoked schedule; their 400 and 404
# texts are unknown, these are the spec's own descriptions of those answers [inf].
NOT_RETRYABLE = "아직 실행되지 않았거나 이미 승인된 결제예약입니다."
NO_BILLING_KEY = "결제예약에 사용된 빌링키가 존재하지 않습니다."

PAGE_SIZE = 20  # [inf]: the spec gives no size here; its merchant-wide list and §3.6 page by 20
LIMIT_MAX = 1000  # the merchant-wide list's ``limit``: at most 1000, 20 by default (spec)
# README §4.4: at most 3 months per query. How PortOne counts them is unknown [inf]: the strictest reading,
# the shortest 3 calendar months (89 days, February to May), is what a client can rely on everywhere.
WINDOW = 89 * 24 * 3600

ANNOTATION_FIELDS = (
    "customer_uid",
    "merchant_uid",
    "imp_uid",
    "pg_provider",
    "pg_id",
    "customer_id",
    "schedule_at",
    "executed_at",
    "revoked_at",
    "amount",
    "currency",
    "name",
    *BUYER_FIELD_LIMITS,
    "custom_data",
    "schedule_status",
    "payment_status",
    "fail_reason",
    "promotion_id",
)


def read_orders(raw: Any, now: int) -> list[dict[str, Any]]:
    """``schedules[]`` of a POST, checked item by item (README §4.1); duplicates are the caller's."""
    if raw is None or raw == "" or raw == []:
        raise missing("schedules")
    orders = [_order(item, now) for item in raw]
    seen: set[str] = set()
    for order in orders:
        if order["merchant_uid"] in seen:  # twice in one batch is a duplicate too
            raise PortOneError(200, 1, DUPLICATE.format(order["merchant_uid"]))
        seen.add(order["merchant_uid"])
    return orders


def _order(item: Mapping[str, Any], now: int) -> dict[str, Any]:
    merchant_uid = text(item, "merchant_uid")
    if merchant_uid is None:
        raise missing("merchant_uid")
    if len(merchant_uid) > MERCHANT_UID_MAX:
        raise too_long("merchant_uid", MERCHANT_UID_MAX)
    schedule_at = read_schedule_at(item, now, status=200)
    if not given(item, "amount"):
        raise missing("amount")
    amount = number(item["amount"])
    if amount is None or amount <= 0:
        raise PortOneError(200, 1, INVALID_AMOUNT)
    return {
        "merchant_uid": merchant_uid,
        "schedule_at": schedule_at,
        "amount": amount,
        "currency": text(item, "currency") or "KRW",  # README §4.1: defaults to KRW
        "name": text(item, "name", NAME_MAX),  # README §4.1: a missing name is accepted [inf]
        "custom_data": free_text(item.get("custom_data")),
        "promotion_id": text(item, "promotion_id"),
        "card_quota": integer(item.get("card_quota")) or 0,
        # Not in the annotation: where the run's webhook goes (README §4.6).
        "notice_url": text(item, "notice_url"),
        "buyer_fields": {name: item.get(name) for name in BUYER_FIELD_LIMITS},
    }


def read_schedule_at(fields: Mapping[str, Any], now: int, *, status: int) -> int:
    """``schedule_at`` in UNIX seconds, not in the past (``status``: 200 on POST, 400 on PUT)."""
    if not given(fields, "schedule_at"):
        raise missing("schedule_at", status)
    schedule_at = int(fields["schedule_at"])  # an integer: the emulator refuses other values first
    if schedule_at < now:
        raise PortOneError(status, 1, PAST)
    return schedule_at


def record(
    order: Mapping[str, Any],
    *,
    customer_uid: str,
    customer: Mapping[str, Any],
    customer_id: str | None,
    seq: int,
) -> dict[str, Any]:
    """A new schedule: not run, not revoked, no payment yet (README §4.1)."""
    fields = {key: value for key, value in order.items() if key != "buyer_fields"}
    return {
        **fields,
        "customer_uid": customer_uid,
        "imp_uid": None,
        # Set when it runs: the spec describes them as the PG that ran the payment.
        "pg_provider": None,
        "pg_id": None,
        "customer_id": customer_id or customer.get("customer_id"),
        "executed_at": 0,
        "revoked_at": 0,
        **buyer(order["buyer_fields"], customer),
        "schedule_status": "scheduled",
        "payment_status": None,  # JSON null until it runs (README §4.1)
        "fail_reason": None,
        "seq": seq,
    }


def annotation(schedule: Mapping[str, Any]) -> dict[str, Any]:
    return {name: schedule[name] for name in ANNOTATION_FIELDS}


def merchant_uids(value: Any) -> list[str] | None:
    """unschedule's ``merchant_uid``: an array, or one string (README §4.2); None when not given."""
    if value is None or value == "" or value == []:
        return None
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if isinstance(v, str | int) and not isinstance(v, bool)]


class RangeQuery(NamedTuple):
    """A schedule list query: ``start <= schedule_at < end``, one status or all, one page of ``size``."""

    start: int
    end: int
    page: int
    status: str | None
    size: int = PAGE_SIZE
    oldest_first: bool = False


# The list queries' values have the schema's types and enums by now: the emulator refuses the others first.


def read_list_query(query: Mapping[str, Any]) -> RangeQuery:
    """``from``, ``to``, ``page``, ``schedule-status`` of a customer's list (README §4.4); 400 if invalid."""
    start, end = _window(query, "from", "to")
    return RangeQuery(start, end, read_page(query), query.get("schedule-status") or None)


def read_range_query(query: Mapping[str, Any]) -> RangeQuery:
    """The merchant-wide list's ``schedule_from``, ``schedule_to``, ``schedule_status``, ``page``, ``limit``
    and ``sorting`` (spec, README §4.4); 400 when invalid, as the customer's list."""
    start, end = _window(query, "schedule_from", "schedule_to")
    size = int(query["limit"]) if given(query, "limit") else PAGE_SIZE
    if not 1 <= size <= LIMIT_MAX:
        raise bad_search("limit")
    # The spec documents one value, "scheduled" (oldest first); anything else is refused [inf].
    sorting = query.get("sorting") or None
    if sorting not in (None, "scheduled"):
        raise bad_search("sorting")
    status = query.get("schedule_status") or None
    return RangeQuery(start, end, read_page(query), status, size, oldest_first=sorting == "scheduled")


def _window(query: Mapping[str, Any], from_name: str, to_name: str) -> tuple[int, int]:
    bounds = []
    for name in (from_name, to_name):
        if not given(query, name):
            raise missing(name, 400)
        bounds.append(int(query[name]))
    start, end = bounds
    if end < start:
        raise bad_search(f"{to_name} < {from_name}")
    if end - start > WINDOW:
        raise bad_search("최대 3개월")
    return start, end


def read_page(query: Mapping[str, Any]) -> int:
    """``page``, from 1; 400 below it, as a bad search parameter."""
    page = int(query["page"]) if given(query, "page") else 1
    if page < 1:
        raise bad_search("page")
    return page


def matches(schedule: Mapping[str, Any], query: RangeQuery) -> bool:
    return query.start <= schedule["schedule_at"] < query.end and query.status in (
        None,
        schedule["schedule_status"],
    )


def page_of(
    schedules: Iterable[Mapping[str, Any]], query: RangeQuery, *, as_array: bool = False
) -> dict[str, Any] | list[dict[str, Any]]:
    """Newest ``schedule_at`` first (README §4.4) unless asked otherwise, as the paged object the SDKs read;
    ``as_array``: the page's annotations alone, the spec's bare array (a named switch)."""
    ordered = sorted(schedules, key=lambda s: (s["schedule_at"], s["seq"]), reverse=not query.oldest_first)
    first = (query.page - 1) * query.size
    listed = [annotation(s) for s in ordered[first : first + query.size]]
    if as_array:
        return listed
    return {
        "total": len(ordered),
        "previous": query.page - 1,  # 0: no previous page (README §4.4)
        "next": query.page + 1 if first + query.size < len(ordered) else 0,
        "list": listed,
    }


def retryable(schedule: Mapping[str, Any]) -> bool:
    """retry and reschedule take a run that failed or a revoked schedule (spec, README §4.5)."""
    status = schedule["schedule_status"]
    return bool(status == "revoked" or (status == "executed" and schedule["payment_status"] == "failed"))


def executed(schedule: dict[str, Any], payment: Mapping[str, Any], now: int) -> None:
    """Record a run (scheduled, or retried) and its payment on the schedule."""
    schedule.update(
        imp_uid=payment["imp_uid"],
        pg_provider=payment["pg_provider"],
        pg_id=payment["pg_id"],
        executed_at=now,
        schedule_status="executed",
        payment_status=payment["status"],
        fail_reason=payment["fail_reason"],
    )


def pending_again(schedule: dict[str, Any], schedule_at: int) -> None:
    """A rescheduled one looks like a new schedule again: nothing run or revoked, no payment yet [inf]."""
    schedule.update(
        schedule_at=schedule_at,
        imp_uid=None,
        pg_provider=None,
        pg_id=None,
        executed_at=0,
        revoked_at=0,
        schedule_status="scheduled",
        payment_status=None,
        fail_reason=None,
    )
