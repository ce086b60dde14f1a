"""A local emulator of PortOne's (iamport) V1 REST API: tokens, billing keys, payments with them and
scheduled payments with their webhooks, over real HTTP on loopback.

Behaviour follows the project's PortOne notes, ``docs/portone-v1.md`` (the "README §x" cited in
comments). ``v1.openapi.json`` is PortOne's own schema, from portone-io/developers.portone.io
``src/schema/v1.openapi.json``, version of 2026-07-27; ``contract.py`` checks requests and responses
against it.

    clock = FakeClock()
    with PortOneEmulator(clock=clock, notice_url="http://127.0.0.1:8000/webhook") as emulator:
        # point the client at emulator.url with DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET and DEFAULT_CHANNEL_KEY
        emulator.add_fault("reset", "POST /subscribe/customers")  # issued, but the answer is lost
        ...
        assert "cu_1" in emulator.customers
        assert emulator.count("POST", "/subscribe/customers/{customer_uid}") == 1
        clock.advance(3600)
        ran = emulator.run_due_schedules()  # charged like `again`, webhooks in emulator.notices
        assert emulator.contract_violations == []

Standalone: ``python -m local.portone_emulator --port 8090``.
"""

from local.portone_emulator.clock import FakeClock
from local.portone_emulator.emulator import (
    DEFAULT_CHANNEL_KEY,
    DEFAULT_IMP_KEY,
    DEFAULT_IMP_SECRET,
    Call,
    PortOneEmulator,
)
from local.portone_emulator.faults import Fault
from local.portone_emulator.fields import PortOneError
from local.portone_emulator.notices import Notice

__all__ = [
    "DEFAULT_CHANNEL_KEY",
    "DEFAULT_IMP_KEY",
    "DEFAULT_IMP_SECRET",
    "Call",
    "FakeClock",
    "Fault",
    "Notice",
    "PortOneEmulator",
    "PortOneError",
]
