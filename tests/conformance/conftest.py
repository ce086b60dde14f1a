"""Conformance fixtures: an emulator on a FakeClock, and PortOne's official client against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from local.portone_emulator import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, FakeClock, PortOneEmulator
from tests.conformance.iamport_process import IamportProcess


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def live_emulator(clock: FakeClock) -> Iterator[PortOneEmulator]:
    """A live channel: keys and payments carry ``sandbox: false`` and lookups need no ``include_sandbox``."""
    with PortOneEmulator(clock=clock, test_channel=False) as emulator:
        yield emulator


@pytest.fixture
def test_emulator(clock: FakeClock) -> Iterator[PortOneEmulator]:
    """The emulator's default: a test channel, as PortOne's since 2026-01-26."""
    with PortOneEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def iamport() -> Iterator[Callable[..., IamportProcess]]:
    """``iamport(emulator, imp_secret=...)``: the official client for that emulator, closed after the test."""
    opened: list[IamportProcess] = []

    def open_client(emulator: PortOneEmulator, imp_secret: str = DEFAULT_IMP_SECRET) -> IamportProcess:
        client = IamportProcess(DEFAULT_IMP_KEY, imp_secret, emulator.url)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()
