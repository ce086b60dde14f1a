"""The scheduled smoke check (design.md D14): passes quietly, fails the invocation loudly."""

from __future__ import annotations

import pytest

from billing.errors import (
    ConfigurationUnavailable,
    ProviderChannelMisconfigured,
    ProviderMisconfigured,
    ProviderRejected,
)
from billing.settings import ConfigurationError
from local.lambda_context import LocalLambdaContext
from local.portone_emulator import DEFAULT_CHANNEL_KEY
from local.stack import EmbeddedStack
from tests.integration.support import ENVIRONMENT, emitted_metrics, load_event, logged_with


def run_smoke_check() -> dict:
    from billing.app import lambda_handler

    return lambda_handler(load_event("smoke_check"), LocalLambdaContext())


def test_it_reads_the_secret_gets_a_token_and_reports_success(stack: EmbeddedStack, capsys) -> None:
    assert run_smoke_check() == {"status": "success"}
    assert stack.emulator.count("POST", "/users/getToken") == 1
    assert emitted_metrics(capsys.readouterr().out) == {"SmokeCheckPassed": 1}


def test_it_looks_up_the_configured_test_customer(invoke, stack: EmbeddedStack, monkeypatch) -> None:
    monkeypatch.setenv("SMOKE_CUSTOMER_UID", "cust_0001_card_a")
    assert invoke(load_event("issue_billing")).status == 200
    run_smoke_check()
    assert stack.emulator.count("GET", "/subscribe/customers/{customer_uid}") == 1


def test_an_unknown_test_customer_fails_it(monkeypatch, capsys, logs) -> None:
    monkeypatch.setenv("SMOKE_CUSTOMER_UID", "nobody")
    with pytest.raises(ProviderRejected):
        run_smoke_check()
    assert emitted_metrics(capsys.readouterr().out) == {"SmokeCheckFailed": 1}
    failed = logged_with(logs, "smoke check failed")
    assert (failed["level"], failed["outcome"]) == ("ERROR", "PAYMENT_PROVIDER_REJECTED")


def test_a_fault_of_the_function_itself_fails_it_as_an_internal_error(monkeypatch, capsys, logs) -> None:
    monkeypatch.setenv("PORTONE_READ_TIMEOUT", "forever")  # settings the function cannot read
    with pytest.raises(ConfigurationError):
        run_smoke_check()
    assert emitted_metrics(capsys.readouterr().out) == {"SmokeCheckFailed": 1}
    failed = logged_with(logs, "smoke check failed")
    assert (failed["level"], failed["outcome"]) == ("ERROR", "INTERNAL_ERROR")


def test_rejected_keys_fail_it(other_secret) -> None:
    other_secret("smoke-wrong-keys", '{"imp_key": "k", "imp_secret": "s"}')
    with pytest.raises(ProviderMisconfigured):
        run_smoke_check()


def test_an_unreadable_secret_fails_it(monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_SECRET_ID", "no-such-secret")
    with pytest.raises(ConfigurationUnavailable):
        run_smoke_check()


def test_a_stack_that_names_no_portone_channel_fails_it(stack: EmbeddedStack, monkeypatch, capsys) -> None:
    # PortOne's current schema requires channel_key to issue a key: every card would be refused
    monkeypatch.setenv("PORTONE_CHANNEL_KEY", "")
    monkeypatch.setenv("PORTONE_PG", "")
    with pytest.raises(ProviderChannelMisconfigured):
        run_smoke_check()
    assert "SmokeCheckFailed" in emitted_metrics(capsys.readouterr().out)
    assert stack.emulator.calls == ()


def test_a_legacy_pg_alone_passes_it(monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_CHANNEL_KEY", "")
    monkeypatch.setenv("PORTONE_PG", "nice.nictest04m")
    assert run_smoke_check() == {"status": "success"}


def test_the_local_stack_names_the_emulators_channel() -> None:
    assert ENVIRONMENT["PORTONE_CHANNEL_KEY"] == DEFAULT_CHANNEL_KEY
