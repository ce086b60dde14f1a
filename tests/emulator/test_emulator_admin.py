"""Counters, the admin HTTP API, the server's lifecycle and the standalone entry point."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from local.portone_emulator import Call, FakeClock, PortOneEmulator
from local.portone_emulator.cards import TEST_CARD_OK
from tests.emulator.portone_wire import TIMEOUT, PortOneWire

ROOT = Path(__file__).resolve().parents[2]
ISSUE = "/subscribe/customers/{customer_uid}"


def test_calls_are_counted_by_route_template(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    wire.issue("cu_1")  # a second getToken, then the issue
    wire.call("GET", "/subscribe/customers/cu_1", token=token)
    wire.call("GET", "/subscribe/customers/nobody", token=token)
    wire.session.get(f"{wire.base_url}/__emulator__/stats", timeout=TIMEOUT)  # admin: not counted

    assert emulator.calls == (
        ("POST", "/users/getToken", 200),
        ("POST", "/users/getToken", 200),
        ("POST", ISSUE, 200),
        ("GET", ISSUE, 200),
        ("GET", ISSUE, 404),
    )
    assert emulator.count("POST", "/users/getToken") == 2
    assert emulator.count("POST", ISSUE) == 1
    assert (emulator.count("GET", ISSUE), emulator.count("GET", ISSUE, 404)) == (2, 1)
    assert emulator.calls[0] == Call("POST", "/users/getToken", 200)


def test_unknown_route_is_404_and_counted_as_unknown(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    response = wire.call("GET", "/certifications/imp_1", token="x")

    assert response.status_code == 404
    assert response.json()["response"] is None
    assert emulator.count("GET", "<unknown>", 404) == 1


def test_request_log_has_route_and_status_but_no_body(
    wire: PortOneWire, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local.portone_emulator"):
        wire.issue("cu_1", TEST_CARD_OK)

    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith(f"POST {ISSUE} 200 ") for line in lines)
    assert not any(TEST_CARD_OK in line or "cu_1" in line for line in lines)


def test_admin_stats(wire: PortOneWire) -> None:
    wire.issue("cu_1")
    wire.get_token(imp_key="nobody", imp_secret="x")

    stats = wire.session.get(f"{wire.base_url}/__emulator__/stats", timeout=TIMEOUT).json()

    assert stats["counts"] == {"POST /users/getToken": {"200": 1, "401": 1}, f"POST {ISSUE}": {"200": 1}}
    assert stats["calls"][0] == {"method": "POST", "route": "/users/getToken", "status": 200}
    assert (stats["customers"], stats["faults"], stats["contract_violations"]) == (1, [], [])


def test_admin_faults(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    faults_url = f"{wire.base_url}/__emulator__/faults"
    token = wire.token()

    added = wire.session.post(
        faults_url,
        json={"kind": "reset", "route": "POST /subscribe/customers", "after_effect": False},
        timeout=TIMEOUT,
    )
    assert added.status_code == 201
    assert added.json()["faults"][0]["kind"] == "reset"
    with pytest.raises(requests.ConnectionError):
        wire.call(
            "POST",
            "/subscribe/customers/cu_1",
            token=token,
            json={"card_number": "x", "expiry": "x", "channel_key": "k"},
        )
    assert emulator.customers == {}

    wire.session.post(faults_url, json={"kind": "http_503", "times": None}, timeout=TIMEOUT)
    assert wire.get_token().status_code == 503
    cleared = wire.session.delete(faults_url, timeout=TIMEOUT)
    assert (cleared.status_code, cleared.json()) == (200, {"faults": []})
    assert wire.get_token().status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "bogus"},
        {"kind": "reset", "colour": "red"},
        {"kind": "reset", "times": "many"},
        {"kind": "reset", "after_effect": "false"},
        [],
    ],
)
def test_admin_refuses_bad_faults(wire: PortOneWire, body: Any) -> None:
    response = wire.session.post(f"{wire.base_url}/__emulator__/faults", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"]


def test_admin_reset(wire: PortOneWire, emulator: PortOneEmulator) -> None:
    token = wire.token()
    wire.issue("cu_1")
    emulator.add_fault("latency", "/nowhere", seconds=1, times=None)

    response = wire.session.post(f"{wire.base_url}/__emulator__/reset", timeout=TIMEOUT)

    assert response.status_code == 200
    assert (emulator.customers, emulator.calls) == ({}, ())
    assert len(emulator.faults) == 1  # faults stay
    assert wire.call("GET", "/subscribe/customers/x", token=token).status_code == 401  # tokens are gone


def test_admin_clock_moves_a_fake_clock(wire: PortOneWire, clock: FakeClock) -> None:
    token = wire.token()
    before = clock.now

    response = wire.session.post(
        f"{wire.base_url}/__emulator__/clock", json={"advance": 1800}, timeout=TIMEOUT
    )

    assert response.json() == {"now": before + 1800}
    assert wire.call("GET", "/subscribe/customers/x", token=token).status_code == 401


def test_admin_clock_needs_a_fake_clock() -> None:
    with PortOneEmulator() as emulator:
        response = requests.post(f"{emulator.url}/__emulator__/clock", json={"advance": 1}, timeout=TIMEOUT)

    assert response.status_code == 409


def test_unknown_admin_route(wire: PortOneWire) -> None:
    assert wire.session.get(f"{wire.base_url}/__emulator__/nothing", timeout=TIMEOUT).status_code == 404


def test_stop_frees_the_port_and_ends_kept_alive_connections() -> None:
    emulator = PortOneEmulator()
    url = emulator.start()
    port = int(url.rsplit(":", 1)[1])
    with requests.Session() as session:
        assert session.post(f"{url}/users/getToken", json={}, timeout=TIMEOUT).status_code == 400

        emulator.stop()

        with pytest.raises(requests.ConnectionError):
            session.post(f"{url}/users/getToken", json={}, timeout=TIMEOUT)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    with pytest.raises(RuntimeError):
        emulator.url  # noqa: B018 - the property raises once stopped


def test_start_twice_is_refused() -> None:
    with PortOneEmulator() as emulator, pytest.raises(RuntimeError):
        emulator.start()


def test_standalone_module_answers_get_token() -> None:
    command = [
        sys.executable,
        "-m",
        "local.portone_emulator",
        "--port",
        "0",
        "--imp-key",
        "K",
        "--imp-secret",
        "S",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        url = first_line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), first_line

        response = requests.post(
            f"{url}/users/getToken", data={"imp_key": "K", "imp_secret": "S"}, timeout=TIMEOUT
        )

        assert response.status_code == 200
        assert len(response.json()["response"]["access_token"]) == 40
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    assert "stopped" in stdout
    assert "POST /users/getToken 200" in stderr
    assert "Traceback" not in stderr
