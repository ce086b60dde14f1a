"""The function's configuration: one validated model, read from the environment once per container.

The environment holds names and endpoints only (the secret's id, PortOne's base URL), never secret values.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing.portone.client import DEFAULT_BASE_URL


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Name or ARN of the Secrets Manager secret holding {"imp_key": ..., "imp_secret": ...}.
    portone_secret_id: Annotated[str, Field(min_length=1)]
    portone_base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] = DEFAULT_BASE_URL
    # PortOne's `pg` (e.g. "nice.nictest04m") and `channel_key` for new keys; empty: PortOne's default.
    portone_pg: Annotated[str, Field(max_length=80)] = ""
    portone_channel_key: Annotated[str, Field(max_length=55)] = ""
    portone_connect_timeout: Annotated[float, Field(gt=0, le=10)] = 3.05
    portone_read_timeout: Annotated[float, Field(gt=0, le=25)] = 10.0
    # How long the PortOne keys are cached after a read (design.md D4: at most 5 minutes).
    secret_max_age_seconds: Annotated[int, Field(ge=0, le=300)] = 300
    # The smoke check also looks this billing key up when it is set (design.md D14).
    smoke_customer_uid: str = ""


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration (a deployment mistake, not a client's)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {
        name: os.environ[name.upper()] for name in Settings.model_fields if os.environ.get(name.upper())
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False))
        raise ConfigurationError(f"invalid settings: {fields}") from None
