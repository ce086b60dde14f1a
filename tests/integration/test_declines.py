"""Declines the customer can act on (issue 12): details that do not match the card, or another reason; and a
card whose details did not match twice in a row is not tried a third time, so its issuer never locks it."""

from __future__ import annotations

import time

import pytest

from billing.access import AccessStore, Attempt, Limits
from billing.aws import aws_clients
from billing.errors import CardDetailsExhausted
from local.portone_emulator import cards as magic
from tests.integration.support import ENVIRONMENT, table_item
from tests.integration.test_limits import ISSUE, attempt

pytestmark = pytest.mark.usefixtures("signed_in")


def test_details_that_do_not_match_twice_in_a_row_stop_the_card_before_portone(invoke, stack) -> None:
    # Given a card whose PIN digits are typed wrong, from two accounts (a tester or a confused customer)
    first = attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="m1", subject="alice")
    second = attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="m2", subject="bob")

    # Then each says the details do not match, and how many such answers are left on the card
    assert (first.status, first.body["decline"], first.body["tries_left"]) == (402, "details_mismatch", 1)
    assert (second.status, second.body["decline"], second.body["tries_left"]) == (402, "details_mismatch", 0)

    # And a third attempt with that card is refused before PortOne, whoever sends it
    third = attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="m3", subject="carol")
    assert (third.status, third.body["code"]) == (403, "CARD_DETAILS_EXHAUSTED")
    assert stack.emulator.count(*ISSUE) == 2

    # While another card is counted on its own
    other = attempt(invoke, number=magic.CARD_EXPIRY_MISMATCH, uid="m4", subject="alice")
    assert (other.status, other.body["tries_left"]) == (402, 1)


def test_the_cards_count_is_kept_a_year_under_its_keyed_fingerprint(invoke, stack) -> None:
    attempt(invoke, number=magic.CARD_WRONG_PASSWORD, uid="k1", subject="alice")
    from billing.service import get_service

    fingerprint = get_service().fingerprints.card(magic.CARD_WRONG_PASSWORD)
    item = table_item(stack, f"card#{fingerprint}")
    assert item is not None
    assert item["mismatches"] == "1"
    assert abs(int(item["expires_at"]) - (time.time() + 366 * 86_400)) < 60


def test_a_success_on_the_card_forgets_its_mismatches(stack) -> None:
    # (The emulator decides a card's answer by its number, so the same card succeeds here at the store.)
    store = AccessStore(
        ENVIRONMENT["TABLE_NAME"], Limits(86_400, 100, 100, 100, 100), client=aws_clients().dynamodb
    )

    def settle(uid: str, outcome: str, *, mismatch: bool) -> None:
        admission = store.admit(Attempt(uid, "sub:a", "sub:a", "203.0.113.1", card="same-card"))
        admission.outcome, admission.details_mismatch = outcome, mismatch  # type: ignore[assignment]
        store.settle(admission)

    settle("s1", "declined", mismatch=True)
    settle("s2", "issued", mismatch=False)  # the card works: its count starts again
    settle("s3", "declined", mismatch=True)
    settle("s4", "declined", mismatch=True)
    with pytest.raises(CardDetailsExhausted):
        settle("s5", "declined", mismatch=True)
    assert (table_item(stack, "card#same-card") or {}).get("mismatches") == "2"


def test_an_expired_count_starts_again(stack) -> None:
    # A count whose year is over is gone, even before DynamoDB's TTL deletes it: one mismatch is one again
    later = [time.time()]
    store = AccessStore(
        ENVIRONMENT["TABLE_NAME"],
        Limits(86_400, 100, 100, 100, 100),
        client=aws_clients().dynamodb,
        clock=lambda: later[0],
    )

    def mismatch(uid: str) -> None:
        admission = store.admit(Attempt(uid, "sub:a", "sub:a", "203.0.113.1", card="old-card"))
        admission.outcome, admission.details_mismatch = "declined", True
        store.settle(admission)

    mismatch("e1")
    mismatch("e2")
    later[0] += 367 * 86_400
    mismatch("e3")
    assert (table_item(stack, "card#old-card") or {}).get("mismatches") == "1"
