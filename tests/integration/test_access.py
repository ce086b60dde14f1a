"""The card-testing limits and the uid claims, one AccessStore against the stack's DynamoDB (access.py).

The integration tier drives the same rules through the function (tests/integration/test_limits.py); these
pin the arithmetic at its edges: the window, the time to come back, each limit's last allowed attempt, the
moment a record expires, and a settle whose writes fail.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.access import (
    DETAILS_MISMATCHES_PER_CARD,
    AccessStore,
    Admission,
    Attempt,
    Limits,
)
from billing.errors import CardDetailsExhausted, CustomerNotFound, RateLimited
from billing.records import RECORD_SECONDS
from local.moto_recorder import MotoRecorder
from local.portone_emulator import FakeClock
from local.stack import EmbeddedStack
from tests.integration.support import table_of_its_own

TABLE = "access-store-test"
WINDOW = 600
START = 1_795_000_200  # a window's start: a multiple of WINDOW
LIMITS = Limits(
    window_seconds=WINDOW,
    attempts_per_caller=3,
    failures_per_caller=2,
    attempts_per_card=4,
    failures_per_address=2,
)


@pytest.fixture
def client(stack: EmbeddedStack) -> Iterator[Any]:
    """A table of this test's own, shaped as the function's (its key), in the stack's moto."""
    with table_of_its_own(stack, TABLE, "pk") as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START + 10)


@pytest.fixture
def store(client: Any, clock: FakeClock) -> AccessStore:
    return AccessStore(TABLE, LIMITS, client=client, clock=clock)


def attempt(
    number: int = 1, *, caller: str = "caller-1", card: str = "card-1", owner: str = "owner-1"
) -> Attempt:
    return Attempt(f"cu_{number}", owner=owner, caller=caller, address="203.0.113.0", card=card)


def item(client: Any, pk: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return {name: next(iter(value.values())) for name, value in found.get("Item", {}).items()}


def settled(store: AccessStore, admission: Admission, outcome: str, *, mismatch: bool = False) -> None:
    admission.outcome = outcome  # type: ignore[assignment]
    admission.details_mismatch = mismatch
    store.settle(admission)


def test_counters_live_for_their_window_and_a_margin(store: AccessStore, client: Any) -> None:
    admission = store.admit(attempt())

    assert admission.window == START
    caller = item(client, f"limits#caller#caller-1#{START}")
    assert (caller["attempts"], caller["failures"]) == ("1", "1")
    assert caller["expires_at"] == str(START + WINDOW + 300)
    assert caller["holds"] == [admission.ticket]
    assert item(client, f"limits#card#card-1#{START}")["attempts"] == "1"


def test_the_callers_last_attempt_is_allowed_and_the_next_says_when_the_window_ends(
    store: AccessStore, clock: FakeClock
) -> None:
    for number in range(LIMITS.attempts_per_caller):
        settled(store, store.admit(attempt(number, card=f"card-{number}")), "issued")
    clock.advance(START + 100 - clock.now)

    with pytest.raises(RateLimited) as limited:
        store.admit(attempt(9, card="card-9"))

    assert (limited.value.dimension, limited.value.retry_after) == ("caller", WINDOW - 100)


def test_a_declined_card_keeps_its_failure_and_any_other_outcome_gives_it_back(
    store: AccessStore, client: Any
) -> None:
    settled(store, store.admit(attempt(1)), "declined")
    settled(store, store.admit(attempt(2, card="card-2")), "refused")

    caller = item(client, f"limits#caller#caller-1#{START}")
    assert (caller["attempts"], caller["failures"], caller["holds"]) == ("2", "1", [caller["holds"][0]])
    assert item(client, f"limits#address#203.0.113.0#{START}")["failures"] == "1"
    store.admit(attempt(3, card="card-3"))  # the one failure left, held by this attempt in flight
    with pytest.raises(RateLimited):
        store.admit(attempt(4, card="card-4"))


def test_settling_twice_gives_back_once(store: AccessStore, client: Any) -> None:
    admission = store.admit(attempt())
    settled(store, admission, "issued")
    settled(store, admission, "issued")

    assert item(client, f"limits#caller#caller-1#{START}")["failures"] == "0"


def test_one_card_is_limited_across_callers_and_the_refused_callers_hold_is_given_back(
    store: AccessStore, client: Any
) -> None:
    for number in range(LIMITS.attempts_per_card):
        settled(store, store.admit(attempt(number, caller=f"caller-{number}")), "issued")

    with pytest.raises(RateLimited) as limited:
        store.admit(attempt(9, caller="caller-9"))

    assert limited.value.dimension == "card"
    assert item(client, f"limits#caller#caller-9#{START}")["failures"] == "0"


def test_behind_an_address_with_many_declines_each_caller_gets_one_failure(store: AccessStore) -> None:
    for number in range(LIMITS.failures_per_address):
        settled(store, store.admit(attempt(number, caller=f"tester-{number}", card=f"c{number}")), "declined")

    admission = store.admit(attempt(5, caller="customer", card="c5"))  # no decline of its own: admitted
    with pytest.raises(RateLimited):  # its one failure is held by the attempt in flight
        store.admit(attempt(6, caller="customer", card="c6"))
    settled(store, admission, "issued")
    store.admit(attempt(7, caller="customer", card="c7"))


def test_a_card_whose_details_mismatched_twice_is_stopped_until_the_record_expires(
    store: AccessStore, clock: FakeClock, client: Any
) -> None:
    for number in range(DETAILS_MISMATCHES_PER_CARD):
        settled(store, store.admit(attempt(number, caller=f"c{number}")), "declined", mismatch=True)
    record = item(client, "card#card-1")
    assert record["mismatches"] == str(DETAILS_MISMATCHES_PER_CARD)

    with pytest.raises(CardDetailsExhausted):
        store.admit(attempt(5, caller="c5"))

    clock.advance(float(record["expires_at"]) - clock.now)  # expired at that very second, TTL or not
    admission = store.admit(attempt(6, caller="c6"))
    assert admission.card_mismatches == 0


def test_a_success_clears_the_cards_mismatches(store: AccessStore, client: Any) -> None:
    settled(store, store.admit(attempt(1, caller="c1")), "declined", mismatch=True)
    admission = store.admit(attempt(2, caller="c2"))
    assert admission.card_mismatches == 1

    settled(store, admission, "issued")

    assert item(client, "card#card-1") == {}


def test_a_uid_is_claimed_once_and_refused_to_another_owner_without_costing_them_a_failure(
    store: AccessStore, client: Any
) -> None:
    first = store.admit(attempt(1))
    settled(store, first, "issued")
    again = store.admit(attempt(1, card="card-2"))

    assert (first.new_claim, again.new_claim) == (True, False)
    claim = item(client, "owner#cu_1")
    assert (claim["owner"], claim["created_at"]) == ("owner-1", str(START + 10))
    assert sorted(claim["admitted"]) == sorted([first.ticket, again.ticket])  # an issued key keeps its ticket
    with pytest.raises(CustomerNotFound):
        store.admit(attempt(1, caller="caller-2", owner="owner-2", card="card-3"))
    assert item(client, f"limits#caller#caller-2#{START}")["failures"] == "0"


def test_a_claim_no_key_came_from_is_released_when_its_attempt_settles_and_kept_while_another_runs(
    store: AccessStore, client: Any, aws_calls: MotoRecorder
) -> None:
    first = store.admit(attempt(1))
    meanwhile = store.admit(attempt(1, card="card-2"))  # the owner tries again before the first settles
    aws_calls.start()
    settled(store, first, "declined")
    assert item(client, "owner#cu_1")["admitted"] == [meanwhile.ticket]  # a key may still come of it
    assert aws_calls.count("DynamoDB_20120810.DeleteItem") == 0  # its ticket left: nothing more tried

    lone = store.admit(attempt(2, caller="caller-3", owner="owner-3"))
    settled(store, lone, "refused")
    assert item(client, "owner#cu_2") == {}
    assert store.admit(attempt(2, caller="caller-2", owner="owner-2", card="card-3")).new_claim  # free again


@pytest.mark.parametrize(
    ("held_until", "hold_again_until"),
    [
        (START + WINDOW, START + 10 + RECORD_SECONDS),  # this attempt's own records outlast the hold
        (START + 2 * RECORD_SECONDS, START + 2 * RECORD_SECONDS),  # the hold outlasts them
    ],
)
def test_a_hold_claimed_again_with_no_key_is_a_hold_again_as_long_as_its_records(
    store: AccessStore, client: Any, held_until: int, hold_again_until: int
) -> None:
    # Given the owner's uid whose key was deleted: held for them until its records expire
    alice = Attempt(
        "cu_1", owner="sub:alice", caller="caller-1", address="203.0.113.0", card="card-1", customer="alice"
    )
    settled(store, store.admit(alice), "issued")
    store.key_deleted("cu_1", datetime.fromtimestamp(held_until, UTC))

    # When they claim it again and no key comes of it
    again = store.admit(alice)
    assert again.held_until == held_until
    settled(store, again, "declined")

    # Then it is their hold again, unlisted, until the later of its end and this attempt's own records' end
    claim = item(client, "owner#cu_1")
    assert (claim["owner"], claim["expires_at"]) == ("sub:alice", str(hold_again_until))
    assert "customer" not in claim
    assert "admitted" not in claim


def test_a_failed_settle_is_logged_and_the_outcome_still_returns(
    store: AccessStore, client: Any, logs: io.StringIO
) -> None:
    admission = store.admit(attempt())
    client.delete_table(TableName=TABLE)

    settled(store, admission, "issued")

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert {(line["message"], line["outcome"]) for line in lines} == {
        ("admission not settled", "ADMISSION_NOT_SETTLED")
    }


def put(client: Any, pk: str, **attributes: str | int) -> None:
    typed = {
        name: {"N": str(value)} if isinstance(value, int) else {"S": value}
        for name, value in attributes.items()
    }
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, **typed})


def test_older_claims_get_their_customer_a_few_pages_a_call_resuming_where_the_last_call_stopped(
    store: AccessStore, client: Any
) -> None:
    # Given claims from before claims carried their customer, beside items the backfill leaves alone
    older = {f"owner#cu_{n}": f"person-{n}" for n in range(5)}
    for pk, person in older.items():
        put(client, pk, owner=f"sub:{person}", created_at=START)
    put(client, "owner#cu_by_address", owner="ip:203.0.113.0", created_at=START)  # no customer to give
    put(client, "owner#cu_held", owner="sub:held", expires_at=START + WINDOW)  # a deleted key's hold
    put(client, "owner#cu_listed", owner="sub:listed", customer="listed")
    put(client, f"limits#caller#caller-1#{START}", attempts=1)
    untouched = {pk: item(client, pk) for pk in ("owner#cu_by_address", "owner#cu_held", "owner#cu_listed")}

    # When the reconciler's runs each read one page of two items
    calls = [store.backfill_customers(pages=1, page_items=2)]
    while not calls[-1]:
        assert len(calls) < 9, "the backfill never finished: it does not resume where it stopped"
        calls.append(store.backfill_customers(pages=1, page_items=2))

    # Then each run went on from where the last one stopped, until the whole table was done
    assert calls[0] is False
    assert len(calls) >= 5  # nine items, two a run
    assert {pk: item(client, pk).get("customer") for pk in older} == older
    assert {pk: item(client, pk) for pk in untouched} == untouched
    assert item(client, "migration#customer-keys") == {"pk": "migration#customer-keys", "done": True}


def test_a_finished_backfill_reads_no_more_pages(store: AccessStore, client: Any) -> None:
    assert store.backfill_customers() is True  # an empty table: done at once
    put(client, "owner#cu_late", owner="sub:late", created_at=START)  # as no claim of today's code is

    assert store.backfill_customers() is True
    assert "customer" not in item(client, "owner#cu_late")


def test_a_backfill_call_reads_four_pages(store: AccessStore, client: Any) -> None:
    for n in range(6):
        put(client, f"owner#cu_{n}", owner=f"sub:person-{n}", created_at=START)

    assert store.backfill_customers(page_items=1) is False
    assert sum("customer" in item(client, f"owner#cu_{n}") for n in range(6)) == 4
    assert "cursor" in item(client, "migration#customer-keys")
