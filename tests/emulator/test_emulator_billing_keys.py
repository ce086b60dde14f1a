"""Billing keys: issue, get, delete and multi-get (README §3), card rules and the magic cards."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests

from local.portone_emulator import DEFAULT_CHANNEL_KEY, FakeClock, PortOneEmulator
from local.portone_emulator.cards import (
    CARD_EXPIRY_MISMATCH,
    CARD_INVALID_NUMBER,
    CARD_NO_PG,
    CARD_PASSWORD_LOCKED,
    CARD_WRONG_PASSWORD,
    TEST_CARD_CHECK,
    TEST_CARD_OK,
)
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, TIMEOUT, PortOneWire

FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다. "
EXPIRY_ERROR = FAILED + "[F113]유효기간오류"
INVALID_NUMBER = FAILED + "[F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)"


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["message"]) == (0, None)
    return body["response"]


def _rejected(response: requests.Response, code: int, message: str, status: int = 200) -> None:
    assert response.status_code == status
    assert response.json() == {"code": code, "message": message, "response": None}


def test_issue_returns_the_customer_annotation(wire: PortOneWire, clock: FakeClock) -> None:
    customer = _ok(wire.issue("cu_1", customer_name="홍길동", customer_email="hong@example.com"))

    now = int(clock.now)
    assert customer == {
        "customer_uid": "cu_1",
        "customer_id": None,
        "pg_provider": "nice",
        "pg_id": "nictest04m",
        "card_name": "BC카드",
        "card_code": "361",
        "card_number": "95404900****0001",
        "card_type": 0,
        "customer_name": "홍길동",
        "customer_tel": None,
        "customer_email": "hong@example.com",
        "customer_addr": None,
        "customer_postcode": None,
        "inserted": now,
        "updated": now,
        "sandbox": True,
    }


@pytest.mark.parametrize(
    "card_number", ["9540-4900-0000-0001", "9540 4900 0000 0001", "9540.4900.0000.0001", "95404900.0000-0001"]
)
def test_form_body_and_any_card_number_format(wire: PortOneWire, card_number: str) -> None:
    response = wire.call(
        "POST",
        "/subscribe/customers/cu_form",
        data={
            "card_number": card_number,
            "expiry": "2030-12",
            "birth": "900101",
            "customer_tel": "010",
            "channel_key": DEFAULT_CHANNEL_KEY,
        },
    )

    customer = _ok(response)
    assert (customer["card_number"], customer["customer_tel"]) == ("95404900****0001", "010")


def test_check_card_and_kb_bin(wire: PortOneWire) -> None:
    customer = _ok(wire.issue("cu_check", TEST_CARD_CHECK))

    assert (customer["card_type"], customer["card_code"], customer["card_name"]) == (1, "381", "국민KB카드")
    assert customer["card_number"] == "52728900****0004"


def test_fifteen_digit_card_is_masked_with_three_stars(wire: PortOneWire) -> None:
    customer = _ok(wire.issue("cu_amex", "3782-822463-10005"))

    assert customer["card_number"] == "37828224***0005"
    assert (customer["card_code"], customer["card_name"]) == ("AMX", "해외아멕스")


def test_any_other_luhn_valid_card_is_issued(wire: PortOneWire) -> None:
    customer = _ok(wire.issue("cu_visa", "4111111111111111"))

    assert (customer["card_code"], customer["card_name"], customer["card_type"]) == ("VIS", "해외비자", 0)


def test_get_returns_what_was_issued(wire: PortOneWire) -> None:
    issued = _ok(wire.issue("cu_1"))

    assert _ok(wire.call("GET", "/subscribe/customers/cu_1")) == issued


def test_reissue_keeps_inserted_and_bumps_updated(wire: PortOneWire, clock: FakeClock) -> None:
    first = _ok(wire.issue("cu_1", TEST_CARD_OK, customer_name="홍길동"))
    clock.advance(3600)

    second = _ok(wire.issue("cu_1", TEST_CARD_CHECK))

    assert second["inserted"] == first["inserted"]
    assert second["updated"] == first["updated"] + 3600
    assert (second["card_number"], second["customer_name"]) == ("52728900****0004", None)  # replaced
    assert _ok(wire.call("GET", "/subscribe/customers/cu_1")) == second


def test_delete_returns_the_deleted_key_and_takes_a_reason(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    issued = _ok(wire.issue("cu_1"))

    deleted = _ok(wire.call("DELETE", "/subscribe/customers/cu_1", params={"reason": "해지"}))

    assert deleted == issued
    assert "cu_1" not in emulator.customers
    assert wire.call("GET", "/subscribe/customers/cu_1").status_code == 404


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_customer_is_404_with_code_1(wire: PortOneWire, method: str) -> None:
    response = wire.call(method, "/subscribe/customers/nobody")

    _rejected(response, 1, "요청하신 customer_uid(nobody)로 등록된 정보를 찾을 수 없습니다.", status=404)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_customer_switch_answers_200(clock: FakeClock, method: str) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, unknown_customer_status=200) as emulator:
        with requests.Session() as session:
            response = PortOneWire(emulator.url, session).call(method, "/subscribe/customers/nobody")

        _rejected(response, 1, "요청하신 customer_uid(nobody)로 등록된 정보를 찾을 수 없습니다.")
        assert emulator.contract_violations == []


def test_unknown_customer_switch_can_change_at_runtime(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    emulator.unknown_customer_status = 200

    assert wire.call("GET", "/subscribe/customers/nobody").status_code == 200


def test_multi_get_200_207_404(wire: PortOneWire) -> None:
    a, b = _ok(wire.issue("cu_a")), _ok(wire.issue("cu_b", TEST_CARD_CHECK))

    def multi(*uids: str) -> requests.Response:
        return wire.call("GET", "/subscribe/customers", params={"customer_uid[]": list(uids)})

    assert _ok(multi("cu_a", "cu_b")) == [a, b]
    assert _ok(multi("cu_b", "nobody"), status=207) == [b]
    _rejected(multi("nobody", "nobody_2"), 1, "등록된 고객정보가 없습니다.", status=404)


def test_multi_get_takes_only_the_array_parameter(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    _ok(wire.issue("cu_a"))

    bare = wire.call("GET", "/subscribe/customers", params={"customer_uid": "cu_a"})
    indexed = wire.call("GET", "/subscribe/customers", params={"customer_uid[0]": "cu_a"})

    # The schema's parameter is `customer_uid[]`; `customer_uid` and `customer_uid[0]` (PHP's
    # http_build_query) are other names, so it is missing.
    _rejected(bare, 1, '["customer_uid[]"] 파라메터는 필수입니다.')
    _rejected(indexed, 1, '["customer_uid[]"] 파라메터는 필수입니다.')
    assert emulator.take_contract_violations() == [
        "request GET /subscribe/customers: query parameter 'customer_uid[]' is required",
        "request GET /subscribe/customers: query parameter 'customer_uid' is not in the spec",
        "request GET /subscribe/customers: query parameter 'customer_uid[]' is required",
        "request GET /subscribe/customers: query parameter 'customer_uid[0]' is not in the spec",
    ]


def test_customer_uid_is_url_decoded(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    uid = "고객 1/카드#2"

    customer = _ok(wire.issue(quote(uid, safe="")))

    assert customer["customer_uid"] == uid
    assert list(emulator.customers) == [uid]
    assert _ok(wire.call("GET", f"/subscribe/customers/{quote(uid, safe='')}"))["customer_uid"] == uid


def test_customer_uid_longer_than_80_is_refused(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    _ok(wire.issue("u" * 80))

    _rejected(wire.issue("u" * 81), 1, "customer_uid는 80자 이하여야 합니다.")
    assert emulator.take_contract_violations() == [
        "request POST /subscribe/customers/{customer_uid}: path parameter 'customer_uid' is longer than 80"
    ]


@pytest.mark.parametrize(
    ("card_number", "code", "message"),
    [
        (CARD_INVALID_NUMBER, -1, INVALID_NUMBER),
        (CARD_WRONG_PASSWORD, -1, FAILED + "[400]Error From NICEPAY. (message: 비밀번호틀림, code:F113)"),
        (
            CARD_PASSWORD_LOCKED,
            -1,
            FAILED + "[400]Error From NICEPAY. (message: 비밀번호 회수초과, code:F113)",
        ),
        (CARD_EXPIRY_MISMATCH, -1, EXPIRY_ERROR),
        (CARD_NO_PG, 1, "비인증결제모듈 사용정보를 찾을 수 없습니다."),
    ],
    ids=["invalid-number", "wrong-password", "password-locked", "expiry-mismatch", "no-pg"],
)
def test_magic_cards(
    wire: PortOneWire, emulator: PortOneEmulator, card_number: str, code: int, message: str
) -> None:
    _rejected(wire.issue("cu_magic", card_number), code, message)
    assert emulator.customers == {}


@pytest.mark.parametrize(
    "card_number",
    ["9540490000000002", "954049000000001", "95404900000000011", "9540-4900-0000-000X", "4222222222222"],
    ids=["luhn-16", "luhn-15", "17-digits-luhn-valid", "letter", "13-digits-luhn-valid"],
)
def test_invalid_card_numbers_get_f112(wire: PortOneWire, card_number: str) -> None:
    _rejected(wire.issue("cu_bad", card_number), -1, INVALID_NUMBER)


@pytest.mark.parametrize("expiry", ["203012", "12/30", "2030-13", "2030-00", "30-12", "2030-1"])
def test_expiry_other_than_yyyy_mm_is_rejected(wire: PortOneWire, expiry: str) -> None:
    _rejected(wire.issue("cu_bad", expiry=expiry), -1, EXPIRY_ERROR)


def test_card_expired_before_this_month_is_rejected(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    # The FakeClock starts in 2026-03 (KST).
    _rejected(wire.issue("cu_old", expiry="2026-02"), -1, EXPIRY_ERROR)
    _ok(wire.issue("cu_this_month", expiry="2026-03"))

    assert list(emulator.customers) == ["cu_this_month"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"birth": "9001"}, FAILED + "[400].issueCard.birth:Invalid birth or business registration number!"),
        (
            {"birth": "90-01-01"},
            FAILED + "[400].issueCard.birth:Invalid birth or business registration number!",
        ),
        ({"pwd_2digit": "1"}, FAILED + "[400].issueCard.password2Digits:Invalid 2 digits of password!"),
        ({"pwd_2digit": "ab"}, FAILED + "[400].issueCard.password2Digits:Invalid 2 digits of password!"),
    ],
)
def test_birth_and_password_formats(wire: PortOneWire, fields: dict[str, str], message: str) -> None:
    _rejected(wire.issue("cu_bad", **fields), -1, message)


@pytest.mark.parametrize("fields", [{"birth": "1234567890"}, {"birth": None, "pwd_2digit": None}])
def test_business_number_and_optional_birth_and_password(wire: PortOneWire, fields: dict[str, Any]) -> None:
    body = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": DEFAULT_CHANNEL_KEY, **fields}

    _ok(wire.call("POST", "/subscribe/customers/cu_corp", json={k: v for k, v in body.items() if v}))


@pytest.mark.parametrize("missing", ["channel_key", "card_number", "expiry"])
def test_missing_channel_key_card_number_or_expiry(
    wire: PortOneWire, emulator: PortOneEmulator, missing: str
) -> None:
    body = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": DEFAULT_CHANNEL_KEY}
    del body[missing]

    response = wire.call("POST", "/subscribe/customers/cu_1", json=body)

    _rejected(response, 1, f'["{missing}"] 파라메터는 필수입니다.')
    assert emulator.take_contract_violations() == [
        f"request POST /subscribe/customers/{{customer_uid}}: formData parameter '{missing}' is required"
    ]


def test_a_key_needs_one_of_the_merchants_channels(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    # The 2026 schema requires channel_key (docs/portone-v1.md §3.1); an unknown one names no channel
    response = wire.issue("cu_1", channel_key="channel-key-of-another-merchant")

    _rejected(response, 1, "채널 정보를 찾을 수 없습니다. channel_key를 확인해 주세요.")
    assert emulator.customers == {}


def test_the_legacy_switch_issues_without_a_channel_key_as_older_portone_did(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    body = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "pg": "nice.nictest04m"}
    emulator.legacy_pg = True

    _ok(wire.call("POST", "/subscribe/customers/cu_pg", json=body))
    _ok(
        wire.call(
            "POST", "/subscribe/customers/cu_default", json={k: body[k] for k in ("card_number", "expiry")}
        )
    )

    assert set(emulator.customers) == {"cu_pg", "cu_default"}
    assert emulator.contract_violations == []  # the older schema's request, not a violation under the switch
    emulator.reset()
    assert emulator.legacy_pg is False  # a switch a test turned on goes back with the reset


def test_a_schedule_with_card_fields_takes_the_default_channel_or_a_known_one(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock
) -> None:
    order = {"merchant_uid": "sub_1", "schedule_at": int(clock.now) + 3600, "amount": 9900, "name": "월간"}
    card = {"card_number": TEST_CARD_OK, "expiry": "2030-12"}

    _ok(wire.schedule("cu_1", order, **card))
    _rejected(
        wire.schedule("cu_2", {**order, "merchant_uid": "sub_2"}, channel_key="channel-key-unknown", **card),
        1,
        "채널 정보를 찾을 수 없습니다. channel_key를 확인해 주세요.",
    )

    assert set(emulator.customers) == {"cu_1"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/subscribe/customers/cu_1"),
        ("GET", "/subscribe/customers/cu_1"),
        ("DELETE", "/subscribe/customers/cu_1"),
        ("GET", "/subscribe/customers?customer_uid[]=cu_1"),
    ],
)
def test_every_customer_call_needs_a_token(
    wire: PortOneWire, emulator: PortOneEmulator, method: str, path: str
) -> None:
    card = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": DEFAULT_CHANNEL_KEY}
    body = card if method == "POST" else None

    response = wire.session.request(method, f"{wire.base_url}{path}", json=body, timeout=TIMEOUT)

    assert response.status_code == 401
    assert emulator.customers == {}


def test_customers_view_is_read_only_and_holds_no_card_number(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    _ok(wire.issue("cu_1", TEST_CARD_OK))

    customers = emulator.customers
    with pytest.raises(TypeError):
        customers["cu_1"]["card_number"] = TEST_CARD_OK  # type: ignore[index]
    assert TEST_CARD_OK not in repr(customers)
    assert customers["cu_1"]["card_number"] == "95404900****0001"


LENIENCIES = (
    "show_sandbox_payments",
    "legacy_pg",
    "again_without_name",
    "list_sandbox_payments",
    "schedule_lists_as_array",
    "truncate_long_fields",
)


def test_a_reset_puts_every_switch_back_as_constructed(emulator: PortOneEmulator) -> None:
    emulator.unknown_customer_status = 200
    emulator.test_channel = False
    for leniency in LENIENCIES:
        setattr(emulator, leniency, True)

    emulator.reset()

    assert (emulator.unknown_customer_status, emulator.test_channel) == (404, True)
    assert [name for name in LENIENCIES if getattr(emulator, name)] == []
