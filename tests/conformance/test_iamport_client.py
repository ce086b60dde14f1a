"""PortOne's official V1 Python client, unchanged and pinned, against the emulator.

The client is ``iamport-rest-client`` 0.9.0 (PyPI; module ``iamport``, class ``Iamport``; docs/portone-v1.md
§7.1). It pins ``requests==2.26.0`` and we pin ``requests==2.34.2``, so it runs in its own virtualenv
(``.venv-iamport``, from ``requirements-iamport.txt``) and ``iamport_process.py`` calls its public methods
there one at a time; the emulator runs in this process, so its calls and contract checks can be asserted.

The flow (``test_the_whole_flow_on_a_live_channel``): issue a billing key with ``channel_key``, look it up,
re-issue it with another card, schedule a payment, look the schedule up (by merchant_uid and merchant-wide),
unschedule it, pay again, find the payment (by merchant_uid and by imp_uid), delete the key, and a client
with a wrong secret. It runs against a live channel, where lookups need no ``include_sandbox``;
``test_a_test_channel_payment_is_refused_by_the_library_lookup`` shows the same lookup refused on a test
channel, as PortOne does since 2026-01-26 (§5.4).

What the library cannot do unchanged, and what is tested instead:

- ``channel_key`` is no named parameter of ``customer_create`` (§7.1: "Missing: ... channel_key"), but the
  method sends every keyword in its JSON body, so it is passed as a keyword.
- There is no per-customer schedule list (§7.1); the schedule is looked up with ``pay_schedule_get``
  (by merchant_uid) and ``pay_schedule_get_between`` (merchant-wide, ``GET /subscribe/payments/schedule``).
- ``find_by_imp_uid`` sends no query, so no public method can send ``include_sandbox=true``: with this
  library a test-channel payment cannot be looked up at all. The test shows that the client's internal
  ``_get(url, payload)``, unchanged, finds it with the flag.

Where the library disagrees with PortOne's schema, the schema wins (the emulator checks every request and
response against it; ``local/portone_emulator/contract.py``), and the tests assert exactly those violations:

- ``customer_create`` also puts ``customer_uid`` in the body; the schema has it only in the path (§3.1's
  body fields, §7.1). The caller cannot avoid it, so it is the one violation of every flow.
- The client's own required fields are not the schema's (§7.1): it lets ``pay_again`` and ``pay_schedule``
  go without ``name``, which the schema requires (§5.1, §4.1; the flow sends it), lets ``customer_create``
  go without ``channel_key``, which the 2026 schema requires (§3.1), and refuses ``pay_unschedule`` without
  ``customer_uid``, which the schema makes optional (§4.2). The last test shows each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.portone_emulator import DEFAULT_CHANNEL_KEY, FakeClock, PortOneEmulator
from local.portone_emulator.cards import TEST_CARD_CHECK, TEST_CARD_OK
from tests.conformance.iamport_process import IamportProcess, LibraryRaised

Client = Callable[..., IamportProcess]

CUSTOMER_UID = "cu_conformance_1"
CARD = {"expiry": "2030-12", "birth": "880101", "pwd_2digit": "12"}
PLAN = {"amount": 8900, "name": "월간 이용권"}
DAY = 86_400

# customer_create sends customer_uid in its body too; the schema's body fields do not include it (§3.1, §7.1).
CUSTOMER_UID_IN_BODY = (
    "request POST /subscribe/customers/{customer_uid}: formData parameter 'customer_uid' is not in the spec"
)


def _issue(client: IamportProcess, card_number: str, **extra: Any) -> dict[str, Any]:
    issued: dict[str, Any] = client.customer_create(
        customer_uid=CUSTOMER_UID, card_number=card_number, channel_key=DEFAULT_CHANNEL_KEY, **CARD, **extra
    )
    return issued


def test_the_library_runs_pinned_in_its_own_virtualenv(
    live_emulator: PortOneEmulator, iamport: Client
) -> None:
    client = iamport(live_emulator)

    assert client.versions["iamport-rest-client"] == "0.9.0"
    # Its own pin, which clashes with ours: the reason for .venv-iamport.
    assert client.versions["requests"] == "2.26.0"
    assert "/.venv-iamport/" in client.versions["module"]


def test_the_whole_flow_on_a_live_channel(
    live_emulator: PortOneEmulator, clock: FakeClock, iamport: Client
) -> None:
    emulator = live_emulator
    client = iamport(emulator)

    # Issue with channel_key: the key is on the live channel.
    issued = _issue(client, TEST_CARD_OK)
    assert issued["customer_uid"] == CUSTOMER_UID
    assert (issued["card_name"], issued["card_code"], issued["card_type"]) == ("BC카드", "361", 0)
    assert issued["card_number"] == "95404900****0001"
    assert issued["sandbox"] is False
    assert issued["inserted"] == issued["updated"] == int(clock.now)

    # Look it up.
    assert client.customer_get(CUSTOMER_UID) == issued

    # Re-issue with another card: the uid now holds the new card, inserted kept, updated moved (§3.1).
    clock.advance(60)
    reissued = _issue(client, TEST_CARD_CHECK)
    assert (reissued["card_name"], reissued["card_code"], reissued["card_type"]) == ("국민KB카드", "381", 1)
    assert reissued["card_number"] == "52728900****0004"
    assert reissued["inserted"] == issued["inserted"]
    assert reissued["updated"] == int(clock.now)
    assert client.customer_get(CUSTOMER_UID) == reissued

    # Schedule a payment for tomorrow. The library does not require `name`; the schema does (§4.1): sent.
    schedule_at = int(clock.now) + DAY
    scheduled = client.pay_schedule(
        customer_uid=CUSTOMER_UID,
        schedules=[{"merchant_uid": "sch_conformance_1", "schedule_at": schedule_at, **PLAN}],
    )
    assert isinstance(scheduled, list)
    assert len(scheduled) == 1
    schedule = scheduled[0]
    assert schedule["merchant_uid"] == "sch_conformance_1"
    assert schedule["customer_uid"] == CUSTOMER_UID
    assert (schedule["schedule_at"], schedule["amount"], schedule["currency"]) == (schedule_at, 8900, "KRW")
    assert (schedule["schedule_status"], schedule["payment_status"], schedule["imp_uid"]) == (
        "scheduled",
        None,
        None,
    )
    assert schedule["executed_at"] == schedule["revoked_at"] == 0

    # Look it up: by merchant_uid, and in the merchant-wide range.
    assert client.pay_schedule_get("sch_conformance_1") == schedule
    between = client.pay_schedule_get_between(schedule_from=int(clock.now), schedule_to=schedule_at + 1)
    # The emulator's default is the paged object the other SDKs read, not the schema's bare array (§4.4,
    # §5.5, contract.PAGED_RESPONSES); this client returns `response` as it is, so it reads either.
    assert between == {"total": 1, "previous": 0, "next": 0, "list": [schedule]}

    # Unschedule it: the library requires customer_uid (the schema does not, §4.2); merchant_uid as an array.
    revoked = client.pay_unschedule(customer_uid=CUSTOMER_UID, merchant_uid=["sch_conformance_1"])
    assert [(s["merchant_uid"], s["schedule_status"]) for s in revoked] == [("sch_conformance_1", "revoked")]
    assert revoked[0]["revoked_at"] == int(clock.now)
    assert client.pay_schedule_get("sch_conformance_1")["schedule_status"] == "revoked"
    # Nothing left to revoke: 200 with code 1, which the library raises as ResponseError (§4.2).
    with pytest.raises(LibraryRaised) as nothing_left:
        client.pay_unschedule(customer_uid=CUSTOMER_UID, merchant_uid=["sch_conformance_1"])
    assert (nothing_left.value.kind, nothing_left.value.code) == ("Iamport.ResponseError", 1)
    assert nothing_left.value.detail == "취소할 예약결제 기록이 존재하지 않습니다."

    # Pay again with the key, now. `name` is required by the schema (§5.1), not by the library.
    paid = client.pay_again(customer_uid=CUSTOMER_UID, merchant_uid="again_conformance_1", **PLAN)
    assert paid["status"] == "paid"
    assert (paid["merchant_uid"], paid["amount"], paid["customer_uid"]) == (
        "again_conformance_1",
        8900,
        CUSTOMER_UID,
    )
    assert paid["card_number"] == "52728900****0004"  # the re-issued card
    assert paid["sandbox"] is False
    assert paid["user_agent"] == "python-requests/2.26.0"  # it came from the library's own requests
    imp_uid = paid["imp_uid"]

    # Find the payment: by merchant_uid (GET /payments/find/{merchant_uid}) and by imp_uid, with no
    # include_sandbox (a live channel needs none), and through find() by either.
    assert client.find_by_merchant_uid("again_conformance_1") == paid
    assert client.find_by_imp_uid(imp_uid) == paid
    assert client.find(merchant_uid="again_conformance_1") == paid
    assert client.find(imp_uid=imp_uid) == paid
    assert client.is_paid(8900, merchant_uid="again_conformance_1") is True

    # Delete the key: the deleted key comes back; after that it is unknown. The spec's 404 (§3.4) is an
    # HttpError, whose body (and PortOne's message) the library discards (§7.1).
    deleted = client.customer_delete(CUSTOMER_UID)
    assert deleted == reissued
    assert CUSTOMER_UID not in emulator.customers
    with pytest.raises(LibraryRaised) as gone:
        client.customer_get(CUSTOMER_UID)
    assert (gone.value.kind, gone.value.code, gone.value.detail) == ("Iamport.HttpError", 404, "Not Found")

    # A wrong secret: getToken answers 401 (§2.1), which the library raises as HttpError before any call.
    gets_before = emulator.count("GET", "/subscribe/customers/{customer_uid}")
    with pytest.raises(LibraryRaised) as refused:
        iamport(emulator, imp_secret="not-the-secret").customer_get(CUSTOMER_UID)
    assert (refused.value.kind, refused.value.code, refused.value.detail) == (
        "Iamport.HttpError",
        401,
        "Unauthorized",
    )
    assert emulator.count("POST", "/users/getToken", 401) == 1
    assert emulator.count("GET", "/subscribe/customers/{customer_uid}") == gets_before

    # The library caches no token (§7.1): one getToken before every call, and pay_schedule asks for two
    # (it calls get_headers() itself, then _post() calls it again).
    operations = [call for call in emulator.calls if call.route != "/users/getToken"]
    assert len(operations) == 18
    assert emulator.count("POST", "/users/getToken", 200) == len(operations) + 1

    # Schema wins: the only violations are the library's customer_uid in the body, once per issue.
    assert emulator.contract_violations == [CUSTOMER_UID_IN_BODY] * 2


def test_a_test_channel_payment_is_refused_by_the_library_lookup(
    test_emulator: PortOneEmulator, iamport: Client
) -> None:
    emulator = test_emulator
    client = iamport(emulator)
    issued = _issue(client, TEST_CARD_OK)
    assert issued["sandbox"] is True
    paid = client.pay_again(customer_uid=CUSTOMER_UID, merchant_uid="again_conformance_1", **PLAN)
    assert (paid["status"], paid["sandbox"]) == ("paid", True)

    # The same lookup as on the live channel is refused: PortOne hides test-channel payments from
    # GET /payments/{imp_uid} without include_sandbox=true since 2026-01-26 (§5.4), and find_by_imp_uid
    # cannot send it.
    with pytest.raises(LibraryRaised) as hidden:
        client.find_by_imp_uid(paid["imp_uid"])
    assert (hidden.value.kind, hidden.value.code) == ("Iamport.HttpError", 404)
    with pytest.raises(LibraryRaised) as hidden_by_find:
        client.find(imp_uid=paid["imp_uid"])
    assert (hidden_by_find.value.kind, hidden_by_find.value.code) == ("Iamport.HttpError", 404)
    # The lists hide them too; that is the emulator's strict reading of what PortOne does not document
    # (§5.5, §8 item 8; the switch list_sandbox_payments shows them).
    with pytest.raises(LibraryRaised) as hidden_from_list:
        client.find_by_merchant_uid("again_conformance_1")
    assert (hidden_from_list.value.kind, hidden_from_list.value.code) == ("Iamport.HttpError", 404)

    # Only the flag is missing: the client's own (internal) _get, unchanged, finds it with include_sandbox.
    found = client._get(f"{client.imp_url}payments/{paid['imp_uid']}", {"include_sandbox": "true"})
    assert found == paid

    assert emulator.contract_violations == [CUSTOMER_UID_IN_BODY]


def test_the_library_required_fields_are_not_the_schemas(
    live_emulator: PortOneEmulator, iamport: Client
) -> None:
    emulator = live_emulator
    client = iamport(emulator)

    # customer_create with only what the library requires: the 2026 schema requires channel_key too (§3.1),
    # and the emulator refuses, as it does by default (its legacy_pg switch is the older leniency).
    with pytest.raises(LibraryRaised) as no_channel:
        client.customer_create(customer_uid=CUSTOMER_UID, card_number=TEST_CARD_OK, **CARD)
    assert (no_channel.value.kind, no_channel.value.code) == ("Iamport.ResponseError", 1)
    assert no_channel.value.detail == '["channel_key"] 파라메터는 필수입니다.'
    assert emulator.take_contract_violations() == [
        "request POST /subscribe/customers/{customer_uid}: formData parameter 'channel_key' is required",
        CUSTOMER_UID_IN_BODY,
    ]

    # pay_again with only what the library requires: the schema requires `name` too (§5.1), and the schema
    # wins: refused by default. Older PortOne paid such requests (the leniency `again_without_name`).
    _issue(client, TEST_CARD_OK)
    with pytest.raises(LibraryRaised) as no_name:
        client.pay_again(customer_uid=CUSTOMER_UID, merchant_uid="again_conformance_1", amount=8900)
    assert no_name.value.detail == '["name"] 파라메터는 필수입니다.'
    emulator.again_without_name = True
    paid = client.pay_again(customer_uid=CUSTOMER_UID, merchant_uid="again_conformance_1", amount=8900)
    assert paid["status"] == "paid"
    missing_name = "request POST /subscribe/payments/again: formData parameter 'name' is required"
    assert emulator.take_contract_violations() == [CUSTOMER_UID_IN_BODY, missing_name, missing_name]

    # pay_unschedule without customer_uid, which the schema makes optional (§4.2): the library refuses it
    # with its own KeyError and nothing is sent.
    with pytest.raises(LibraryRaised) as no_customer:
        client.pay_unschedule(merchant_uid=["sch_conformance_1"])
    assert (no_customer.value.kind, no_customer.value.detail) == ("KeyError", ["customer_uid is required"])
    assert emulator.count("POST", "/subscribe/payments/unschedule") == 0

    assert emulator.contract_violations == []
