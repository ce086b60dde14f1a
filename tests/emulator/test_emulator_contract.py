"""The contract checker against PortOne's own V1 schema, and the emulator's answers against it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local.portone_emulator import DEFAULT_CHANNEL_KEY, FakeClock, PortOneEmulator, contract
from local.portone_emulator.cards import (
    CARD_INSUFFICIENT_FUNDS,
    CARD_WRONG_PASSWORD,
    TEST_CARD_CHECK,
    TEST_CARD_OK,
)
from local.portone_emulator.routes import ROUTES
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, TIMEOUT, PortOneWire, order

ISSUE = "/subscribe/customers/{customer_uid}"
FIND = "/payments/find/{merchant_uid}/{payment_status}"
CUSTOMER_PAYMENTS = "/subscribe/customers/{customer_uid}/payments"


def _customer(**changes: Any) -> dict[str, Any]:
    """A valid CustomerAnnotation; a change to ``...`` drops the field."""
    customer: dict[str, Any] = {
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
        "customer_email": None,
        "customer_addr": None,
        "customer_postcode": None,
        "inserted": 1,
        "updated": 1,
        "sandbox": True,
    }
    customer.update(changes)
    return {key: value for key, value in customer.items() if value is not ...}


def _ok(response: Any) -> dict[str, Any]:
    return {"code": 0, "message": None, "response": response}


def test_every_route_is_an_operation_of_the_spec() -> None:
    for route in ROUTES:
        assert contract.operation(route.method, route.contract_template)["responses"]


def test_only_the_bare_find_stands_for_another_spec_path() -> None:
    # /payments/find/{merchant_uid}: the spec's payment_status, "not required", left out (docs §5.5).
    folded = {(r.template, r.spec_template) for r in ROUTES if r.spec_template}
    assert folded == {("/payments/find/{merchant_uid}", "/payments/find/{merchant_uid}/{payment_status}")}
    param = next(
        p
        for p in contract.operation("GET", "/payments/find/{merchant_uid}/{payment_status}")["parameters"]
        if p["name"] == "payment_status"
    )
    assert (param["in"], param["required"]) == ("path", False)


def test_a_whole_session_of_answers_keeps_the_contract(clock: FakeClock) -> None:
    """Every status of every implemented operation, as JSON and as forms, with no violation recorded."""
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock) as emulator, requests.Session() as session:
        wire = PortOneWire(emulator.url, session)
        token = wire.token()
        wire.get_token(imp_key=IMP_KEY, imp_secret="wrong")  # 401
        wire.issue("cu_1", TEST_CARD_OK, customer_name="홍길동", customer_postcode="04524")
        wire.call(
            "POST",
            "/subscribe/customers/cu_2",
            token=token,
            data={"card_number": TEST_CARD_CHECK, "expiry": "2030-01", "channel_key": DEFAULT_CHANNEL_KEY},
        )
        wire.issue("cu_3", CARD_WRONG_PASSWORD)  # 200, code -1
        wire.call("GET", "/subscribe/customers/cu_1", token=token)
        wire.call("GET", "/subscribe/customers/nobody", token=token)  # 404
        for uids in (["cu_1", "cu_2"], ["cu_1", "nobody"], ["nobody"]):  # 200, 207, 404
            wire.call("GET", "/subscribe/customers", token=token, params={"customer_uid[]": uids})
        wire.call("DELETE", "/subscribe/customers/cu_2", token=token, params={"reason": "해지"})
        wire.call("DELETE", "/subscribe/customers/cu_2", token=token, params={"extra[requester]": "admin"})
        session.get(f"{emulator.url}/subscribe/customers/cu_1", timeout=TIMEOUT)  # 401
        emulator.unknown_customer_status = 200
        wire.call("GET", "/subscribe/customers/nobody", token=token)

        multi = "/subscribe/customers"
        assert set(emulator.calls) == {
            ("POST", "/users/getToken", 200),
            ("POST", "/users/getToken", 401),
            ("POST", ISSUE, 200),
            ("GET", ISSUE, 200),
            ("GET", ISSUE, 401),
            ("GET", ISSUE, 404),
            ("GET", multi, 200),
            ("GET", multi, 207),
            ("GET", multi, 404),
            ("DELETE", ISSUE, 200),
            ("DELETE", ISSUE, 404),
        }
        assert emulator.contract_violations == []


@pytest.mark.parametrize(
    ("body", "violation"),
    [
        (_ok(_customer(card_type="0")), "$.response.card_type must be integer or null"),
        (_ok(_customer(sandbox=...)), "$.response lacks required sandbox"),
        (_ok(_customer(inserted=None)), "$.response.inserted must be integer"),
        (_ok(_customer(customer_uid="u" * 81)), "$.response.customer_uid is longer than 80"),
        (_ok(_customer(card_bin="954049")), "$.response has undocumented card_bin"),
        ({"code": 0, "message": "", "response": _customer()}, "message must be null on success"),
        (
            {"code": -1, "message": "x", "response": _customer()},
            "a failure must carry a message and a null response",
        ),
        ({"code": 0, "response": _customer()}, "envelope must have exactly code, message and response"),
        ([_customer()], "body is not a JSON object"),
    ],
)
def test_bad_responses_are_caught(body: Any, violation: str) -> None:
    violations = contract.response_violations("POST", ISSUE, 200, body)

    assert any(v.endswith(violation) for v in violations), violations
    assert all(v.startswith(f"response POST {ISSUE} 200: ") for v in violations)


def test_violations_never_quote_values() -> None:
    body = _ok(_customer(customer_name="홍길동" * 10, card_number=123456789))

    violations = contract.response_violations("GET", ISSUE, 200, body)

    assert len(violations) == 2
    assert not any("홍길동" in v or "123456789" in v for v in violations)


def test_undocumented_status_is_caught() -> None:
    body = {"code": 1, "message": "x", "response": None}

    assert contract.response_violations("POST", ISSUE, 418, body) == [
        f"response POST {ISSUE} 418: status 418 is not documented for this operation"
    ]
    assert contract.response_violations("POST", "/users/getToken", 400, body) == []  # listed exception


def test_get_customer_200_is_a_customer_response_not_a_super_billing_key() -> None:
    super_key = _ok({"customer_uid": "cu_1", "channelGroupId": "g"})

    assert contract.response_violations("GET", ISSUE, 200, _ok(_customer())) == []
    assert contract.response_violations("GET", ISSUE, 200, super_key)


def test_multi_get_items_are_checked() -> None:
    violations = contract.response_violations("GET", "/subscribe/customers", 207, _ok([_customer(pg_id=7)]))

    assert violations == ["response GET /subscribe/customers 207: $.response[0].pg_id must be string"]


def _request(
    method: str = "POST",
    template: str = ISSUE,
    *,
    path: dict[str, str] | None = None,
    query: list[tuple[str, str]] | None = None,
    body: dict[str, Any] | None = None,
    form: bool = False,
    allowed: frozenset[tuple[str, str, str, str]] = frozenset(),
) -> list[str]:
    found = contract.request_violations(
        method,
        template,
        path_params={"customer_uid": "cu_1"} if path is None else path,
        query=query or [],
        body={"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": "k"} if body is None else body,
        form=form,
        allowed=allowed,
    )
    return [str(v) for v in found]


def test_a_good_request_passes_and_channel_key_is_required_unless_the_legacy_switch_allows() -> None:
    assert _request() == []
    without = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "pg": "nice.nictest04m"}
    assert [v.split(": ", 1)[1] for v in _request(body=without)] == [
        "formData parameter 'channel_key' is required"
    ]
    assert _request(body=without, allowed=contract.LEGACY_PG) == []


@pytest.mark.parametrize(
    ("kwargs", "violation"),
    [
        (
            {"body": {"card_number": TEST_CARD_OK, "channel_key": "k"}},
            "formData parameter 'expiry' is required",
        ),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": None, "channel_key": "k"}},
            "formData parameter 'expiry' is required",
        ),
        ({"path": {"customer_uid": "u" * 81}}, "path parameter 'customer_uid' is longer than 80"),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": "k" * 56}},
            "formData parameter 'channel_key' is longer than 55",
        ),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": 900101, "channel_key": "k"}},
            "formData parameter 'birth' must be string",
        ),
        (
            {
                "body": {
                    "card_number": TEST_CARD_OK,
                    "expiry": "2030-12",
                    "customer_uid": "cu_1",
                    "channel_key": "k",
                }
            },
            "formData parameter 'customer_uid' is not in the spec",
        ),
        ({"query": [("reason", "x")]}, "query parameter 'reason' is not in the spec"),
        (
            {"method": "GET", "template": "/subscribe/customers", "path": {}, "body": {}},
            "query parameter 'customer_uid[]' is required",
        ),
        (
            {"method": "DELETE", "query": [("reason", "a"), ("reason", "b")], "body": {}},
            "query parameter 'reason' is repeated",
        ),
    ],
)
def test_bad_requests_are_caught(kwargs: dict[str, Any], violation: str) -> None:
    violations = _request(**kwargs)

    assert [v.split(": ", 1)[1] for v in violations] == [violation]


def test_form_values_are_text() -> None:
    body = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": "900101", "channel_key": "k"}

    assert _request(body=body, form=True) == []
    assert _request(body={**body, "birth": ["9"]}, form=True) == [
        f"request POST {ISSUE}: formData parameter 'birth' must be string text"
    ]


def _refusal(message: str, status: int = 200) -> tuple[int, dict[str, Any]]:
    return status, {"code": 1, "message": message, "response": None}


def test_the_emulator_refuses_and_records_what_the_client_got_wrong(clock: FakeClock) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock) as emulator, requests.Session() as session:
        wire = PortOneWire(emulator.url, session)

        long_name = wire.issue("cu_1", customer_name="가" * 21)
        number_birth = wire.issue("cu_1", birth=900101)
        broken = wire.call(
            "POST",
            "/subscribe/customers/cu_1",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        # No Content-Type: a server reads the body as neither JSON nor a form, so nothing was sent.
        untyped = wire.call("POST", "/subscribe/customers/cu_1", data=b'{"card_number": "4"}')
        bad_sorting = wire.call("GET", "/payments/find/order_1", params={"sorting": "newest"})
        bad_page = wire.call("GET", "/subscribe/customers/cu_1/payments", params={"page": "two"})

        assert (long_name.status_code, long_name.json()) == _refusal("customer_name는 20자 이하여야 합니다.")
        assert (number_birth.status_code, number_birth.json()) == _refusal(
            "birth 파라메터의 값이 올바르지 않습니다."
        )
        assert broken.status_code == 400
        assert (untyped.status_code, untyped.json()) == _refusal('["channel_key"] 파라메터는 필수입니다.')
        assert (bad_sorting.status_code, bad_sorting.json()) == _refusal(
            "sorting 파라메터의 값이 올바르지 않습니다."
        )
        # The lists answer a bad search parameter with their 400 (docs §5.5).
        assert (bad_page.status_code, bad_page.json()) == _refusal(
            "검색 파라메터가 유효하지 않습니다. (page)", 400
        )
        assert emulator.customers == {}
        assert emulator.contract_violations == [
            f"request POST {ISSUE}: formData parameter 'customer_name' is longer than 20",
            f"request POST {ISSUE}: formData parameter 'birth' must be string",
            f"request POST {ISSUE}: body is not valid JSON",
            f"request POST {ISSUE}: formData parameter 'channel_key' is required",
            f"request POST {ISSUE}: formData parameter 'card_number' is required",
            f"request POST {ISSUE}: formData parameter 'expiry' is required",
            f"request POST {ISSUE}: body is neither JSON nor a form",
            f"request GET {FIND}: query parameter 'sorting' is not one of the spec's values",
            f"request GET {CUSTOMER_PAYMENTS}: query parameter 'page' must be integer text",
        ]


def test_truncate_long_fields_cuts_text_to_the_schema_but_never_an_identifier(clock: FakeClock) -> None:
    with (
        PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, truncate_long_fields=True) as emulator,
        requests.Session() as session,
    ):
        wire = PortOneWire(emulator.url, session)

        issued = wire.issue("cu_1", customer_name="가" * 21)
        paid = wire.again("cu_1", "order_1", name="n" * 41, buyer_name="b" * 17)
        long_uids = [
            wire.issue("u" * 81),
            wire.again("u" * 81, "order_2"),
            wire.schedule("u" * 81, order("sub_1", int(clock.now) + 60)),
        ]
        long_order = wire.again("cu_1", "m" * 41)

        assert issued.json()["response"]["customer_name"] == "가" * 20
        assert (paid.json()["response"]["name"], paid.json()["response"]["buyer_name"]) == (
            "n" * 40,
            "b" * 16,
        )
        too_long_uid = _refusal("customer_uid는 80자 이하여야 합니다.")
        assert [(r.status_code, r.json()) for r in long_uids] == [too_long_uid] * 3
        assert long_order.json() == _refusal("merchant_uid는 40자 이하여야 합니다.")[1]
        assert len(emulator.take_contract_violations()) == 7  # recorded all the same


def test_a_refusal_of_a_value_comes_after_the_token_check(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    response = wire.call(
        "POST", "/subscribe/customers/cu_1", token="not-a-token", json={"birth": 900101, "channel_key": "k"}
    )

    assert response.status_code == 401
    assert (
        f"request POST {ISSUE}: formData parameter 'birth' must be string"
        in emulator.take_contract_violations()
    )


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/subscribe/payments/schedule/customers/cu_1", "from[]=1&to=100", "from"),
        ("/subscribe/payments/schedule", "schedule_from=1&schedule_to=100&limit[]=5", "limit"),
        ("/subscribe/customers/cu_1/payments", "page[x]=2", "page"),
    ],
    ids=["customer-schedules", "merchant-schedules", "key-payments"],
)
def test_a_single_search_value_sent_in_brackets_is_a_bad_search(
    wire: PortOneWire, emulator: PortOneEmulator, path: str, params: str, name: str
) -> None:
    wire.issue("cu_1")

    response = wire.call("GET", f"{path}?{params}")

    assert (response.status_code, response.json()) == _refusal(
        f"검색 파라메터가 유효하지 않습니다. ({name})", 400
    )
    # (`from[]` also leaves the required `from` missing)
    assert f"query parameter '{name}' must be a single value" in [
        v.rsplit(": ", 1)[1] for v in emulator.take_contract_violations()
    ]


@pytest.mark.parametrize(
    "amount",
    ["8_900", " 8900 ", "\u0668\u0669\u0660\u0660", "8900\n", "NaN"],
    ids=["underscore", "spaces", "arabic-indic-digits", "newline", "nan"],
)
def test_a_form_number_is_ascii_digits_and_nothing_else(
    wire: PortOneWire, emulator: PortOneEmulator, amount: str
) -> None:
    wire.issue("cu_1")
    form = {"customer_uid": "cu_1", "merchant_uid": "order_1", "amount": amount, "name": "월간 이용권"}

    response = wire.call("POST", "/subscribe/payments/again", data=form)

    assert (response.status_code, response.json()) == _refusal("amount 파라메터의 값이 올바르지 않습니다.")
    assert emulator.payments == {}
    emulator.take_contract_violations()


def test_an_empty_form_value_is_not_given(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    wire.issue("cu_1")
    form = {
        "customer_uid": "cu_1",
        "merchant_uid": "order_1",
        "amount": "8900",
        "name": "월",
        "card_quota": "",
    }

    paid = wire.call("POST", "/subscribe/payments/again", data=form)
    no_amount = wire.call(
        "POST", "/subscribe/payments/again", data={**form, "merchant_uid": "o2", "amount": ""}
    )

    assert paid.json()["response"]["card_quota"] == 0
    assert no_amount.json() == _refusal('["amount"] 파라메터는 필수입니다.')[1]
    assert emulator.take_contract_violations() == [
        "request POST /subscribe/payments/again: formData parameter 'amount' is required"
    ]


def test_contract_checking_can_be_turned_off(clock: FakeClock) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, check_contract=False) as emulator:
        with requests.Session() as session:
            PortOneWire(emulator.url, session).get_token(imp_key=IMP_KEY)

        assert emulator.contract_violations == []


def test_a_session_of_schedules_and_payments_keeps_the_contract(clock: FakeClock) -> None:
    """Every status of every new operation, as JSON and as forms, with no violation recorded."""
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock) as emulator, requests.Session() as session:
        wire = PortOneWire(emulator.url, session)
        token = wire.token()
        now = int(clock.now)
        card = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": "900101", "pwd_2digit": "12"}
        wire.schedule("cu_1", order("sub_1", now + 60), order("sub_2", now + 120, buyer_tel="010"), **card)
        wire.call(
            "POST",
            "/subscribe/payments/schedule",
            token=token,
            data={
                "customer_uid": "cu_1",
                "schedules[0][merchant_uid]": "sub_3",
                "schedules[0][schedule_at]": str(now + 180),
                "schedules[0][amount]": "8900",
                "schedules[0][currency]": "KRW",
                "schedules[0][name]": "월간",
                "schedules[0][interest_free_by_merchant]": "false",
                "schedules[0][extra][naverUseCfm]": "20300101",
            },
        )
        wire.schedule("cu_1", order("sub_1", now + 60))  # duplicate: code 1
        wire.schedule("nobody", order("sub_9", now + 60))  # no key, no card: code 1
        wire.issue("cu_poor", CARD_WRONG_PASSWORD)
        wire.schedule("cu_poor", order("sub_9", now + 60), card_number=CARD_WRONG_PASSWORD, expiry="2030-12")
        wire.call("POST", "/subscribe/payments/unschedule", token=token, json={"merchant_uid": "sub_3"})
        wire.call("POST", "/subscribe/payments/unschedule", token=token, data={"merchant_uid[]": ["sub_3"]})
        wire.call("GET", "/subscribe/payments/schedule/sub_1", token=token)
        wire.call("GET", "/subscribe/payments/schedule/nobody", token=token)
        wire.call("PUT", "/subscribe/payments/schedule/sub_2", token=token, json={"schedule_at": now + 90})
        wire.call(
            "PUT", "/subscribe/payments/schedule/sub_3", token=token, data={"schedule_at": str(now + 90)}
        )
        wire.call("PUT", "/subscribe/payments/schedule/nobody", token=token, json={"schedule_at": now + 90})
        window = {"from": now, "to": now + 3600}
        for path in ("/subscribe/payments/schedule/customers/cu_1", "/subscribe/customers/cu_1/schedules"):
            wire.call("GET", path, token=token, params={**window, "schedule-status": "scheduled", "page": 1})
        wire.call(
            "GET", "/subscribe/payments/schedule/customers/cu_1", token=token, params={"from": 5, "to": 1}
        )
        wire.issue("cu_broke", CARD_INSUFFICIENT_FUNDS)
        paid = wire.again("cu_1", "order_1", buyer_name="홍길동", custom_data="{}", card_quota=0)
        wire.call(
            "POST",
            "/subscribe/payments/again",
            token=token,
            data={"customer_uid": "cu_broke", "merchant_uid": "order_2", "amount": "100", "name": "x"},
        )
        wire.again("cu_1", "order_1")  # reused: code 1
        wire.again("nobody", "order_3")  # code 1
        wire.call(
            "GET",
            f"/payments/{paid.json()['response']['imp_uid']}",
            token=token,
            params={"include_sandbox": "true"},
        )
        wire.call("GET", "/payments/imps_000000000000", token=token, params={"include_sandbox": "true"})
        again: dict[str, Any] = {"customer_uid": "cu_1", "merchant_uid": "order_9", "amount": 1, "name": "x"}
        session.post(f"{emulator.url}/subscribe/payments/again", json=again, timeout=TIMEOUT)  # 401
        session.get(f"{emulator.url}/payments/imps_1", timeout=TIMEOUT)  # 401
        clock.advance(600)
        emulator.run_due_schedules()
        wire.call("GET", "/subscribe/payments/schedule/sub_1", token=token)

        schedule, one = "/subscribe/payments/schedule", "/subscribe/payments/schedule/{merchant_uid}"
        listing = "/subscribe/payments/schedule/customers/{customer_uid}"
        assert set(emulator.calls) >= {
            ("POST", schedule, 200),
            ("POST", "/subscribe/payments/unschedule", 200),
            ("GET", one, 200),
            ("GET", one, 404),
            ("PUT", one, 200),
            ("PUT", one, 400),
            ("PUT", one, 404),
            ("GET", listing, 200),
            ("GET", listing, 400),
            ("GET", "/subscribe/customers/{customer_uid}/schedules", 200),
            ("POST", "/subscribe/payments/again", 200),
            ("POST", "/subscribe/payments/again", 401),
            ("GET", "/payments/{imp_uid}", 200),
            ("GET", "/payments/{imp_uid}", 404),
            ("GET", "/payments/{imp_uid}", 401),
        }
        assert emulator.contract_violations == []


def _paged(*items: dict[str, Any]) -> dict[str, Any]:
    return _ok({"total": len(items), "previous": 0, "next": 0, "list": list(items)})


LISTING = "/subscribe/payments/schedule/customers/{customer_uid}"


@pytest.mark.parametrize("template", [LISTING, "/subscribe/customers/{customer_uid}/schedules"])
def test_schedule_lists_are_paged_objects_not_the_spec_arrays(template: str) -> None:
    schedule = {"customer_uid": "cu_1", "merchant_uid": "sub_1", "schedule_status": "scheduled"}

    assert contract.response_violations("GET", template, 200, _paged(schedule)) == []
    assert contract.response_violations("GET", template, 200, _ok([schedule])) == [
        f"response GET {template} 200: $.response must be object or null"
    ]


@pytest.mark.parametrize("template", [LISTING, "/subscribe/payments/schedule"])
def test_with_spec_arrays_the_schedule_lists_are_the_spec_arrays(template: str) -> None:
    # The emulator's named switch schedule_lists_as_array (README §4.4).
    schedule = {"customer_uid": "cu_1", "merchant_uid": "sub_1", "schedule_status": "scheduled"}

    assert contract.response_violations("GET", template, 200, _ok([schedule]), spec_arrays=True) == []
    assert contract.response_violations("GET", template, 200, _paged(schedule), spec_arrays=True) == [
        f"response GET {template} 200: $.response must be array or null"
    ]
    assert contract.response_violations("GET", template, 200, _paged(schedule)) == []


@pytest.mark.parametrize(
    ("body", "violation"),
    [
        (_ok({"total": 0, "list": []}), "$.response lacks required next, previous"),
        (
            _paged({"merchant_uid": "sub_1", "notice_url": "x"}),
            "$.response.list[0] has undocumented notice_url",
        ),
        (_paged({"merchant_uid": "m" * 41}), "$.response.list[0].merchant_uid is longer than 40"),
    ],
)
def test_bad_schedule_pages_are_caught(body: dict[str, Any], violation: str) -> None:
    assert contract.response_violations("GET", LISTING, 200, body) == [
        f"response GET {LISTING} 200: {violation}"
    ]


def _schedule_request(schedules: Any, form: bool = False) -> list[str]:
    return [
        str(v).split(": ", 1)[1]
        for v in contract.request_violations(
            "POST",
            "/subscribe/payments/schedule",
            path_params={},
            query=[],
            body={"customer_uid": "cu_1", "schedules": schedules},
            form=form,
        )
    ]


def test_schedule_items_are_checked_but_currency_and_name_may_be_left_out() -> None:
    assert _schedule_request([{"merchant_uid": "sub_1", "schedule_at": 1, "amount": 1}]) == []
    assert (
        _schedule_request([{"merchant_uid": "sub_1", "schedule_at": "1", "amount": "1.5"}], form=True) == []
    )
    assert _schedule_request(
        [
            {"merchant_uid": "sub_1", "schedule_at": 1.5, "amount": 1, "name": "n" * 41, "colour": "red"},
            "sub_2",
        ]
    ) == [
        "formData parameter 'schedules[0].schedule_at' must be integer",
        "formData parameter 'schedules[0].name' is longer than 40",
        "formData parameter 'schedules[0].colour' is not in the spec",
        "formData parameter 'schedules[1]' must be an object",
    ]


@pytest.mark.parametrize(
    ("merchant_uid", "violations"),
    [("sub_1", []), (["sub_1", "sub_2"], []), (7, ["formData parameter 'merchant_uid' must be an array"])],
)
def test_unschedule_takes_one_merchant_uid_or_an_array(merchant_uid: Any, violations: list[str]) -> None:
    found = contract.request_violations(
        "POST",
        "/subscribe/payments/unschedule",
        path_params={},
        query=[],
        body={"customer_uid": "cu_1", "merchant_uid": merchant_uid},
        form=False,
    )

    assert [str(v).split(": ", 1)[1] for v in found] == violations
