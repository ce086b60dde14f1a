"""The benchmark's counts are the servers' and must agree with the function's own (make bench, issue 14)."""

from __future__ import annotations

import argparse
import re
from typing import Any

import pytest

from benchmarks.run import (
    COLD_SAMPLES,
    LATEST,
    REQUESTS,
    RESULTS,
    CountsDisagree,
    RecordRefused,
    output_path,
    summarize_warm,
)

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
        "server_counts": {
            "aws": server_aws,
            "portone": {ISSUE: 2},
            "write_units": 5,
            "portone_connections": 0,
        },
        "first_server_counts": {"portone": {}, "aws": {"secretsmanager.GetSecretValue": 2}},
        "first": _request({"aws:secretsmanager.GetSecretValue": 2}),
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


def test_the_first_request_is_checked_too() -> None:
    run = _warm_run({PUT: 2, UPDATE: 3})
    run["first"] = _request({"aws:secretsmanager.GetSecretValue": 1})

    with pytest.raises(
        CountsDisagree,
        match=re.escape("first request: aws:secretsmanager.GetSecretValue: 1 by the function, 2"),
    ):
        summarize_warm(run)


def test_new_portone_connections_are_the_emulator_s_count_checked_against_the_function_s() -> None:
    run = _warm_run({PUT: 2, UPDATE: 3})
    run["requests"][0]["connections"] = {"portone": 1}

    with pytest.raises(CountsDisagree, match="PortOne connections: 1 by the function, 0 by the server"):
        summarize_warm(run)


def _args(**changes: Any) -> argparse.Namespace:
    return argparse.Namespace(
        **{"record": False, "requests": REQUESTS, "cold_samples": COLD_SAMPLES, "profile": None, **changes}
    )


def test_a_plain_run_never_writes_the_reference_run() -> None:
    assert output_path(_args(), clean=True) == output_path(_args(), clean=False) == LATEST
    assert output_path(_args(record=True), clean=True) == RESULTS
    assert not LATEST.is_relative_to(RESULTS.parent)  # LATEST is untracked (test-artifacts/)


@pytest.mark.parametrize(
    ("changes", "clean"),
    [({}, False), ({"requests": 10}, True), ({"cold_samples": 1}, True), ({"profile": "warm.prof"}, True)],
    ids=["uncommitted-changes", "fewer-requests", "fewer-cold-samples", "profiled"],
)
def test_a_reference_run_is_a_clean_commit_s_full_run(changes: dict[str, Any], clean: bool) -> None:
    with pytest.raises(RecordRefused):
        output_path(_args(record=True, **changes), clean=clean)
