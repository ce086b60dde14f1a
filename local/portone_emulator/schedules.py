"""Scheduled payments: reading ``schedules[]``, the ``ScheduleResultAnnotation`` and the paged list.

Pure functions; ``PortOneState`` keeps the schedule records and runs them. A record is the annotation plus
the emulator's own keys (``notice_url``, ``card_quota``, ``seq``), which ``annotation`` leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from local.portone_emulator.fields import PortOneError, free_text, given, integer, missing, number, text
from local.portone_emulator.payments import (
    BUYER_FIELD_LIMITS,
    INVALID_AMOUNT,
    MERCHANT_UID_MAX,
    MERCHANT_UID_TOO_LONG,
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
BAD_SCHEDULE_AT = "schedule_at은 UNIX timestamp(초)여야 합니다."  # [inf]
BAD_SCHEDULES = "schedules는 결제예약 정보의 배열이어야 합니다."  # [inf]
# README §4.3: 404 for an unknown merchant_uid, text unknown; this is the spec's own 404 description.
NOT_FOUND = "merchant_uid로 조회되는 예약결제건이 존재하지 않습니다."
# README §4.5: PUT answers 400 for a schedule already executed or revoked; the spec's words again [inf].
NOT_PENDING = "이미 실행 혹은 취소된 결제예약입니다."
BAD_SEARCH = "검색 파라메터가 유효하지 않습니다. ({})"  # README §4.4: 400; the text is the spec's [inf]

STATUSES = ("scheduled", "executed", "revoked")
PAGE_SIZE = 20  # [inf]: the spec gives no size here; its merchant-wide list and §3.6 page by 20
# README §4.4: at most 3 months per query. How PortOne counts them is unknown [inf]; 92 days is the longest
# 3 calendar months, so only windows longer than any reading are refused (the shortest is 89 days).
WINDOW = 92 * 24 * 3600

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
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise PortOneError(200, 1, BAD_SCHEDULES)
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
        raise PortOneError(200, 1, MERCHANT_UID_TOO_LONG.format(MERCHANT_UID_MAX))
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
    schedule_at = integer(fields["schedule_at"])
    if schedule_at is None:
        raise PortOneError(status, 1, BAD_SCHEDULE_AT)
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


def read_list_query(query: Mapping[str, Any]) -> tuple[int, int, int, str | None]:
    """``from``, ``to``, ``page`` and ``schedule-status`` of the list (README §4.4); 400 when invalid."""
    bounds = []
    for name in ("from", "to"):
        if not given(query, name):
            raise missing(name, 400)
        value = integer(query[name])
        if value is None:
            raise PortOneError(400, 1, BAD_SEARCH.format(name))
        bounds.append(value)
    start, end = bounds
    if end < start:
        raise PortOneError(400, 1, BAD_SEARCH.format("to < from"))
    if end - start > WINDOW:
        raise PortOneError(400, 1, BAD_SEARCH.format("최대 3개월"))
    page = integer(query["page"]) if given(query, "page") else 1
    if page is None or page < 1:
        raise PortOneError(400, 1, BAD_SEARCH.format("page"))
    status = query.get("schedule-status") or None
    if status is not None and status not in STATUSES:
        raise PortOneError(400, 1, BAD_SEARCH.format("schedule-status"))
    return start, end, page, status


def page_of(schedules: Iterable[Mapping[str, Any]], page: int) -> dict[str, Any]:
    """Newest ``schedule_at`` first (README §4.4), as the paged object the SDKs read, not the spec's array."""
    ordered = sorted(schedules, key=lambda s: (s["schedule_at"], s["seq"]), reverse=True)
    first = (page - 1) * PAGE_SIZE
    return {
        "total": len(ordered),
        "previous": page - 1,  # 0: no previous page (README §4.4)
        "next": page + 1 if first + PAGE_SIZE < len(ordered) else 0,
        "list": [annotation(s) for s in ordered[first : first + PAGE_SIZE]],
    }
