"""customer_uid ownership and caller identity (design.md D8): nobody acts on another caller's customer."""

from __future__ import annotations

import re

import pytest

from local.stack import EmbeddedStack
from tests.integration.support import TEST_ISSUER, http_event, load_event, sample_body, with_caller

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")


@pytest.fixture
def signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack with the JWT authorizer: API Gateway verifies tokens and passes their claims on."""
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)


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
