"""Running due schedules and their webhooks (README §4.6), from Python and from the admin API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from local.portone_emulator import FakeClock, Notice, PortOneEmulator
from local.portone_emulator.cards import CARD_INSUFFICIENT_FUNDS, CARD_PAYMENT_SUSPENDED, TEST_CARD_OK
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, TIMEOUT, PortOneWire, ok, order
from tests.emulator.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600


@pytest.fixture
def now(clock: FakeClock) -> int:
    return int(clock.now)


def test_only_due_schedules_run_and_each_runs_once(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, now: int
) -> None:
    ok(wire.issue("cu_1", customer_name="홍길동"))
    ok(
        wire.schedule(
            "cu_1", order("sub_2", now + 2 * HOUR), order("sub_1", now + HOUR), order("sub_3", now + 3 * HOUR)
        )
    )
    ok(wire.call("POST", "/subscribe/payments/unschedule", json={"merchant_uid": "sub_3"}))
    assert emulator.run_due_schedules() == []

    clock.advance(2 * HOUR)
    ran = emulator.run_due_schedules()
    clock.advance(2 * HOUR)
    again = emulator.run_due_schedules()

    assert [s["merchant_uid"] for s in ran] == ["sub_1", "sub_2"]  # oldest first
    assert again == []  # sub_3 was revoked; nothing runs twice
    assert emulator.schedules["sub_3"]["schedule_status"] == "revoked"
    first = ok(wire.call("GET", "/subscribe/payments/schedule/sub_1"))
    assert first == ran[0]
    assert (first["schedule_status"], first["payment_status"], first["fail_reason"]) == (
        "executed",
        "paid",
        None,
    )
    assert (first["executed_at"], first["pg_provider"], first["pg_id"]) == (
        now + 2 * HOUR,
        "nice",
        "nictest04m",
    )
    payment = ok(wire.payment(first["imp_uid"]))
    assert (payment["status"], payment["merchant_uid"], payment["amount"]) == ("paid", "sub_1", 8900)
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == ("cu_1", "payment.scheduled")
    assert (payment["buyer_name"], payment["paid_at"], payment["user_agent"]) == (
        "홍길동",
        now + 2 * HOUR,
        None,
    )


@pytest.mark.parametrize(
    ("card_number", "reason"),
    [(CARD_INSUFFICIENT_FUNDS, "잔액부족 또는 한도초과"), (CARD_PAYMENT_SUSPENDED, "거래정지카드")],
)
def test_a_declining_card_fails_the_run(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, now: int, card_number: str, reason: str
) -> None:
    ok(wire.issue("cu_1", card_number))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR)))
    clock.advance(HOUR)

    (ran,) = emulator.run_due_schedules()

    assert (ran["schedule_status"], ran["payment_status"], ran["fail_reason"]) == (
        "executed",
        "failed",
        reason,
    )
    payment = emulator.payments[ran["imp_uid"]]
    assert (payment["status"], payment["fail_reason"], payment["failed_at"]) == ("failed", reason, now + HOUR)


def test_the_notice_is_posted_as_json_to_the_schedule_notice_url(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.issue("cu_2", CARD_INSUFFICIENT_FUNDS))
    hook = f"{receiver.url}/portone/webhook?source=schedule"
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR, notice_url=hook)))
    ok(wire.schedule("cu_2", order("sub_2", now + HOUR, notice_url=hook)))
    clock.advance(HOUR)

    ran = emulator.run_due_schedules()

    expected = [
        {"imp_uid": ran[0]["imp_uid"], "merchant_uid": "sub_1", "status": "paid"},
        {"imp_uid": ran[1]["imp_uid"], "merchant_uid": "sub_2", "status": "failed"},  # failures too
    ]
    assert [(r.path, r.content_type) for r in receiver.received] == [
        ("/portone/webhook?source=schedule", "application/json")
    ] * 2
    assert [json.loads(r.body) for r in receiver.received] == expected
    assert emulator.notices == tuple(Notice(hook, body, 200) for body in expected)


def test_the_emulator_notice_url_is_the_default(receiver: Receiver, clock: FakeClock, now: int) -> None:
    with PortOneEmulator(
        {IMP_KEY: IMP_SECRET}, clock=clock, notice_url=f"{receiver.url}/default"
    ) as emulator:
        with requests.Session() as session:
            wire = PortOneWire(emulator.url, session)
            ok(wire.issue("cu_1"))
            ok(
                wire.schedule(
                    "cu_1",
                    order("sub_1", now + HOUR),
                    order("sub_2", now + HOUR, notice_url=f"{receiver.url}/own"),
                )
            )
        clock.advance(HOUR)
        emulator.run_due_schedules()
        emulator.notice_url = f"{receiver.url}/changed"
        emulator.deliver_notice("sub_1")

    assert [r.path for r in receiver.received] == ["/default", "/own", "/changed"]


def test_no_notice_url_anywhere_sends_nothing(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, now: int
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR)))
    clock.advance(HOUR)

    assert len(emulator.run_due_schedules()) == 1
    assert emulator.notices == ()
    with pytest.raises(ValueError, match="no notice_url"):
        emulator.deliver_notice("sub_1")


def test_failed_deliveries_are_recorded_and_not_retried(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    receiver.status = 500
    ok(wire.issue("cu_1"))
    ok(
        wire.schedule(
            "cu_1",
            order("sub_1", now + HOUR, notice_url=f"{receiver.url}/hook"),
            order("sub_2", now + HOUR, notice_url=closed),
            order("sub_3", now + HOUR, notice_url="ftp://example.com/hook"),
        )
    )
    clock.advance(HOUR)

    emulator.run_due_schedules()

    first, second, third = emulator.notices
    assert (first.status, first.error) == (500, None)
    assert (second.url, second.status) == (closed, None)
    assert "ConnectionRefused" in (second.error or "")
    assert (third.status, third.error) == (None, "notice_url is not an http(s) URL")
    assert len(receiver.received) == 1
    assert [s["payment_status"] for s in emulator.schedules.values()] == ["paid"] * 3  # the run stands


def test_deliver_notice_sends_the_same_notice_again(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR, notice_url=receiver.url)))
    clock.advance(HOUR)
    emulator.run_due_schedules()

    repeated = emulator.deliver_notice("sub_1")

    assert repeated == emulator.notices[0] == emulator.notices[1]
    assert receiver.received[0] == receiver.received[1]
    assert (
        len(
            ok(
                wire.call(
                    "GET",
                    "/subscribe/payments/schedule/customers/cu_1",
                    params={"from": now, "to": now + 2 * HOUR},
                )
            )["list"]
        )
        == 1
    )


@pytest.mark.parametrize("merchant_uid", ["nobody", "sub_pending"])
def test_deliver_notice_needs_an_executed_schedule(
    wire: PortOneWire, emulator: PortOneEmulator, now: int, merchant_uid: str
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_pending", now + HOUR)))

    with pytest.raises(ValueError, match="no executed schedule"):
        emulator.deliver_notice(merchant_uid)


def test_a_schedule_whose_key_was_deleted_fails_when_it_runs(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    ok(wire.issue("cu_1", TEST_CARD_OK))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR, notice_url=receiver.url)))
    ok(wire.call("DELETE", "/subscribe/customers/cu_1"))
    assert emulator.schedules["sub_1"]["schedule_status"] == "scheduled"  # the delete left it alone
    clock.advance(HOUR)

    (ran,) = emulator.run_due_schedules()

    assert (ran["payment_status"], ran["fail_reason"]) == ("failed", "등록되지 않은 구매자입니다.")
    payment = ok(wire.payment(ran["imp_uid"]))
    assert (payment["status"], payment["card_number"], payment["pg_tid"]) == ("failed", None, None)
    assert json.loads(receiver.received[0].body)["status"] == "failed"


def test_admin_run_due_and_notices(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    admin = f"{wire.base_url}/__emulator__"
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR, notice_url=receiver.url)))
    assert wire.session.post(f"{admin}/run-due", timeout=TIMEOUT).json() == {"ran": [], "notices": []}
    wire.session.post(f"{admin}/clock", json={"advance": HOUR}, timeout=TIMEOUT)

    ran = wire.session.post(f"{admin}/run-due", timeout=TIMEOUT).json()
    resent = wire.session.post(f"{admin}/notices", json={"merchant_uid": "sub_1"}, timeout=TIMEOUT)
    listed = wire.session.get(f"{admin}/notices", timeout=TIMEOUT).json()
    stats = wire.session.get(f"{admin}/stats", timeout=TIMEOUT).json()

    notice = {
        "url": receiver.url,
        "body": {"imp_uid": ran["ran"][0]["imp_uid"], "merchant_uid": "sub_1", "status": "paid"},
        "status": 200,
        "error": None,
    }
    assert ran == {"ran": [dict(emulator.schedules["sub_1"])], "notices": [notice]}
    assert (resent.status_code, resent.json()) == (200, {"notice": notice})
    assert listed == {"notices": [notice, notice]}
    assert (stats["schedules"], stats["payments"], stats["notices"]) == (1, 1, [notice, notice])
    assert len(receiver.received) == 2


@pytest.mark.parametrize("body", [{"merchant_uid": "nobody"}, {"merchant_uid": 7}, {}])
def test_admin_notices_refuses_what_cannot_be_sent(wire: PortOneWire, body: dict[str, Any]) -> None:
    response = wire.session.post(f"{wire.base_url}/__emulator__/notices", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"]


def test_reset_forgets_schedules_payments_and_notices(
    wire: PortOneWire, emulator: PortOneEmulator, clock: FakeClock, receiver: Receiver, now: int
) -> None:
    ok(wire.issue("cu_1"))
    ok(wire.schedule("cu_1", order("sub_1", now + HOUR, notice_url=receiver.url)))
    ok(wire.again("cu_1", "order_1"))
    clock.advance(HOUR)
    emulator.run_due_schedules()

    emulator.reset()

    assert (emulator.schedules, emulator.payments, emulator.notices) == ({}, {}, ())


def test_standalone_notice_url(receiver: Receiver) -> None:
    command = [sys.executable, "-m", "local.portone_emulator", "--port", "0", "--fake-clock"]
    command += ["--imp-key", IMP_KEY, "--imp-secret", IMP_SECRET, "--notice-url", f"{receiver.url}/cli"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().rsplit(" ", 1)[-1].strip()
        with requests.Session() as session:
            wire = PortOneWire(url, session)
            ok(wire.issue("cu_1"))
            token = ok(wire.get_token())
            ok(wire.schedule("cu_1", order("sub_1", token["now"] + HOUR)))
            session.post(f"{url}/__emulator__/clock", json={"advance": HOUR}, timeout=TIMEOUT)

            ran = session.post(f"{url}/__emulator__/run-due", timeout=TIMEOUT).json()
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)

    assert ran["notices"][0]["status"] == 200
    assert [r.path for r in receiver.received] == ["/cli"]
