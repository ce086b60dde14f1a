"""DynamoDB answers moto never gives, to the card-testing limits (access.py), through botocore's Stubber.

The Stubber checks each request against DynamoDB's API model as a real client would send it; the answers
are those AWS documents under load: keys left unprocessed, a throttled request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from billing.access import AccessStore, Attempt, Limits
from billing.errors import ConfigurationUnavailable

TABLE = "billing"
ATTEMPT = Attempt("cu_1", owner="owner-1", caller="caller-1", address="203.0.113.0", card="card-1")


@pytest.fixture
def dynamodb() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("dynamodb", region_name="ap-northeast-2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def store(client: Any) -> AccessStore:
    return AccessStore(TABLE, Limits(600, 3, 2, 4, 2), client=client, clock=lambda: 1_795_000_210.0)


def test_limits_dynamodb_left_unread_refuse_the_attempt(dynamodb: tuple[Any, Stubber]) -> None:
    client, stubber = dynamodb
    unread = {TABLE: {"Keys": [{"pk": {"S": "card#card-1"}}], "ConsistentRead": True}}
    stubber.add_response(
        "batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": unread}, {"RequestItems": ANY}
    )

    with pytest.raises(ConfigurationUnavailable, match=r"^DynamoDB left the limits unread$"):
        store(client).admit(ATTEMPT)


def test_a_throttled_read_is_a_503_naming_dynamodbs_code(dynamodb: tuple[Any, Stubber]) -> None:
    client, stubber = dynamodb
    stubber.add_client_error("batch_get_item", "ProvisionedThroughputExceededException", http_status_code=400)

    with pytest.raises(ConfigurationUnavailable) as refused:
        store(client).admit(ATTEMPT)

    assert str(refused.value) == "DynamoDB refused the attempt (ProvisionedThroughputExceededException)"
    assert refused.value.__suppress_context__
