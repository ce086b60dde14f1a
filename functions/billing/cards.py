"""Pure rules for Korean card input: checksums, dates and masks. No I/O, no logging.

Every check returns a reason code (a short snake_case string) or None; the reason is what the API reports,
so no function here ever puts the checked value into a message.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

# Korea has no daylight saving time, so a fixed offset is exact and needs no tz database.
KST = timezone(timedelta(hours=9), "KST")


CARD_SEPARATORS = re.compile(r"[ -]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_EXPIRY = re.compile(r"([0-9]{4})-([0-9]{2})")
_MAX_YEARS_AHEAD = 20  # issuers print at most about 10 years; anything further is a typo or a probe
_BUSINESS_NUMBER_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def is_ascii_digits(value: str) -> bool:
    # str.isdigit() accepts Arabic-Indic and other Unicode digits; PortOne does not.
    return _ASCII_DIGITS.fullmatch(value) is not None


def luhn_valid(digits: str) -> bool:
    """True when an ASCII digit string passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_number_problem(digits: str) -> str | None:
    """Reason why a card number (separators already removed) is unusable, or None."""
    if not is_ascii_digits(digits):
        return "digits_only"
    if not 14 <= len(digits) <= 16:
        return "length_14_to_16"
    if not luhn_valid(digits):
        return "checksum"
    return None


def expiry_problem(value: str, today: date) -> str | None:
    """Reason why a `YYYY-MM` expiry is unusable on `today` (a card is valid through its month), or None."""
    match = _EXPIRY.fullmatch(value)
    if match is None:
        return "format_yyyy_mm"
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return "month_1_to_12"
    if (year, month) < (today.year, today.month):
        return "expired"
    if year > today.year + _MAX_YEARS_AHEAD:
        return "too_far_ahead"
    return None


def birth_problem(value: str) -> str | None:
    """Reason why `birth` is neither a real YYMMDD date nor a valid 10-digit business number, or None."""
    if not is_ascii_digits(value):
        return "digits_only"
    if len(value) == 6:
        return None if _is_real_yymmdd(value) else "invalid_date"
    if len(value) == 10:
        return None if business_number_valid(value) else "business_number_checksum"
    return "length_6_or_10"


def _is_real_yymmdd(value: str) -> bool:
    # The century is not given, and 20yy decides: a day that exists in 19yy exists in 20yy too (2000 was a
    # leap year, 1900 was not), and 29 Feb 00 exists only in 2000.
    try:
        date(2000 + int(value[:2]), int(value[2:4]), int(value[4:]))
    except ValueError:
        return False
    return True


def business_number_valid(digits: str) -> bool:
    """The Korean business registration number (사업자등록번호) check digit."""
    numbers = [ord(c) - 48 for c in digits]
    total = sum(numbers[i] * weight for i, weight in enumerate(_BUSINESS_NUMBER_WEIGHTS))  # the tenth: check
    total += numbers[8] * 5 // 10
    return (10 - total % 10) % 10 == numbers[9]


def pin_problem(value: str) -> str | None:
    return None if len(value) == 2 and is_ascii_digits(value) else "two_digits"


def last4(masked_or_plain: str | None) -> str | None:
    """The last four digits of a card number as PortOne returns it (masked), or None."""
    if not masked_or_plain:
        return None
    digits = re.sub(r"[^0-9]", "", masked_or_plain[-4:])
    return digits if len(digits) == 4 else None


def shows(masked: str | None, number: str) -> bool | None:
    """Whether the masked card number PortOne returns can be `number`: its last four digits, and every other
    digit it shows, in its place. PGs mask differently (`52728927****2305`, `5272-****-****-2305`, ...).
    None when the last four are not shown: leading digits name the issuer's range, not the card."""
    if not masked:
        return None
    shown = re.sub(r"[\s.-]", "", masked)
    if not re.search(r"\d{4}$", shown):
        return None
    if len(shown) != len(number):  # another length than the number's: only the end can be placed
        return number.endswith(shown[-4:])
    return all(number[i] == c for i, c in enumerate(shown) if c.isdigit())


def today_in_korea(now: datetime | None = None) -> date:
    return (now or datetime.now(KST)).astimezone(KST).date()
