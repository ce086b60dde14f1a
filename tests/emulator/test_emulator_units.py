"""Pure parts of the emulator: body parsing, card rules and the fake clock (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from local.portone_emulator import FakeClock, Notice, cards
from local.portone_emulator.bodies import BodyError, nest, parse_body, parse_query
from local.portone_emulator.notices import deliver


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("a[0][b]", "1"), ("a[0][c]", "2")], {"a": [{"b": "1", "c": "2"}]}),
        ([("t[]", "x"), ("t[]", "y")], {"t": ["x", "y"]}),
        ([("s[1][m]", "q"), ("s[0][m]", "p")], {"s": [{"m": "p"}, {"m": "q"}]}),
        ([("extra[requester]", "admin")], {"extra": {"requester": "admin"}}),
        (
            [("schedules[0][extra][naverUseCfm]", "20201001"), ("schedules[0][amount]", "100")],
            {"schedules": [{"extra": {"naverUseCfm": "20201001"}, "amount": "100"}]},
        ),
        ([("a", "1"), ("a", "2")], {"a": "2"}),
        ([("odd]key", "v")], {"odd]key": "v"}),
    ],
)
def test_bracket_notation(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    assert nest(pairs) == expected


@pytest.mark.parametrize("pairs", [[("a", "1"), ("a[b]", "2")], [("a[b]", "1"), ("a", "2")]])
def test_a_key_cannot_be_both_value_and_container(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(BodyError):
        nest(pairs)


def test_form_body_is_utf8_and_keeps_blanks() -> None:
    raw = b"customer_name=%ED%99%8D%EA%B8%B8%EB%8F%99&birth=&a[0][b]=1"

    assert parse_body("application/x-www-form-urlencoded", raw) == {
        "customer_name": "홍길동",
        "birth": "",
        "a": [{"b": "1"}],
    }


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [("application/json", b"[1]"), ("application/json", b"{bad"), ("application/json", b"\xff")],
)
def test_unreadable_bodies(content_type: str, raw: bytes) -> None:
    with pytest.raises(BodyError):
        parse_body(content_type, raw)


def test_empty_body_and_query() -> None:
    assert parse_body("application/json", b"  ") == {}
    assert parse_query("customer_uid%5B%5D=a&customer_uid[]=b") == {"customer_uid": ["a", "b"]}


MAGIC = [
    cards.TEST_CARD_OK,
    cards.TEST_CARD_CHECK,
    cards.CARD_INVALID_NUMBER,
    cards.CARD_WRONG_PASSWORD,
    cards.CARD_PASSWORD_LOCKED,
    cards.CARD_EXPIRY_MISMATCH,
    cards.CARD_NO_PG,
    cards.CARD_INSUFFICIENT_FUNDS,
    cards.CARD_PAYMENT_SUSPENDED,
]


@pytest.mark.parametrize("number", MAGIC)
def test_magic_cards_pass_a_strict_client_validator(number: str) -> None:
    assert len(number) == 16
    assert number.isdigit()
    assert cards.luhn_valid(number)


def test_magic_table_lists_every_constant_once() -> None:
    assert sorted(cards.MAGIC_CARDS) == sorted(MAGIC)


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True), ("0", True)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert cards.luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "issuer"),
    [
        ("5272890000000004", ("381", "국민KB카드")),
        ("9540490000000001", ("361", "BC카드")),
        ("5105105105105100", ("MAS", "해외마스터")),
        ("3530111333300000", ("JCB", "해외JCB")),
        ("6200000000000005", ("UNI", "은련")),
        ("9999990000000000", ("361", "BC카드")),
    ],
)
def test_issuer(number: str, issuer: tuple[str, str]) -> None:
    assert cards.issuer(number) == issuer


def test_fake_clock() -> None:
    clock = FakeClock(100.0)

    assert (clock(), clock.advance(5), clock.now) == (100.0, 105.0, 105.0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_docstring_table_shows_the_real_numbers() -> None:
    assert cards.__doc__ is not None
    rows = [line.split() for line in cards.__doc__.splitlines() if line.startswith(("TEST_CARD", "CARD_"))]

    assert {name: number for name, number, *_ in rows} == {name: getattr(cards, name) for name, *_ in rows}
    assert len(rows) == len(cards.MAGIC_CARDS)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/hook", "notice_url is not an http(s) URL"),
        ("/relative/hook", "notice_url is not an http(s) URL"),
        ("http://127.0.0.1:port/hook", "ValueError: Port could not be cast to integer value as 'port'"),
        ("http://[::1/hook", "ValueError: Invalid IPv6 URL"),
    ],
)
def test_notices_to_unusable_urls_are_recorded_not_raised(url: str, error: str) -> None:
    assert deliver(url, {"status": "paid"}) == Notice(url, {"status": "paid"}, None, error)
