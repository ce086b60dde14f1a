"""Access tokens: README §2.1 (getToken rules) and §2.2 (how the token is sent)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, TIMEOUT, PortOneWire

AUTH_FAILED = {"code": -1, "message": "인증에 실패하였습니다. API키와 secret을 확인하세요.", "response": None}
MISSING = {"code": -1, "message": "imp_key, imp_secret 파라메터가 누락되었습니다.", "response": None}


def _token(response: requests.Response) -> tuple[str, int, int]:
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["message"]) == (0, None)
    data = body["response"]
    return data["access_token"], data["now"], data["expired_at"]


def test_token_is_40_hex_and_lives_30_minutes(wire: PortOneWire, clock: FakeClock) -> None:
    token, now, expired_at = _token(wire.get_token())

    assert re.fullmatch(r"[0-9a-f]{40}", token)
    assert now == int(clock.now)
    assert expired_at == now + 1800


def test_form_body_is_accepted(wire: PortOneWire) -> None:
    response = wire.session.post(
        f"{wire.base_url}/users/getToken",
        data={"imp_key": IMP_KEY, "imp_secret": IMP_SECRET},
        timeout=TIMEOUT,
    )

    assert _token(response)[0]


def test_same_token_and_expiry_while_valid(wire: PortOneWire, clock: FakeClock) -> None:
    first, _, first_expiry = _token(wire.get_token())
    clock.advance(20 * 60)

    again, now, expiry = _token(wire.get_token())

    assert (again, expiry) == (first, first_expiry)
    assert now == int(clock.now)


def test_last_minute_extends_the_same_token_by_five_minutes(wire: PortOneWire, clock: FakeClock) -> None:
    first, _, first_expiry = _token(wire.get_token())
    clock.advance(1800 - 61)
    assert _token(wire.get_token())[2] == first_expiry  # 61 s left: not yet

    clock.advance(1)
    token, _, extended = _token(wire.get_token())
    again, _, unchanged = _token(wire.get_token())

    assert (token, extended) == (first, first_expiry + 300)
    assert (again, unchanged) == (first, first_expiry + 300)  # one extension, not one per call


def test_new_token_after_expiry_and_the_old_one_is_refused(wire: PortOneWire, clock: FakeClock) -> None:
    old, _, old_expiry = _token(wire.get_token())
    clock.advance(1800)

    new, now, expiry = _token(wire.get_token())

    assert new != old
    assert expiry == now + 1800 == old_expiry + 1800
    assert wire.call("GET", "/subscribe/customers/x", token=old).status_code == 401
    assert wire.call("GET", "/subscribe/customers/x", token=new).status_code == 404


def test_each_key_has_its_own_token(clock: FakeClock) -> None:
    keys = {"key_a": "secret_a", "key_b": "secret_b"}
    with PortOneEmulator(api_keys=keys, clock=clock) as emulator, requests.Session() as session:
        wire = PortOneWire(emulator.url, session)

        a = _token(wire.get_token(imp_key="key_a", imp_secret="secret_a"))[0]
        b = _token(wire.get_token(imp_key="key_b", imp_secret="secret_b"))[0]

        assert a != b


@pytest.mark.parametrize(
    "body",
    [
        {"imp_key": IMP_KEY, "imp_secret": "wrong"},
        {"imp_key": "unknown", "imp_secret": IMP_SECRET},
    ],
)
def test_bad_key_or_secret_is_401(
    wire: PortOneWire, emulator: PortOneEmulator, body: dict[str, object]
) -> None:
    response = wire.get_token(**body)

    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


def test_a_secret_that_is_not_text_is_refused_as_a_missing_one_is(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    response = wire.get_token(imp_key=IMP_KEY, imp_secret=123)

    assert (response.status_code, response.json()) == (
        400,
        {"code": 1, "message": "imp_secret 파라메터의 값이 올바르지 않습니다.", "response": None},
    )
    assert emulator.take_contract_violations() == [
        "request POST /users/getToken: formData parameter 'imp_secret' must be string"
    ]


@pytest.mark.parametrize(
    ("body", "broken"),
    [
        ({"imp_key": IMP_KEY}, ["imp_secret"]),
        ({"imp_secret": IMP_SECRET}, ["imp_key"]),
        ({"imp_key": "", "imp_secret": IMP_SECRET}, ["imp_key"]),  # empty is not given
    ],
)
def test_missing_key_or_secret_is_400(
    wire: PortOneWire, emulator: PortOneEmulator, body: dict[str, str], broken: list[str]
) -> None:
    response = wire.get_token(**body)

    assert response.status_code == 400
    assert response.json() == MISSING
    assert emulator.take_contract_violations() == [
        f"request POST /users/getToken: formData parameter '{name}' is required" for name in broken
    ]


def test_empty_body_is_400(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    response = wire.session.post(f"{wire.base_url}/users/getToken", timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json() == MISSING
    assert emulator.take_contract_violations() == [
        "request POST /users/getToken: formData parameter 'imp_key' is required",
        "request POST /users/getToken: formData parameter 'imp_secret' is required",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        lambda t: {"Authorization": f"Bearer {t}"},
        lambda t: {"Authorization": f"bearer {t}"},
        lambda t: {"Authorization": t},
        lambda t: {"X-ImpTokenHeader": t},
    ],
    ids=["bearer", "bearer-lowercase", "bare", "x-imptokenheader"],
)
def test_token_header_forms(wire: PortOneWire, headers: Callable[[str], dict[str, str]]) -> None:
    token = wire.token()

    response = wire.session.get(
        f"{wire.base_url}/subscribe/customers/nobody", headers=headers(token), timeout=TIMEOUT
    )

    assert response.status_code == 404  # authenticated: the customer is what is missing


def test_authorization_wins_over_x_imp_token_header(wire: PortOneWire) -> None:
    token = wire.token()

    response = wire.session.get(
        f"{wire.base_url}/subscribe/customers/nobody",
        headers={"Authorization": "Bearer not-a-token", "X-ImpTokenHeader": token},
        timeout=TIMEOUT,
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer 0123abcd"}, {"X-ImpTokenHeader": "nope"}],
    ids=["none", "empty-bearer", "unknown", "unknown-legacy"],
)
def test_missing_or_invalid_token_is_401(wire: PortOneWire, headers: dict[str, str]) -> None:
    response = wire.session.get(f"{wire.base_url}/subscribe/customers/x", headers=headers, timeout=TIMEOUT)

    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["response"]) == (-1, None)
    assert body["message"]


def test_expired_token_is_401(wire: PortOneWire, clock: FakeClock) -> None:
    token = wire.token()
    clock.advance(1800)

    assert wire.call("GET", "/subscribe/customers/x", token=token).status_code == 401
