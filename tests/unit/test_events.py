"""Publishing the table's new events to EventBridge (events.py), against answers moto never gives."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from billing.events import publish


def stream_record(number: int) -> dict:
    image = {
        "pk": {"S": f"event#e{number}"},
        "type": {"S": "subscription.started"},
        "customer_uid": {"S": "sub_alice"},
        "occurred_at": {"N": "1796000000000"},
        "data": {"S": json.dumps({})},
    }
    return {"dynamodb": {"NewImage": image, "SequenceNumber": str(number)}}


def test_an_answer_with_fewer_results_than_events_is_an_error_never_a_silent_loss() -> None:
    # EventBridge answers one result per entry (AWS's PutEvents guide); an answer that breaks that must not
    # pass for a success of the events it leaves out: the invocation fails and the stream hands them again
    client = boto3.client("events", region_name="ap-northeast-2")
    with Stubber(client) as stubber:
        short = {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}
        stubber.add_response("put_events", short, {"Entries": ANY})
        with pytest.raises(ValueError, match="zip"):
            publish([stream_record(1), stream_record(2)], client=client, bus="bus", source="portone-billing")


def test_the_entries_eventbridge_refused_go_back_by_their_sequence_numbers() -> None:
    client = boto3.client("events", region_name="ap-northeast-2")
    with Stubber(client) as stubber:
        partly = {"FailedEntryCount": 1, "Entries": [{"EventId": "1"}, {"ErrorCode": "InternalFailure"}]}
        stubber.add_response("put_events", partly, {"Entries": ANY})
        records = [stream_record(1), stream_record(2)]
        failed = publish(records, client=client, bus="bus", source="portone-billing")
    assert failed == ["2"]
