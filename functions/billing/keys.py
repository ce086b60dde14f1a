"""Secrets Manager, read through one cached provider per container (design.md D4).

Two secrets: PortOne's API keys (`{"imp_key": ..., "imp_secret": ...}`) and the key for this service's
HMACs, which the template generates. Both are cached for at most `max_age` seconds.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import ValidationError

from billing.errors import ConfigurationUnavailable, ProviderMisconfigured
from billing.portone.models import Credentials

_MIN_HMAC_KEY_BYTES = 32


class Secrets:
    def __init__(self, max_age: int, *, client: Any) -> None:
        self._max_age = max_age
        self._client = client

    @cached_property
    def _provider(self) -> SecretsProvider:
        return SecretsProvider(boto3_client=self._client)

    def read(self, secret_id: str, *, refresh: bool = False) -> str:
        """The secret's string value; ConfigurationUnavailable when Secrets Manager cannot be read."""
        try:
            value = self._provider.get(secret_id, max_age=self._max_age, force_fetch=refresh)
        except GetParameterError as exc:
            cause = type(exc.__context__).__name__
            raise ConfigurationUnavailable(f"cannot read a secret ({cause})") from None
        if not isinstance(value, str):
            raise ConfigurationUnavailable("a secret holds binary data, not a string")
        return value


class PortOneKeys:
    """The PortOne client's credential source: `refresh=True` re-reads the secret (after a rotation)."""

    def __init__(self, secrets: Secrets, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def __call__(self, *, refresh: bool) -> Credentials:
        raw = self._secrets.read(self._secret_id, refresh=refresh)
        try:
            return Credentials.model_validate_json(raw)
        except ValidationError:
            raise ProviderMisconfigured("the PortOne secret is not {imp_key, imp_secret} JSON") from None


class HmacKey:
    """The key for keyed hashes of card numbers and request bodies (never a plain hash, design.md D9)."""

    def __init__(self, secrets: Secrets, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def __call__(self) -> bytes:
        key = self._secrets.read(self._secret_id).encode()
        if len(key) < _MIN_HMAC_KEY_BYTES:
            raise ConfigurationUnavailable("the HMAC key secret is shorter than 32 bytes")
        return key
