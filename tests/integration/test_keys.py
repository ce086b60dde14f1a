"""The secrets the function reads: PortOne's keys and the HMAC key, through one cached provider (keys.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from billing.errors import ConfigurationUnavailable, ProviderMisconfigured
from billing.keys import HmacKey, PortOneKeys, Secrets
from local.stack import EmbeddedStack

IMP_SECRET = "imp_unit_secret_value"  # a canary: no error may carry it


@pytest.fixture
def client(stack: EmbeddedStack) -> Iterator[Any]:
    """The stack's Secrets Manager, left with only the secrets it had (this test's are deleted)."""
    client = stack.client("secretsmanager")
    before = {secret["Name"] for secret in client.list_secrets()["SecretList"]}
    yield client
    for secret in client.list_secrets()["SecretList"]:
        if secret["Name"] not in before:
            client.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)


def test_a_cached_secret_is_read_again_only_when_asked_to(client: Any) -> None:
    client.create_secret(Name="portone", SecretString=json.dumps({"imp_key": "k1", "imp_secret": IMP_SECRET}))
    keys = PortOneKeys(Secrets(max_age=300, client=client), "portone")
    assert keys(refresh=False).imp_key == "k1"

    client.put_secret_value(SecretId="portone", SecretString=json.dumps({"imp_key": "k2", "imp_secret": "s"}))

    assert keys(refresh=False).imp_key == "k1"  # within max_age: the cached value
    assert keys(refresh=True).imp_key == "k2"  # after PortOne refused the old keys


def test_a_max_age_of_0_reads_the_secret_every_time(client: Any) -> None:
    client.create_secret(Name="portone", SecretString=json.dumps({"imp_key": "k1", "imp_secret": IMP_SECRET}))
    keys = PortOneKeys(Secrets(max_age=0, client=client), "portone")  # SECRET_MAX_AGE_SECONDS=0: no cache
    assert keys(refresh=False).imp_key == "k1"

    client.put_secret_value(SecretId="portone", SecretString=json.dumps({"imp_key": "k2", "imp_secret": "s"}))

    assert keys(refresh=False).imp_key == "k2"


def test_the_hmac_key_is_read_from_the_cache(client: Any) -> None:
    client.create_secret(Name="hmac", SecretString="k" * 32)
    key = HmacKey(Secrets(max_age=300, client=client), "hmac")
    assert key() == b"k" * 32

    client.put_secret_value(SecretId="hmac", SecretString="j" * 32)

    assert key() == b"k" * 32  # each request hashes with it: one read per max_age, not one per request


def test_a_secret_that_cannot_be_read_is_a_temporary_failure_naming_only_the_cause(client: Any) -> None:
    with pytest.raises(ConfigurationUnavailable) as raised:
        Secrets(max_age=300, client=client).read("missing")

    assert str(raised.value) == "cannot read a secret (ResourceNotFoundException)"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_a_binary_secret_is_refused(client: Any) -> None:
    client.create_secret(Name="binary", SecretBinary=b"\x00" * 40)

    with pytest.raises(ConfigurationUnavailable, match=r"^a secret holds binary data, not a string$"):
        Secrets(max_age=300, client=client).read("binary")


def test_portone_keys_that_are_not_the_expected_json_never_echo_the_secret(client: Any) -> None:
    client.create_secret(Name="portone", SecretString=json.dumps({"imp_secret": IMP_SECRET}))

    with pytest.raises(ProviderMisconfigured) as raised:
        PortOneKeys(Secrets(max_age=300, client=client), "portone")(refresh=False)

    assert str(raised.value) == "the PortOne secret is not {imp_key, imp_secret} JSON"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize(("length", "accepted"), [(31, False), (32, True)])
def test_the_hmac_key_has_at_least_32_bytes(client: Any, length: int, accepted: bool) -> None:
    client.create_secret(Name="hmac", SecretString="k" * length)
    key = HmacKey(Secrets(max_age=300, client=client), "hmac")

    if accepted:
        assert key() == b"k" * length
    else:
        with pytest.raises(ConfigurationUnavailable, match=r"^the HMAC key secret is shorter than 32 bytes$"):
            key()
