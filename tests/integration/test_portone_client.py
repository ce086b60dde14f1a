"""The PortOne client against the emulator over real HTTP: tokens, envelopes, faults and retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from billing.deadline import Deadline
from billing.portone.client import PortOneClient
from billing.portone.errors import (
    PortOneAuthFailed,
    PortOneBusinessError,
    PortOneCardRejected,
    PortOneNotFound,
    PortOneOutcomeUnknown,
    PortOneProtocolError,
    PortOneUnavailable,
)
from billing.portone.models import BillingKeyCard, Credentials
from local.portone_emulator import DEFAULT_CHANNEL_KEY, FakeClock, PortOneEmulator
from local.portone_emulator import cards as magic

KEY, SECRET = "imp_client_test", "imp_client_test_secret"
ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
GET = ("GET", "/subscribe/customers/{customer_uid}")
GET_ROUTE = " ".join(GET)
TOKEN = ("POST", "/users/getToken")

CHANNEL = {"channel_key": DEFAULT_CHANNEL_KEY}  # the service sends its configured channel (issue_extras)


class KeyStore:
    """Stands in for Secrets Manager: hands out `current`, counting reads and forced refreshes."""

    def __init__(self, secret: str = SECRET) -> None:
        self.current = Credentials(imp_key=KEY, imp_secret=SecretStr(secret))
        self.stale: Credentials | None = None
        self.refreshes = 0

    def __call__(self, *, refresh: bool) -> Credentials:
        self.refreshes += refresh
        if self.stale is not None and not refresh:
            return self.stale
        return self.current


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def emulator(clock: FakeClock) -> Iterator[PortOneEmulator]:
    with PortOneEmulator({KEY: SECRET}, clock=clock) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(emulator: PortOneEmulator) -> None:
    emulator.reset()
    emulator.clear_faults()


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore()


@pytest.fixture
def client(emulator: PortOneEmulator, keys: KeyStore, clock: FakeClock) -> PortOneClient:
    # The client's monotonic clock is the emulator's clock, so token lifetimes pass without sleeping.
    return PortOneClient(keys, base_url=emulator.url, read_timeout=2.0, monotonic=clock)


def card(number: str = magic.TEST_CARD_OK) -> BillingKeyCard:
    return BillingKeyCard(
        card_number=SecretStr(number),
        expiry=SecretStr("2030-12"),
        birth=SecretStr("880101"),
        pwd_2digit=SecretStr("12"),
    )


def issue(client: PortOneClient, uid: str = "cu_1", number: str = magic.TEST_CARD_OK, seconds: float = 10):
    return client.issue_billing_key(uid, card(number), extra=CHANNEL, deadline=Deadline.after(seconds))


def test_ten_issues_share_one_token(client: PortOneClient, emulator: PortOneEmulator) -> None:
    for n in range(10):
        issue(client, f"cu_{n}")
    assert emulator.count(*TOKEN) == 1
    assert emulator.count(*ISSUE) == 10
    assert emulator.contract_violations == []


def test_the_customer_comes_back_masked(client: PortOneClient) -> None:
    customer = issue(client)
    assert customer.customer_uid == "cu_1"
    assert customer.card_number is not None
    assert customer.card_number.endswith("0001")
    assert magic.TEST_CARD_OK not in customer.card_number
    assert customer.inserted == customer.updated


def test_portones_time_is_read_on_its_clock_from_the_cached_token(client, emulator, clock: FakeClock) -> None:
    issue(client)  # PortOne's clock (the emulator's) is months from ours

    portone_now = client.portone_time(deadline=Deadline.after(5))

    assert portone_now == pytest.approx(clock.now, abs=5)  # ours, plus the offset its token's `now` gave
    assert emulator.count(*TOKEN) == 1  # the cached token's: no second token for it


def test_a_token_is_renewed_shortly_before_it_expires(client, emulator, clock: FakeClock) -> None:
    issue(client)
    clock.advance(29 * 60 + 1)  # inside the refresh margin, before PortOne's expiry
    issue(client)
    assert emulator.count(*TOKEN) == 2
    assert emulator.count(*ISSUE, status=401) == 0


def test_a_token_portone_no_longer_accepts_is_refreshed_once(client, emulator) -> None:
    issue(client)
    emulator.expire_tokens()
    issue(client)
    assert emulator.count(*ISSUE, status=401) == 1
    assert emulator.count(*ISSUE, status=200) == 2
    assert emulator.count(*TOKEN) == 2


def test_rotated_keys_are_read_again_once(client, emulator, keys: KeyStore) -> None:
    keys.stale = Credentials(imp_key=KEY, imp_secret=SecretStr("an-old-secret"))
    issue(client)
    assert keys.refreshes == 1
    assert emulator.count(*TOKEN, status=401) == 1


def test_wrong_keys_fail_as_auth_after_one_reread(emulator, clock) -> None:
    keys = KeyStore(secret="wrong")
    client = PortOneClient(keys, base_url=emulator.url, monotonic=clock)
    with pytest.raises(PortOneAuthFailed) as caught:
        issue(client)
    assert keys.refreshes == 1
    assert emulator.count(*ISSUE) == 0
    # What the operator reads (the cause, PortOne's status), never the secret
    assert (str(caught.value), caught.value.http_status) == ("getToken refused imp_key/imp_secret", 401)


def test_a_freshly_issued_token_refused_too_is_an_auth_failure_after_one_refresh(client, emulator) -> None:
    emulator.add_fault("expire_tokens", "POST /subscribe/customers", times=2)
    with pytest.raises(PortOneAuthFailed) as caught:
        issue(client)
    assert (str(caught.value), caught.value.http_status) == ("PortOne refused a freshly issued token", 401)
    assert emulator.count(*ISSUE, status=401) == 2
    assert emulator.count(*TOKEN) == 2


def test_a_rejected_card_carries_portones_code_and_pg_code(client) -> None:
    with pytest.raises(PortOneCardRejected) as caught:
        issue(client, number=magic.CARD_INVALID_NUMBER)
    assert caught.value.code == -1
    assert caught.value.pg_code == "F112"
    assert magic.CARD_INVALID_NUMBER not in str(caught.value)


@pytest.mark.parametrize("status", [404, 200])
def test_an_unknown_customer_is_not_found_whichever_way_portone_says_it(
    client, emulator, status: int
) -> None:
    emulator.unknown_customer_status = status
    try:
        with pytest.raises(PortOneNotFound) as raised:
            client.get_customer("nobody", deadline=Deadline.after(5))
    finally:
        emulator.unknown_customer_status = 404
    assert (raised.value.http_status, raised.value.code) == (status, 1)  # as PortOne said it


ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"
MAY_HAVE_ARRIVED = "; the request may have reached PortOne"


@pytest.mark.parametrize(
    ("kind", "seconds", "detail", "http_status"),
    [
        ("latency", 3.0, f"{ISSUE_ROUTE}: ReadTimeout{MAY_HAVE_ARRIVED}", None),
        ("reset", 0.0, f"{ISSUE_ROUTE}: ConnectionError{MAY_HAVE_ARRIVED}", None),
        ("http_500", 0.0, f"{ISSUE_ROUTE}: HTTP 500", 500),
        ("http_503", 0.0, f"{ISSUE_ROUTE}: HTTP 503", 503),
        ("malformed", 0.0, "HTTP 200 with a body that is not a PortOne envelope", 200),
    ],
)
def test_a_post_that_may_have_arrived_is_never_repeated(
    client, emulator, kind: str, seconds: float, detail: str, http_status: int | None
) -> None:
    issue(client, "warm_up")  # take the token call out of the picture
    emulator.add_fault(kind, "POST /subscribe/customers", seconds=seconds)
    with pytest.raises(PortOneOutcomeUnknown) as unknown:
        issue(client)
    assert (str(unknown.value), unknown.value.http_status) == (detail, http_status)
    assert emulator.count(*ISSUE) == 2  # the warm-up and the one attempt: no retry
    assert "cu_1" in emulator.customers  # it did arrive: only a lookup can tell (reconciliation, D6)


def test_a_get_is_retried_once_after_a_5xx(client, emulator, logs) -> None:
    issue(client)
    emulator.add_fault("http_502", "GET /subscribe/customers")
    assert client.get_customer("cu_1", deadline=Deadline.after(5)).customer_uid == "cu_1"
    assert emulator.count(*GET) == 2
    calls = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [(c["message"], c["route"], c["http_status"]) for c in calls] == [
        ("PortOne call", "POST /users/getToken", 200),
        ("PortOne call", "POST /subscribe/customers/{customer_uid}", 200),
        ("PortOne call", "GET /subscribe/customers/{customer_uid}", 502),
        ("PortOne call", "GET /subscribe/customers/{customer_uid}", 200),
    ]


def test_each_call_is_logged_with_its_route_its_status_and_its_latency_in_milliseconds(
    keys, emulator, logs
) -> None:
    client = PortOneClient(keys, base_url=emulator.url, read_timeout=2.0)  # the real clock: a real latency
    issue(client)
    emulator.add_fault("latency", "GET /subscribe/customers", seconds=0.2)

    client.get_customer("cu_1", deadline=Deadline.after(5))

    (call,) = [json.loads(line) for line in logs.getvalue().splitlines() if '"GET /subscribe' in line]
    assert (call["message"], call["route"], call["http_status"]) == ("PortOne call", GET_ROUTE, 200)
    assert isinstance(call["latency_ms"], float)
    assert 200 <= call["latency_ms"] < 5000  # the fault's wait, inside the call's deadline
    assert call["latency_ms"] == round(call["latency_ms"], 1)  # a tenth of a millisecond is enough


def test_a_garbled_answer_to_a_get_is_a_protocol_error(client, emulator) -> None:
    issue(client)
    emulator.add_fault("malformed", "GET /subscribe/customers")
    with pytest.raises(PortOneProtocolError, match=r"^HTTP 200 with a body that is not a PortOne envelope$"):
        client.get_customer("cu_1", deadline=Deadline.after(5))


def test_get_token_is_retried_after_a_5xx(client, emulator) -> None:
    emulator.add_fault("http_500", "POST /users/getToken")
    issue(client)
    assert emulator.count(*TOKEN) == 2


def test_a_closed_port_is_unavailable_and_nothing_was_sent(keys, logs) -> None:
    client = PortOneClient(keys, base_url="http://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(PortOneUnavailable, match=r"^POST /users/getToken: ConnectionError$"):
        issue(client)
    [retrying] = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert (retrying["message"], retrying["route"], retrying["retries"]) == (
        "PortOne call failed, retrying",
        "POST /users/getToken",
        1,
    )


def test_no_call_starts_without_time_to_finish(client, emulator) -> None:
    with pytest.raises(PortOneUnavailable, match=r"^POST /users/getToken: no time left to call PortOne$"):
        issue(client, seconds=0.1)
    assert emulator.calls == ()


def test_the_deadline_bounds_a_slow_answer(client, emulator) -> None:
    issue(client, "warm_up")
    emulator.add_fault("latency", "POST /subscribe/customers", seconds=3.0)
    started = time.monotonic()
    with pytest.raises(PortOneOutcomeUnknown):
        issue(client, seconds=1.0)  # the client's own read timeout is 2 s; the deadline is tighter
    assert time.monotonic() - started < 1.8


# --- schedules (§4) ------------------------------------------------------------------------------------


def entries(count: int, start: float, prefix: str = "m") -> list[dict[str, Any]]:
    return [
        {
            "merchant_uid": f"{prefix}_{n}",
            "schedule_at": int(start) + 3600 * (n + 1),
            "amount": 9900,
            "name": "plan",
        }
        for n in range(count)
    ]


def with_key(client: PortOneClient, customer_uid: str = "cu_s") -> str:
    client.issue_billing_key(customer_uid, card(), extra=CHANNEL, deadline=Deadline.after(5))
    return customer_uid


def test_periods_are_scheduled_on_an_issued_key(client: PortOneClient, emulator, clock) -> None:
    [result] = client.schedule(with_key(client), entries(1, clock.now), deadline=Deadline.after(5))
    assert (result.schedule_status, result.payment_status, result.imp_uid) == ("scheduled", None, None)
    assert emulator.contract_violations == []


@pytest.mark.parametrize("as_array", [False, True], ids=["paged-object", "schema-array"])
def test_every_page_of_a_customers_schedules_is_read(
    client: PortOneClient, emulator: PortOneEmulator, clock, as_array: bool
) -> None:
    # The paged object PortOne's SDKs read, or the bare array the schema says (docs/portone-v1.md §4.4)
    emulator.schedule_lists_as_array = as_array
    client.schedule(with_key(client), entries(25, clock.now), deadline=Deadline.after(5))
    found = client.list_schedules(
        "cu_s", start=int(clock.now), end=int(clock.now) + 86400 * 30, deadline=Deadline.after(5)
    )
    assert sorted(s.merchant_uid for s in found) == sorted(f"m_{n}" for n in range(25))
    assert emulator.contract_violations == []


def test_nothing_left_to_revoke_is_an_empty_list(client: PortOneClient, emulator, clock) -> None:
    client.schedule(with_key(client), entries(2, clock.now), deadline=Deadline.after(5))
    assert len(client.unschedule("cu_s", None, deadline=Deadline.after(5))) == 2
    assert client.unschedule("cu_s", None, deadline=Deadline.after(5)) == []
    assert client.unschedule("cu_s", ["m_0"], deadline=Deadline.after(5)) == []
    # decided by what PortOne holds, looked up after its code 1, not by the code's message
    # window by window of 89 days (a list spans at most 3 months), as far as a yearly period reaches
    assert emulator.count("GET", "/subscribe/payments/schedule/customers/{customer_uid}") == 6
    assert emulator.count("GET", "/subscribe/payments/schedule/{merchant_uid}") == 1


def test_a_code_1_that_leaves_a_payment_scheduled_is_a_refusal(
    client: PortOneClient, emulator, clock
) -> None:
    # Given a payment scheduled on another key: revoking it under this key is refused with code 1
    client.schedule(with_key(client), entries(1, clock.now), deadline=Deadline.after(5))
    client.issue_billing_key("cu_other", card(), extra=CHANNEL, deadline=Deadline.after(5))

    with pytest.raises(PortOneBusinessError):
        client.unschedule("cu_other", ["m_0"], deadline=Deadline.after(5))

    assert emulator.schedules["m_0"]["schedule_status"] == "scheduled"


@pytest.mark.parametrize("status", [404, 200])
def test_deleting_an_unknown_key_is_not_found_however_portone_says_it(client, emulator, status: int) -> None:
    emulator.unknown_customer_status = status
    try:
        with pytest.raises(PortOneNotFound) as raised:
            client.delete_customer("nobody", deadline=Deadline.after(5))
    finally:
        emulator.unknown_customer_status = 404
    assert (raised.value.http_status, raised.value.code) == (status, 1)  # as PortOne said it


def test_unknown_schedules_and_payments_are_not_found(client: PortOneClient) -> None:
    with pytest.raises(PortOneNotFound):
        client.get_schedule("no_such_merchant_uid", deadline=Deadline.after(5))
    with pytest.raises(PortOneNotFound):
        client.get_payment("imps_000000000000", deadline=Deadline.after(5))


def test_a_scheduled_payment_runs_and_can_be_read_back(client: PortOneClient, emulator, clock) -> None:
    client.schedule(with_key(client), entries(1, clock.now), deadline=Deadline.after(5))
    clock.advance(2 * 3600)
    [ran] = emulator.run_due_schedules()
    payment = client.get_payment(ran["imp_uid"], deadline=Deadline.after(5))
    assert (payment.status, payment.merchant_uid, payment.customer_uid) == ("paid", "m_0", "cu_s")
    assert payment.sandbox is True  # found although the emulator hides test-channel payments by default


def test_a_post_that_never_left_is_retried_once_and_is_unavailable_not_unknown(keys, clock, logs) -> None:
    with PortOneEmulator({KEY: SECRET}, clock=clock) as stopping:
        client = PortOneClient(keys, base_url=stopping.url, connect_timeout=0.5, monotonic=clock)
        issue(client, "warm_up")  # the token is cached: the next call is the card POST itself
    # The emulator has stopped: its port refuses the connection, so PortOne cannot have seen the card.
    with pytest.raises(PortOneUnavailable, match=rf"^{ISSUE_ROUTE}: ConnectionError$"):
        issue(client)
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    [retried] = [line for line in lines if line["message"] == "PortOne call failed, retrying"]
    assert (retried["route"], retried["retries"]) == (ISSUE_ROUTE, 1)
