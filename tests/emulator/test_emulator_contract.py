"""The contract checker against PortOne's own V1 schema, and the emulator's answers against it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator, contract
from local.portone_emulator.cards import CARD_WRONG_PASSWORD, TEST_CARD_CHECK, TEST_CARD_OK
from local.portone_emulator.routes import ROUTES
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, TIMEOUT, PortOneWire

ISSUE = "/subscribe/customers/{customer_uid}"


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
        assert contract.operation(route.method, route.template)["responses"]


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
            data={"card_number": TEST_CARD_CHECK, "expiry": "2030-01"},
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
) -> list[str]:
    return contract.request_violations(
        method,
        template,
        path_params={"customer_uid": "cu_1"} if path is None else path,
        query=query or [],
        body={"card_number": TEST_CARD_OK, "expiry": "2030-12"} if body is None else body,
        form=form,
    )


def test_a_good_request_passes_and_channel_key_is_optional() -> None:
    assert _request() == []
    assert _request(body={"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": "k"}) == []


@pytest.mark.parametrize(
    ("kwargs", "violation"),
    [
        ({"body": {"card_number": TEST_CARD_OK}}, "formData parameter 'expiry' is required"),
        ({"body": {"card_number": TEST_CARD_OK, "expiry": None}}, "formData parameter 'expiry' is required"),
        ({"path": {"customer_uid": "u" * 81}}, "path parameter 'customer_uid' is longer than 80"),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": "2030-12", "channel_key": "k" * 56}},
            "formData parameter 'channel_key' is longer than 55",
        ),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": 900101}},
            "formData parameter 'birth' must be string",
        ),
        (
            {"body": {"card_number": TEST_CARD_OK, "expiry": "2030-12", "customer_uid": "cu_1"}},
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
    body = {"card_number": TEST_CARD_OK, "expiry": "2030-12", "birth": "900101"}

    assert _request(body=body, form=True) == []
    assert _request(body={**body, "birth": ["9"]}, form=True) == [
        f"request POST {ISSUE}: formData parameter 'birth' must be string text"
    ]


def test_the_emulator_records_what_the_client_got_wrong(clock: FakeClock) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock) as emulator, requests.Session() as session:
        wire = PortOneWire(emulator.url, session)

        response = wire.issue("cu_1", TEST_CARD_OK, customer_name="가" * 21, birth=900101)
        broken = wire.call(
            "POST",
            "/subscribe/customers/cu_2",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )

        assert response.status_code == 200  # recorded, not rejected
        assert response.json()["response"]["customer_name"] == "가" * 20  # kept within the schema
        assert broken.status_code == 400
        assert emulator.contract_violations == [
            f"request POST {ISSUE}: formData parameter 'birth' must be string",
            f"request POST {ISSUE}: formData parameter 'customer_name' is longer than 20",
            f"request POST {ISSUE}: body is not valid JSON",
        ]


def test_contract_checking_can_be_turned_off(clock: FakeClock) -> None:
    with PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, check_contract=False) as emulator:
        with requests.Session() as session:
            PortOneWire(emulator.url, session).get_token(imp_key=IMP_KEY)

        assert emulator.contract_violations == []
