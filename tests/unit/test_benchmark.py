"""The benchmark's counts are the servers' and must agree with the function's own (make bench, issue 14)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.run import CountsDisagree, summarize_warm

PUT = "DynamoDB_20120810.PutItem"
UPDATE = "DynamoDB_20120810.UpdateItem"
ISSUE = "POST /subscribe/customers/{customer_uid}"


def _request(operations: dict[str, int]) -> dict[str, Any]:
    return {
        "status": 200,
        "handler_ms": 10.0,
        "upstream_ms": 4.0,
        "overhead_ms": 6.0,
        "cpu_ms": 5.0,
        "operations": operations,
        "connections": {},
        "clients_ms": {"botocore": 3.0, "requests": 1.0},
    }


def _warm_run(server_aws: dict[str, int]) -> dict[str, Any]:
    """Two requests as the function counted them: 3 round trips, then 2; PortOne once each."""
    return {
        "requests": [
            _request({f"aws:{PUT}": 1, f"aws:{UPDATE}": 2, f"portone:{ISSUE}": 1}),
            _request({f"aws:{PUT}": 1, f"aws:{UPDATE}": 1, f"portone:{ISSUE}": 1}),
        ],
        "server_counts": {"aws": server_aws, "portone": {ISSUE: 2}, "write_units": 5},
        "first_server_counts": {"portone": {}, "aws": {"secretsmanager.GetSecretValue": 2}},
        "first": {},
        "import_ms": 1.0,
        "peak_rss_mib": 1.0,
        "python": "3.13.0",
    }


def test_the_round_trips_are_moto_s_count_when_the_function_s_own_agrees() -> None:
    summary = summarize_warm(_warm_run({PUT: 2, UPDATE: 3}))

    assert summary["dynamodb_round_trips_per_request"] == {
        "mean": 2.5,
        "max": 3,
        "by_operation": {"PutItem": 1.0, "UpdateItem": 1.5},
    }
    assert summary["first_request_secrets_reads"] == 2


@pytest.mark.parametrize(
    ("server_aws", "disagreement"),
    [
        ({PUT: 2, UPDATE: 4}, f"aws:{UPDATE}: 3 by the function, 4 by the server"),
        ({PUT: 2, UPDATE: 3, "secretsmanager.GetSecretValue": 1}, "aws:secretsmanager.GetSecretValue: 0 by"),
    ],
    ids=["a call the function did not count", "a call of an operation the function never made"],
)
def test_the_run_fails_when_the_two_counts_disagree(server_aws: dict[str, int], disagreement: str) -> None:
    with pytest.raises(CountsDisagree, match=disagreement):
        summarize_warm(_warm_run(server_aws))
