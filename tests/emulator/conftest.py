"""Fixtures for the PortOne emulator's tests: a fresh emulator on loopback per test, on a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local.portone_emulator import FakeClock, PortOneEmulator
from tests.emulator.portone_wire import IMP_KEY, IMP_SECRET, PortOneWire
from tests.emulator.receiver import Receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[PortOneEmulator]:
    """Started on a free port; every test using it must also leave PortOne's contract unbroken."""
    with PortOneEmulator(api_keys={IMP_KEY: IMP_SECRET}, clock=clock) as emulator:
        yield emulator
        assert emulator.contract_violations == []


@pytest.fixture
def wire(emulator: PortOneEmulator) -> Iterator[PortOneWire]:
    with requests.Session() as session:
        yield PortOneWire(emulator.url, session)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, answering 200 unless told otherwise."""
    running = Receiver()
    yield running
    running.close()
