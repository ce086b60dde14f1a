"""Card-testing limits (design.md D9): blocked before PortOne, with Retry-After and a metric."""

from __future__ import annotations

import json

import pytest

from billing.cards import luhn_valid
from billing.errors import RateLimited
from local.portone_emulator import cards as magic
from tests.integration.support import (
    ENVIRONMENT,
    GENEROUS_LIMITS,
    TEST_ISSUER,
    consents,
    http_event,
    new_container,
    sample_body,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
# The emulator's cards that are declined: each may be declined twice in a row before it is not tried again
DECLINED_CARDS = [
    magic.CARD_WRONG_PASSWORD,
    magic.CARD_PASSWORD_LOCKED,
    magic.CARD_EXPIRY_MISMATCH,
    magic.CARD_INVALID_NUMBER,
]


def card(n: int) -> str:
    """The n-th distinct Luhn-valid test card (the emulator issues any of them)."""
    payload = f"95404900{n:07d}"
    return next(payload + d for d in "0123456789" if luhn_valid(payload + d))


def attempt(invoke, *, number: str, uid: str, subject: str | None = None, ip: str = "203.0.113.10"):
    event = http_event({**sample_body(), "card_number": number, "customer_uid": uid})
    event["requestContext"]["http"]["sourceIp"] = ip
    return invoke(with_caller(event, subject) if subject else event)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    """Set limits; the window is a day, so a test never runs across the start of a new one."""

    def _set(**values: int) -> None:
        for name, value in {"window_seconds": 86_400, **values}.items():
            monkeypatch.setenv(f"LIMIT_{name.upper()}", str(value))

    return _set


def test_twenty_cards_from_one_caller_in_a_minute_hit_the_limit(invoke, stack, limits, capsys) -> None:
    # Given the embedded default as deployed: the template's limits, no JWT authorizer (anonymous callers)
    limit = int(ENVIRONMENT["LIMIT_ATTEMPTS_PER_CALLER"])
    limits(**{name[len("LIMIT_") :].lower(): int(ENVIRONMENT[name]) for name in GENEROUS_LIMITS})

    # When one caller tries twenty different cards, one after another
    statuses = [attempt(invoke, number=card(n), uid=f"tester_{n}").status for n in range(20)]

    # Then the first `limit` reach PortOne and every later one is blocked before it, with a metric each
    assert statuses == [200] * limit + [429] * (20 - limit)
    assert stack.emulator.count(*ISSUE) == limit
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(1 for m in metrics if "TooManyAttempts" in m) == 20 - limit


def test_a_blocked_attempt_says_when_to_come_back(invoke, limits) -> None:
    limits(attempts_per_caller=1)
    attempt(invoke, number=card(1), uid="a1")
    response = attempt(invoke, number=card(2), uid="a2")
    assert (response.status, response.body["code"]) == (429, "TOO_MANY_ATTEMPTS")
    assert 0 < int(response.headers["Retry-After"]) <= 86_400  # the end of the window


def test_signed_in_customers_behind_one_address_do_not_limit_each_other(
    invoke, stack, limits, signed_in
) -> None:
    # Given the template's limits, and a carrier's address that many signed-in customers share
    limits(**{name[len("LIMIT_") :].lower(): int(ENVIRONMENT[name]) for name in GENEROUS_LIMITS})

    # When thirty of them register a card, one after another, each from their own account
    statuses = [attempt(invoke, number=card(n), uid=f"u{n}", subject=f"user{n}").status for n in range(30)]

    # Then every one gets a key: the address counts declined cards, not customers
    assert statuses == [200] * 30


def test_an_address_with_many_declines_allows_each_account_one(invoke, stack, limits, signed_in) -> None:
    # Given an address whose declined cards reached its cap, from three testers' accounts
    limits(failures_per_address=3)
    declined = [
        attempt(invoke, number=number, uid=f"d{n}", subject=f"tester{n}").status
        for n, number in enumerate(DECLINED_CARDS[:3])
    ]
    assert declined == [402, 402, 402]

    # Then a tester who has declined once is refused even with a good card, and a new account is
    # allowed one failure, not three; a customer without a decline still gets their key
    again = attempt(invoke, number=card(5), uid="d_again", subject="tester0")
    fresh = [
        attempt(invoke, number=DECLINED_CARDS[3], uid=f"f{n}", subject="tester9").status for n in range(2)
    ]
    customer = attempt(invoke, number=card(6), uid="d_customer", subject="customer")
    assert again.status == 429
    assert fresh == [402, 429]
    assert customer.status == 200
    assert stack.emulator.count(*ISSUE) == 5


def test_an_ipv6_client_is_counted_by_its_64(invoke, limits) -> None:
    # A host may use any address of its /64: counted as one caller, while the next /64 is another
    limits(attempts_per_caller=2)
    same = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd::42"]
    statuses = [attempt(invoke, number=card(n), uid=f"v{n}", ip=ip).status for n, ip in enumerate(same)]
    other = attempt(invoke, number=card(9), uid="v_other", ip="2001:db8:1:3::1")
    assert statuses == [200, 200, 429]
    assert other.status == 200


def test_a_successful_card_gives_its_failure_hold_back(invoke, stack, limits) -> None:
    # Each attempt holds one failure until PortOne answers: with a budget of one, keys still come one by one
    limits(failures_per_caller=1)
    assert [attempt(invoke, number=card(n), uid=f"h{n}").status for n in range(4)] == [200] * 4
    assert attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="h_bad").status == 402
    assert attempt(invoke, number=card(8), uid="h_late").status == 429


def test_the_limits_are_read_strongly_consistent(invoke, aws_calls) -> None:
    # An eventually consistent read may miss the declines of the last second: a card tester's burst would
    # pass the limits together (moto is always consistent, so the request itself is what can be checked).
    attempt(invoke, number=card(1), uid="consistent")

    [read] = aws_calls.bodies("DynamoDB_20120810.BatchGetItem")
    assert [table["ConsistentRead"] for table in read["RequestItems"].values()] == [True]


def test_a_declined_cards_claim_on_a_uid_is_released(invoke, stack, signed_in) -> None:
    # Given a uid a client tried with a card that was declined (F5: a claim must not outlive a failure)
    assert attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="free_uid", subject="mallory").status == 402

    # When another customer uses that uid
    response = attempt(invoke, number=card(3), uid="free_uid", subject="alice")

    # Then it is theirs: the declined attempt kept no claim
    assert response.status == 200
    assert stack.emulator.count(*ISSUE) == 2


def test_an_issued_uid_stays_claimed(invoke, stack, signed_in) -> None:
    assert attempt(invoke, number=card(3), uid="taken_uid", subject="alice").status == 200
    response = attempt(invoke, number=card(4), uid="taken_uid", subject="mallory")
    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")


@pytest.mark.parametrize("before", ["issued here", "claimed before tickets"])
def test_an_owners_declined_card_never_releases_a_uid_that_has_a_key(
    invoke, stack, signed_in, before: str
) -> None:
    # Given alice's uid with a key: issued here, or claimed by a version that kept no tickets on claims
    if before == "issued here":
        assert attempt(invoke, number=card(3), uid="alice_uid", subject="alice").status == 200
    else:
        stack.client("dynamodb").put_item(
            TableName=ENVIRONMENT["TABLE_NAME"],
            Item={"pk": {"S": "owner#alice_uid"}, "owner": {"S": "sub:alice"}, "created_at": {"N": "1"}},
        )

    # When alice tries another card on it, and it is declined
    assert attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="alice_uid", subject="alice").status == 402

    # Then the uid is still hers
    response = attempt(invoke, number=card(4), uid="alice_uid", subject="mallory")
    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")


def test_a_uid_whose_key_may_exist_stays_claimed(invoke, stack, signed_in) -> None:
    # Given a card whose answer was lost and not confirmed (202 pending: the service cannot tell whether
    # PortOne issued the key)
    stack.emulator.add_fault("reset", "POST /subscribe/customers", after_effect=False)
    assert attempt(invoke, number=card(3), uid="maybe_uid", subject="alice").status == 202

    # Then nobody else may take the uid (and replace a key PortOne may hold for alice)
    response = attempt(invoke, number=card(4), uid="maybe_uid", subject="mallory")
    assert (response.status, response.body["code"]) == (404, "CUSTOMER_NOT_FOUND")


def test_a_uid_whose_card_never_left_is_released(invoke, stack, signed_in, monkeypatch) -> None:
    # Given PortOne unreachable: the card was never sent (503), so no key can exist
    monkeypatch.setenv("PORTONE_BASE_URL", "http://127.0.0.1:9")
    assert attempt(invoke, number=card(3), uid="unsent_uid", subject="mallory").status == 503
    monkeypatch.setenv("PORTONE_BASE_URL", stack.emulator.url)
    new_container()

    # Then the uid is free for anyone
    assert attempt(invoke, number=card(4), uid="unsent_uid", subject="alice").status == 200


def test_settling_twice_gives_the_hold_back_once(stack) -> None:
    # botocore resends a write whose answer was lost: a give-back sent twice must count once
    from billing.access import AccessStore, Attempt, Limits
    from billing.aws import aws_clients

    store = AccessStore(
        ENVIRONMENT["TABLE_NAME"], Limits(86_400, 10, 2, 10, 10), client=aws_clients().dynamodb
    )
    who = Attempt(customer_uid="twice", owner="sub:a", caller="sub:a", address="203.0.113.1", card="c")
    admission = store.admit(who)
    admission.outcome = "issued"
    store.settle(admission)
    store.settle(admission)
    store.admit(Attempt(**{**who.__dict__, "customer_uid": "twice_2"}))
    store.admit(Attempt(**{**who.__dict__, "customer_uid": "twice_3"}))
    with pytest.raises(RateLimited):  # two holds in flight use the budget of two; nothing was given twice
        store.admit(Attempt(**{**who.__dict__, "customer_uid": "twice_4"}))


def test_one_card_is_limited_across_callers_and_addresses(invoke, limits, monkeypatch) -> None:
    limits(attempts_per_card=2)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)
    statuses = [
        attempt(invoke, number=card(7), uid=f"c{n}", subject=f"user{n}", ip=f"198.51.100.{n}").status
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]


def test_rejected_cards_exhaust_the_callers_failures(invoke, stack, limits) -> None:
    limits(failures_per_caller=2)
    rejected = [attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid=f"f{n}").status for n in range(2)]
    blocked = attempt(invoke, number=card(3), uid="f_good")  # even a good card, once the failures add up
    assert rejected == [402, 402]
    assert blocked.status == 429
    assert stack.emulator.count(*ISSUE) == 2


def test_invalid_input_costs_nothing(invoke, stack, limits) -> None:
    limits(attempts_per_caller=1)
    for _ in range(3):
        assert attempt(invoke, number="4242", uid="bad").status == 400
    assert attempt(invoke, number=card(1), uid="ok").status == 200


def test_cards_rejected_through_a_schedule_count_as_failures_too(invoke, stack, limits, monkeypatch) -> None:
    limits(failures_per_caller=2)
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)

    def schedule(number: str, uid: str) -> int:
        body = {**sample_body(), "card_number": number, "customer_uid": uid, "plan_id": "basic_monthly"}
        body["consents"] = consents("plan", "card")
        event = http_event(body)
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/subscriptions/schedule"
        return int(invoke(with_caller(event, "tester")).status)

    rejected = [schedule(magic.CARD_WRONG_PASSWORD, f"r{n}") for n in range(2)]
    assert rejected == [402, 402]
    assert schedule(card(4), "r_good") == 429
