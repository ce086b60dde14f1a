"""customer_uid ownership and caller identity (design.md D8): nobody acts on another caller's customer."""

from __future__ import annotations

import re

import pytest

from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    TEST_ISSUER,
    consents,
    http_event,
    load_event,
    sample_body,
    schedule,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")


def test_another_callers_uid_is_a_404_with_no_portone_call(invoke, stack: EmbeddedStack, signed_in) -> None:
    assert invoke(with_caller(http_event(sample_body()), "alice")).status == 200
    stack.emulator.reset()

    response = invoke(with_caller(http_event(sample_body()), "mallory"))

    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")
    assert stack.emulator.calls == ()


def test_the_owner_may_replace_the_card_on_its_own_uid(invoke, stack: EmbeddedStack, signed_in) -> None:
    assert invoke(with_caller(http_event(sample_body()), "alice")).status == 200
    assert invoke(with_caller(http_event(sample_body()), "alice")).status == 200
    assert stack.emulator.count(*ISSUE) == 2


def test_an_anonymous_caller_claims_a_new_uid_once_and_never_reuses_it(invoke, stack: EmbeddedStack) -> None:
    first = http_event(sample_body())
    assert invoke(first).status == 200
    assert invoke(first).headers["Idempotency-Replayed"] == "true"  # its own retry is a replay

    response = invoke(http_event(sample_body()))  # a new request for the same uid

    assert response.status == 404
    assert stack.emulator.count(*ISSUE) == 1


def test_an_anonymous_retry_after_a_transient_failure_finishes_its_own_claim(invoke, stack) -> None:
    stack.emulator.add_fault("http_503", "POST /users/getToken", times=2)  # getToken fails, and its retry
    event = http_event(sample_body())
    assert invoke(event).status == 503
    assert invoke(event).status == 200  # same Idempotency-Key: the uid it claimed is still its own


def test_without_a_uid_the_server_mints_an_unguessable_one(invoke) -> None:
    response = invoke(load_event("issue_billing_new_customer"))
    assert response.status == 200
    uid = response.body["customer_uid"]
    assert re.fullmatch(r"cu_[A-Za-z0-9_-]{22}", uid)  # 16 random bytes, base64url


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        (None, 401),  # the route was reached without the authorizer's claims
        ({"sub": "alice", "iss": "https://elsewhere.test/", "scope": "billing/write"}, 401),
        ({"sub": "alice", "iss": TEST_ISSUER, "scope": "profile email"}, 403),
        ({"sub": "", "iss": TEST_ISSUER, "scope": "billing/write"}, 401),
    ],
)
def test_a_missing_foreign_or_underscoped_token_is_refused(invoke, stack, signed_in, claims, status) -> None:
    event = http_event(sample_body())
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    response = invoke(event)
    assert response.status == status
    assert stack.emulator.calls == ()


def test_claims_in_a_header_or_body_name_no_caller(invoke, stack, signed_in) -> None:
    event = http_event(sample_body(), **{"x-jwt-sub": "alice"})
    assert invoke(event).status == 401


# --- anonymous callers and existing customers (D8: an Idempotency-Key is a retry token, not a credential) --


def anonymous_schedule(invoke, body: dict, *, key: str, ip: str = "198.51.100.7"):
    """`POST /subscriptions/schedule` from an anonymous caller (a stack without the JWT authorizer)."""
    event = http_event(body, key=key)
    event["routeKey"] = "POST /subscriptions/schedule"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/subscriptions/schedule"
    event["requestContext"]["http"]["sourceIp"] = ip
    return invoke(event)


@pytest.mark.parametrize("with_card", [False, True], ids=["without a card", "with a card"])
def test_a_known_idempotency_key_gives_an_anonymous_caller_no_hold_on_an_existing_uid(
    invoke, stack: EmbeddedStack, with_card: bool
) -> None:
    # Given a customer who claimed a uid anonymously with a known Idempotency-Key
    victim = sample_body() | {"customer_uid": "cu_victim"}
    assert invoke(http_event(victim, key="victims-key-0001")).status == 200
    stack.emulator.reset()

    # When someone else sends another request naming that uid under the same key, from another address
    purposes = ("plan", "card") if with_card else ("plan",)
    body = {"customer_uid": "cu_victim", "plan_id": "basic_monthly", **(CARD if with_card else {})}
    body["consents"] = consents(*purposes)
    response = anonymous_schedule(invoke, body, key="victims-key-0001")

    # Then it is the 404 of a foreign uid, and PortOne never hears of it
    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")
    assert stack.emulator.calls == ()


def test_an_anonymous_subscription_is_finished_by_a_retry_of_the_very_request(invoke, stack) -> None:
    stack.emulator.add_fault("http_503", "POST /users/getToken", times=2)  # getToken fails, and its retry
    body = {
        "customer_uid": "cu_new_anonymous",
        "plan_id": "basic_monthly",
        **CARD,
        "consents": consents("plan", "card"),
    }

    first = anonymous_schedule(invoke, body, key="anonymous-subscribe-0001")
    retried = anonymous_schedule(invoke, body, key="anonymous-subscribe-0001")

    assert (first.status, retried.status) == (503, 200)
    assert stack.emulator.count("POST", "/subscribe/payments/schedule") == 1


def test_a_stack_may_let_only_signed_in_customers_subscribe(invoke, stack, monkeypatch) -> None:
    # Given a stack without the JWT authorizer that does not let anonymous callers subscribe
    monkeypatch.setenv("ALLOW_ANONYMOUS_SUBSCRIPTIONS", "false")
    body = {
        "customer_uid": "cu_new_anonymous",
        "plan_id": "basic_monthly",
        **CARD,
        "consents": consents("plan", "card"),
    }

    # When an anonymous caller asks for the plans, and then subscribes anyway
    plans = invoke(load_event("list_plans"))
    response = anonymous_schedule(invoke, body, key="anonymous-subscribe-0002")

    # Then it is offered none, is told to sign in, and PortOne hears nothing
    assert (plans.status, plans.body["plans"]) == (200, [])
    assert (response.status, response.body["code"]) == (401, "SIGN_IN_REQUIRED")
    assert stack.emulator.calls == ()


def test_signed_in_customers_subscribe_where_anonymous_ones_may_not(invoke, monkeypatch, signed_in) -> None:
    monkeypatch.setenv("ALLOW_ANONYMOUS_SUBSCRIPTIONS", "false")

    plans = invoke(with_caller(load_event("list_plans"), "alice"))
    subscribed = schedule(invoke, uid="cu_alice", **CARD)

    assert plans.status == 200
    assert plans.body["plans"]
    assert subscribed.status == 200


def test_the_same_key_with_another_body_is_another_request(invoke, stack: EmbeddedStack) -> None:
    # Given an anonymous claim whose card's answer was lost (202 pending: a key may exist, the claim stays)
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=False)
    first = sample_body() | {"customer_uid": "cu_claimed"}
    assert invoke(http_event(first, key="claim-key-0001")).status == 202

    # When the same Idempotency-Key comes back on the same route with another card
    other = first | {"card_number": magic.TEST_CARD_CHECK}
    response = invoke(http_event(other, key="claim-key-0001"))

    # Then it is not the request that claimed the uid: 404, and PortOne never sees it
    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")
    assert stack.emulator.count(*ISSUE) == 1
