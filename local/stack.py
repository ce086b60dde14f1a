"""The embedded default (design.md D13): moto's server and the PortOne V1 emulator, both on loopback.

No AWS account, no network and no Docker: Secrets Manager is moto, PortOne is the project's emulator, and the
secret holds the emulator's keys, so the function runs its real code path end to end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer

from local.portone_emulator import PortOneEmulator

LOCAL_IMP_KEY = "imp_local_key"
LOCAL_IMP_SECRET = "imp_local_secret"  # noqa: S105 (the emulator's, not a real PortOne secret)
REGION = "ap-northeast-2"
# moto accepts any credentials; fixed ones keep boto3 from looking for real ones.
FAKE_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class EmbeddedStack:
    aws_endpoint_url: str
    emulator: PortOneEmulator

    def environment(self) -> dict[str, str]:
        """What the function's environment needs to use this stack instead of AWS and PortOne."""
        return {
            **FAKE_AWS_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "PORTONE_BASE_URL": self.emulator.url,
        }


@contextmanager
def embedded_stack(secret_id: str) -> Iterator[EmbeddedStack]:
    """Start both servers on free loopback ports, seed the PortOne secret, and stop both on exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    emulator = PortOneEmulator(api_keys={LOCAL_IMP_KEY: LOCAL_IMP_SECRET})
    try:
        emulator.start()
        host, port = moto.get_host_and_port()
        stack = EmbeddedStack(aws_endpoint_url=f"http://{host}:{port}", emulator=emulator)
        seed_secret(stack.aws_endpoint_url, secret_id)
        yield stack
    finally:
        emulator.stop()
        moto.stop()


def seed_secret(aws_endpoint_url: str, secret_id: str) -> None:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=aws_endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    value = json.dumps({"imp_key": LOCAL_IMP_KEY, "imp_secret": LOCAL_IMP_SECRET})
    client.create_secret(Name=secret_id, SecretString=value)
