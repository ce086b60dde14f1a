"""What a warm container costs: PortOne and Secrets Manager calls counted by the emulator and by moto."""

from __future__ import annotations

from local.moto_recorder import MotoRecorder
from local.stack import EmbeddedStack
from tests.integration.support import http_event, sample_body

GET_SECRET = "secretsmanager.GetSecretValue"


def test_ten_issues_in_one_container_make_one_token_call_and_read_each_secret_once(
    invoke, stack: EmbeddedStack, aws_calls: MotoRecorder
) -> None:
    for n in range(10):
        assert invoke(http_event({**sample_body(), "customer_uid": f"warm_{n}"})).status == 200

    assert stack.emulator.count("POST", "/users/getToken") == 1
    assert stack.emulator.count("POST", "/subscribe/customers/{customer_uid}") == 10
    # PortOne's keys and the HMAC key: each read once, then served from the container's cache.
    assert aws_calls.count(GET_SECRET) == 2
