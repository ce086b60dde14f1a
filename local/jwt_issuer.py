"""A development OpenID issuer on loopback, for the JWT authorizer emulation (`make dev ARGS=--jwt`).

An RSA key is generated at start and lives only in memory. The issuer serves what API Gateway reads from a
real one (`/.well-known/openid-configuration` and its `jwks_uri`) and signs development access tokens:

    curl -s -X POST http://localhost:3001/dev/token -d '{"sub": "user-1"}'
    {"access_token": "eyJ...", "token_type": "Bearer", "expires_in": 3600, "scope": "billing/write"}

`sub` is required; `scope` (default: the stack's JwtScope) and `expires_in` (seconds, at most a day) are
optional. Browsers on the page's origins may call `/dev/token` (CORS), which is how the card page signs
in when `make dev` runs with `--jwt`. Anyone on this machine can mint tokens: it is for development only.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any, Self, cast

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local.api import AppServer, Cors, HttpResponse, LoopbackServer, QuietHandler

TOKEN_PATH = "/dev/token"  # noqa: S105 (a URL path, not a password)
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_AUDIENCE = "billing-web-local"
DEFAULT_LIFETIME = 3600
MAX_LIFETIME = 86_400
_SUBJECT = re.compile(r"[A-Za-z0-9_.@|:-]{1,128}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*")  # RFC 6749 scope-token list


class DevIssuer:
    """Binds its port at construction, so `url` (the `iss` of its tokens) is known before it serves."""

    def __init__(
        self,
        port: int = 0,
        *,
        audience: str = DEFAULT_AUDIENCE,
        scope: str = "billing/write",
        allowed_origins: Sequence[str] = (),
        public_host: str = "localhost",
    ) -> None:
        self.audience = audience
        self.scope = scope
        self._cors = Cors(
            allow_origins=tuple(allowed_origins),
            allow_methods=("POST", "OPTIONS"),
            allow_headers=("content-type",),
            max_age=600,
        )
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self._server = LoopbackServer(IssuerHandler, port, public_host=public_host)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> Self:
        self._server.start(self)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the issuer publishes ---

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.url + JWKS_PATH,
            "token_endpoint": self.url + TOKEN_PATH,
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": self.scope.split(),
        }

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]}

    def token(
        self,
        subject: str,
        *,
        scope: str | None = None,
        audience: str | None = None,
        expires_in: int = DEFAULT_LIFETIME,
        issuer: str | None = None,
    ) -> str:
        """A signed access token; the keyword arguments let tests make wrong ones."""
        now = int(time.time())
        claims = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": audience or self.audience,
            "scope": self.scope if scope is None else scope,
            "iat": now,
            "exp": now + expires_in,
            "jti": secrets.token_hex(8),
            "token_use": "access",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    # --- HTTP ---

    def handle(self, method: str, path: str, body: bytes, origin: str | None) -> HttpResponse:
        cors = self._cors.response_headers(origin) if origin and self._cors.allows(origin) else {}
        if method == "OPTIONS" and path == TOKEN_PATH:
            headers = self._cors.preflight_headers(origin) if origin and self._cors.allows(origin) else {}
            return HttpResponse(204, headers)
        if method == "GET" and path == DISCOVERY_PATH:
            return _json(200, self.discovery(), cors)
        if method == "GET" and path == JWKS_PATH:
            return _json(200, self.jwks(), cors)
        if method == "POST" and path == TOKEN_PATH:
            return self._issue(body, cors)
        return _json(404, {"error": "not_found"}, cors)

    def _issue(self, body: bytes, cors: dict[str, str]) -> HttpResponse:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _json(400, {"error": "invalid_request", "error_description": "the body is not JSON"}, cors)
        if not isinstance(request, dict):
            return _json(400, {"error": "invalid_request", "error_description": "send a JSON object"}, cors)
        subject, scope = request.get("sub"), request.get("scope", self.scope)
        expires_in = request.get("expires_in", DEFAULT_LIFETIME)
        problems = []
        if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
            problems.append("sub: 1-128 of A-Z a-z 0-9 _ . @ | : -")
        if not isinstance(scope, str) or (scope and not _SCOPE.fullmatch(scope)):
            problems.append("scope: space-separated scope tokens")
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or not 1 <= expires_in <= MAX_LIFETIME
        ):
            problems.append(f"expires_in: 1-{MAX_LIFETIME} seconds")
        if problems:
            return _json(400, {"error": "invalid_request", "error_description": "; ".join(problems)}, cors)
        token = self.token(cast(str, subject), scope=cast(str, scope), expires_in=expires_in)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
        return _json(200, answer, {**cors, "cache-control": "no-store"})


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json", **headers}, json.dumps(body).encode())


class IssuerHandler(QuietHandler):
    def _handle(self) -> None:
        issuer = cast(DevIssuer, cast(AppServer, self.server).app)
        body = self.read_body()
        response = issuer.handle(self.command, self.path.split("?")[0], body, self.headers.get("origin"))
        self.send(response)

    do_GET = do_POST = do_OPTIONS = _handle
