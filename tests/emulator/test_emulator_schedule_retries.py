"""A failed run or a revoked schedule again: ``POST /subscribe/payments/schedule/{merchant_uid}/retry`` pays
now, ``.../reschedule`` books a new time (README §4.5, docs §5.5)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator
from local.portone_emulator.cards import CARD_INSUFFICIENT_FUNDS
from tests.emulator.portone_wire import PortOneWire, ok, order, rejected

HOUR = 3600
NOT_FOUND = "merchant_uid로 조회되는 예약결제건이 존재하지 않습니다."
NOT_RETRYABLE = "아직 실행되지 않았거나 이미 승인된 결제예약입니다."
NO_KEY = "결제예약에 사용된 빌링키가 존재하지 않습니다."
RETRY = "/subscribe/payments/schedule/{merchant_uid}/retry"
RESCHEDULE = "/subscribe/payments/schedule/{merchant_uid}/reschedule"


def _retry(wire: PortOneWire, merchant_uid: str = "sub_1") -> requests.Response:
    return wire.call("POST", f"/subscribe/payments/schedule/{merchant_uid}/retry")


def _reschedule(wire: PortOneWire, merchant_uid: str = "sub_1", **body: Any) -> requests.Response:
    return wire.call("POST", f"/subscribe/payments/schedule/{merchant_uid}/reschedule", json=body)


@pytest.fixture
def failed_run(wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock) -> dict[str, Any]:
    """sub_1 of cu_1 ran an hour from the start and was declined; the card pays from now on."""
    ok(wire.issue("cu_1", CARD_INSUFFICIENT_FUNDS))
    ok(wire.schedule("cu_1", order("sub_1", int(clock.now) + HOUR)))
    clock.advance(HOUR)
    (ran,) = emulator.run_due_schedules()
    assert ran["payment_status"] == "failed"
    emulator.card_declines("cu_1", None)
    clock.advance(HOUR)
    return ran


@pytest.fixture
def pending(wire: PortOneWire, clock: FakeClock) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_1", int(clock.now) + HOUR)))


# --- retry ---


def test_retry_pays_a_failed_run_now(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, failed_run: dict[str, Any]
) -> None:
    payment = ok(_retry(wire))

    assert (payment["merchant_uid"], payment["status"], payment["amount"]) == ("sub_1", "paid", 8900)
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == ("cu_1", "payment.scheduled")
    assert payment["imp_uid"] != failed_run["imp_uid"]
    assert payment["paid_at"] == int(clock.now)
    assert ok(wire.payment(payment["imp_uid"])) == payment
    schedule = ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))
    assert (schedule["schedule_status"], schedule["payment_status"], schedule["fail_reason"]) == (
        "executed",
        "paid",
        None,
    )
    assert (schedule["imp_uid"], schedule["executed_at"]) == (payment["imp_uid"], int(clock.now))
    assert emulator.notices == ()  # no webhook for a retry [inf]


def test_retry_of_a_declining_card_is_a_failed_payment_and_can_be_retried_again(
    wire: PortOneWire, emulator: PortOneEmulator, failed_run: dict[str, Any]
) -> None:
    emulator.card_declines("cu_1", "거래정지카드")

    failed = ok(_retry(wire))
    emulator.card_declines("cu_1", None)
    paid = ok(_retry(wire))

    assert (failed["status"], failed["fail_reason"]) == ("failed", "거래정지카드")
    assert paid["status"] == "paid"
    assert len([p for p in emulator.payments.values() if p["merchant_uid"] == "sub_1"]) == 3


def test_retry_pays_a_revoked_schedule(wire: PortOneWire, pending: None) -> None:
    ok(wire.call("POST", "/subscribe/payments/unschedule", json={"merchant_uid": "sub_1"}))

    payment = ok(_retry(wire))

    assert payment["status"] == "paid"
    assert ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))["schedule_status"] == "executed"


def test_retry_refuses_a_pending_or_paid_schedule(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, pending: None
) -> None:
    rejected(_retry(wire), 1, NOT_RETRYABLE, status=400)
    clock.advance(HOUR)
    emulator.run_due_schedules()
    rejected(_retry(wire), 1, NOT_RETRYABLE, status=400)

    assert len(emulator.payments) == 1
    assert emulator.count("POST", RETRY, 400) == 2


def test_retry_of_an_unknown_schedule_or_a_deleted_key_is_404(
    wire: PortOneWire, emulator: PortOneEmulator, failed_run: dict[str, Any]
) -> None:
    rejected(_retry(wire, "nothing"), 1, NOT_FOUND, status=404)
    ok(wire.call("DELETE", "/subscribe/customers/cu_1"))
    rejected(_retry(wire), 1, NO_KEY, status=404)

    assert len(emulator.payments) == 1


# --- reschedule ---


def test_reschedule_books_a_failed_run_again_and_it_runs(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, failed_run: dict[str, Any]
) -> None:
    at = int(clock.now) + HOUR

    schedule = ok(_reschedule(wire, schedule_at=at))

    assert {k: schedule[k] for k in ("schedule_at", "schedule_status", "payment_status", "imp_uid")} == {
        "schedule_at": at,
        "schedule_status": "scheduled",
        "payment_status": None,
        "imp_uid": None,
    }
    assert (schedule["executed_at"], schedule["revoked_at"], schedule["fail_reason"]) == (0, 0, None)
    assert schedule == ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))
    clock.advance(HOUR)
    (ran,) = emulator.run_due_schedules()
    assert (ran["merchant_uid"], ran["payment_status"]) == ("sub_1", "paid")


def test_reschedule_a_revoked_schedule_as_a_form(wire: PortOneWire, clock: FakeClock, pending: None) -> None:
    ok(wire.call("POST", "/subscribe/payments/unschedule", json={"merchant_uid": "sub_1"}))
    at = int(clock.now) + 2 * HOUR

    schedule = ok(
        wire.call("POST", "/subscribe/payments/schedule/sub_1/reschedule", data={"schedule_at": at})
    )

    assert (schedule["schedule_at"], schedule["schedule_status"], schedule["revoked_at"]) == (
        at,
        "scheduled",
        0,
    )


def test_reschedule_refuses_a_pending_or_paid_schedule(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, pending: None
) -> None:
    at = int(clock.now) + 5 * HOUR
    rejected(_reschedule(wire, schedule_at=at), 1, NOT_RETRYABLE, status=400)
    clock.advance(HOUR)
    emulator.run_due_schedules()
    rejected(_reschedule(wire, schedule_at=at), 1, NOT_RETRYABLE, status=400)

    assert emulator.schedules["sub_1"]["schedule_status"] == "executed"


@pytest.mark.parametrize(
    ("body", "message", "violation"),
    [
        ({}, '["schedule_at"] 파라메터는 필수입니다.', "formData parameter 'schedule_at' is required"),
        ({"schedule_at": -1}, "예약시각이 현재 시각보다 과거입니다.", None),
        ({"schedule_at": "tomorrow"}, "schedule_at 파라메터의 값이 올바르지 않습니다.", "must be integer"),
    ],
    ids=["missing", "past", "not-a-time"],
)
def test_reschedule_needs_a_time_not_in_the_past(
    wire: PortOneWire,
    emulator: PortOneEmulator,
    failed_run: dict[str, Any],
    body: dict[str, Any],
    message: str,
    violation: str | None,
) -> None:
    rejected(_reschedule(wire, **body), 1, message, status=400)

    violations = emulator.take_contract_violations()
    assert len(violations) == (1 if violation else 0)
    assert all(violation in v for v in violations if violation)
    assert emulator.schedules["sub_1"]["schedule_status"] == "executed"


def test_reschedule_of_an_unknown_schedule_is_404(wire: PortOneWire, clock: FakeClock) -> None:
    rejected(_reschedule(wire, "nothing", schedule_at=int(clock.now) + HOUR), 1, NOT_FOUND, status=404)


def test_a_rescheduled_run_of_a_deleted_key_fails_when_it_runs(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, failed_run: dict[str, Any]
) -> None:
    ok(wire.call("DELETE", "/subscribe/customers/cu_1"))
    ok(_reschedule(wire, schedule_at=int(clock.now) + HOUR))
    clock.advance(HOUR)

    (ran,) = emulator.run_due_schedules()

    assert (ran["payment_status"], ran["fail_reason"]) == ("failed", "등록되지 않은 구매자입니다.")
