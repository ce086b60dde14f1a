"""PortOne and AWS failing under the handler: each gives its defined answer and never a second POST."""

from __future__ import annotations

import boto3
import pytest

from local.stack import EmbeddedStack
from tests.integration.support import load_event

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")


@pytest.mark.parametrize(
    ("kind", "seconds", "status", "code"),
    [
        ("latency", 12.0, 504, "PAYMENT_PROVIDER_TIMEOUT"),
        ("reset", 0.0, 504, "PAYMENT_PROVIDER_TIMEOUT"),
        ("http_500", 0.0, 504, "PAYMENT_PROVIDER_TIMEOUT"),
        ("malformed", 0.0, 504, "PAYMENT_PROVIDER_TIMEOUT"),
    ],
)
def test_an_ambiguous_portone_failure_is_a_504_after_exactly_one_post(
    invoke, stack: EmbeddedStack, kind: str, seconds: float, status: int, code: str
) -> None:
    stack.emulator.add_fault(kind, "POST /subscribe/customers", seconds=seconds)
    # A 3 s Lambda budget: the 10 s read timeout is cut to what the invocation has left.
    response = invoke(load_event("issue_billing"), timeout_seconds=3.0)
    assert (response.status, response.body["code"]) == (status, code)
    assert stack.emulator.count(*ISSUE) == 1


def test_portone_refusing_connections_is_a_503_with_retry_after(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_BASE_URL", "http://127.0.0.1:9")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503
    assert response.body["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert response.headers["Retry-After"] == "5"


def test_a_token_expired_at_portone_is_refreshed_transparently(invoke, stack: EmbeddedStack) -> None:
    assert invoke(load_event("issue_billing")).status == 200
    stack.emulator.expire_tokens()
    assert invoke(load_event("issue_billing")).status == 200
    assert stack.emulator.count(*ISSUE, status=401) == 1


def test_secrets_manager_unreachable_is_a_503_and_no_portone_call(invoke, stack, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503
    assert response.body["code"] == "SERVICE_UNAVAILABLE"
    assert stack.emulator.calls == ()


@pytest.fixture
def other_secret(stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch):
    """Point the function at a secret of the test's own making."""

    def _make(name: str, value: str) -> None:
        client = boto3.client("secretsmanager", endpoint_url=stack.aws_endpoint_url)
        client.create_secret(Name=name, SecretString=value)
        monkeypatch.setenv("PORTONE_SECRET_ID", name)

    return _make


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        ('{"imp_key": "imp_local_key", "imp_secret": "not-the-secret"}', 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
        ('{"imp_key": "imp_local_key"}', 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
        ("not json", 502, "PAYMENT_PROVIDER_AUTH_FAILED"),
    ],
)
def test_bad_keys_in_the_secret_are_a_502(invoke, other_secret, request, value, status, code) -> None:
    other_secret(f"bad-keys-{request.node.callspec.id}", value)
    response = invoke(load_event("issue_billing"))
    assert (response.status, response.body["code"]) == (status, code)


def test_a_missing_secret_is_a_503(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_SECRET_ID", "no-such-secret")
    response = invoke(load_event("issue_billing"))
    assert response.status == 503


def test_broken_settings_are_a_500_in_the_error_shape(invoke, monkeypatch) -> None:
    monkeypatch.setenv("PORTONE_READ_TIMEOUT", "forever")
    response = invoke(load_event("issue_billing"))
    assert response.status == 500
    assert response.body["code"] == "INTERNAL_ERROR"
    assert set(response.body) == {"status", "code", "message", "request_id"}
