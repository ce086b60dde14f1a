"""Scheduled payments: register, revoke, look up, list and move them (README §4.1-§4.5)."""

from __future__ import annotations

from typing import Any

import pytest

from local.portone_emulator import FakeClock, PortOneEmulator
from local.portone_emulator.cards import CARD_INVALID_NUMBER, CARD_NO_PG, TEST_CARD_CHECK, TEST_CARD_OK
from tests.emulator.portone_wire import PortOneWire, ok, order, rejected

SCHEDULE = ("POST", "/subscribe/payments/schedule")
DAY = 24 * 3600
INVALID_NUMBER = (
    "카드정보 인증 및 빌키 발급에 실패하였습니다. [F112]유효하지않은 카드번호를 입력하셨습니다. "
    "(card_bin 없음)"
)
NOT_FOUND = "merchant_uid로 조회되는 예약결제건이 존재하지 않습니다."
NOTHING = "취소할 예약결제 기록이 존재하지 않습니다."


def _duplicate(merchant_uid: str) -> str:
    return f"이미 예약되었거나 결제에 사용된 merchant_uid({merchant_uid})입니다."


def _scheduled(merchant_uid: str, schedule_at: int, **changes: Any) -> dict[str, Any]:
    """A fresh ScheduleResultAnnotation for cu_1's key issued without customer_* fields."""
    return {
        "customer_uid": "cu_1",
        "merchant_uid": merchant_uid,
        "imp_uid": None,
        "pg_provider": None,
        "pg_id": None,
        "customer_id": None,
        "schedule_at": schedule_at,
        "executed_at": 0,
        "revoked_at": 0,
        "amount": 8900,
        "currency": "KRW",
        "name": "월간 이용권",
        "buyer_name": None,
        "buyer_email": None,
        "buyer_tel": None,
        "buyer_addr": None,
        "buyer_postcode": None,
        "custom_data": None,
        "schedule_status": "scheduled",
        "payment_status": None,
        "fail_reason": None,
        "promotion_id": None,
        **changes,
    }


@pytest.fixture
def now(clock: FakeClock) -> int:
    return int(clock.now)


# --- POST /subscribe/payments/schedule ---


def test_schedule_answers_annotations_and_buyer_defaults_to_the_key(wire: PortOneWire, now: int) -> None:
    ok(wire.issue("cu_1", customer_name="홍길동", customer_tel="01012345678", customer_email="h@example.com"))
    key_buyer = {"buyer_name": "홍길동", "buyer_tel": "01012345678", "buyer_email": "h@example.com"}

    answer = ok(
        wire.schedule(
            "cu_1",
            order("sub_1", now + DAY),
            order("sub_2", now + 2 * DAY, 9900.5, currency="USD", buyer_name="김철수", custom_data='{"p":1}'),
        )
    )

    assert answer == [
        _scheduled("sub_1", now + DAY, **key_buyer),
        _scheduled(
            "sub_2",
            now + 2 * DAY,
            **{**key_buyer, "buyer_name": "김철수"},
            amount=9900.5,
            currency="USD",
            custom_data='{"p":1}',
        ),
    ]


def test_form_body_with_bracketed_arrays(wire: PortOneWire, emulator: PortOneEmulator, now: int) -> None:
    ok(wire.issue("cu_1"))
    form = {
        "customer_uid": "cu_1",
        "schedules[0][merchant_uid]": "sub_1",
        "schedules[0][schedule_at]": str(now + DAY),
        "schedules[0][amount]": "8900",
        "schedules[0][name]": "월간 이용권",
        "schedules[1][merchant_uid]": "sub_2",
        "schedules[1][schedule_at]": str(now + 2 * DAY),
        "schedules[1][amount]": "8900",
        "schedules[1][name]": "월간 이용권",
        "schedules[1][extra][naverUseCfm]": "20260501",
    }

    answer = ok(wire.call("POST", "/subscribe/payments/schedule", data=form))

    assert answer == [_scheduled("sub_1", now + DAY), _scheduled("sub_2", now + 2 * DAY)]
    assert list(emulator.schedules) == ["sub_1", "sub_2"]


def test_new_customer_with_card_fields_gets_a_key_and_the_schedule_in_one_call(
    wire: PortOneWire, emulator: PortOneEmulator, now: int
) -> None:
    card = {"card_number": TEST_CARD_CHECK, "expiry": "2030-12", "birth": "900101", "pwd_2digit": "12"}

    answer = ok(wire.schedule("cu_new", order("sub_1", now + DAY), customer_id="member_7", **card))

    assert answer[0]["customer_uid"] == "cu_new"
    assert answer[0]["customer_id"] == "member_7"
    key = emulator.customers["cu_new"]
    assert (key["card_number"], key["card_type"], key["inserted"]) == ("52728900****0004", 1, now)
    assert emulator.count(*SCHEDULE) == 1
    assert emulator.count("POST", "/subscribe/customers/{customer_uid}") == 0


def test_card_fields_are_ignored_for_a_customer_with_a_key(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, now: int
) -> None:
    issued = ok(wire.issue("cu_1", TEST_CARD_OK))
    clock.advance(60)

    ok(wire.schedule("cu_1", order("sub_1", now + DAY), card_number=CARD_INVALID_NUMBER, expiry="2031-01"))

    assert dict(emulator.customers["cu_1"]) == issued  # not replaced, not even re-checked
    assert "sub_1" in emulator.schedules


def test_checking_amount_pays_and_cancels_at_once(
    wire: PortOneWire, emulator: PortOneEmulator, now: int
) -> None:
    ok(wire.issue("cu_1"))

    ok(wire.schedule("cu_1", order("sub_1", now + DAY), checking_amount=1000))

    [check] = emulator.payments.values()
    assert (check["amount"], check["status"], check["cancel_amount"]) == (1000, "cancelled", 1000)
    assert emulator.schedules["sub_1"]["schedule_status"] == "scheduled"


def test_checking_amount_refuses_a_card_that_cannot_pay(
    wire: PortOneWire, emulator: PortOneEmulator, now: int
) -> None:
    # A key that exists but whose payments are declined: without the check it would fail at its first run
    ok(wire.issue("cu_1"))
    emulator.card_declines("cu_1", "잔액부족 또는 한도초과")

    rejected(
        wire.schedule("cu_1", order("sub_1", now + DAY), checking_amount=1000), -1, "잔액부족 또는 한도초과"
    )

    assert emulator.schedules == {}
    ok(wire.schedule("cu_1", order("sub_2", now + DAY)))  # 0 or none: no check


def test_unknown_customer_without_card_fields(wire: PortOneWire, emulator: PortOneEmulator, now: int) -> None:
    rejected(wire.schedule("nobody", order("sub_1", now + DAY)), 1, "등록된 고객정보가 없습니다.")

    assert emulator.schedules == {}


@pytest.mark.parametrize(
    ("card", "code", "message"),
    [
        ({"card_number": CARD_INVALID_NUMBER, "expiry": "2030-12"}, -1, INVALID_NUMBER),
        ({"card_number": CARD_NO_PG, "expiry": "2030-12"}, 1, "비인증결제모듈 사용정보를 찾을 수 없습니다."),
        ({"card_number": TEST_CARD_OK}, 1, '["expiry"] 파라메터는 필수입니다.'),
        ({"birth": "900101"}, 1, '["card_number"] 파라메터는 필수입니다.'),
    ],
    ids=["invalid-number", "no-pg", "no-expiry", "birth-only"],
)
def test_new_customer_whose_card_is_rejected_gets_neither_key_nor_schedule(
    wire: PortOneWire, emulator: PortOneEmulator, now: int, card: dict[str, str], code: int, message: str
) -> None:
    rejected(wire.schedule("cu_new", order("sub_1", now + DAY), **card), code, message)

    assert (emulator.customers, emulator.schedules) == ({}, {})


@pytest.mark.parametrize("earlier", ["scheduled", "revoked", "other-customer", "again", "same-batch"])
def test_a_merchant_uid_is_used_once_and_the_batch_is_all_or_nothing(
    wire: PortOneWire, emulator: PortOneEmulator, now: int, earlier: str
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_2"))
    if earlier in ("scheduled", "revoked"):
        ok(wire.schedule("cu_1", order("sub_1", now + DAY)))
    if earlier == "revoked":
        ok(wire.call("POST", "/subscribe/payments/unschedule", json={"merchant_uid": "sub_1"}))
    if earlier == "other-customer":
        ok(wire.schedule("cu_2", order("sub_1", now + DAY)))
    if earlier == "again":
        ok(wire.again("cu_2", "sub_1"))
    before = dict(emulator.schedules)
    batch = [order("sub_0", now + DAY), order("sub_1", now + 2 * DAY)]
    if earlier == "same-batch":
        batch.append(order("sub_1", now + 3 * DAY))

    rejected(wire.schedule("cu_1", *batch), 1, _duplicate("sub_1"))

    assert dict(emulator.schedules) == before  # sub_0 was not kept either


def test_schedule_at_in_the_past_is_refused_and_now_is_fine(
    wire: PortOneWire, emulator: PortOneEmulator, now: int
) -> None:
    ok(wire.issue("cu_1"))

    rejected(wire.schedule("cu_1", order("sub_1", now - 1)), 1, "예약시각이 현재 시각보다 과거입니다.")
    assert ok(wire.schedule("cu_1", order("sub_1", now)))[0]["schedule_at"] == now


@pytest.mark.parametrize(
    ("schedules", "message", "violation"),
    [
        ([], '["schedules"] 파라메터는 필수입니다.', None),
        (
            "sub_1",
            "schedules 파라메터의 값이 올바르지 않습니다.",
            "formData parameter 'schedules' must be an array",
        ),
        (
            [{"schedule_at": 1_900_000_000, "amount": 1}],
            '["merchant_uid"] 파라메터는 필수입니다.',
            "formData parameter 'schedules[0].merchant_uid' is required",
        ),
        (
            [{"merchant_uid": "m" * 41, "schedule_at": 1_900_000_000, "amount": 1}],
            "merchant_uid는 40자 이하여야 합니다.",
            None,  # the spec sets no maxLength on ScheduleAnnotation.merchant_uid, only README §6.3 does
        ),
        (
            [{"merchant_uid": "sub_1", "amount": 1}],
            '["schedule_at"] 파라메터는 필수입니다.',
            "formData parameter 'schedules[0].schedule_at' is required",
        ),
        (
            [{"merchant_uid": "sub_1", "schedule_at": "tomorrow", "amount": 1}],
            "schedule_at 파라메터의 값이 올바르지 않습니다.",
            "formData parameter 'schedules[0].schedule_at' must be integer",
        ),
        (
            [{"merchant_uid": "sub_1", "schedule_at": 1_900_000_000, "amount": 0}],
            "결제금액이 올바르지 않습니다.",
            None,
        ),
        (
            [{"merchant_uid": "sub_1", "schedule_at": 1_900_000_000}],
            '["amount"] 파라메터는 필수입니다.',
            "formData parameter 'schedules[0].amount' is required",
        ),
    ],
    ids=[
        "empty",
        "not-an-array",
        "no-merchant-uid",
        "long-merchant-uid",
        "no-time",
        "bad-time",
        "zero",
        "no-amount",
    ],
)
def test_invalid_schedules_are_refused_with_code_1(
    wire: PortOneWire,
    emulator: PortOneEmulator,
    schedules: Any,
    message: str,
    violation: str | None,
) -> None:
    ok(wire.issue("cu_1"))

    response = wire.call(
        "POST", "/subscribe/payments/schedule", json={"customer_uid": "cu_1", "schedules": schedules}
    )

    rejected(response, 1, message)
    assert emulator.schedules == {}
    expected = [f"request POST /subscribe/payments/schedule: {violation}"] if violation else []
    assert emulator.take_contract_violations() == expected


def test_missing_customer_uid(wire: PortOneWire, emulator: PortOneEmulator, now: int) -> None:
    response = wire.call(
        "POST", "/subscribe/payments/schedule", json={"schedules": [order("sub_1", now + DAY)]}
    )

    rejected(response, 1, '["customer_uid"] 파라메터는 필수입니다.')
    assert emulator.take_contract_violations() == [
        "request POST /subscribe/payments/schedule: formData parameter 'customer_uid' is required"
    ]


# --- POST /subscribe/payments/unschedule ---


@pytest.fixture
def booked(wire: PortOneWire, now: int) -> None:
    """cu_1 has sub_1..sub_3 pending, cu_2 has sub_4."""
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_2"))
    ok(wire.schedule("cu_1", *(order(f"sub_{i}", now + i * DAY) for i in (1, 2, 3))))
    ok(wire.schedule("cu_2", order("sub_4", now + 4 * DAY)))


def _unschedule(wire: PortOneWire, **body: Any) -> Any:
    return wire.call("POST", "/subscribe/payments/unschedule", json=body)


@pytest.mark.usefixtures("booked")
def test_unschedule_one_by_a_single_string(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, now: int
) -> None:
    clock.advance(60)

    revoked = ok(_unschedule(wire, customer_uid="cu_1", merchant_uid="sub_2"))

    assert revoked == [_scheduled("sub_2", now + 2 * DAY, schedule_status="revoked", revoked_at=now + 60)]
    assert [s["schedule_status"] for s in emulator.schedules.values()] == [
        "scheduled",
        "revoked",
        "scheduled",
        "scheduled",
    ]


@pytest.mark.usefixtures("booked")
def test_unschedule_an_array_without_customer_uid(wire: PortOneWire) -> None:
    revoked = ok(_unschedule(wire, merchant_uid=["sub_4", "sub_1", "nobody"]))

    assert [(s["merchant_uid"], s["customer_uid"], s["schedule_status"]) for s in revoked] == [
        ("sub_4", "cu_2", "revoked"),
        ("sub_1", "cu_1", "revoked"),
    ]


@pytest.mark.usefixtures("booked")
def test_unschedule_all_of_a_customer(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(_unschedule(wire, merchant_uid="sub_2"))

    revoked = ok(_unschedule(wire, customer_uid="cu_1"))

    assert [s["merchant_uid"] for s in revoked] == ["sub_1", "sub_3"]  # sub_2 was revoked already
    assert emulator.schedules["sub_4"]["schedule_status"] == "scheduled"


@pytest.mark.usefixtures("booked")
def test_unschedule_form_body(wire: PortOneWire) -> None:
    form = {"customer_uid": "cu_1", "merchant_uid[]": ["sub_1", "sub_3"]}

    revoked = ok(wire.call("POST", "/subscribe/payments/unschedule", data=form))

    assert [s["merchant_uid"] for s in revoked] == ["sub_1", "sub_3"]


@pytest.mark.usefixtures("booked")
@pytest.mark.parametrize(
    "body",
    [
        {"customer_uid": "cu_1", "merchant_uid": "sub_4"},  # someone else's
        {"customer_uid": "nobody"},
        {"merchant_uid": ["nobody"]},
        {"customer_uid": "cu_1", "merchant_uid": "sub_1", "again": True},  # revoked already
        {},
    ],
    ids=["other-customer", "unknown-customer", "unknown-merchant-uid", "twice", "nothing-named"],
)
def test_nothing_to_revoke(wire: PortOneWire, emulator: PortOneEmulator, body: dict[str, Any]) -> None:
    if body.pop("again", False):
        ok(_unschedule(wire, **body))

    rejected(_unschedule(wire, **body), 1, NOTHING)
    assert emulator.schedules["sub_4"]["schedule_status"] == "scheduled"


# --- GET /subscribe/payments/schedule/{merchant_uid} and PUT ---


@pytest.mark.usefixtures("booked")
def test_get_one_schedule(wire: PortOneWire, now: int) -> None:
    assert ok(wire.call("GET", "/subscribe/payments/schedule/sub_1")) == _scheduled("sub_1", now + DAY)
    ok(_unschedule(wire, merchant_uid="sub_1"))
    assert ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))["schedule_status"] == "revoked"


def test_get_unknown_schedule_is_404(wire: PortOneWire) -> None:
    rejected(wire.call("GET", "/subscribe/payments/schedule/nobody"), 1, NOT_FOUND, status=404)


@pytest.mark.usefixtures("booked")
def test_put_moves_a_pending_schedule(wire: PortOneWire, emulator: PortOneEmulator, now: int) -> None:
    moved = ok(wire.call("PUT", "/subscribe/payments/schedule/sub_1", json={"schedule_at": now + 10 * DAY}))

    assert moved == _scheduled("sub_1", now + 10 * DAY)
    assert emulator.schedules["sub_1"]["schedule_at"] == now + 10 * DAY


@pytest.mark.usefixtures("booked")
@pytest.mark.parametrize(
    ("merchant_uid", "body", "status", "message"),
    [
        ("nobody", {"schedule_at": 1_900_000_000}, 404, NOT_FOUND),
        ("sub_1", {"schedule_at": 1}, 400, "예약시각이 현재 시각보다 과거입니다."),
        ("sub_1", {}, 400, '["schedule_at"] 파라메터는 필수입니다.'),
        ("sub_2", {"schedule_at": 1_900_000_000}, 400, "이미 실행 혹은 취소된 결제예약입니다."),
    ],
    ids=["unknown", "past", "missing", "revoked"],
)
def test_put_refusals(
    wire: PortOneWire,
    emulator: PortOneEmulator,
    merchant_uid: str,
    body: dict[str, int],
    status: int,
    message: str,
) -> None:
    ok(_unschedule(wire, merchant_uid="sub_2"))

    response = wire.call("PUT", f"/subscribe/payments/schedule/{merchant_uid}", json=body)

    rejected(response, 1, message, status=status)
    emulator.take_contract_violations()  # a missing schedule_at is off-contract too


# --- GET /subscribe/payments/schedule/customers/{customer_uid} ---


def _list(wire: PortOneWire, params: dict[str, Any], customer_uid: str = "cu_1", alias: bool = False) -> Any:
    path = (
        f"/subscribe/customers/{customer_uid}/schedules"
        if alias
        else f"/subscribe/payments/schedule/customers/{customer_uid}"
    )
    return wire.call("GET", path, params=params)


def test_list_is_paged_by_20_newest_first(wire: PortOneWire, now: int) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", *(order(f"sub_{i:02d}", now + i * 3600) for i in range(1, 26))))
    window = {"from": now, "to": now + 30 * DAY}

    first = ok(_list(wire, window))
    second = ok(_list(wire, {**window, "page": 2}))
    beyond = ok(_list(wire, {**window, "page": 3}))

    assert (first["total"], first["previous"], first["next"]) == (25, 0, 2)
    assert [s["merchant_uid"] for s in first["list"]] == [f"sub_{i:02d}" for i in range(25, 5, -1)]
    assert (second["total"], second["previous"], second["next"]) == (25, 1, 0)
    assert [s["merchant_uid"] for s in second["list"]] == [f"sub_{i:02d}" for i in range(5, 0, -1)]
    assert (beyond["list"], beyond["next"]) == ([], 0)
    assert ok(_list(wire, window, alias=True)) == first


@pytest.mark.usefixtures("booked")
def test_list_window_includes_from_and_excludes_to(wire: PortOneWire, now: int) -> None:
    listed = ok(_list(wire, {"from": now + DAY, "to": now + 3 * DAY}))

    assert [s["merchant_uid"] for s in listed["list"]] == ["sub_2", "sub_1"]


@pytest.mark.usefixtures("booked")
def test_list_by_status(wire: PortOneWire, now: int) -> None:
    ok(_unschedule(wire, merchant_uid=["sub_1", "sub_3"]))
    window = {"from": now, "to": now + 30 * DAY}

    revoked = ok(_list(wire, {**window, "schedule-status": "revoked"}))
    pending = ok(_list(wire, {**window, "schedule-status": "scheduled"}))

    assert [s["merchant_uid"] for s in revoked["list"]] == ["sub_3", "sub_1"]
    assert [s["merchant_uid"] for s in pending["list"]] == ["sub_2"]


def test_list_of_an_unknown_customer_is_empty(wire: PortOneWire, now: int) -> None:
    listed = ok(_list(wire, {"from": now, "to": now + DAY}, "nobody"))

    assert listed == {"total": 0, "previous": 0, "next": 0, "list": []}


@pytest.mark.parametrize(
    ("params", "message", "violation"),
    [
        ({"to": 2}, '["from"] 파라메터는 필수입니다.', "query parameter 'from' is required"),
        ({"from": 1}, '["to"] 파라메터는 필수입니다.', "query parameter 'to' is required"),
        (
            {"from": "yesterday", "to": 2},
            "검색 파라메터가 유효하지 않습니다. (from)",
            "query parameter 'from' must be integer text",
        ),
        ({"from": 5, "to": 4}, "검색 파라메터가 유효하지 않습니다. (to < from)", None),
        ({"from": 0, "to": 92 * DAY + 1}, "검색 파라메터가 유효하지 않습니다. (최대 3개월)", None),
        ({"from": 1, "to": 2, "page": 0}, "검색 파라메터가 유효하지 않습니다. (page)", None),
        (
            {"from": 1, "to": 2, "schedule-status": "paid"},
            "검색 파라메터가 유효하지 않습니다. (schedule-status)",
            "query parameter 'schedule-status' is not one of the spec's values",
        ),
    ],
    ids=["no-from", "no-to", "bad-from", "reversed", "over-3-months", "page-0", "bad-status"],
)
def test_invalid_list_parameters_are_400(
    wire: PortOneWire, emulator: PortOneEmulator, params: dict[str, Any], message: str, violation: str | None
) -> None:
    rejected(_list(wire, params), 1, message, status=400)

    template = "/subscribe/payments/schedule/customers/{customer_uid}"
    assert emulator.take_contract_violations() == (
        [f"request GET {template}: {violation}"] if violation else []
    )


def test_an_89_day_window_is_accepted_the_strictest_reading_of_3_months(wire: PortOneWire) -> None:
    assert ok(_list(wire, {"from": 0, "to": 89 * DAY}))["total"] == 0
