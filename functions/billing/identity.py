"""Who is calling: the JWT authorizer's verified claims, or an anonymous caller (design.md D8).

The caller is read only from `requestContext.authorizer.jwt.claims`, which API Gateway fills after it has
verified the token; nothing the client sends in headers or the body can name a caller. When the stack has
no JWT authorizer (`JWT_ISSUER` empty: local and demo stacks) every caller is anonymous.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from billing.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Caller:
    subject: str | None  # the token's `sub`; None for an anonymous caller
    client_ip: str

    @property
    def anonymous(self) -> bool:
        return self.subject is None

    @property
    def key(self) -> str:
        """The caller as limits count it and records name it: the account, or an anonymous address."""
        return f"sub:{self.subject}" if self.subject else f"ip:{self.address}"

    @property
    def address(self) -> str:
        """The client address as the card-testing limits count it (design.md D9): an IPv4 address, or the
        IPv6 /64 it belongs to (one subscriber's network: a single host may use any of its 2^64 addresses)."""
        try:
            ip = ipaddress.ip_address(self.client_ip)
        except ValueError:
            return self.client_ip
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
                return str(ip.ipv4_mapped)
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)


def caller_from_event(event: dict[str, Any], *, issuer: str, scope: str, client_ip: str) -> Caller:
    """The verified caller, checked again here so a misconfigured route cannot skip the authorizer.
    `client_ip` is the client's address as the edge tells it (edge.py)."""
    context = event.get("requestContext") or {}
    if not issuer:
        return Caller(subject=None, client_ip=client_ip)
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    subject, token_issuer = claims.get("sub"), claims.get("iss")
    if not isinstance(subject, str) or not subject or token_issuer != issuer:
        raise Unauthorized("no verified JWT claims for this route")
    if scope and scope not in _scopes(claims):
        raise Forbidden("the token lacks the route's scope")
    return Caller(subject=subject, client_ip=client_ip)


def _scopes(claims: dict[str, Any]) -> set[str]:
    # OAuth 2 access tokens carry `scope` as one space-separated string (Cognito, Auth0, Okta); some
    # issuers use an `scp` list, which API Gateway flattens to "[a b]".
    raw = str(claims.get("scope") or claims.get("scp") or "")
    return set(raw.strip("[]").replace(",", " ").split())
