"""The container's AWS clients: one boto3 session, one client per service, shared by every adapter.

One session loads each service's model once (separate sessions each load it again: about 160 ms of the first
request), and one DynamoDB client keeps one connection pool for the idempotency records, the access rules and
the subscriptions. Every call fails fast: a request waiting on AWS is time PortOne's budget cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})


@dataclass(frozen=True)
class AwsClients:
    dynamodb: Any
    secretsmanager: Any


@lru_cache(maxsize=1)
def aws_clients() -> AwsClients:
    """Built on first use, after the environment (region, endpoints) is final."""
    session = boto3.session.Session()
    return AwsClients(
        dynamodb=session.client("dynamodb", config=_CONFIG),
        secretsmanager=session.client("secretsmanager", config=_CONFIG),
    )


@lru_cache(maxsize=1)
def events_client() -> Any:
    """EventBridge, only for the stream that publishes subscription events: no other path loads its model."""
    return boto3.session.Session().client("events", config=_CONFIG)
