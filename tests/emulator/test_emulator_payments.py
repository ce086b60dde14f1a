"""Paying with a billing key: ``POST /subscribe/payments/again``, ``GET /payments/{imp_uid}`` (README §5)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.portone_emulator import FakeClock, PortOneEmulator, PortOneError
from local.portone_emulator.cards import (
    CARD_INSUFFICIENT_FUNDS,
    CARD_PAYMENT_SUSPENDED,
    TEST_CARD_CHECK,
    TEST_CARD_OK,
)
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, PortOneWire, ok, order, rejected

AGAIN = ("POST", "/subscribe/payments/again")
ALREADY = "이미 주문이 이루어진 건입니다"
CARD = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": "900101", "pwd_2digit": "12"}
UNKNOWN_PAYMENT = {"code": 1, "message": "존재하지 않는 결제정보입니다.", "response": None}


def test_a_paid_payment(wire: PortOneWire, clock: FakeClock) -> None:
    ok(wire.issue("cu_1", TEST_CARD_OK, customer_name="홍길동"))
    now = int(clock.now)

    payment = ok(
        wire.again(
            "cu_1",
            "order_1",
            buyer_name="김철수",
            buyer_email="kim@example.com",
            custom_data='{"plan":"monthly"}',
            headers={"User-Agent": "billing-client/1.0"},
        )
    )

    assert re.fullmatch(r"imps_\d{12}", payment["imp_uid"])
    assert re.fullmatch(r"nictest04m0116\d{16}", payment["pg_tid"])
    assert re.fullmatch(r"\d{8}", payment["apply_num"])
    assert payment["receipt_url"].endswith(f"TID={payment['pg_tid']}&type=0")
    variable = {"imp_uid", "pg_tid", "apply_num", "receipt_url"}
    assert {k: v for k, v in payment.items() if k not in variable} == {
        "merchant_uid": "order_1",
        "pay_method": "card",
        "channel": "api",
        "pg_provider": "nice",
        "emb_pg_provider": None,
        "pg_id": "nictest04m",
        "escrow": False,
        "bank_code": None,
        "bank_name": None,
        "card_code": "361",
        "card_name": "BC카드",
        "card_issuer_code": None,
        "card_issuer_name": None,
        "card_publisher_code": None,
        "card_publisher_name": None,
        "card_quota": 0,
        "card_number": "95404900****0001",
        "card_type": 0,
        "vbank_code": None,
        "vbank_name": None,
        "vbank_num": None,
        "vbank_holder": None,
        "vbank_date": 0,
        "vbank_issued_at": 0,
        "name": "월간 이용권",
        "amount": 8900,
        "cancel_amount": 0,
        "currency": "KRW",
        "buyer_name": "김철수",
        "buyer_email": "kim@example.com",
        "buyer_tel": None,  # again does not default buyer_* from the key
        "buyer_addr": None,
        "buyer_postcode": None,
        "custom_data": '{"plan":"monthly"}',
        "user_agent": "billing-client/1.0",
        "status": "paid",
        "started_at": now,
        "paid_at": now,
        "failed_at": 0,
        "cancelled_at": 0,
        "fail_reason": None,
        "cancel_reason": None,
        "cancel_history": [],
        "cancel_receipt_urls": [],
        "cash_receipt_issued": False,
        "customer_uid": "cu_1",
        "customer_uid_usage": "payment",
        "promotion": None,
        "sandbox": True,
    }


@pytest.mark.parametrize(
    ("card_number", "reason"),
    [(CARD_INSUFFICIENT_FUNDS, "잔액부족 또는 한도초과"), (CARD_PAYMENT_SUSPENDED, "거래정지카드")],
    ids=["insufficient-funds", "suspended"],
)
def test_a_declined_payment_is_code_0_with_status_failed(
    wire: PortOneWire, clock: FakeClock, card_number: str, reason: str
) -> None:
    ok(wire.issue("cu_1", card_number))  # issuing works: it only checks that the card exists
    now = int(clock.now)

    payment = ok(wire.again("cu_1", "order_1"))

    assert (payment["status"], payment["fail_reason"]) == ("failed", reason)
    assert (payment["failed_at"], payment["paid_at"], payment["started_at"]) == (now, 0, now)
    assert (payment["apply_num"], payment["receipt_url"]) == (None, None)
    assert (payment["card_number"], payment["customer_uid_usage"]) == (
        "95404900****" + card_number[-4:],
        "payment",
    )


def test_declines_follow_the_key_current_card(wire: PortOneWire) -> None:
    ok(wire.issue("cu_1", CARD_INSUFFICIENT_FUNDS))
    assert ok(wire.again("cu_1", "order_1"))["status"] == "failed"

    ok(wire.issue("cu_1", TEST_CARD_CHECK))  # re-issued with a card that pays

    payment = ok(wire.again("cu_1", "order_2"))
    assert (payment["status"], payment["card_type"], payment["card_name"]) == ("paid", 1, "국민KB카드")


def test_unknown_customer(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    rejected(wire.again("nobody", "order_1"), 1, "등록되지 않은 구매자입니다.")

    assert emulator.payments == {}


def test_a_deleted_key_is_an_unknown_customer(wire: PortOneWire) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.call("DELETE", "/subscribe/customers/cu_1"))

    rejected(wire.again("cu_1", "order_1"), 1, "등록되지 않은 구매자입니다.")


@pytest.mark.parametrize("earlier", ["paid", "failed", "scheduled"])
def test_a_merchant_uid_pays_once(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, earlier: str
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_declined", CARD_PAYMENT_SUSPENDED))
    if earlier == "paid":
        ok(wire.again("cu_1", "order_1"))
    if earlier == "failed":
        ok(wire.again("cu_declined", "order_1"))
    if earlier == "scheduled":
        ok(wire.schedule("cu_1", order("order_1", int(clock.now) + 3600)))
    before = dict(emulator.payments)

    rejected(wire.again("cu_1", "order_1"), 1, ALREADY)
    assert dict(emulator.payments) == before


@pytest.mark.parametrize(
    ("changes", "message", "violation"),
    [
        ({"merchant_uid": None}, '["merchant_uid"] 파라메터는 필수입니다.', "'merchant_uid' is required"),
        ({"amount": None}, '["amount"] 파라메터는 필수입니다.', "'amount' is required"),
        ({"amount": -100}, "결제금액이 올바르지 않습니다.", None),
        ({"amount": "lots"}, "amount 파라메터의 값이 올바르지 않습니다.", "'amount' must be number"),
        ({"customer_uid": None}, '["customer_uid"] 파라메터는 필수입니다.', "'customer_uid' is required"),
        (
            {"merchant_uid": "m" * 41},
            "merchant_uid는 40자 이하여야 합니다.",
            "'merchant_uid' is longer than 40",
        ),
    ],
    ids=["no-merchant-uid", "no-amount", "negative", "not-a-number", "no-customer-uid", "long-merchant-uid"],
)
def test_invalid_again_requests(
    wire: PortOneWire, emulator: PortOneEmulator, changes: dict[str, Any], message: str, violation: str | None
) -> None:
    ok(wire.issue("cu_1"))
    body = {
        "customer_uid": "cu_1",
        "merchant_uid": "order_1",
        "amount": 8900,
        "name": "월간 이용권",
        **changes,
    }

    response = wire.call(
        "POST", "/subscribe/payments/again", json={k: v for k, v in body.items() if v is not None}
    )

    rejected(response, 1, message)
    assert emulator.payments == {}
    expected = (
        [f"request POST /subscribe/payments/again: formData parameter {violation}"] if violation else []
    )
    assert emulator.take_contract_violations() == expected


def test_a_missing_name_is_refused_as_the_schema_requires_unless_the_switch_serves_older_clients(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    ok(wire.issue("cu_1"))
    body = {"customer_uid": "cu_1", "merchant_uid": "order_1", "amount": 100}

    rejected(wire.call("POST", "/subscribe/payments/again", json=body), 1, '["name"] 파라메터는 필수입니다.')
    assert emulator.payments == {}

    emulator.again_without_name = True
    assert ok(wire.call("POST", "/subscribe/payments/again", json=body))["name"] is None
    # served under the switch, still off the contract (the schema wins)
    assert (
        emulator.take_contract_violations()
        == ["request POST /subscribe/payments/again: formData parameter 'name' is required"] * 2
    )


def test_again_as_a_form(wire: PortOneWire) -> None:
    ok(wire.issue("cu_1"))
    form = {
        "customer_uid": "cu_1",
        "merchant_uid": "order_1",
        "amount": "8900",
        "name": "월간",
        "card_quota": "3",
    }

    payment = ok(wire.call("POST", "/subscribe/payments/again", data=form))

    assert (payment["amount"], payment["card_quota"], payment["status"]) == (8900, 3, "paid")


# --- GET /payments/{imp_uid} ---


@pytest.mark.parametrize("card_number", [TEST_CARD_OK, CARD_INSUFFICIENT_FUNDS])
def test_get_payment_shows_what_again_answered(wire: PortOneWire, card_number: str) -> None:
    ok(wire.issue("cu_1", card_number))
    payment = ok(wire.again("cu_1", "order_1"))

    assert ok(wire.payment(payment["imp_uid"])) == payment


def test_get_unknown_payment_is_404(wire: PortOneWire) -> None:
    response = wire.payment("imps_000000000000")

    assert (response.status_code, response.json()) == (404, UNKNOWN_PAYMENT)


def test_a_test_channel_payment_is_hidden_unless_the_lookup_includes_sandbox(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    # Given a payment on the emulator's default channel, a test channel (README §5.4)
    ok(wire.issue("cu_1"))
    imp_uid = ok(wire.again("cu_1", "order_1"))["imp_uid"]

    # When it is looked up without include_sandbox, with include_sandbox=false, and with it true
    plain = wire.call("GET", f"/payments/{imp_uid}")
    excluded = wire.call("GET", f"/payments/{imp_uid}", params={"include_sandbox": "false"})
    included = wire.payment(imp_uid)

    # Then only the lookup that asks for sandbox payments finds it, and it says it is one
    assert (plain.status_code, plain.json()) == (404, UNKNOWN_PAYMENT)
    assert (excluded.status_code, excluded.json()) == (404, UNKNOWN_PAYMENT)
    assert ok(included)["sandbox"] is True
    assert emulator.payments[imp_uid]["sandbox"] is True


def test_showing_sandbox_payments_to_every_lookup_is_a_named_leniency(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    ok(wire.issue("cu_1"))
    imp_uid = ok(wire.again("cu_1", "order_1"))["imp_uid"]

    emulator.show_sandbox_payments = True
    shown = wire.call("GET", f"/payments/{imp_uid}")

    assert ok(shown)["imp_uid"] == imp_uid


def test_a_live_channel_issues_live_keys_whose_payments_every_lookup_finds(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    emulator.test_channel = False
    customer = ok(wire.issue("cu_1"))
    imp_uid = ok(wire.again("cu_1", "order_1"))["imp_uid"]

    plain = ok(wire.call("GET", f"/payments/{imp_uid}"))

    assert customer["sandbox"] is False
    assert plain["sandbox"] is False


def test_a_payment_keeps_the_channel_of_the_key_that_paid(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    ok(wire.issue("cu_test"))
    emulator.test_channel = False
    ok(wire.issue("cu_live"))

    test_payment = ok(wire.again("cu_test", "order_1"))
    live_payment = ok(wire.again("cu_live", "order_2"))

    assert (test_payment["sandbox"], live_payment["sandbox"]) == (True, False)


def test_reset_puts_the_channel_switches_back_as_constructed(clock: FakeClock) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, test_channel=False) as emulator:
        emulator.test_channel, emulator.show_sandbox_payments = True, True

        emulator.reset()

        assert (emulator.test_channel, emulator.show_sandbox_payments) == (False, False)


def test_schedule_lookups_show_test_channel_schedules_without_asking(
    wire: PortOneWire, clock: FakeClock
) -> None:
    # Schedules carry no `sandbox` and their lookups take no `include_sandbox` (README §5.4): always shown.
    ok(wire.schedule("cu_1", order("sub_1", int(clock.now) + 3600), **CARD))

    schedule = ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))

    assert schedule["merchant_uid"] == "sub_1"
    assert "sandbox" not in schedule


def test_a_cards_answer_can_change_after_it_was_issued(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1", CARD_INSUFFICIENT_FUNDS))
    declined = ok(wire.again("cu_1", "order_1"))

    emulator.card_declines("cu_1", None)  # the customer topped the account up
    paid = ok(wire.again("cu_1", "order_2"))
    emulator.card_declines("cu_1", "분실신고카드")  # then reported the card lost
    lost = ok(wire.again("cu_1", "order_3"))

    assert (declined["status"], paid["status"]) == ("failed", "paid")
    assert (lost["status"], lost["fail_reason"]) == ("failed", "분실신고카드")
    with pytest.raises(KeyError):
        emulator.card_declines("nobody", None)


def test_payments_view_is_read_only(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    imp_uid = ok(wire.again("cu_1", "order_1"))["imp_uid"]

    with pytest.raises(TypeError):
        emulator.payments[imp_uid]["status"] = "cancelled"  # type: ignore[index]
    assert emulator.payments[imp_uid]["status"] == "paid"


def test_charge_again_from_python(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_broke", CARD_PAYMENT_SUSPENDED))

    paid = emulator.charge_again("cu_1", "order_1", 9900, name="direct")
    failed = emulator.charge_again("cu_broke", "order_2", 9900, name="direct")

    assert (paid["status"], paid["amount"], paid["name"], paid["customer_uid_usage"]) == (
        "paid",
        9900,
        "direct",
        "payment",
    )
    assert (failed["status"], failed["fail_reason"]) == ("failed", "거래정지카드")
    assert ok(wire.payment(paid["imp_uid"])) == paid
    assert emulator.count(*AGAIN) == 0
    with pytest.raises(PortOneError, match="이미 주문이 이루어진 건입니다") as reused:
        emulator.charge_again("cu_1", "order_1", 9900, name="direct")
    assert (reused.value.status, reused.value.code) == (200, 1)
    with pytest.raises(PortOneError, match="등록되지 않은 구매자입니다"):
        emulator.charge_again("nobody", "order_3", 9900, name="direct")
