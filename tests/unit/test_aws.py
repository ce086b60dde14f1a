"""The container's AWS clients, and DynamoDB's conflict retries: only conflicts are sent again, and only while
there is time."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from billing.aws import AwsClients, ConflictRetryingDynamoDB
from billing.deadline import invocation
from local.lambda_context import LocalLambdaContext


def refusal(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "refused"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, "Write")  # type: ignore[arg-type]


class DynamoDB:
    """Answers each write with the next of `answers` (an error is raised), as botocore's client would."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.writes = 0

    def update_item(self, **request: Any) -> Any:
        self.writes += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


CONFLICT = refusal("TransactionConflictException")
TRANSACTION_CONFLICT = refusal("TransactionCanceledException", ["None", "TransactionConflict"])


@pytest.mark.parametrize("conflict", [CONFLICT, TRANSACTION_CONFLICT])
def test_a_conflict_is_sent_again_until_it_passes(conflict: ClientError) -> None:
    client = DynamoDB(conflict, conflict, {"ok": True})
    assert ConflictRetryingDynamoDB(client, sleep=lambda _: None).update_item(Key={}) == {"ok": True}
    assert client.writes == 3


@pytest.mark.parametrize(
    "answer",
    [
        refusal("ConditionalCheckFailedException"),
        refusal("TransactionCanceledException", ["ConditionalCheckFailed", "TransactionConflict"]),
        refusal("ValidationException"),
    ],
)
def test_an_answer_that_is_not_a_conflict_is_not_sent_again(answer: ClientError) -> None:
    client = DynamoDB(answer, {"ok": True})
    with pytest.raises(ClientError):
        ConflictRetryingDynamoDB(client, sleep=lambda _: None).update_item(Key={})
    assert client.writes == 1


def test_conflicts_are_not_retried_past_the_invocations_time() -> None:
    client = DynamoDB(*[CONFLICT] * 10)
    slept: list[float] = []
    with invocation(LocalLambdaContext(timeout_seconds=1.4)), pytest.raises(ClientError):
        # 0.4 s after the reserve: no room for a backoff and another attempt (0.5 s)
        ConflictRetryingDynamoDB(client, sleep=slept.append).update_item(Key={})
    assert (client.writes, slept) == (1, [])


def test_reads_pass_through_untouched() -> None:
    class Reads:
        def get_item(self, **request: Any) -> str:
            return "read"

    assert ConflictRetryingDynamoDB(Reads()).get_item(Key={}) == "read"


def test_conflicts_end_after_ten_attempts_each_backoff_up_to_twice_the_last_and_never_over_0_4_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = DynamoDB(*[CONFLICT] * 11)
    ceilings: list[float] = []
    monkeypatch.setattr("billing.aws.random.uniform", lambda low, high: ceilings.append(high) or high)
    slept: list[float] = []
    with pytest.raises(ClientError):
        ConflictRetryingDynamoDB(client, sleep=slept.append).update_item(Key={})
    assert client.writes == 10
    # full jitter between 0 and 0.02, 0.04, ... doubling from 0.01 s, at most 0.4 s
    assert ceilings == [0.02, 0.04, 0.08, 0.16, 0.32, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert slept == ceilings[:9]  # none after the last attempt


def test_the_containers_clients_are_one_of_each_service_failing_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    clients = AwsClients()
    services = [clients.dynamodb.meta, clients.secretsmanager.meta, clients.events.meta]
    assert [meta.service_model.service_name for meta in services] == ["dynamodb", "secretsmanager", "events"]
    assert {(meta.config.connect_timeout, meta.config.read_timeout) for meta in services} == {(2, 3)}
    # botocore's standard retries, two after the first attempt
    assert all(meta.config.retries == {"mode": "standard", "total_max_attempts": 3} for meta in services)
    assert isinstance(clients.dynamodb, ConflictRetryingDynamoDB)
    assert clients.events is clients.events  # built once, on first use
