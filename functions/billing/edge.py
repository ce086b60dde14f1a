"""The public edge (CloudFront and AWS WAF, issue 15): did a request come through it, and from which viewer.

An HTTP API cannot have AWS WAF, so WAF sits on CloudFront, and the API's own execute-api URL stays public.
CloudFront adds a secret header to every request it forwards to the API (template.yaml, `Distribution`); a
request without it went around WAF, and with the edge on it is refused before it reaches anything, except
PortOne's notices: schedules registered before the edge was turned on carry the execute-api URL as their
notice_url, and a notice is believed only after a lookup at PortOne anyway.

Behind CloudFront the address API Gateway sees is CloudFront's. The edge's viewer-request function writes the
viewer's address into VIEWER_ADDRESS_HEADER, over anything the client sent, and it is believed only on a
request that carries the secret: elsewhere anyone could write it.

The secret is `{"current": ..., "previous": ...}` in Secrets Manager. Either value is accepted, so a rotation
(README, "Rotating the origin secret") never refuses what CloudFront sends with the one before.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing.aws import aws_clients
from billing.errors import ConfigurationUnavailable, NotThroughTheEdge
from billing.keys import Secrets
from billing.settings import get_settings

ORIGIN_SECRET_HEADER = "x-origin-verify"  # noqa: S105 (its name; the value is in Secrets Manager)
VIEWER_ADDRESS_HEADER = "x-viewer-address"
_MIN_SECRET_CHARS = 32


class _OriginSecretValue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    current: Annotated[str, Field(min_length=_MIN_SECRET_CHARS)]
    # Empty once a rotation is over (an empty header is never compared: `client_address`).
    previous: Annotated[str, Field(pattern=rf"^(.{{{_MIN_SECRET_CHARS},}})?$")] = ""


class OriginSecret:
    """The values CloudFront may present: the current one, and during a rotation the one before."""

    def __init__(self, secrets: Secrets, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def matches(self, presented: str) -> bool:
        try:
            value = _OriginSecretValue.model_validate_json(self._secrets.read(self._secret_id))
        except ValidationError:
            raise ConfigurationUnavailable("the origin secret is not {current, previous} JSON") from None
        given = presented.encode()
        # Both compared, each in constant time: neither the answer nor its timing tells which one matched.
        matched = [hmac.compare_digest(given, v.encode()) for v in (value.current, value.previous)]
        return any(matched)


def client_address(event: dict[str, Any], origin_secret: OriginSecret | None, *, direct_allowed: bool) -> str:
    """The client's address: the viewer's, for a request CloudFront sent; otherwise the connection's.

    With the edge on (`origin_secret`), a request without the secret is NotThroughTheEdge unless the route
    takes `direct_allowed` requests. Without the edge, every request is direct.
    """
    headers = event.get("headers") or {}
    connection = str(((event.get("requestContext") or {}).get("http") or {}).get("sourceIp") or "unknown")
    if origin_secret is None:
        return connection
    presented = headers.get(ORIGIN_SECRET_HEADER)
    # No header, no Secrets Manager read: a stranger's requests to the execute-api URL cost nothing.
    if presented and origin_secret.matches(presented):
        viewer = headers.get(VIEWER_ADDRESS_HEADER)
        if not _is_address(viewer):
            raise ConfigurationUnavailable("CloudFront sent no viewer address (the edge's viewer function)")
        return str(viewer)
    if direct_allowed:
        return connection
    raise NotThroughTheEdge("no valid origin secret")


def _is_address(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))  # str(None) is no address either
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def get_origin_secret() -> OriginSecret | None:
    """The container's origin secret, or None when the stack has no edge (ORIGIN_SECRET_ID empty)."""
    settings = get_settings()
    if not settings.origin_secret_id:
        return None
    secrets = Secrets(settings.secret_max_age_seconds, client=aws_clients().secretsmanager)
    return OriginSecret(secrets, settings.origin_secret_id)
