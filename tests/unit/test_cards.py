"""The card rules: checksums, dates, business numbers and masks, with Hypothesis properties."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import cards

TODAY = date(2026, 11, 27)


def with_luhn_digit(payload: str) -> str:
    """Append the check digit that makes `payload` Luhn-valid."""
    return next(payload + d for d in "0123456789" if cards.luhn_valid(payload + d))


@given(st.text(alphabet="0123456789", min_size=13, max_size=15))
def test_luhn_accepts_any_number_with_its_check_digit(payload: str) -> None:
    assert cards.luhn_valid(with_luhn_digit(payload))


@given(st.text(alphabet="0123456789", min_size=13, max_size=15), st.integers(1, 9))
def test_luhn_rejects_every_other_last_digit(payload: str, shift: int) -> None:
    number = with_luhn_digit(payload)
    wrong = number[:-1] + str((int(number[-1]) + shift) % 10)
    assert not cards.luhn_valid(wrong)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4242424242424242", None),
        ("378282246310005", None),  # 15-digit AmEx
        ("36227206271667", None),  # 14-digit Diners
        ("4242424242424241", "checksum"),
        ("4242", "length_14_to_16"),
        ("4222222222222", "length_14_to_16"),  # 13 digits, its check digit right
        ("42424242424242426", "length_14_to_16"),  # 17 digits, its check digit right
        ("42424242424242424242", "length_14_to_16"),
        ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "digits_only"),  # Arabic-Indic digits: isdigit() would say yes
        ("4242x42424242424", "digits_only"),
        ("", "digits_only"),
    ],
)
def test_card_number_problem(number: str, reason: str | None) -> None:
    assert cards.card_number_problem(number) == reason


@pytest.mark.parametrize(
    ("expiry", "reason"),
    [
        ("2026-11", None),  # valid through the end of its month
        ("2030-01", None),
        ("2026-10", "expired"),
        ("2026-13", "month_1_to_12"),
        ("2026-00", "month_1_to_12"),
        ("2026/11", "format_yyyy_mm"),
        ("11/26", "format_yyyy_mm"),
        ("202611", "format_yyyy_mm"),
        ("2046-12", None),  # twenty years ahead, the furthest
        ("2047-01", "too_far_ahead"),
    ],
)
def test_expiry_problem(expiry: str, reason: str | None) -> None:
    assert cards.expiry_problem(expiry, TODAY) == reason


@pytest.mark.parametrize(
    ("expiry", "reason"),
    [("2026-12", None), ("2026-11", "expired")],
    ids=["this month in Korea", "last month in Korea"],
)
def test_the_expiry_rule_counts_months_in_korea_not_in_utc(expiry: str, reason: str | None) -> None:
    # 15:30 UTC on Nov 30 is 00:30 on Dec 1 in Korea: a card valid through November has just expired there
    moment = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    today = cards.today_in_korea(moment)
    assert cards.expiry_problem(expiry, today) == reason
    assert today == date(2026, 12, 1)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
def test_every_real_date_is_a_valid_birth(day: date) -> None:
    assert cards.birth_problem(day.strftime("%y%m%d")) is None


@pytest.mark.parametrize(
    ("birth", "reason"),
    [
        ("880101", None),
        ("000229", None),  # 2000 was a leap year
        ("010229", "invalid_date"),  # neither 1901 nor 2001 was
        ("020229", "invalid_date"),  # nor 2002, though 2020 was (the year is the first two digits only)
        ("881332", "invalid_date"),
        ("1208147521", None),  # a valid business registration number
        ("1208147520", "business_number_checksum"),
        ("12345", "length_6_or_10"),
        ("88-01-01", "digits_only"),
    ],
)
def test_birth_problem(birth: str, reason: str | None) -> None:
    assert cards.birth_problem(birth) == reason


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_completes_a_business_number(payload: str) -> None:
    assert sum(cards.business_number_valid(payload + d) for d in "0123456789") == 1


@pytest.mark.parametrize(
    ("number", "valid"),
    [("1248100998", True), ("1248100997", False), ("1248100999", False)],
)
def test_a_business_number_s_check_digit(number: str, valid: bool) -> None:
    # A real registration number (Samsung Electronics): its ninth digit's extra term, 9 x 5 // 10, counts
    assert cards.business_number_valid(number) is valid


@pytest.mark.parametrize(
    ("pin", "reason"), [("12", None), ("1", "two_digits"), ("123", "two_digits"), ("1a", "two_digits")]
)
def test_pin_problem(pin: str, reason: str | None) -> None:
    assert cards.pin_problem(pin) == reason


@given(st.text(alphabet="0123456789", min_size=14, max_size=16))
def test_last4_never_shows_more_than_four_digits(number: str) -> None:
    masked = number[:8] + "****" + number[-4:]
    assert cards.last4(masked) == number[-4:]
    assert cards.last4(number) == number[-4:]


@pytest.mark.parametrize("value", [None, "", "1234-****", "***", "*"])  # "*": one character, not a digit
def test_last4_of_something_unreadable_is_none(value: str | None) -> None:
    assert cards.last4(value) is None


@pytest.mark.parametrize(
    ("masked", "expected"),
    [
        ("52728927****2305", True),  # NICE: first eight and last four
        ("5272-****-****-2305", True),
        ("************2305", True),  # last four only
        ("****-****-****-2305", True),
        ("5272892***2305", True),  # another length: only the end is placed
        ("52728927****2306", False),  # the last four differ
        ("62728927****2305", False),  # another shown digit differs
        ("5272-99**-****-2305", False),  # the same, with separators: each digit is placed without them
        ("527289**********", None),  # first six only: the issuer's range, not the card
        ("****************", None),
        ("", None),
        (None, None),
    ],
)
def test_a_masked_number_shows_a_card_by_its_last_four_and_every_digit_it_shows(
    masked: str | None, expected: bool | None
) -> None:
    assert cards.shows(masked, "5272892700002305") is expected
