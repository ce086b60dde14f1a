"""The local HTTP API answers as API Gateway's HTTP API would: routes, CORS, the JWT authorizer, events.

In process, around a function that records its events: no stack, no browser.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.api import (
    HttpRequest,
    JwtAuthorizer,
    LocalApi,
    Route,
    api_definition,
    parameters_from_environment,
)
from local.dev import LOCAL_WEB_ACL_ARN, WEB_ROOT, StaticSite, endpoint_variables
from local.invoke import FUNCTION, function_environment
from local.jwt_issuer import DevIssuer
from local.page import content_security_policy
from local.template import ROOT, function_definition, load_template

ORIGIN = "http://localhost:8080"
OTHER_ORIGIN = "http://127.0.0.1:9999"
ISSUE = "/subscriptions/issue-billing"
SAMPLE = json.loads((ROOT / "events" / "issue_billing.json").read_text())


class Recorder:
    """A function that keeps its events and answers like the billing function (CORS headers included)."""

    def __init__(self, answer: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
            "body": json.dumps({"status": "success"}),
        }

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def request(
    method: str = "POST",
    target: str = ISSUE,
    body: bytes = b"{}",
    origin: str | None = ORIGIN,
    **headers: str,
) -> HttpRequest:
    pairs = [("Host", "localhost:3000"), ("Content-Type", "application/json"), ("User-Agent", "test")]
    if origin:
        pairs.append(("Origin", origin))
    pairs += [(name.replace("_", "-"), value) for name, value in headers.items()]
    return HttpRequest(method, target, pairs, body, source_ip="127.0.0.1", server_port=3000)


@pytest.fixture
def function() -> Recorder:
    return Recorder()


@pytest.fixture
def api(function: Recorder) -> LocalApi:
    return LocalApi(api_definition({"AllowedOrigins": ORIGIN}), function)


def route_properties(*, with_jwt: bool) -> list[dict[str, Any]]:
    """Each route's properties as template.yaml writes them for a stack with or without an issuer (a
    route the authorizer may guard has its whole Properties in one `Fn::If` on UseJwt)."""
    resources = load_template()["Resources"].values()
    chosen = []
    for resource in resources:
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            properties = resource["Properties"]
            if "Fn::If" in properties:
                _, jwt, no_jwt = properties["Fn::If"]
                properties = jwt if with_jwt else no_jwt
            chosen.append(properties)
    return chosen


def test_routes_and_cors_come_from_the_template(api: LocalApi) -> None:
    keys = {properties["RouteKey"] for properties in route_properties(with_jwt=False)}
    assert {route.key for route in api.definition.routes} == keys
    assert all(route.authorization == "NONE" for route in api.definition.routes)  # no JwtIssuer
    cors = api.definition.cors
    assert cors is not None
    assert cors.allow_origins == (ORIGIN,)
    assert {"content-type", "idempotency-key", "authorization"} <= set(cors.allow_headers)
    assert {"retry-after", "idempotency-replayed"} <= set(cors.expose_headers)
    assert "POST" in cors.allow_methods
    assert cors.max_age == 600


def test_literal_segments_win_over_parameters() -> None:
    routes = (
        Route("GET", "/subscriptions/{customer_uid}"),
        Route("GET", "/subscriptions/plans"),
        Route("DELETE", "/subscriptions/{customer_uid}/schedules/{merchant_uid}"),
        Route("ANY", "/files/{path+}"),
    )
    definition = api_definition({})
    definition = type(definition)(routes=routes, cors=None)
    assert definition.find("GET", "/subscriptions/plans") == (routes[1], {})
    assert definition.find("GET", "/subscriptions/cu_1") == (routes[0], {"customer_uid": "cu_1"})
    assert definition.find("DELETE", "/subscriptions/cu_1/schedules/m_2") == (
        routes[2],
        {"customer_uid": "cu_1", "merchant_uid": "m_2"},
    )
    assert definition.find("PUT", "/files/a/b") == (routes[3], {"path": "a/b"})
    assert definition.find("POST", "/subscriptions/cu_1") is None
    assert definition.find("GET", "/subscriptions/cu_1/extra") is None
    assert definition.find("GET", "/subscriptions/") is None


@pytest.mark.parametrize(("method", "target"), [("POST", "/nope"), ("PUT", ISSUE), ("POST", ISSUE + "/x")])
def test_an_unknown_route_is_api_gateways_404(
    api: LocalApi, function: Recorder, method: str, target: str
) -> None:
    response = api.handle(request(method, target))
    assert response.status == 404
    assert response.json() == {"message": "Not Found"}
    assert function.events == []


def test_preflight_from_an_allowed_origin_gets_the_configured_headers(
    api: LocalApi, function: Recorder
) -> None:
    response = api.handle(
        request(
            "OPTIONS",
            body=b"",
            access_control_request_method="POST",
            access_control_request_headers="content-type,idempotency-key",
        )
    )
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"].split(",")
    assert "idempotency-key" in response.headers["access-control-allow-headers"].split(",")
    assert response.headers["access-control-max-age"] == "600"
    assert function.events == []


def test_preflight_from_another_origin_gets_no_cors_headers(api: LocalApi, function: Recorder) -> None:
    response = api.handle(
        request("OPTIONS", body=b"", origin=OTHER_ORIGIN, access_control_request_method="POST")
    )
    assert response.status == 204
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert function.events == []


def test_answers_carry_cors_headers_for_allowed_origins_only(api: LocalApi) -> None:
    allowed = api.handle(request())
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-expose-headers"] == "retry-after,idempotency-replayed"
    assert allowed.headers["apigw-requestid"]
    # The function's own "Access-Control-Allow-Origin: *" is dropped, as API Gateway drops it
    other = api.handle(request(origin=OTHER_ORIGIN))
    assert not [h for h in other.headers if h.startswith("access-control-")]


def test_the_event_has_the_shape_of_the_sample_event(api: LocalApi, function: Recorder) -> None:
    body = SAMPLE["body"].encode()
    api.handle(request(body=body, idempotency_key="key-0001-abcd", accept="application/json"))
    (event,) = function.events

    def shape(value: Any) -> Any:
        return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value).__name__

    sample_shape, event_shape = shape(SAMPLE), shape(event)
    sample_shape["headers"] = event_shape["headers"] = "dict"  # the sample's headers are its own
    assert event_shape == sample_shape
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /subscriptions/issue-billing"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == ISSUE
    assert event["body"] == SAMPLE["body"]
    assert event["isBase64Encoded"] is False
    assert event["headers"]["idempotency-key"] == "key-0001-abcd"
    assert event["headers"]["x-forwarded-for"] == event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "$default"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", event["requestContext"]["time"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", event["requestContext"]["requestId"])
    assert all(name == name.lower() for name in event["headers"])


def test_the_event_carries_cookies_query_and_path_parameters(function: Recorder) -> None:
    definition = api_definition({"AllowedOrigins": ORIGIN})
    api = LocalApi(definition, function)
    api.handle(request("GET", "/subscriptions/cu_1?a=1&a=2&b=", body=b"", cookie="s=1; t=2"))
    (event,) = function.events
    assert event["routeKey"] == "GET /subscriptions/{customer_uid}"
    assert event["pathParameters"] == {"customer_uid": "cu_1"}
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert "body" not in event


def test_a_binary_body_arrives_base64_encoded(api: LocalApi, function: Recorder) -> None:
    api.handle(request(body=b"\xff\x00card", content_type="application/octet-stream"))
    (event,) = function.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00card"


def test_the_functions_answer_becomes_the_response(function: Recorder) -> None:
    function.answer = {
        "statusCode": 201,
        "headers": {"X-Thing": "1"},
        "cookies": ["a=b; Secure"],
        "body": base64.b64encode(b"\x01\x02").decode(),
        "isBase64Encoded": True,
    }
    response = LocalApi(api_definition({"AllowedOrigins": ORIGIN}), function).handle(request())
    assert (response.status, response.body, response.cookies) == (201, b"\x01\x02", ["a=b; Secure"])
    assert response.headers["x-thing"] == "1"


def test_a_failing_function_is_api_gateways_500(function: Recorder) -> None:
    function.answer = RuntimeError("boom")
    response = LocalApi(api_definition({"AllowedOrigins": ORIGIN}), function).handle(request())
    assert response.status == 500
    assert response.json() == {"message": "Internal Server Error"}


# --- the JWT authorizer ---

AUDIENCE = "billing-web-local"
SCOPE = "billing/write"


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    issuer = DevIssuer(0, audience=AUDIENCE, scope=SCOPE, allowed_origins=[ORIGIN])
    yield issuer
    issuer.stop()


@pytest.fixture
def signed_api(issuer: DevIssuer, function: Recorder) -> LocalApi:
    parameters = {
        "AllowedOrigins": ORIGIN,
        "JwtIssuer": issuer.url,
        "JwtAudience": AUDIENCE,
        "JwtScope": SCOPE,
    }
    definition = api_definition(parameters)
    return LocalApi(definition, function, JwtAuthorizer(issuer.url, [AUDIENCE], issuer.jwks))


def test_with_an_issuer_the_routes_require_its_token_and_scope(signed_api: LocalApi) -> None:
    conditional = {
        properties["RouteKey"]
        for properties in route_properties(with_jwt=True)
        if properties["AuthorizationType"] == "JWT"
    }
    assert "POST /subscriptions/issue-billing" in conditional
    for route in signed_api.definition.routes:
        expected = ("JWT", (SCOPE,)) if route.key in conditional else ("NONE", ())
        assert (route.authorization, route.scopes) == expected


def test_a_valid_token_passes_its_claims_as_strings(
    signed_api: LocalApi, issuer: DevIssuer, function: Recorder
) -> None:
    token = issuer.token("user-1", scope=f"openid {SCOPE}")
    response = signed_api.handle(request(authorization=f"Bearer {token}"))
    assert response.status == 200
    jwt_context = function.events[0]["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("user-1", issuer.url, AUDIENCE)
    assert claims["scope"] == f"openid {SCOPE}"
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["exp"].isdigit()
    assert jwt_context["scopes"] == ["billing/write", "openid"]


@pytest.mark.parametrize(
    ("case", "description"),
    [
        ("missing", "the token is missing"),
        ("garbage", "the token is not valid"),
        ("expired", "the token has expired"),
        ("other audience", "the token does not have a valid audience"),
        ("other issuer", "the token does not have a valid issuer"),
        ("other key", "the token is not valid"),
    ],
)
def test_a_bad_token_is_api_gateways_401(
    signed_api: LocalApi, issuer: DevIssuer, function: Recorder, case: str, description: str
) -> None:
    tokens = {
        "missing": "",
        "garbage": "not-a-jwt",
        "expired": issuer.token("user-1", expires_in=-60),
        "other audience": issuer.token("user-1", audience="someone-else"),
        "other issuer": issuer.token("user-1", issuer="https://issuer.example/"),
    }
    if case == "other key":
        stranger = DevIssuer(0, audience=AUDIENCE)
        stranger.key_id = issuer.key_id  # same kid, different key: the signature must fail
        tokens[case] = stranger.token("user-1", issuer=issuer.url)
        stranger.stop()
    headers = {"authorization": f"Bearer {tokens[case]}"} if tokens[case] else {}
    response = signed_api.handle(request(**headers))
    assert response.status == 401
    assert response.json() == {"message": "Unauthorized"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert description in response.headers["www-authenticate"]
    assert response.headers["access-control-allow-origin"] == ORIGIN  # the page can read the 401
    assert function.events == []


def test_a_token_without_the_routes_scope_is_api_gateways_403(
    signed_api: LocalApi, issuer: DevIssuer, function: Recorder
) -> None:
    response = signed_api.handle(request(authorization=f"Bearer {issuer.token('user-1', scope='profile')}"))
    assert response.status == 403
    assert response.json() == {"message": "Forbidden"}
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert function.events == []


def test_the_dev_issuer_publishes_discovery_and_signs_tokens_on_request(issuer: DevIssuer) -> None:
    issuer.start()
    discovery = requests.get(f"{issuer.url}/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == issuer.url
    assert requests.get(discovery["jwks_uri"], timeout=5).json()["keys"][0]["kid"] == issuer.key_id
    answer = requests.post(
        f"{issuer.url}/dev/token", json={"sub": "user-2"}, headers={"Origin": ORIGIN}, timeout=5
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    token = answer.json()
    assert (token["token_type"], token["scope"], token["expires_in"]) == ("Bearer", SCOPE, 3600)
    # The authorizer that reads keys the way API Gateway does (discovery, then jwks_uri) accepts it
    authorizer = JwtAuthorizer.from_discovery(issuer.url, [AUDIENCE])
    context = authorizer.authorize(f"Bearer {token['access_token']}", Route("POST", ISSUE, "JWT", (SCOPE,)))
    assert context["jwt"]["claims"]["sub"] == "user-2"
    # A bad request says what is wrong; another origin gets no CORS headers
    bad = requests.post(
        f"{issuer.url}/dev/token", json={"sub": ""}, headers={"Origin": OTHER_ORIGIN}, timeout=5
    )
    assert bad.status_code == 400
    assert "sub" in bad.json()["error_description"]
    assert "access-control-allow-origin" not in bad.headers


# --- wiring of make dev ---


def test_template_parameters_are_recovered_from_the_functions_environment() -> None:
    function = function_definition(FUNCTION)
    environment = function_environment(function, ROOT / "events" / "env.json")
    environment["JWT_ISSUER"] = "http://localhost:3001"
    parameters = parameters_from_environment(function, environment)
    assert parameters["JwtIssuer"] == "http://localhost:3001"
    assert parameters["JwtScope"] == environment["JWT_SCOPE"]


def test_variables_built_from_the_api_url_get_the_local_api_or_the_local_edge() -> None:
    function = function_definition(FUNCTION)
    variables = load_template()["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    from_api = {n for n, v in variables.items() if isinstance(v, dict) and "ApiEndpoint" in str(v)}
    api = {"BillingApi.ApiEndpoint": "http://localhost:3000"}
    found = endpoint_variables(function, dict.fromkeys(from_api, ""), {}, api)
    assert found == {"NOTICE_URL": "http://localhost:3000/webhooks/portone"}
    # With the edge, on the edge's domain
    edge = {"EdgeWebAclArn": LOCAL_WEB_ACL_ARN}
    found = endpoint_variables(function, {}, edge, api | {"Distribution.DomainName": "localhost:8080"})
    assert found == {
        "NOTICE_URL": "https://localhost:8080/webhooks/portone",
        "PAGE_URL": "https://localhost:8080",
    }
    # An env file's own value is kept
    assert endpoint_variables(function, dict.fromkeys(from_api, "https://set"), {}, api) == {}


def test_the_page_is_served_with_its_policy_and_this_stacks_config() -> None:
    site = StaticSite(WEB_ROOT, "http://localhost:3000", "http://localhost:3001/dev/token")
    page = site.handle("GET", "/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src http://localhost:3000 http://localhost:3001;" in policy
    assert "frame-ancestors 'none'" in policy
    html = page.body.decode()
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert meta is not None
    assert meta[1] == content_security_policy(
        ["http://localhost:3000", "http://localhost:3001/dev/token"], meta=True
    )
    assert "frame-ancestors" not in meta[1]  # not allowed in a <meta> policy
    assert "<script>" not in html  # no inline scripts
    assert "style=" not in html  # nor inline styles
    config = site.handle("GET", "/config.js").body.decode()
    assert 'API_BASE_URL = "http://localhost:3000"' in config
    assert site.handle("GET", "/app.js").headers["content-type"].startswith("text/javascript")
    for target in ("/../local/api.py", "/%2e%2e/template.yaml", "/nope.js", "/.gitignore"):
        assert site.handle("GET", target).status == 404
    assert site.handle("POST", "/").status == 405
