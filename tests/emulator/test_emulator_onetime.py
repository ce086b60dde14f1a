"""Paying once with card fields: ``POST /subscribe/payments/onetime`` (README §5.2, docs §5.5)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from local.portone_emulator import PortOneEmulator
from local.portone_emulator.cards import (
    CARD_INSUFFICIENT_FUNDS,
    CARD_INVALID_NUMBER,
    CARD_NO_PG,
    TEST_CARD_CHECK,
    TEST_CARD_OK,
)
from tests.emulator.portone_wire import PortOneWire, ok, rejected

ONETIME = ("POST", "/subscribe/payments/onetime")
ALREADY = "이미 주문이 이루어진 건입니다"
INVALID_NUMBER = (
    "카드정보 인증 및 빌키 발급에 실패하였습니다. [F112]유효하지않은 카드번호를 입력하셨습니다. "
    "(card_bin 없음)"
)


def onetime(
    wire: PortOneWire, merchant_uid: str = "once_1", card_number: str = TEST_CARD_OK, **fields: Any
) -> requests.Response:
    body = {
        "merchant_uid": merchant_uid,
        "amount": 12000,
        "name": "1회 이용권",
        "card_number": card_number,
        "expiry": "2030-12",
        "birth": "900101",
        "pwd_2digit": "12",
    }
    headers = fields.pop("headers", {})
    return wire.call("POST", "/subscribe/payments/onetime", json={**body, **fields}, headers=headers)


def test_a_paid_onetime_payment_keeps_no_key(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    payment = ok(onetime(wire, buyer_name="김철수", headers={"User-Agent": "billing-client/1.0"}))

    assert {
        k: payment[k] for k in ("merchant_uid", "amount", "currency", "name", "status", "buyer_name")
    } == {
        "merchant_uid": "once_1",
        "amount": 12000,
        "currency": "KRW",
        "name": "1회 이용권",
        "status": "paid",
        "buyer_name": "김철수",
    }
    assert (payment["card_number"], payment["card_name"], payment["card_type"]) == (
        "95404900****0001",
        "BC카드",
        0,
    )
    # No customer_uid: nothing is kept as a key and the payment names none (spec).
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == (None, None)
    assert (payment["user_agent"], payment["sandbox"]) == ("billing-client/1.0", True)
    assert emulator.customers == {}
    assert ok(wire.payment(payment["imp_uid"])) == payment
    assert emulator.count(*ONETIME, 200) == 1


def test_with_customer_uid_the_card_becomes_that_key(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    payment = ok(
        onetime(wire, card_number=TEST_CARD_CHECK, customer_uid="cu_1", buyer_name="홍길동", buyer_tel="010")
    )

    assert (payment["customer_uid"], payment["customer_uid_usage"], payment["card_type"]) == (
        "cu_1",
        "issue",
        1,
    )
    key = ok(wire.call("GET", "/subscribe/customers/cu_1"))
    # buyer_* are kept as the key's customer_* (the spec's description of onetime)
    assert (key["card_number"], key["customer_name"], key["customer_tel"]) == (
        "52728900****0004",
        "홍길동",
        "010",
    )
    again = ok(wire.again("cu_1", "order_2"))
    assert (again["status"], again["customer_uid_usage"]) == ("paid", "payment")


def test_a_declined_card_is_a_failed_payment_and_its_key_stays(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    without_key = ok(onetime(wire, "once_1", CARD_INSUFFICIENT_FUNDS))
    with_key = ok(onetime(wire, "once_2", CARD_INSUFFICIENT_FUNDS, customer_uid="cu_1"))

    for payment in (without_key, with_key):
        assert (payment["status"], payment["fail_reason"]) == ("failed", "잔액부족 또는 한도초과")
        assert payment["paid_at"] == 0
        assert payment["failed_at"] > 0
    assert list(emulator.customers) == ["cu_1"]


@pytest.mark.parametrize(
    ("card_number", "code", "message"),
    [(CARD_INVALID_NUMBER, -1, INVALID_NUMBER), ("4111", -1, INVALID_NUMBER), (CARD_NO_PG, 1, None)],
    ids=["magic-f112", "not-luhn", "no-pg"],
)
def test_a_rejected_card_pays_nothing_and_keeps_nothing(
    wire: PortOneWire, emulator: PortOneEmulator, card_number: str, code: int, message: str | None
) -> None:
    for customer_uid in (None, "cu_1"):
        extra = {"customer_uid": customer_uid} if customer_uid else {}
        rejected(
            onetime(wire, card_number=card_number, **extra),
            code,
            message or "비인증결제모듈 사용정보를 찾을 수 없습니다.",
        )

    assert (emulator.payments, emulator.customers) == ({}, {})


def test_a_merchant_uid_pays_once(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_1"))
    ok(onetime(wire, "once_1"))

    rejected(onetime(wire, "once_1"), 1, ALREADY)
    rejected(onetime(wire, "order_1", customer_uid="cu_2"), 1, ALREADY)

    assert len(emulator.payments) == 2
    assert "cu_2" not in emulator.customers


@pytest.mark.parametrize("name", ["merchant_uid", "amount", "card_number", "expiry"])
def test_required_parameters(wire: PortOneWire, emulator: PortOneEmulator, name: str) -> None:
    body = {
        "merchant_uid": "once_1",
        "amount": 12000,
        "card_number": TEST_CARD_OK,
        "expiry": "2030-12",
    }
    del body[name]

    rejected(
        wire.call("POST", "/subscribe/payments/onetime", json=body), 1, f'["{name}"] 파라메터는 필수입니다.'
    )

    assert emulator.take_contract_violations() == [
        f"request POST /subscribe/payments/onetime: formData parameter '{name}' is required"
    ]
    assert emulator.payments == {}


def test_onetime_as_a_form(wire: PortOneWire) -> None:
    form = {
        "merchant_uid": "once_1",
        "amount": "12000",
        "card_number": "9540-4900-0000-0001",
        "expiry": "2030-12",
        "customer_uid": "cu_1",
        "card_quota": "3",
    }

    payment = ok(wire.call("POST", "/subscribe/payments/onetime", data=form))

    assert (payment["amount"], payment["card_quota"], payment["status"]) == (12000, 3, "paid")


def test_a_live_channel_onetime_payment_is_not_sandbox(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    emulator.test_channel = False

    payment = ok(onetime(wire, customer_uid="cu_1"))

    assert payment["sandbox"] is False
    assert emulator.customers["cu_1"]["sandbox"] is False


def test_card_data_is_never_logged(wire: PortOneWire, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        ok(onetime(wire, customer_uid="cu_1"))
        rejected(onetime(wire, "once_2", CARD_INVALID_NUMBER), -1, INVALID_NUMBER)

    assert "/subscribe/payments/onetime" in caplog.text
    assert TEST_CARD_OK not in caplog.text
    assert CARD_INVALID_NUMBER not in caplog.text
    assert "2030-12" not in caplog.text
    assert "900101" not in caplog.text
