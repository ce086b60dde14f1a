"""The embedded default (design.md D13): moto's server and the PortOne V1 emulator, both on loopback.

No AWS account, no network and no Docker: Secrets Manager and DynamoDB are moto, PortOne is the project's
emulator. The resources the function's environment names (its table and secrets) are created from
template.yaml's own definitions, so local runs cannot drift from what is deployed; the PortOne secret holds
the emulator's keys, so the function runs its real code path end to end.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local.dynamodb_conflicts import DynamoDBConflicts
from local.portone_emulator import PortOneEmulator
from local.template import FunctionDefinition, load_template

LOCAL_IMP_KEY = "imp_local_key"
LOCAL_IMP_SECRET = "imp_local_secret"  # noqa: S105 (the emulator's, not a real PortOne secret)
REGION = "ap-northeast-2"
# moto accepts any credentials; fixed ones keep boto3 from looking for real ones.
FAKE_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Secrets whose local value is fixed rather than generated like the template's.
_SEEDED_SECRETS = {"PortOneSecret": json.dumps({"imp_key": LOCAL_IMP_KEY, "imp_secret": LOCAL_IMP_SECRET})}


@dataclass(frozen=True)
class EmbeddedStack:
    aws_endpoint_url: str
    emulator: PortOneEmulator
    dynamodb_conflicts: DynamoDBConflicts  # real DynamoDB's write conflicts, on a test's demand

    def environment(self) -> dict[str, str]:
        """What the function's environment needs to use this stack instead of AWS and PortOne."""
        return {
            **FAKE_AWS_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "PORTONE_BASE_URL": self.emulator.url,
        }

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_endpoint_url, region_name=REGION, **_credentials())


@contextmanager
def embedded_stack(
    function: FunctionDefinition, environment: Mapping[str, str], *, clock: Callable[[], float] = time.time
) -> Iterator[EmbeddedStack]:
    """Start both servers on free loopback ports, create the function's resources, stop both on exit.

    `clock` is PortOne's (the emulator's) time: tests pass one they can move forward to make payments due.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    conflicts = DynamoDBConflicts(DomainDispatcherApplication(create_backend_app))
    # moto's ThreadedMotoServer, with the conflicts layer in front of its application.
    moto = make_server("127.0.0.1", 0, conflicts, threaded=True, request_handler=MotoRequestHandler)
    # Polled often, so that stopping (make dev, a test session) does not wait half a second for it.
    threading.Thread(target=moto.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    emulator = PortOneEmulator(api_keys={LOCAL_IMP_KEY: LOCAL_IMP_SECRET}, clock=clock)
    try:
        emulator.start()
        stack = EmbeddedStack(
            aws_endpoint_url=f"http://127.0.0.1:{moto.server_port}",
            emulator=emulator,
            dynamodb_conflicts=conflicts,
        )
        create_resources(stack, function, environment)
        yield stack
    finally:
        emulator.stop()
        moto.shutdown()
        moto.server_close()


def create_resources(
    stack: EmbeddedStack, function: FunctionDefinition, environment: Mapping[str, str]
) -> None:
    """Create each resource the function's environment names, under the name the environment gives it."""
    resources = load_template()["Resources"]
    for variable, logical_id in function.resource_variables.items():
        name = environment.get(variable)
        resource = resources[logical_id]
        if not name:
            continue
        if resource["Type"] == "AWS::DynamoDB::Table":
            _create_table(stack.client("dynamodb"), name, resource["Properties"])
        elif resource["Type"] == "AWS::SecretsManager::Secret":
            value = _SEEDED_SECRETS.get(logical_id) or _generated_secret(resource["Properties"])
            stack.client("secretsmanager").create_secret(Name=name, SecretString=value)


def _create_table(client: Any, name: str, properties: Mapping[str, Any]) -> None:
    indexes = (
        {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
        if "GlobalSecondaryIndexes" in properties
        else {}
    )
    client.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
        **indexes,
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _generated_secret(properties: Mapping[str, Any]) -> str:
    """A value shaped like the template's GenerateSecretString would make (letters and digits only)."""
    generate = properties["GenerateSecretString"]
    alphabet = string.ascii_letters + string.digits
    value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    template = generate.get("SecretStringTemplate")
    if template:
        return json.dumps({**json.loads(template), generate["GenerateStringKey"]: value})
    return value


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
