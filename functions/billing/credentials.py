"""PortOne's API keys from AWS Secrets Manager, cached per container (design.md D4)."""

from __future__ import annotations

from functools import cached_property

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config
from pydantic import ValidationError

from billing.errors import ConfigurationUnavailable, ProviderMisconfigured
from billing.portone.models import Credentials

# Fail fast: a request waiting on Secrets Manager is a request PortOne's timeout budget cannot use.
_BOTO_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})


class SecretsManagerCredentials:
    """Reads the secret on first use and at most every `max_age` seconds; `refresh=True` forces a read."""

    def __init__(self, secret_id: str, max_age: int) -> None:
        self._secret_id = secret_id
        self._max_age = max_age

    @cached_property
    def _provider(self) -> SecretsProvider:
        return SecretsProvider(boto_config=_BOTO_CONFIG)

    def __call__(self, *, refresh: bool) -> Credentials:
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=refresh)
        except GetParameterError as exc:
            cause = type(exc.__context__).__name__
            raise ConfigurationUnavailable(f"cannot read the PortOne secret ({cause})") from None
        try:
            return Credentials.model_validate_json(raw)  # type: ignore[arg-type]
        except ValidationError:
            raise ProviderMisconfigured("the PortOne secret is not {imp_key, imp_secret} JSON") from None
