"""The API's errors: what their bodies add, and the detail their log lines and tracebacks carry (errors.py).

The detail is what an operator reads in a log line: it names fields, rules and limits, never a value.
"""

from __future__ import annotations

import pytest

from billing.errors import ApiError, CardRejected, FieldError, InvalidRequest, RateLimited, ScheduleNotFound


def test_an_error_without_detail_is_logged_as_its_code() -> None:
    assert str(ScheduleNotFound()) == "SCHEDULE_NOT_FOUND"
    assert str(ScheduleNotFound("merchant_uid of another customer")) == "merchant_uid of another customer"


def test_an_invalid_request_names_each_field_and_its_rule() -> None:
    errors = [FieldError("card_number", "luhn"), FieldError("expiry", "format")]
    invalid = InvalidRequest(errors)

    assert str(invalid) == "invalid fields: card_number:luhn, expiry:format"
    assert invalid.field_errors == errors
    assert (invalid.status, invalid.details) == (400, {})


def test_a_limit_names_what_was_limited_and_when_to_retry() -> None:
    limited = RateLimited("card", retry_after=600)

    assert str(limited) == "limit reached: card"
    assert (limited.dimension, limited.retry_after, limited.status) == ("card", 600, 429)


@pytest.mark.parametrize(
    ("tries_left", "details"),
    [
        (None, {"decline": "details_mismatch"}),
        (0, {"decline": "details_mismatch", "tries_left": 0}),
        (1, {"decline": "details_mismatch", "tries_left": 1}),
    ],
)
def test_a_declined_card_says_what_the_customer_can_do(tries_left: int | None, details: object) -> None:
    rejected = CardRejected("PG code F113", decline="details_mismatch")
    rejected.tries_left = tries_left

    assert rejected.details == details
    assert str(rejected) == "PG code F113"


def test_a_declined_card_is_one_to_try_another_card_unless_told_otherwise() -> None:
    assert CardRejected().details == {"decline": "other"}
    assert (CardRejected.status, CardRejected.replayable, ApiError.replayable) == (402, True, False)
