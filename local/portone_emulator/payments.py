"""Payments with a billing key: the ``PaymentAnnotation`` PortOne keeps for ``again`` and scheduled runs.

Pure functions; ``PortOneState`` holds the payments and decides who pays. A decline is a payment too:
``status: "failed"`` with ``fail_reason`` and ``failed_at``, answered with code 0 (README §5.3).
"""

from __future__ import annotations

import secrets
from collections.abc import Container, Iterable, Mapping
from datetime import datetime
from typing import Any

from local.portone_emulator.clock import KST

UNKNOWN_BUYER = "등록되지 않은 구매자입니다."  # README §5.1, again with an unknown customer_uid
# README §5.2 records this text for a reused merchant_uid on onetime; its use for again is [inf] (§9).
ALREADY_ORDERED = "이미 주문이 이루어진 건입니다"
INVALID_AMOUNT = "결제금액이 올바르지 않습니다."  # [inf]: no source records PortOne's text
PAYMENT_NOT_FOUND = "존재하지 않는 결제정보입니다."  # README §1.4 (S14), with 404

MERCHANT_UID_MAX = 40  # README §6.3
PAGE_SIZE = 20  # a billing key's payments: "최대 20개" a page (spec PagedPaymentAnnotation, README §3.6)
# `sorting` of /payments/find (spec): the time each orders by; "-" is newest first. ``updated`` is the last
# change the emulator knows of [inf].
SORTINGS = ("-started", "started", "-paid", "paid", "-updated", "updated")
NAME_MAX = 40
# README §6.3. Longer values are refused, or cut here on `truncate_long_fields` (as customer_* in state.py).
BUYER_FIELD_LIMITS = {
    "buyer_name": 16,
    "buyer_email": 64,
    "buyer_tel": 16,
    "buyer_addr": 128,
    "buyer_postcode": 8,
}
# README §4.1: a schedule's buyer_* default to the key's customer_*.
BUYER_DEFAULTS = {buyer: "customer_" + buyer.removeprefix("buyer_") for buyer in BUYER_FIELD_LIMITS}


def new_imp_uid(taken: Container[str]) -> str:
    """``imps_`` and 12 digits, as billing-key payments look (README §5.3, S12)."""
    while True:
        imp_uid = f"imps_{secrets.randbelow(10**12):012d}"
        if imp_uid not in taken:
            return imp_uid


def buyer(fields: Mapping[str, Any], customer: Mapping[str, Any] | None) -> dict[str, str | None]:
    """``buyer_*`` as given, else from the key's ``customer_*`` (README §4.1), within the spec's limits."""
    result: dict[str, str | None] = {}
    for name, limit in BUYER_FIELD_LIMITS.items():
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            value = customer.get(BUYER_DEFAULTS[name]) if customer else None
        result[name] = value.strip()[:limit] if isinstance(value, str) and value.strip() else None
    return result


def payment(
    *,
    imp_uid: str,
    order: Mapping[str, Any],
    customer_uid: str | None,
    customer: Mapping[str, Any] | None,
    decline: str | None,
    usage: str | None,
    user_agent: str | None,
    now: int,
    sandbox: bool,
) -> dict[str, Any]:
    """The payment of ``order`` (merchant_uid, amount, currency, name, buyer_*, custom_data, card_quota).

    ``customer`` is the billing key (None once it was deleted: the payment fails with ``decline``), or for a
    onetime payment without ``customer_uid`` the card as a key would record it (``customer_uid`` and
    ``usage`` None);
    ``sandbox`` says whether it ran on a test channel. Unused parts of the annotation (virtual accounts,
    escrow, cancellations) are present with PortOne's empty values.
    """
    paid = customer is not None and decline is None
    pg_id = customer["pg_id"] if customer else "nictest04m"
    # NICE's TID: MID, pay method 01, medium 16, yyMMddHHmmss and 4 digits (the README §5.3 sample's pg_tid).
    stamp = datetime.fromtimestamp(now, KST).strftime("%y%m%d%H%M%S")
    pg_tid = f"{pg_id}0116{stamp}{secrets.randbelow(10**4):04d}" if customer else None
    # NICE's receipt page for the TID [inf: the README §5.3 sample shows only its host].
    receipt_url = f"https://npg.nicepay.co.kr/issue/IssueLoader.do?TID={pg_tid}&type=0" if paid else None
    card = customer or {}
    return {
        "imp_uid": imp_uid,
        "merchant_uid": order["merchant_uid"],
        "pay_method": "card",
        "channel": "api",  # non-auth and recurring payments (README §5.3)
        "pg_provider": card.get("pg_provider", "nice"),
        "emb_pg_provider": None,
        "pg_tid": pg_tid,
        "pg_id": pg_id,
        "escrow": False,
        "apply_num": f"{secrets.randbelow(10**8):08d}" if paid else None,
        "bank_code": None,
        "bank_name": None,
        "card_code": card.get("card_code"),
        "card_name": card.get("card_name"),
        "card_issuer_code": None,
        "card_issuer_name": None,
        "card_publisher_code": None,
        "card_publisher_name": None,
        "card_quota": order.get("card_quota") or 0,
        "card_number": card.get("card_number"),
        "card_type": card.get("card_type"),
        "vbank_code": None,
        "vbank_name": None,
        "vbank_num": None,
        "vbank_holder": None,
        "vbank_date": 0,
        "vbank_issued_at": 0,
        "name": order.get("name"),
        "amount": order["amount"],
        "cancel_amount": 0,
        "currency": order.get("currency") or "KRW",
        **{name: order.get(name) for name in BUYER_FIELD_LIMITS},
        "custom_data": order.get("custom_data"),
        "user_agent": user_agent,
        "status": "paid" if paid else "failed",
        "started_at": now,
        "paid_at": now if paid else 0,
        "failed_at": 0 if paid else now,
        "cancelled_at": 0,
        "fail_reason": None if paid else decline,
        "cancel_reason": None,
        "receipt_url": receipt_url,
        "cancel_history": [],
        "cancel_receipt_urls": [],
        "cash_receipt_issued": False,
        "customer_uid": customer_uid,
        "customer_uid_usage": usage,
        "promotion": None,
        "sandbox": sandbox,  # made on a test channel (README §5.4)
    }


def notice_body(payment: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook PortOne POSTs after a scheduled run, paid or failed (README §4.6)."""
    return {
        "imp_uid": payment["imp_uid"],
        "merchant_uid": payment["merchant_uid"],
        "status": payment["status"],
    }


def sorted_payments(
    payments: Iterable[Mapping[str, Any]], sorting: str = "-started"
) -> list[Mapping[str, Any]]:
    """``payments`` (oldest made first) in ``sorting`` order; of equal times the later made leads when
    newest first. ``sorting`` is one of ``SORTINGS``: the emulator refuses any other (its schema enum)."""
    name = sorting.removeprefix("-")
    newest_first = sorting.startswith("-")
    made = list(payments)
    return sorted(
        reversed(made) if newest_first else made, key=lambda p: _time(p, name), reverse=newest_first
    )


def _time(payment: Mapping[str, Any], name: str) -> int:
    names = ("started_at", "paid_at", "failed_at", "cancelled_at") if name == "updated" else (f"{name}_at",)
    return max(int(payment[n]) for n in names)


def page_of(payments: Iterable[Mapping[str, Any]], page: int) -> dict[str, Any]:
    """A ``PagedPaymentAnnotation`` (spec): newest first [inf: the spec names no order], 20 a page."""
    ordered = sorted_payments(payments)
    first = (page - 1) * PAGE_SIZE
    return {
        "total": len(ordered),
        "previous": page - 1,  # 0: no previous page (spec)
        "next": page + 1 if first + PAGE_SIZE < len(ordered) else 0,
        "list": [dict(p) for p in ordered[first : first + PAGE_SIZE]],
    }
