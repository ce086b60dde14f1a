"""What a warm container costs: PortOne and Secrets Manager calls counted by the emulator and by moto."""

from __future__ import annotations

import json

from local.stack import EmbeddedStack
from tests.integration.support import MotoRecorder, load_event

GET_SECRET = "secretsmanager.GetSecretValue"


def test_ten_issues_in_one_container_make_one_token_call_and_one_secret_read(
    invoke, stack: EmbeddedStack, aws_calls: MotoRecorder
) -> None:
    event = load_event("issue_billing")
    body = json.loads(event["body"])
    for n in range(10):
        event["body"] = json.dumps({**body, "customer_uid": f"warm_{n}"})
        assert invoke(event).status == 200

    assert stack.emulator.count("POST", "/users/getToken") == 1
    assert stack.emulator.count("POST", "/subscribe/customers/{customer_uid}") == 10
    assert aws_calls.count(GET_SECRET) == 1
