"""Finding payments: ``GET /payments/find/{merchant_uid}[/{payment_status}]`` and a key's payments,
``GET /subscribe/customers/{customer_uid}/payments`` (docs §5.5), with sandbox payments hidden by default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator
from local.portone_emulator.cards import CARD_INSUFFICIENT_FUNDS
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, PortOneWire, ok, order

UNKNOWN_PAYMENT = {"code": 1, "message": "존재하지 않는 결제정보입니다.", "response": None}
FIND = "/payments/find/{merchant_uid}"
FIND_STATUS = "/payments/find/{merchant_uid}/{payment_status}"
CUSTOMER_PAYMENTS = "/subscribe/customers/{customer_uid}/payments"


@pytest.fixture
def listing(emulator: PortOneEmulator) -> PortOneEmulator:
    """The emulator with its lists showing test-channel payments, the named switch."""
    emulator.list_sandbox_payments = True
    return emulator


def _payments(wire: PortOneWire, customer_uid: str = "cu_1", **params: Any) -> requests.Response:
    return wire.call("GET", f"/subscribe/customers/{customer_uid}/payments", params=params)


# --- GET /subscribe/customers/{customer_uid}/payments ---


@pytest.mark.usefixtures("listing")
def test_a_keys_payments_are_paged_by_20_newest_first(wire: PortOneWire, clock: FakeClock) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_2"))
    for i in range(1, 26):
        ok(wire.again("cu_1", f"order_{i:02d}"))
        clock.advance(60)
    ok(wire.again("cu_2", "other_1"))

    first = ok(_payments(wire))
    second = ok(_payments(wire, page=2))
    beyond = ok(_payments(wire, page=3))

    assert (first["total"], first["previous"], first["next"]) == (25, 0, 2)
    assert [p["merchant_uid"] for p in first["list"]] == [f"order_{i:02d}" for i in range(25, 5, -1)]
    assert (second["total"], second["previous"], second["next"]) == (25, 1, 0)
    assert [p["merchant_uid"] for p in second["list"]] == [f"order_{i:02d}" for i in range(5, 0, -1)]
    assert (beyond["list"], beyond["next"]) == ([], 0)
    assert [p["merchant_uid"] for p in ok(_payments(wire, "cu_2"))["list"]] == ["other_1"]


@pytest.mark.usefixtures("listing")
def test_a_keys_payments_include_declines_and_scheduled_runs(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock
) -> None:
    ok(wire.issue("cu_1", CARD_INSUFFICIENT_FUNDS))
    ok(wire.again("cu_1", "order_1"))
    ok(wire.schedule("cu_1", order("sub_1", int(clock.now) + 60)))
    clock.advance(60)
    emulator.run_due_schedules()

    listed = ok(_payments(wire))["list"]

    assert [(p["merchant_uid"], p["status"], p["customer_uid_usage"]) for p in listed] == [
        ("sub_1", "failed", "payment.scheduled"),
        ("order_1", "failed", "payment"),
    ]
    assert listed[0] == ok(wire.payment(listed[0]["imp_uid"]))


def test_a_keys_list_hides_test_channel_payments_unless_switched(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    # Given a payment on the default test channel and one on a live channel
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_1"))
    emulator.test_channel = False
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_2"))

    # When the list is asked for, then with the named switch on
    strict = ok(_payments(wire))
    emulator.list_sandbox_payments = True
    lenient = ok(_payments(wire))

    # Then only the live payment is listed by default; the switch shows both
    assert [(p["merchant_uid"], p["sandbox"]) for p in strict["list"]] == [("order_2", False)]
    assert strict["total"] == 1
    assert [p["merchant_uid"] for p in lenient["list"]] == ["order_2", "order_1"]


def test_the_lookup_leniency_does_not_open_the_lists(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_1"))
    emulator.show_sandbox_payments = True

    assert ok(_payments(wire))["total"] == 0
    assert wire.call("GET", "/payments/find/order_1").json() == UNKNOWN_PAYMENT


def test_a_key_without_payments_lists_none(wire: PortOneWire) -> None:
    ok(wire.issue("cu_1"))

    assert ok(_payments(wire)) == {"total": 0, "previous": 0, "next": 0, "list": []}


def test_an_unknown_or_deleted_key_is_404(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_1"))
    ok(wire.call("DELETE", "/subscribe/customers/cu_1"))

    for customer_uid in ("nobody", "cu_1"):
        response = _payments(wire, customer_uid)
        assert (response.status_code, response.json()) == (
            404,
            {
                "code": 1,
                "message": f"요청하신 customer_uid({customer_uid})로 등록된 정보를 찾을 수 없습니다.",
                "response": None,
            },
        )

    # The §3.4 switch answers it as the live API answered unknown customers: 200 with code 1.
    emulator.unknown_customer_status = 200
    assert _payments(wire, "nobody").status_code == 200
    assert emulator.count("GET", CUSTOMER_PAYMENTS, 404) == 2


@pytest.mark.parametrize(("page", "violation"), [("0", None), ("two", "must be integer text")])
def test_an_invalid_page_is_400(
    wire: PortOneWire, emulator: PortOneEmulator, page: str, violation: str | None
) -> None:
    ok(wire.issue("cu_1"))

    response = _payments(wire, page=page)

    assert (response.status_code, response.json()) == (
        400,
        {"code": 1, "message": "검색 파라메터가 유효하지 않습니다. (page)", "response": None},
    )
    assert emulator.take_contract_violations() == (
        [f"request GET {CUSTOMER_PAYMENTS}: query parameter 'page' {violation}"] if violation else []
    )


# --- GET /payments/find/{merchant_uid}[/{payment_status}] ---


@pytest.mark.usefixtures("listing")
def test_find_by_merchant_uid_with_and_without_status(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    ok(wire.issue("cu_1"))
    paid = ok(wire.again("cu_1", "order_1"))

    assert ok(wire.call("GET", "/payments/find/order_1")) == paid
    assert ok(wire.call("GET", "/payments/find/order_1/paid")) == paid
    assert emulator.count("GET", FIND, 200) == 1
    assert emulator.count("GET", FIND_STATUS, 200) == 1


@pytest.mark.usefixtures("listing")
@pytest.mark.parametrize(
    "path",
    ["/payments/find/nothing", "/payments/find/order_1/failed", "/payments/find/order_1/refunded"],
    ids=["unknown", "other-status", "status-outside-the-spec"],
)
def test_find_misses_are_404(wire: PortOneWire, emulator: PortOneEmulator, path: str) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.again("cu_1", "order_1"))

    response = wire.call("GET", path)

    assert (response.status_code, response.json()) == (404, UNKNOWN_PAYMENT)


def test_find_hides_test_channel_payments_unless_switched(
    wire: PortOneWire, emulator: PortOneEmulator
) -> None:
    ok(wire.issue("cu_1"))
    paid = ok(wire.again("cu_1", "order_1"))

    hidden = wire.call("GET", "/payments/find/order_1")
    asked = wire.call("GET", "/payments/find/order_1/paid")
    emulator.list_sandbox_payments = True
    shown = wire.call("GET", "/payments/find/order_1")

    assert (hidden.status_code, hidden.json()) == (404, UNKNOWN_PAYMENT)
    assert (asked.status_code, asked.json()) == (404, UNKNOWN_PAYMENT)
    assert ok(shown) == paid


def test_find_shows_live_channel_payments(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    emulator.test_channel = False
    ok(wire.issue("cu_1"))
    paid = ok(wire.again("cu_1", "order_1"))

    assert ok(wire.call("GET", "/payments/find/order_1")) == paid


@pytest.mark.usefixtures("listing")
def test_find_of_a_retried_schedule_picks_by_sorting_and_status(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock
) -> None:
    # Given a schedule whose run failed at t1 and whose retry paid at t2: two payments, one merchant_uid
    ok(wire.issue("cu_1", CARD_INSUFFICIENT_FUNDS))
    ok(wire.schedule("cu_1", order("sub_1", int(clock.now) + 60)))
    clock.advance(60)
    emulator.run_due_schedules()
    clock.advance(60)
    emulator.card_declines("cu_1", None)
    retried = ok(wire.call("POST", "/subscribe/payments/schedule/sub_1/retry"))

    newest = ok(wire.call("GET", "/payments/find/sub_1"))
    oldest = ok(wire.call("GET", "/payments/find/sub_1", params={"sorting": "started"}))
    failed = ok(wire.call("GET", "/payments/find/sub_1/failed"))
    last_paid = ok(wire.call("GET", "/payments/find/sub_1", params={"sorting": "-paid"}))

    assert (newest["imp_uid"], newest["status"]) == (retried["imp_uid"], "paid")
    assert oldest["status"] == "failed"
    assert failed == oldest
    assert last_paid == newest


@pytest.fixture
def strict_wire(clock: FakeClock) -> Iterator[PortOneWire]:
    """A second emulator built with the switch as a constructor argument."""
    with (
        PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, list_sandbox_payments=True) as emulator,
        requests.Session() as session,
    ):
        yield PortOneWire(emulator.url, session)
        assert emulator.list_sandbox_payments is True
        emulator.list_sandbox_payments = False
        emulator.reset()
        assert emulator.list_sandbox_payments is True  # reset puts it back as constructed
        assert emulator.contract_violations == []


def test_the_list_switch_is_a_constructor_argument(strict_wire: PortOneWire) -> None:
    ok(strict_wire.issue("cu_1"))
    paid = ok(strict_wire.again("cu_1", "order_1"))

    assert ok(strict_wire.call("GET", "/payments/find/order_1")) == paid
    assert ok(_payments(strict_wire))["list"] == [paid]
