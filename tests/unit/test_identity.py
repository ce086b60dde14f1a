"""Who is calling: only API Gateway's verified claims name a caller."""

from typing import Any

import pytest

from billing.errors import Forbidden, Unauthorized
from billing.identity import Caller, caller_from_event

ISSUER = "https://issuer.test/"


def event(claims: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"http": {"sourceIp": "198.51.100.1"}}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims}}
    return {"requestContext": context, "headers": {"x-user": "alice"}}


def test_without_an_issuer_everyone_is_anonymous_even_with_claims() -> None:
    caller = caller_from_event(
        event({"sub": "alice", "iss": ISSUER}), issuer="", scope="", client_ip="203.0.113.7"
    )
    assert caller == Caller(subject=None, client_ip="203.0.113.7")
    assert caller.anonymous


@pytest.mark.parametrize(
    "scope_claim",
    [
        {"scope": "openid billing/write"},
        {"scp": "[billing/write profile]"},  # a list, as API Gateway flattens it
        {"scp": "[profile,billing/write]"},
    ],
)
def test_a_verified_token_names_the_caller(scope_claim: dict[str, str]) -> None:
    caller = caller_from_event(
        event({"sub": "alice", "iss": ISSUER, **scope_claim}),
        issuer=ISSUER,
        scope="billing/write",
        client_ip="203.0.113.7",
    )
    assert caller.subject == "alice"


UNVERIFIED, UNSCOPED = "no verified JWT claims for this route", "the token lacks the route's scope"


@pytest.mark.parametrize(
    ("claims", "error", "why"),
    [
        (None, Unauthorized, UNVERIFIED),
        ({"iss": ISSUER, "scope": "billing/write"}, Unauthorized, UNVERIFIED),
        ({"sub": "alice", "iss": "https://other.test/", "scope": "billing/write"}, Unauthorized, UNVERIFIED),
        ({"sub": "alice", "iss": ISSUER, "scope": "billing/read"}, Forbidden, UNSCOPED),
        ({"sub": "alice", "iss": ISSUER}, Forbidden, UNSCOPED),
    ],
)
def test_anything_short_of_a_verified_scoped_token_is_refused_saying_which_check_failed(
    claims: dict[str, Any] | None, error: type, why: str
) -> None:
    with pytest.raises(error) as caught:
        caller_from_event(event(claims), issuer=ISSUER, scope="billing/write", client_ip="203.0.113.7")
    assert str(caught.value) == why  # for the traceback: the answer itself names only the code


@pytest.mark.parametrize(
    ("source_ip", "counted"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_the_card_testing_limits_count_an_ipv6_client_by_its_64(source_ip: str, counted: str) -> None:
    assert Caller(subject=None, client_ip=source_ip).address == counted
