"""POST /subscriptions/issue-billing through the real handler, with every sample event in events/."""

from __future__ import annotations

import base64
import json

import pytest

from billing.errors import ProviderUnavailable
from local.lambda_context import LocalLambdaContext
from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import Invocation, emitted_metrics, http_event, load_event

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
TOKEN = ("POST", "/users/getToken")


def test_a_valid_card_gets_a_billing_key_and_only_its_last_four_digits_back(
    invoke, stack: EmbeddedStack
) -> None:
    # Given the sample event, when the function handles it
    response: Invocation = invoke(load_event("issue_billing"))

    # Then PortOne holds a key for the customer and the page sees the masked card only
    assert response.status == 200
    assert response.body == {
        "status": "success",
        "customer_uid": "cust_0001_card_a",
        "card": {"name": response.body["card"]["name"], "code": "361", "last4": "0001", "type": "credit"},
    }
    assert response.body["card"]["name"]
    assert "cust_0001_card_a" in stack.emulator.customers
    assert stack.emulator.count(*ISSUE) == 1
    assert response.headers["Cache-Control"] == "no-store"
    assert stack.emulator.contract_violations == []


def test_a_corporate_card_with_a_business_number_and_no_pin_is_accepted(invoke) -> None:
    response = invoke(load_event("issue_billing_corporate"))
    assert response.status == 200, response.body


def test_a_card_the_issuer_rejects_is_a_402_without_portones_text(invoke, stack: EmbeddedStack) -> None:
    response = invoke(load_event("issue_billing_declined"))

    assert response.status == 402
    assert response.body["code"] == "CARD_REJECTED"
    assert response.body["request_id"] == "req-declined"
    assert "F112" not in response.body["message"]
    assert "카드" not in response.body["message"]
    assert stack.emulator.count(*ISSUE) == 1


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        ("invalid_card_number", [{"field": "card_number", "reason": "checksum"}]),
        ("invalid_expiry", [{"field": "expiry", "reason": "expired"}]),
        ("invalid_birth", [{"field": "birth", "reason": "invalid_date"}]),
        ("invalid_pwd", [{"field": "pwd_2digit", "reason": "two_digits"}]),
        ("invalid_customer_uid", [{"field": "customer_uid", "reason": "invalid_characters"}]),
        ("invalid_unknown_field", [{"field": "cvc", "reason": "unknown_field"}]),
        ("invalid_missing_consents", [{"field": "consents", "reason": "required"}]),
        ("invalid_malformed_json", [{"field": "body", "reason": "malformed_json"}]),
        ("invalid_missing_body", [{"field": "body", "reason": "required"}]),
    ],
)
def test_each_invalid_event_is_a_400_naming_field_and_rule(invoke, stack, event: str, errors) -> None:
    response = invoke(load_event(event))

    assert response.status == 400
    assert response.body["code"] == "INVALID_REQUEST"
    assert response.body["errors"] == errors
    assert stack.emulator.count(*ISSUE) == 0
    assert stack.emulator.count(*TOKEN) == 0  # a bad request never costs a PortOne call


def test_missing_fields_are_each_listed(invoke) -> None:
    response = invoke(load_event("invalid_missing_fields"))
    assert response.status == 400
    assert {e["field"] for e in response.body["errors"]} == {"card_number", "expiry", "birth", "consents"}


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_is_read_whatever_its_parameters_and_case(invoke, content_type: str) -> None:
    event = load_event("issue_billing")
    event["headers"]["content-type"] = content_type
    assert invoke(event).status == 200


def test_a_form_body_is_a_415(invoke) -> None:
    response = invoke(load_event("invalid_content_type"))
    assert response.status == 415
    assert response.body["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"a": 1, "a": 2}', "duplicate_key"),
        ("[" * 4000, "malformed_json"),  # deeper than the JSON parser's recursion limit
        ('"\\ud800"', "must_be_object"),  # a lone surrogate, and not an object anyway
    ],
)
def test_hostile_json_is_a_400(invoke, body: str, reason: str) -> None:
    response = invoke(http_event(body))
    assert response.status == 400
    assert response.body["errors"] == [{"field": "body", "reason": reason}]


@pytest.mark.parametrize("body", ["not base64!", base64.b64encode(b"\xff\xfe{}").decode()])
def test_a_base64_body_that_does_not_decode_to_text_is_a_400(invoke, stack, body: str) -> None:
    event = load_event("issue_billing")
    event["body"] = body
    event["isBase64Encoded"] = True
    response = invoke(event)
    assert response.status == 400
    assert response.body["errors"] == [{"field": "body", "reason": "malformed_json"}]
    assert stack.emulator.calls == ()


@pytest.mark.parametrize("body", ["[" * 100_000, '{"n": ' + "9" * 5000 + "}", " " * 4097])
def test_a_body_over_4_kib_is_a_413_before_it_is_parsed(invoke, body: str) -> None:
    response = invoke(http_event(body))
    assert response.status == 413
    assert response.body["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "body",
    [
        base64.b64encode(json.dumps({"pad": "x" * 5000}).encode()).decode(),
        base64.b64encode(b"\xff" * 5000).decode(),  # would decode to bytes that are not UTF-8
        "A" * 6001,  # would not decode at all (its length is no multiple of four)
    ],
    ids=["json", "not utf-8", "not base64"],
)
def test_a_base64_body_over_4_kib_is_a_413_before_it_is_decoded(invoke, stack, body: str) -> None:
    # Sized by its encoded length: decoding first would spend the work on it, and answer 400 for the last two
    event = load_event("issue_billing")
    event["body"] = body
    event["isBase64Encoded"] = True
    response = invoke(event)
    assert (response.status, response.body["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert stack.emulator.calls == ()


def test_a_base64_body_is_decoded(invoke) -> None:
    event = load_event("issue_billing")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(event).status == 200


@pytest.mark.parametrize("encoded", [False, True], ids=["text", "base64"])
def test_a_body_of_4_kib_is_read(invoke, encoded: bool) -> None:
    # The limit is the body's own size, however it came: 4096 bytes of text, or of base64 (5464 characters,
    # two of them padding)
    event = load_event("issue_billing")
    body = event["body"] + " " * (4096 - len(event["body"].encode()))
    event["body"] = base64.b64encode(body.encode()).decode() if encoded else body
    event["isBase64Encoded"] = encoded
    assert invoke(event).status == 200


def test_an_unknown_route_is_a_404_in_the_error_shape(invoke) -> None:
    event = load_event("issue_billing")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/nope"
    response = invoke(event)
    assert response.status == 404
    assert response.body["status"] == "failed"


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        (magic.CARD_WRONG_PASSWORD, 402, "CARD_REJECTED"),
        (magic.CARD_PASSWORD_LOCKED, 402, "CARD_REJECTED"),
        (magic.CARD_EXPIRY_MISMATCH, 402, "CARD_REJECTED"),
        (magic.CARD_NO_PG, 422, "PAYMENT_PROVIDER_REJECTED"),
        (magic.TEST_CARD_CHECK, 200, None),
    ],
)
def test_each_portone_outcome_has_its_own_status(invoke, card: str, status: int, code: str | None) -> None:
    body = {**_valid_body(), "card_number": card}
    response = invoke(http_event(body))
    assert response.status == status
    assert response.body.get("code") == code


def test_pg_codes_are_logged_and_pg_text_is_not(invoke, logs) -> None:
    invoke(load_event("issue_billing_declined"))
    text = logs.getvalue()
    assert '"pg_code":"F112"' in text
    assert "유효하지않은" not in text


def _valid_body() -> dict[str, str]:
    return json.loads(load_event("issue_billing")["body"])


# What an operator reads (README, "Logs and metrics"): one line per PortOne call, one per outcome.
_READ = ("level", "message", "route", "outcome", "http_status", "customer_uid", "card_last4", "card_code")
_READ_ON_FAILURE = ("portone_code", "pg_code", "error_fields")
_CALL = {"level": "INFO", "message": "PortOne call", "http_status": 200}


@pytest.mark.parametrize(
    ("event", "portone_down", "metric", "lines"),
    [
        (
            "issue_billing",
            False,
            "BillingKeyIssued",
            [
                {**_CALL, "route": "POST /users/getToken"},
                {**_CALL, "route": "POST /subscribe/customers/{customer_uid}"},
                {
                    "level": "INFO",
                    "message": "billing key issued",
                    "outcome": "BILLING_KEY_ISSUED",
                    "customer_uid": "cust_0001_card_a",
                    "card_last4": "0001",
                    "card_code": "361",
                },
            ],
        ),
        (
            "issue_billing_declined",
            False,
            "CardRejected",
            [
                {**_CALL, "route": "POST /users/getToken"},
                {**_CALL, "route": "POST /subscribe/customers/{customer_uid}"},
                {
                    "level": "WARNING",
                    "message": "PortOne call failed",
                    "outcome": "CARD_REJECTED",
                    "customer_uid": "cust_0002_card_a",
                    "http_status": 200,
                    "portone_code": -1,
                    "pg_code": "F112",
                },
                {
                    "level": "INFO",
                    "message": "request failed",
                    "route": "POST /subscriptions/issue-billing",
                    "outcome": "CARD_REJECTED",
                    "http_status": 402,
                },
            ],
        ),
        (
            "invalid_expiry",
            False,
            "InvalidRequest",
            [
                {
                    "level": "INFO",
                    "message": "request failed",
                    "route": "POST /subscriptions/issue-billing",
                    "outcome": "INVALID_REQUEST",
                    "http_status": 400,
                    "error_fields": ["expiry:expired"],
                }
            ],
        ),
        (
            "issue_billing",
            True,  # getToken answers 503, then 503 again: a failure on the server's side, logged as an error
            "PaymentProviderUnavailable",
            [
                {**_CALL, "route": "POST /users/getToken", "http_status": 503},
                {**_CALL, "route": "POST /users/getToken", "http_status": 503},
                {
                    "level": "WARNING",
                    "message": "PortOne call failed",
                    "outcome": "PAYMENT_PROVIDER_UNAVAILABLE",
                    "customer_uid": "cust_0001_card_a",
                    "http_status": 503,
                },
                {
                    "level": "ERROR",
                    "message": "request failed",
                    "route": "POST /subscriptions/issue-billing",
                    "outcome": "PAYMENT_PROVIDER_UNAVAILABLE",
                    "http_status": 503,
                },
            ],
        ),
    ],
)
def test_each_outcome_is_logged_and_counted_once_for_the_operator(
    invoke, stack: EmbeddedStack, logs, capsys, event: str, portone_down: bool, metric: str, lines
) -> None:
    if portone_down:
        stack.emulator.add_fault("http_503", "POST /users/getToken", times=2)
    invoke(load_event(event))

    assert emitted_metrics(capsys.readouterr().out) == {metric: 1}
    logged = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [{k: v for k, v in line.items() if k in _READ + _READ_ON_FAILURE} for line in logged] == lines
    assert all(isinstance(line["latency_ms"], float) for line in logged if line["message"] == "PortOne call")
    assert {line["correlation_id"] for line in logged} == {load_event(event)["requestContext"]["requestId"]}


def test_every_answer_is_compact_utf8_json_with_its_headers(stack: EmbeddedStack) -> None:
    from billing.app import lambda_handler

    event = load_event("issue_billing")
    # An error: the error shape, and when to try again
    stack.emulator.add_fault("http_503", "POST /users/getToken", times=2)
    failed = lambda_handler(event, LocalLambdaContext())
    assert failed["statusCode"] == 503
    assert json.loads(failed["body"]) == {
        "status": "failed",
        "code": "PAYMENT_PROVIDER_UNAVAILABLE",
        "message": ProviderUnavailable.message,
        "request_id": event["requestContext"]["requestId"],
    }
    assert failed["headers"]["Retry-After"] == "5"

    # Its retry, a success: the card's Korean name as it is, not \u escapes, and no spaces
    issued = lambda_handler(event, LocalLambdaContext())
    body = json.loads(issued["body"])
    assert issued["body"] == json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    assert body["card"]["name"] in issued["body"]
    assert issued["headers"] == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }

    # A client's mistake (under another key): no Retry-After, the same request would fail the same way
    mistaken = {**event, "body": "{}", "headers": {**event["headers"], "idempotency-key": "mistaken-0001"}}
    answer = lambda_handler(mistaken, LocalLambdaContext())
    assert (answer["statusCode"], "Retry-After" in answer["headers"]) == (400, False)
