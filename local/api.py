"""A local HTTP API that behaves like the deployed API Gateway HTTP API (design.md D1, D13).

It reads the API from template.yaml: every `AWS::ApiGatewayV2::Route` (its RouteKey, AuthorizationType and
AuthorizationScopes) and the `BillingApi`'s CorsConfiguration, with the template's own conditions and
parameters resolved (`UseJwt` is on when `JwtIssuer` has a value). Then, as API Gateway does:

- an unknown route answers 404 `{"message":"Not Found"}` and never reaches the function;
- a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, with the
  configured headers for an allowed origin and none for any other origin, so the browser blocks it; every
  other answer to an allowed origin gets Access-Control-Allow-Origin and the exposed headers, and CORS
  headers from the function are dropped;
- a JWT route checks `Authorization: Bearer <token>` (signature by the issuer's JWKS, iss, aud or client_id,
  exp, nbf, and one of the route's scopes): 401 `{"message":"Unauthorized"}` or 403 `{"message":"Forbidden"}`
  with a `www-authenticate` header, else the claims (each as a string) go to the function;
- the request becomes a payload 2.0 event shaped like events/issue_billing.json, the function's answer
  becomes the HTTP response, and an exception in the function is a 500 `{"message":"Internal Server Error"}`.

The function runs in this process, one invocation at a time (a Lambda container serves one request at a
time, and the Powertools resolver keeps the current event on a class attribute). Throttling is not
emulated. `local/dev.py` wires this to the embedded stack; tests build a `LocalApi` around any callable.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import re
import secrets
import socketserver
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import jwt

from local.lambda_context import LocalLambdaContext
from local.template import FunctionDefinition, load_template

logger = logging.getLogger("local.api")

API_RESOURCE = "BillingApi"
ROUTE_TYPE = "AWS::ApiGatewayV2::Route"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
ACCOUNT_ID = "123456789012"
API_ID = "local"
# Content types API Gateway passes as text; any other body reaches the function base64-encoded.
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-www-form-urlencoded|[\w.+-]*\+(json|xml)))$"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding", "date", "server"}
_NO_VALUE = object()  # AWS::NoValue: the property is left out


# --- the API as template.yaml defines it ---


@dataclass(frozen=True)
class Route:
    method: str  # "POST", or "ANY"
    path: str  # "/subscriptions/issue-billing", "/subscriptions/{customer_uid}", "/files/{proxy+}"
    authorization: str = "NONE"  # "NONE" or "JWT"
    scopes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when this route takes `method path`, else None."""
        if self.method not in ("ANY", method):
            return None
        want, got = self.path.strip("/").split("/"), path.strip("/").split("/")
        parameters: dict[str, str] = {}
        for index, segment in enumerate(want):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = "/".join(got[index:])
                if not rest:
                    return None
                parameters[segment[1:-2]] = rest
                return parameters
            if index >= len(got):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not got[index]:
                    return None
                parameters[segment[1:-1]] = got[index]
            elif segment != got[index]:
                return None
        return parameters if len(got) == len(want) else None

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Sort key: API Gateway prefers literal segments, then parameters, then greedy ones; ANY last."""
        segments = self.path.strip("/").split("/")
        greedy = sum(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments) - greedy
        return (greedy, params, int(self.method == "ANY"))


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        origin = origin.lower()
        for allowed in (o.lower() for o in self.allow_origins):
            if allowed == "*" or allowed == origin:
                return True
            if allowed.endswith("://*") and origin.startswith(allowed[:-1]):
                return True
        return False

    def response_headers(self, origin: str) -> dict[str, str]:
        headers = {"access-control-allow-origin": "*" if "*" in self.allow_origins else origin}
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if self.expose_headers:
            headers["access-control-expose-headers"] = ",".join(self.expose_headers)
        return headers

    def preflight_headers(self, origin: str) -> dict[str, str]:
        headers = {"access-control-allow-origin": "*" if "*" in self.allow_origins else origin}
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if self.allow_methods:
            headers["access-control-allow-methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return headers


@dataclass(frozen=True)
class ApiDefinition:
    routes: tuple[Route, ...]
    cors: Cors | None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in sorted(self.routes, key=lambda r: r.specificity):
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


def api_definition(parameters: Mapping[str, str], template: Mapping[str, Any] | None = None) -> ApiDefinition:
    """The routes and CORS of template.yaml with `parameters` (by name) over the parameters' defaults."""
    template = template if template is not None else load_template()
    resolver = _Resolver(template, parameters)
    resources = template["Resources"]
    routes = []
    for resource in resources.values():
        if resource["Type"] != ROUTE_TYPE:
            continue
        properties = resolver.resolve(resource["Properties"])
        route_key = str(properties["RouteKey"])
        if route_key == "$default":
            raise ValueError("a $default route is not emulated (design.md D1: explicit routes only)")
        method, path = route_key.split(" ", 1)
        routes.append(
            Route(
                method=method.upper(),
                path=path,
                authorization=str(properties.get("AuthorizationType", "NONE")),
                scopes=tuple(str(s) for s in properties.get("AuthorizationScopes", [])),
            )
        )
    cors_config = resolver.resolve(resources[API_RESOURCE]["Properties"]).get("CorsConfiguration")
    cors = None
    if cors_config:
        cors = Cors(
            allow_origins=tuple(cors_config.get("AllowOrigins", ())),
            allow_methods=tuple(m.upper() for m in cors_config.get("AllowMethods", ())),
            allow_headers=tuple(h.lower() for h in cors_config.get("AllowHeaders", ())),
            expose_headers=tuple(h.lower() for h in cors_config.get("ExposeHeaders", ())),
            max_age=int(cors_config["MaxAge"]) if "MaxAge" in cors_config else None,
            allow_credentials=bool(cors_config.get("AllowCredentials", False)),
        )
    return ApiDefinition(routes=tuple(routes), cors=cors, parameters=resolver.parameters)


def parameters_from_environment(
    function: FunctionDefinition, environment: Mapping[str, str], template: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Template parameters recovered from the function's environment (`JWT_ISSUER: !Ref JwtIssuer`)."""
    template = template if template is not None else load_template()
    variables = template["Resources"][function.logical_id]["Properties"].get("Environment", {})
    parameters = template.get("Parameters", {})
    found = {}
    for name, value in variables.get("Variables", {}).items():
        is_parameter = isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters
        if is_parameter and name in environment:
            found[str(value["Ref"])] = environment[name]
    return found


def resolve(
    value: Any,
    parameters: Mapping[str, str],
    attributes: Mapping[str, str],
    template: Mapping[str, Any] | None = None,
) -> Any:
    """A template expression with `parameters` (by name) over their defaults, and resources' attributes as
    `attributes` gives them (`{"BillingApi.ApiEndpoint": url}`)."""
    template = template if template is not None else load_template()
    return _Resolver(template, parameters, attributes).resolve(value)


class _Resolver:
    """Just enough of CloudFormation's intrinsic functions for the API's resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        given: Mapping[str, str],
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self._template = template
        self._attributes = dict(attributes or {})
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = str(given.get(name, spec.get("Default", "")))
            is_list = spec.get("Type") == "CommaDelimitedList"
            self.parameters[name] = [p.strip() for p in raw.split(",") if p.strip()] if is_list else raw
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self._template["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            resolved = [self.resolve(v) for v in value]
            return [i for i in resolved if i is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            function = _INTRINSICS.get(name)
            if function is not None:
                return function(self, argument)
        items = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        pseudo = {"AWS::Region": "ap-northeast-2", "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"}
        return pseudo.get(name, f"local-{name}")

    def sub(self, argument: Any) -> str:
        text, extra = (argument, {}) if isinstance(argument, str) else argument
        values = {k: self.resolve(v) for k, v in extra.items()}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(values.get(m[1], self._named(m[1]))), text)

    def _named(self, name: str) -> Any:
        """`${Name}` or `${Resource.Attribute}` in a Fn::Sub."""
        return self.get_att(name) if "." in name else self.ref(name)

    def get_att(self, name: str) -> str:
        return self._attributes.get(name, f"local-{name}")


_INTRINSICS: dict[str, Callable[[_Resolver, Any], Any]] = {
    "Ref": lambda r, a: r.ref(a),
    "Condition": lambda r, a: r.condition(a),
    "Fn::If": lambda r, a: r.resolve(a[1] if r.condition(a[0]) else a[2]),
    "Fn::Equals": lambda r, a: r.resolve(a[0]) == r.resolve(a[1]),
    "Fn::Not": lambda r, a: not r.resolve(a[0]),
    "Fn::And": lambda r, a: all(r.resolve(c) for c in a),
    "Fn::Or": lambda r, a: any(r.resolve(c) for c in a),
    "Fn::Split": lambda r, a: str(r.resolve(a[1])).split(a[0]),
    "Fn::Join": lambda r, a: a[0].join(str(v) for v in r.resolve(a[1])),
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::GetAtt": lambda r, a: r.get_att(".".join(a) if isinstance(a, list) else a),
}


# --- the JWT authorizer ---


class AuthorizerDenied(Exception):
    def __init__(self, status: int, error: str, description: str, scopes: Sequence[str]) -> None:
        super().__init__(description)
        self.status = status
        self.www_authenticate = (
            f'Bearer scope="{" ".join(scopes)}" error="{error}" error_description="{description}"'
        )


class JwtAuthorizer:
    """API Gateway's JWT authorizer: the issuer's keys, iss, aud (or client_id), exp/nbf and scopes.

    `jwks` returns the issuer's JSON Web Key Set; `from_discovery` reads it as API Gateway does, from
    `<issuer>/.well-known/openid-configuration`'s `jwks_uri`.
    """

    def __init__(self, issuer: str, audiences: Sequence[str], jwks: Callable[[], Mapping[str, Any]]) -> None:
        self.issuer = issuer
        self.audiences = tuple(audiences)
        self._jwks = jwks

    @classmethod
    def from_discovery(cls, issuer: str, audiences: Sequence[str]) -> JwtAuthorizer:
        cache: dict[str, Any] = {}

        def jwks() -> Mapping[str, Any]:
            if "keys" not in cache or time.monotonic() - cache["at"] > 300:
                discovery = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
                cache.update(keys=_get_json(str(discovery["jwks_uri"])), at=time.monotonic())
            return cast(Mapping[str, Any], cache["keys"])

        return cls(issuer, audiences, jwks)

    def authorize(self, authorization: str | None, route: Route) -> dict[str, Any]:
        """`requestContext.authorizer` for a valid token, else AuthorizerDenied (401 or 403)."""

        def deny(description: str) -> AuthorizerDenied:
            return AuthorizerDenied(401, "invalid_token", description, route.scopes)

        token = (authorization or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            raise deny("the token is missing")
        try:
            header = jwt.get_unverified_header(token)
            keys = jwt.PyJWKSet.from_dict(dict(self._jwks()))
            key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
            if key is None:
                raise deny("the token has no valid kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256", "RS384", "RS512"],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise deny("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise deny("the token does not have a valid issuer") from None
        except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError) as exc:
            raise deny(f"the token is not valid ({type(exc).__name__})") from None
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in self.audiences for a in audiences):
            raise deny("the token does not have a valid audience")
        granted = _token_scopes(claims)
        if route.scopes and not granted.intersection(route.scopes):
            raise AuthorizerDenied(
                403, "insufficient_scope", "the token does not have the required scopes", route.scopes
            )
        return {
            "jwt": {
                "claims": {name: _claim_string(value) for name, value in claims.items()},
                "scopes": sorted(granted) if route.scopes else None,
            }
        }


def _token_scopes(claims: Mapping[str, Any]) -> set[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    return set(raw) if isinstance(raw, list) else set(str(raw).split())


def _claim_string(value: Any) -> str:
    """Claims reach the function as strings, as API Gateway passes them (a list becomes "[a b]")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _get_json(url: str) -> Any:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("the issuer's URLs must be http or https")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (scheme checked above)
        return json.loads(response.read())


# --- requests, events and responses ---


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query string, as on the request line
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    server_port: int = 0
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def _gateway_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, {"content-type": "application/json", **(headers or {})}, body)


def request_id() -> str:
    """An id shaped like API Gateway's (`Zk8rQhXYoE0EJbA=`)."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def build_event(
    request: HttpRequest,
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    authorizer: Mapping[str, Any] | None = None,
    now: float | None = None,
    request_id_value: str | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway would send for `request` on `route`."""
    now = time.time() if now is None else now
    parts = urlsplit(request.target)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-port", str(request.server_port))
    headers.setdefault("x-forwarded-proto", "http")
    host = headers.get("host", "localhost").split(":")[0]
    stamp = time.gmtime(now)
    rid = request_id_value or request_id()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if parts.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    context |= {
        "domainName": host,
        "domainPrefix": host.split(".")[0],
        "http": {
            "method": request.method,
            "path": parts.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": rid,
        "routeKey": route.key,
        "stage": "$default",
        "time": time.strftime(f"%d/{_MONTHS[stamp.tm_mon - 1]}/%Y:%H:%M:%S +0000", stamp),
        "timeEpoch": int(now * 1000),
    }
    event["requestContext"] = context
    if request.body:
        media_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        text = _as_text(request.body) if _TEXT_TYPES.match(media_type) else None
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def response_from_result(result: Any) -> HttpResponse:
    """The HTTP response for a function's payload 2.0 answer (a dict without statusCode is JSON, 200)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return HttpResponse(200, {"content-type": "application/json"}, body)
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} is not an HTTP status")
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    raw = result.get("body")
    body = b""
    if raw is not None:
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    cookies = [str(c) for c in result.get("cookies") or []]
    return HttpResponse(status, headers, body, cookies)


class LocalApi:
    """The HTTP API in front of `function` (any callable taking an event and returning its answer)."""

    def __init__(
        self,
        definition: ApiDefinition,
        function: Callable[[dict[str, Any]], Any],
        authorizer: JwtAuthorizer | None = None,
    ) -> None:
        if authorizer is None and any(r.authorization == "JWT" for r in definition.routes):
            raise ValueError("the template's routes use the JWT authorizer: give one")
        self.definition = definition
        self._function = function
        self._authorizer = authorizer

    def handle(self, request: HttpRequest) -> HttpResponse:
        rid = request_id()
        origin = request.header("origin")
        cors = self.definition.cors
        preflight = request.method == "OPTIONS" and request.header("access-control-request-method")
        if cors is not None and origin and preflight:
            headers = cors.preflight_headers(origin) if cors.allows(origin) else {}
            return HttpResponse(204, headers | {"apigw-requestid": rid})
        response = self._route(request, rid)
        return self._finish(response, rid, origin)

    def _route(self, request: HttpRequest, rid: str) -> HttpResponse:
        if len(request.body) > MAX_BODY_BYTES:
            return _gateway_response(413, "Request Entity Too Large")
        found = self.definition.find(request.method, urlsplit(request.target).path)
        if found is None:
            return _gateway_response(404, "Not Found")
        route, path_parameters = found
        authorizer = None
        if route.authorization == "JWT":
            assert self._authorizer is not None  # checked in __init__
            try:
                authorizer = self._authorizer.authorize(request.header("authorization"), route)
            except AuthorizerDenied as denied:
                message = "Unauthorized" if denied.status == HTTPStatus.UNAUTHORIZED else "Forbidden"
                return _gateway_response(
                    denied.status, message, {"www-authenticate": denied.www_authenticate}
                )
        event = build_event(request, route, path_parameters, authorizer=authorizer, request_id_value=rid)
        try:
            return response_from_result(self._function(event))
        except Exception:
            logger.exception("the function failed on %s", route.key)
            return _gateway_response(500, "Internal Server Error")

    def _finish(self, response: HttpResponse, rid: str, origin: str | None) -> HttpResponse:
        cors = self.definition.cors
        headers = {k: v for k, v in response.headers.items() if k not in _HOP_BY_HOP}
        if cors is not None:
            # API Gateway ignores the integration's CORS headers when the API has a CORS configuration.
            headers = {k: v for k, v in headers.items() if not k.startswith("access-control-")}
            if origin and cors.allows(origin):
                headers |= cors.response_headers(origin)
                headers["vary"] = "origin"
        headers["apigw-requestid"] = rid
        response.headers = headers
        return response


class LambdaFunction:
    """The template's function, imported with its environment and invoked one event at a time."""

    def __init__(self, definition: FunctionDefinition, environment: Mapping[str, str]) -> None:
        self.definition = definition
        self._environment = dict(environment)
        self._lock = threading.Lock()
        module_name, function_name = definition.handler.rsplit(".", 1)
        with self._lock, mock.patch.dict(os.environ, self._environment):
            if str(definition.code_uri) not in sys.path:
                sys.path.insert(0, str(definition.code_uri))
            self._handler = getattr(importlib.import_module(module_name), function_name)

    def __call__(self, event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(
            function_name=self.definition.logical_id,
            memory_limit_in_mb=self.definition.memory_mb,
            timeout_seconds=self.definition.timeout,
        )
        with self._lock, mock.patch.dict(os.environ, self._environment):
            return self._handler(event, context)


# --- serving on loopback ---


class LoopbackServer:
    """A ThreadingHTTPServer bound at construction (a busy port fails early) and served on a thread.

    `url` uses `public_host` (default "localhost", the name the template's AllowedOrigins use) while the
    socket listens on 127.0.0.1 only.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        port: int,
        *,
        host: str = "127.0.0.1",
        public_host: str = "localhost",
    ) -> None:
        self.server = AppServer((host, port), handler)
        self._public_host = public_host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._public_host}:{self.port}"

    def start(self, app: Any = None) -> Self:
        """Serve `app` (what the handler class serves: a LocalApi, a site...) on a daemon thread."""
        if app is not None:
            self.server.app = app
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.url, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AppServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: Any = None  # what the handler serves, set by the owner before start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (a DNS round trip); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up before its answer was written (a timeout, a closed tab) is not an error here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, no version banner, and one access line per request at DEBUG."""

    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "local"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(min(length, MAX_BODY_BYTES + 1)) if length else b""

    def send(self, response: HttpResponse, *, head: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if not head:
            self.wfile.write(response.body)


class ApiHandler(QuietHandler):
    def _handle(self) -> None:
        api = cast(LocalApi, cast(AppServer, self.server).app)
        body = self.read_body()
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=cast(AppServer, self.server).server_address[1],
            protocol=self.request_version,
        )
        started = time.monotonic()
        response = api.handle(request)
        logger.info(
            "%s %s %d %.0fms",
            self.command,
            urlsplit(self.path).path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        self.send(response, head=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle
