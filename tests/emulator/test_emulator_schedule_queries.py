"""The merchant-wide schedule list, ``GET /subscribe/payments/schedule`` (README §4.4, docs §5.5), and the
named switch that answers every schedule list as the spec's bare array."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, PortOneWire, ok, order, rejected

DAY = 24 * 3600
RANGE = "/subscribe/payments/schedule"


@pytest.fixture
def now(clock: FakeClock) -> int:
    return int(clock.now)


def _range(wire: PortOneWire, **params: Any) -> requests.Response:
    return wire.call("GET", RANGE, params=params)


@pytest.fixture
def booked(wire: PortOneWire, now: int) -> None:
    """Two customers: cu_1 has sub_1 (+1 day) and sub_3 (+3 days), cu_2 has sub_2 (+2 days)."""
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_2"))
    ok(wire.schedule("cu_1", order("sub_1", now + DAY), order("sub_3", now + 3 * DAY)))
    ok(wire.schedule("cu_2", order("sub_2", now + 2 * DAY)))


@pytest.mark.usefixtures("booked")
def test_every_customers_schedules_newest_first(wire: PortOneWire, now: int) -> None:
    listed = ok(_range(wire, schedule_from=now, schedule_to=now + 30 * DAY))

    assert (listed["total"], listed["previous"], listed["next"]) == (3, 0, 0)
    assert [(s["merchant_uid"], s["customer_uid"]) for s in listed["list"]] == [
        ("sub_3", "cu_1"),
        ("sub_2", "cu_2"),
        ("sub_1", "cu_1"),
    ]
    assert listed["list"][0] == ok(wire.call("GET", "/subscribe/payments/schedule/sub_3"))


@pytest.mark.usefixtures("booked")
def test_sorting_scheduled_is_oldest_first(wire: PortOneWire, now: int) -> None:
    listed = ok(_range(wire, schedule_from=now, schedule_to=now + 30 * DAY, sorting="scheduled"))

    assert [s["merchant_uid"] for s in listed["list"]] == ["sub_1", "sub_2", "sub_3"]


@pytest.mark.usefixtures("booked")
def test_the_window_includes_from_and_excludes_to(wire: PortOneWire, now: int) -> None:
    listed = ok(_range(wire, schedule_from=now + DAY, schedule_to=now + 3 * DAY))

    assert [s["merchant_uid"] for s in listed["list"]] == ["sub_2", "sub_1"]


@pytest.mark.usefixtures("booked")
def test_by_status(wire: PortOneWire, now: int) -> None:
    ok(wire.call("POST", "/subscribe/payments/unschedule", json={"merchant_uid": ["sub_2"]}))
    window = {"schedule_from": now, "schedule_to": now + 30 * DAY}

    revoked = ok(_range(wire, **window, schedule_status="revoked"))
    pending = ok(_range(wire, **window, schedule_status="scheduled"))

    assert [s["merchant_uid"] for s in revoked["list"]] == ["sub_2"]
    assert [s["merchant_uid"] for s in pending["list"]] == ["sub_3", "sub_1"]


def test_paged_by_limit_20_by_default(wire: PortOneWire, now: int) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", *(order(f"sub_{i:02d}", now + i * 3600) for i in range(1, 26))))
    window = {"schedule_from": now, "schedule_to": now + 30 * DAY}

    default = ok(_range(wire, **window))
    by_ten = [ok(_range(wire, **window, limit=10, page=page)) for page in (1, 2, 3)]

    assert (default["total"], default["next"], len(default["list"])) == (25, 2, 20)
    assert [(p["previous"], p["next"], len(p["list"])) for p in by_ten] == [(0, 2, 10), (1, 3, 10), (2, 0, 5)]
    assert [s["merchant_uid"] for s in by_ten[2]["list"]] == [f"sub_{i:02d}" for i in range(5, 0, -1)]
    assert len(ok(_range(wire, **window, limit=1000))["list"]) == 25


def test_nothing_scheduled_lists_nothing(wire: PortOneWire, now: int) -> None:
    assert ok(_range(wire, schedule_from=now, schedule_to=now + DAY)) == {
        "total": 0,
        "previous": 0,
        "next": 0,
        "list": [],
    }


BAD = "검색 파라메터가 유효하지 않습니다. ({})"


@pytest.mark.parametrize(
    ("params", "message", "violation"),
    [
        ({"schedule_to": 2}, '["schedule_from"] 파라메터는 필수입니다.', "'schedule_from' is required"),
        ({"schedule_from": 1}, '["schedule_to"] 파라메터는 필수입니다.', "'schedule_to' is required"),
        (
            {"schedule_from": "yesterday", "schedule_to": 2},
            BAD.format("schedule_from"),
            "'schedule_from' must be integer text",
        ),
        ({"schedule_from": 5, "schedule_to": 4}, BAD.format("schedule_to < schedule_from"), None),
        ({"schedule_from": 0, "schedule_to": 92 * DAY + 1}, BAD.format("최대 3개월"), None),
        ({"schedule_from": 1, "schedule_to": 2, "page": 0}, BAD.format("page"), None),
        ({"schedule_from": 1, "schedule_to": 2, "limit": 0}, BAD.format("limit"), None),
        ({"schedule_from": 1, "schedule_to": 2, "limit": 1001}, BAD.format("limit"), None),
        ({"schedule_from": 1, "schedule_to": 2, "sorting": "-scheduled"}, BAD.format("sorting"), None),
        (
            {"schedule_from": 1, "schedule_to": 2, "schedule_status": "paid"},
            BAD.format("schedule_status"),
            "'schedule_status' is not one of the spec's values",
        ),
        (
            {"from": 1, "to": 2},
            '["schedule_from"] 파라메터는 필수입니다.',
            "'schedule_from' is required",
        ),
    ],
    ids=[
        "no-from",
        "no-to",
        "bad-from",
        "reversed",
        "over-3-months",
        "page-0",
        "limit-0",
        "limit-1001",
        "bad-sorting",
        "bad-status",
        "customer-list-names",
    ],
)
def test_invalid_parameters_are_400(
    wire: PortOneWire, emulator: PortOneEmulator, params: dict[str, Any], message: str, violation: str | None
) -> None:
    rejected(_range(wire, **params), 1, message, status=400)

    violations = emulator.take_contract_violations()
    if violation is None:
        assert violations == []
    else:
        assert f"request GET {RANGE}: query parameter {violation}" in violations


# --- the named switch: the spec's bare arrays ---


@pytest.fixture
def array_wire(clock: FakeClock) -> Iterator[tuple[PortOneEmulator, PortOneWire]]:
    with (
        PortOneEmulator({IMP_KEY: IMP_SECRET}, clock=clock, schedule_lists_as_array=True) as emulator,
        requests.Session() as session,
    ):
        yield emulator, PortOneWire(emulator.url, session)
        assert emulator.contract_violations == []


def test_schedule_lists_as_array_answers_every_list_as_the_spec_array(
    array_wire: tuple[PortOneEmulator, PortOneWire], now: int
) -> None:
    emulator, wire = array_wire
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", *(order(f"sub_{i:02d}", now + i * 3600) for i in range(1, 26))))
    window = {"from": now, "to": now + 30 * DAY}

    by_customer = ok(wire.call("GET", "/subscribe/payments/schedule/customers/cu_1", params=window))
    alias_page_2 = ok(wire.call("GET", "/subscribe/customers/cu_1/schedules", params={**window, "page": 2}))
    merchant = ok(_range(wire, schedule_from=now, schedule_to=now + 30 * DAY, limit=5))

    assert [s["merchant_uid"] for s in by_customer] == [f"sub_{i:02d}" for i in range(25, 5, -1)]
    assert [s["merchant_uid"] for s in alias_page_2] == [f"sub_{i:02d}" for i in range(5, 0, -1)]
    assert [s["merchant_uid"] for s in merchant] == [f"sub_{i:02d}" for i in range(25, 20, -1)]
    assert emulator.schedule_lists_as_array is True


def test_the_array_switch_can_be_turned_and_reset_puts_it_back(
    wire: PortOneWire, emulator: PortOneEmulator, now: int
) -> None:
    window = {"schedule_from": now, "schedule_to": now + DAY}
    assert isinstance(ok(_range(wire, **window)), dict)

    emulator.schedule_lists_as_array = True
    assert ok(_range(wire, **window)) == []

    emulator.reset()
    assert emulator.schedule_lists_as_array is False
    assert isinstance(ok(_range(wire, **window)), dict)
