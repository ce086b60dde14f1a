"""The integration tier: the real handler, moto's server and the PortOne emulator over loopback HTTP.

The stack is the same embedded default `make invoke` uses (local/stack.py), and the function's environment
is built the same way: template.yaml's variables valued from events/env.json.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.lambda_context import LocalLambdaContext
from local.moto_recorder import MotoRecorder
from local.stack import EmbeddedStack, embedded_stack
from tests.integration.support import (
    ENVIRONMENT,
    FUNCTION,
    GENEROUS_LIMITS,
    TEST_ISSUER,
    Containers,
    Invocation,
    NoticeInbox,
    ShiftedClock,
    empty_tables,
    new_container,
)


@pytest.fixture
def signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack with the JWT authorizer: API Gateway verifies tokens and passes their claims on (modules of
    signed-in customers use it with `pytestmark = pytest.mark.usefixtures("signed_in")`)."""
    monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER)


@pytest.fixture(scope="session")
def portone_clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
def stack(portone_clock: ShiftedClock) -> Iterator[EmbeddedStack]:
    with embedded_stack(FUNCTION, ENVIRONMENT, clock=portone_clock) as running:
        yield running


@pytest.fixture(autouse=True)
def function_environment(
    stack: EmbeddedStack, portone_clock: ShiftedClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name, value in {**ENVIRONMENT, **stack.environment(), **GENEROUS_LIMITS}.items():
        monkeypatch.setenv(name, value)
    portone_clock.reset()
    stack.emulator.reset()
    stack.emulator.clear_faults()
    stack.dynamodb_conflicts.set()
    empty_tables(stack)
    yield
    # What the product sent PortOne, and what the emulator answered, kept PortOne's published schema
    assert stack.emulator.take_contract_violations() == []


@pytest.fixture
def invoke() -> Callable[..., Invocation]:
    """Call the handler as the Lambda runtime would; parse the HTTP API response."""
    from billing.app import lambda_handler

    def _invoke(event: dict[str, Any], timeout_seconds: float = FUNCTION.timeout) -> Invocation:
        result = lambda_handler(event, LocalLambdaContext(timeout_seconds=timeout_seconds))
        return Invocation(result["statusCode"], result.get("headers", {}), json.loads(result["body"]))

    return _invoke


@pytest.fixture(scope="session")
def containers() -> Iterator[Containers]:
    """Twenty Lambda containers for tests of concurrent invocations, started once per test session."""
    pool = Containers(20)
    yield pool
    pool.close()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the function's logger writes during the test."""
    from billing.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


@pytest.fixture
def aws_calls(stack: EmbeddedStack) -> Iterator[MotoRecorder]:
    recorder = MotoRecorder(stack.aws_endpoint_url)
    recorder.start()
    yield recorder
    recorder.pause()


@pytest.fixture
def inbox(stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[NoticeInbox]:
    """PortOne's notices land here (the function tells PortOne this URL with each schedule)."""
    receiver = NoticeInbox()
    monkeypatch.setenv("NOTICE_URL", receiver.url)
    yield receiver
    receiver.close()


@pytest.fixture
def edit_catalog(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Edit the deployed plan catalog as a deployment would: `edit_catalog(basic_monthly={"amount": 1})`."""
    from billing import plans

    def edit(**changes: dict[str, Any]) -> None:
        catalog = json.loads(plans.CATALOG.read_text(encoding="utf-8"))
        for plan in catalog["plans"]:
            plan.update(changes.get(plan["id"], {}))
        edited = tmp_path / "plans.json"
        edited.write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
        monkeypatch.setattr(plans, "CATALOG", edited)
        plans.load_catalog.cache_clear()
        new_container()

    yield edit
    plans.load_catalog.cache_clear()


@pytest.fixture
def other_secret(
    stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], None]]:
    """Point the function at a secret of the test's own making, deleted after it (a test may run twice in
    one session: make mutate runs a killing test again on the original code)."""
    client = stack.client("secretsmanager")
    made: list[str] = []

    def _make(name: str, value: str) -> None:
        client.create_secret(Name=name, SecretString=value)
        made.append(name)
        monkeypatch.setenv("PORTONE_SECRET_ID", name)

    yield _make
    for name in made:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
