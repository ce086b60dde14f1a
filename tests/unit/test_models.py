"""The request model: every rule reported by field and reason, never by value."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import FieldError, InvalidRequest
from billing.models import IssueBillingKeyRequest, parse_model, parse_schedule_request

VALID = {
    "customer_uid": "cust_0001",
    "card_number": "9540-4900-0000-0001",
    "expiry": "2030-12",
    "birth": "880101",
    "pwd_2digit": "12",
    "consents": {"version": "2026-11-30", "items": ["third_party_provision", "electronic_finance_terms"]},
}


def errors_for(payload: Any) -> list[FieldError]:
    with pytest.raises(InvalidRequest) as caught:
        parse_model(IssueBillingKeyRequest, payload)
    return caught.value.field_errors


def test_a_valid_request_is_normalised_and_its_card_fields_are_hidden() -> None:
    request = parse_model(IssueBillingKeyRequest, {**VALID, "card_number": " 9540 4900 0000 0001 "})
    assert request.card_number.get_secret_value() == "9540490000000001"
    assert "9540" not in repr(request)
    assert "880101" not in str(request)


def test_a_business_number_with_dashes_is_accepted_as_birth() -> None:
    request = parse_model(IssueBillingKeyRequest, {**VALID, "birth": "120-81-47521"})
    assert request.birth.get_secret_value() == "1208147521"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"card_number": "9540-4900-0000-0002"}, FieldError("card_number", "checksum")),
        ({"card_number": 9540490000000001}, FieldError("card_number", "must_be_string")),
        ({"expiry": "2020-01"}, FieldError("expiry", "expired")),
        ({"expiry": "12/30"}, FieldError("expiry", "format_yyyy_mm")),
        ({"birth": "881332"}, FieldError("birth", "invalid_date")),
        ({"pwd_2digit": "1a"}, FieldError("pwd_2digit", "two_digits")),
        ({"customer_uid": "../admin"}, FieldError("customer_uid", "invalid_characters")),
        ({"customer_uid": "x" * 81}, FieldError("customer_uid", "invalid_characters")),
        ({"customer_name": "가" * 21}, FieldError("customer_name", "too_long")),
        ({"customer_email": "not-an-email"}, FieldError("customer_email", "email_format")),
        ({"customer_tel": "call me"}, FieldError("customer_tel", "phone_format")),
        ({"cvc": "123"}, FieldError("cvc", "unknown_field")),
    ],
)
def test_each_rule_is_named(change: dict[str, Any], expected: FieldError) -> None:
    assert errors_for({**VALID, **change}) == [expected]


def test_every_missing_field_is_listed() -> None:
    fields = {e.field for e in errors_for({}) if e.reason == "required"}
    # customer_uid may be left to the server; pwd_2digit is required only once birth shows a personal card
    assert fields == {"card_number", "expiry", "birth", "consents"}


def test_a_personal_card_needs_the_pin_digits_and_a_corporate_card_does_not() -> None:
    personal = {k: v for k, v in VALID.items() if k != "pwd_2digit"}
    assert errors_for(personal) == [FieldError("pwd_2digit", "required")]
    corporate = parse_model(IssueBillingKeyRequest, {**personal, "birth": "1208147521"})
    assert corporate.pwd_2digit is None


def test_an_unknown_key_that_could_hold_digits_is_not_named() -> None:
    assert errors_for({**VALID, "4111111111111111": "x"}) == [FieldError("(unnamed)", "unknown_field")]


def test_a_plan_request_lists_the_cards_errors_and_the_plans_together() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_schedule_request({**VALID, "expiry": "2030-13", "plan_id": "NOT A PLAN"})
    assert caught.value.field_errors == [
        FieldError("expiry", "month_1_to_12"),
        FieldError("plan_id", "invalid_characters"),
    ]


def test_a_body_that_is_not_an_object_is_reported_as_the_body() -> None:
    assert errors_for(["not", "an", "object"]) == [FieldError("body", "must_be_object")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([*VALID, "cvc", "x"]), json_values))
def test_arbitrary_payloads_either_parse_or_name_fields_without_values(payload: dict[str, Any]) -> None:
    try:
        parse_model(IssueBillingKeyRequest, payload)
    except InvalidRequest as exc:
        text = str(exc) + json.dumps([e.__dict__ for e in exc.field_errors])
        vocabulary = " ".join(f"{e.field} {e.reason}" for e in exc.field_errors) + " invalid fields: , "
        for value in payload.values():
            # A value that is itself a piece of a field name or reason (say "card") proves nothing.
            if isinstance(value, str) and len(value) >= 4 and value not in vocabulary:
                assert value not in text
