"""template.yaml: cfn-lint finds nothing and the decisions it carries hold (design.md D1-D4, D7-D9, D11, D14).

The template is read with cfn-lint's own loader, which turns !Ref/!If/!Sub into {"Ref": ...} dicts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from billing.app import ISSUE_BILLING_PATH, SMOKE_CHECK_EVENT, WEBHOOK_PATH
from local.template import ROOT, TEMPLATE, load_template

# The only routes the API has (D1: explicit routes, no $default or proxy).
EXPECTED_ROUTES = {
    ("POST", ISSUE_BILLING_PATH),
    ("GET", "/subscriptions/plans"),
    ("GET", "/subscriptions/terms"),
    ("POST", "/subscriptions/schedule"),
    ("GET", "/subscriptions"),
    ("GET", "/subscriptions/{customer_uid}"),
    ("PUT", "/subscriptions/{customer_uid}/card"),
    ("POST", "/subscriptions/{customer_uid}/price-consent"),
    ("DELETE", "/subscriptions/{customer_uid}/schedules/{merchant_uid}"),
    ("DELETE", "/subscriptions/{customer_uid}"),
    ("POST", "/subscriptions/{customer_uid}/erasure"),
    ("POST", WEBHOOK_PATH),
}
# PortOne's notices carry no token, and the terms are shown before anyone signs in: the only routes
# without the JWT authorizer.
OPEN_ROUTES = {f"POST {WEBHOOK_PATH}", "GET /subscriptions/terms"}
API_GATEWAY_INTEGRATION_LIMIT_S = 30
# Lambda's python3.13 runtime in the Seoul region and the default one.
LINT_REGIONS = ["ap-northeast-2", "us-east-1"]
# Variables the stores, the authorizer-aware code and the card-testing limits read (D7-D9).
NEW_ENV_VARS = {
    "TABLE_NAME": {"Ref": "BillingTable"},
    "RECORDS_TABLE_NAME": {"Ref": "RecordsTable"},
    "HMAC_KEY_SECRET_ID": {"Ref": "HmacKeySecret"},
    "JWT_ISSUER": {"Ref": "JwtIssuer"},
    "JWT_AUDIENCE": {"Ref": "JwtAudience"},
    "JWT_SCOPE": {"Ref": "JwtScope"},
}
LIMIT_ENV_VARS = [
    "LIMIT_WINDOW_SECONDS",
    "LIMIT_ATTEMPTS_PER_CALLER",
    "LIMIT_FAILURES_PER_ADDRESS",
    "LIMIT_ATTEMPTS_PER_CARD",
    "LIMIT_FAILURES_PER_CALLER",
]
NO_VALUE = {"Ref": "AWS::NoValue"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def function(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["BillingFunction"]["Properties"]


@pytest.fixture(scope="module")
def api(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["BillingApi"]["Properties"]


@pytest.fixture(scope="module")
def stage(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["BillingApiStage"]["Properties"]


@pytest.fixture(scope="module")
def routes(resources: dict[str, Any]) -> dict[bool, dict[str, dict[str, Any]]]:
    """Each route's properties as CloudFormation gets them, by UseJwt: {use_jwt: {logical id: properties}}."""
    return {
        use_jwt: {
            name: _route_properties(res, use_jwt=use_jwt) for name, res in _route_resources(resources).items()
        }
        for use_jwt in (True, False)
    }


@pytest.fixture(scope="module")
def table(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["BillingTable"]


def _of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == type_}


def _route_resources(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(resources, "AWS::ApiGatewayV2::Route")


def _route_properties(route: dict[str, Any], *, use_jwt: bool) -> dict[str, Any]:
    """A route's Properties: a plain mapping, or one Fn::If on UseJwt that picks the whole mapping."""
    props = route["Properties"]
    if set(props) != {"Fn::If"}:
        return dict(props)
    condition, with_jwt, without_jwt = props["Fn::If"]
    assert condition == "UseJwt"
    return dict(with_jwt if use_jwt else without_jwt)


def _events(resources: dict[str, Any], type_: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for fn_name, fn in _of_type(resources, "AWS::Serverless::Function").items():
        for ev_name, ev in fn["Properties"].get("Events", {}).items():
            if ev["Type"] == type_:
                yield f"{fn_name}.{ev_name}", ev["Properties"]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _secret_arn_expr() -> dict[str, Any]:
    return {"Fn::If": ["CreateSecret", {"Ref": "PortOneSecret"}, {"Ref": "PortOneSecretArn"}]}


def _policies(function: dict[str, Any], name: str) -> list[Any]:
    return [p[name] for p in function["Policies"] if isinstance(p, dict) and name in p]


# --- cfn-lint ------------------------------------------------------------------------------------------


# Each template, and the regions it is deployed to: edge.yaml's only in us-east-1 (CloudFront's web ACLs).
TEMPLATES = [(TEMPLATE, LINT_REGIONS), (ROOT / "edge.yaml", ["us-east-1"])]


@pytest.mark.parametrize(("path", "regions"), TEMPLATES, ids=lambda v: getattr(v, "name", ""))
def test_cfn_lint_finds_nothing(path: Any, regions: list[str]) -> None:
    # Given the template, when cfn-lint checks it (errors and warnings, as `cfn-lint template.yaml` does)
    matches = lint_file(path, config=ManualArgs(regions=regions))

    # Then there is not a single finding
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize(("path", "regions"), TEMPLATES, ids=lambda v: getattr(v, "name", ""))
def test_sam_validate_lint_passes(path: Any, regions: list[str]) -> None:
    # `make test` builds the SAM CLI in its own virtualenv and names it in SAM_CLI.
    sam = os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam"))
    result = subprocess.run(
        [sam, "validate", "--lint", "--template-file", str(path), "--region", regions[0]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- API (D1) ------------------------------------------------------------------------------------------


def test_the_only_api_is_the_billing_http_api(resources: dict[str, Any], api: dict[str, Any]) -> None:
    # Plain AWS::ApiGatewayV2 resources: SAM's HttpApi Auth takes no Fn::If (the authorizer is optional).
    assert list(_of_type(resources, "AWS::ApiGatewayV2::Api")) == ["BillingApi"]
    assert api["ProtocolType"] == "HTTP"
    for type_ in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
        assert not _of_type(resources, type_), type_
    # SAM would make an implicit API (with a $default stage of its own) for any such event.
    assert not list(_events(resources, "HttpApi"))
    assert not list(_events(resources, "Api"))


@pytest.mark.parametrize("use_jwt", [True, False])
def test_api_has_exactly_the_explicit_routes(
    routes: dict[bool, dict[str, dict[str, Any]]], use_jwt: bool
) -> None:
    # Given every AWS::ApiGatewayV2::Route, with and without the authorizer, when their route keys are read
    keys = [tuple(props["RouteKey"].split(" ", 1)) for props in routes[use_jwt].values()]

    # Then they are the application's routes, each once, and none is a catch-all
    assert sorted(keys) == sorted(EXPECTED_ROUTES)
    for method, path in keys:
        assert method not in {"ANY", "$default"}
        assert "+}" not in path, "no greedy proxy paths"


@pytest.mark.parametrize("use_jwt", [True, False])
def test_every_route_is_on_the_api_and_targets_the_integration(
    routes: dict[bool, dict[str, dict[str, Any]]], use_jwt: bool
) -> None:
    for name, props in routes[use_jwt].items():
        assert props["ApiId"] == {"Ref": "BillingApi"}, name
        assert props["Target"] == {"Fn::Sub": "integrations/${BillingIntegration}"}, name


def test_each_route_exists_in_both_configurations_and_only_its_authorizer_depends_on_use_jwt(
    resources: dict[str, Any], routes: dict[bool, dict[str, dict[str, Any]]]
) -> None:
    authorization = {"AuthorizationType", "AuthorizerId", "AuthorizationScopes"}
    for name, route in _route_resources(resources).items():
        # SAM CLI ignores resource Conditions and cannot resolve AWS::NoValue inside Fn::If (sam local
        # start-api crashed on an AuthorizerId with it): no route has either
        assert "Condition" not in route, name
        assert NO_VALUE not in list(_walk(route)), name
        # and nothing but the authorization properties differs between the two branches
        with_jwt, without_jwt = routes[True][name], routes[False][name]
        assert {k: v for k, v in with_jwt.items() if k not in authorization} == {
            k: v for k, v in without_jwt.items() if k not in authorization
        }, name


def test_integration_is_the_function_as_lambda_proxy_with_payload_2(resources: dict[str, Any]) -> None:
    integrations = _of_type(resources, "AWS::ApiGatewayV2::Integration")
    props = integrations["BillingIntegration"]["Properties"]

    assert list(integrations) == ["BillingIntegration"]
    assert props["ApiId"] == {"Ref": "BillingApi"}
    assert props["IntegrationType"] == "AWS_PROXY"
    assert props["IntegrationUri"] == {"Fn::GetAtt": ["BillingFunction", "Arn"]}
    assert props["PayloadFormatVersion"] == "2.0"


def test_integration_outlasts_the_function(template: dict[str, Any], resources: dict[str, Any]) -> None:
    # So a slow request ends in the function's own JSON error, not API Gateway's bare 503.
    props = resources["BillingIntegration"]["Properties"]
    function_timeout_s = template["Globals"]["Function"]["Timeout"]

    assert props["TimeoutInMillis"] == API_GATEWAY_INTEGRATION_LIMIT_S * 1000
    assert function_timeout_s * 1000 < props["TimeoutInMillis"]


def test_invoke_permission_is_scoped_to_this_api(resources: dict[str, Any]) -> None:
    permissions = _of_type(resources, "AWS::Lambda::Permission")
    props = permissions["BillingApiInvokePermission"]["Properties"]

    assert list(permissions) == ["BillingApiInvokePermission"]
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["FunctionName"] == {"Fn::GetAtt": ["BillingFunction", "Arn"]}
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert props["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${BillingApi}/*/*"
    }


# --- JWT authorizer (D8) ---------------------------------------------------------------------------------


def test_jwt_is_off_unless_an_issuer_is_given(template: dict[str, Any]) -> None:
    params = template["Parameters"]

    assert params["JwtIssuer"]["Default"] == ""
    assert template["Conditions"]["UseJwt"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}


def test_jwt_parameters_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]

    assert params["JwtAudience"]["Type"] == "String"
    assert params["JwtAudience"]["Default"] == ""
    assert params["JwtScope"]["Default"] == "billing/write"
    assert re.fullmatch(params["JwtScope"]["AllowedPattern"], params["JwtScope"]["Default"])
    assert not re.fullmatch(params["JwtScope"]["AllowedPattern"], "")


def test_an_issuer_without_an_audience_is_refused(template: dict[str, Any]) -> None:
    # Given the rule CloudFormation checks before it creates anything
    rule = template["Rules"]["JwtAudienceWithIssuer"]

    # Then it applies when JwtIssuer is set, and asserts JwtAudience is not empty
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}
    assert [a["Assert"] for a in rule["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]}
    ]


def test_jwt_authorizer_exists_only_under_use_jwt(resources: dict[str, Any]) -> None:
    authorizers = _of_type(resources, "AWS::ApiGatewayV2::Authorizer")
    authorizer = authorizers["JwtAuthorizer"]
    props = authorizer["Properties"]

    assert list(authorizers) == ["JwtAuthorizer"]
    assert authorizer["Condition"] == "UseJwt"
    assert props["ApiId"] == {"Ref": "BillingApi"}
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": {"Fn::Split": [",", {"Ref": "JwtAudience"}]},
    }


def test_every_route_uses_the_jwt_authorizer_and_scope_under_use_jwt_none_otherwise(
    routes: dict[bool, dict[str, dict[str, Any]]],
) -> None:
    with_jwt = routes[True]
    guarded = {name: props for name, props in with_jwt.items() if props["RouteKey"] not in OPEN_ROUTES}
    assert len(guarded) == len(EXPECTED_ROUTES) - len(OPEN_ROUTES)
    for name, props in guarded.items():
        assert props["AuthorizationType"] == "JWT", name
        assert props["AuthorizerId"] == {"Ref": "JwtAuthorizer"}, name
        assert props["AuthorizationScopes"] == [{"Ref": "JwtScope"}], name
    for name, props in routes[False].items():
        assert props["AuthorizationType"] == "NONE", name
        assert "AuthorizerId" not in props, name
        assert "AuthorizationScopes" not in props, name


def test_only_the_portone_notice_and_terms_routes_are_open(
    routes: dict[bool, dict[str, dict[str, Any]]],
) -> None:
    open_props = [p for p in routes[True].values() if p["AuthorizationType"] == "NONE"]
    assert {p["RouteKey"] for p in open_props} == OPEN_ROUTES
    for props in open_props:
        assert "AuthorizerId" not in props
        assert "AuthorizationScopes" not in props


# --- CORS (D1) -------------------------------------------------------------------------------------------


def test_cors_origins_come_from_the_parameter_never_star(
    template: dict[str, Any], api: dict[str, Any]
) -> None:
    cors = api["CorsConfiguration"]
    param = template["Parameters"]["AllowedOrigins"]

    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert param["Type"] == "CommaDelimitedList"
    origins = [o.strip() for o in str(param["Default"]).split(",")]
    assert origins
    for origin in origins:
        assert origin != "*"
        assert re.fullmatch(r"https?://[^/*\s]+", origin), origin
    assert cors.get("AllowCredentials") is not True
    # and CloudFormation refuses a "*" passed at deploy time
    rule = template["Rules"]["NoWildcardOrigin"]["Assertions"][0]["Assert"]
    assert rule == {"Fn::Not": [{"Fn::Contains": [{"Ref": "AllowedOrigins"}, "*"]}]}


def test_cors_allows_the_headers_the_page_sends_and_only_routed_methods(api: dict[str, Any]) -> None:
    cors = api["CorsConfiguration"]
    headers = {h.lower() for h in cors["AllowHeaders"]}
    methods = {m.upper() for m in cors["AllowMethods"]}

    assert {"content-type", "authorization", "idempotency-key"} <= headers
    assert "*" not in headers
    assert methods == {m for m, _ in EXPECTED_ROUTES} | {"OPTIONS"}
    assert isinstance(cors.get("MaxAge"), int)


def test_cors_exposes_the_headers_the_page_reads(api: dict[str, Any]) -> None:
    exposed = {h.lower() for h in api["CorsConfiguration"]["ExposeHeaders"]}

    # Retry-After on a 429 (D9), Idempotency-Replayed on a replayed answer (D7)
    assert exposed == {"retry-after", "idempotency-replayed"}


# --- stage (D1, D9, D11) ---------------------------------------------------------------------------------


def test_stage_is_the_auto_deployed_default_stage(resources: dict[str, Any], stage: dict[str, Any]) -> None:
    assert list(_of_type(resources, "AWS::ApiGatewayV2::Stage")) == ["BillingApiStage"]
    assert stage["ApiId"] == {"Ref": "BillingApi"}
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True


def test_routes_are_throttled(stage: dict[str, Any]) -> None:
    settings = stage["DefaultRouteSettings"]

    assert 0 < settings["ThrottlingRateLimit"] <= 100
    assert 0 < settings["ThrottlingBurstLimit"] <= 200


def test_the_webhook_has_its_own_throttle_sized_by_parameters(
    template: dict[str, Any], resources: dict[str, Any], routes: dict[bool, dict[str, dict[str, Any]]]
) -> None:
    # Given the stage's per-route settings
    stage = resources["BillingApiStage"]
    settings = stage["Properties"]["RouteSettings"]
    webhook = f"POST {WEBHOOK_PATH}"
    [route_name] = {n for variant in routes.values() for n, r in variant.items() if r["RouteKey"] == webhook}

    # Then only PortOne's notices have their own bucket, from the two parameters, and the stage waits for
    # the route it names (CloudFormation refuses RouteSettings for a route that does not exist yet)
    assert set(settings) == {webhook}
    assert settings[webhook] == {
        "ThrottlingBurstLimit": {"Ref": "WebhookThrottleBurst"},
        "ThrottlingRateLimit": {"Ref": "WebhookThrottleRate"},
    }
    assert route_name in _as_list(stage.get("DependsOn"))
    parameters = template["Parameters"]
    rate, burst = parameters["WebhookThrottleRate"], parameters["WebhookThrottleBurst"]
    assert (rate["Type"], burst["Type"]) == ("Number", "Number")
    card_routes = stage["Properties"]["DefaultRouteSettings"]
    assert rate["Default"] >= card_routes["ThrottlingRateLimit"]
    assert burst["Default"] >= rate["Default"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value else []


def test_channel_and_anonymous_settings_default_to_production(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    # A stack deployed with the defaults is a live one that refuses test-channel keys and lets only
    # signed-in customers subscribe; staging and demo stacks say otherwise explicitly.
    env = function["Environment"]["Variables"]
    parameters = template["Parameters"]
    expected = {
        "PORTONE_CHANNEL": ("PortOneChannel", "live", ["live", "test"]),
        "PORTONE_SANDBOX_KEY_ON_LIVE": ("PortOneSandboxKeyOnLive", "refuse", ["refuse", "accept"]),
        "ALLOW_ANONYMOUS_SUBSCRIPTIONS": ("AllowAnonymousSubscriptions", "false", ["true", "false"]),
    }
    for variable, (parameter, default, allowed) in expected.items():
        assert env[variable] == {"Ref": parameter}, variable
        assert parameters[parameter]["Default"] == default, parameter
        assert sorted(parameters[parameter]["AllowedValues"]) == sorted(allowed), parameter


def test_access_log_goes_to_its_group(stage: dict[str, Any]) -> None:
    settings = stage["AccessLogSettings"]

    assert settings["DestinationArn"] == {"Fn::GetAtt": ["BillingApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in settings["Format"]


def test_access_log_holds_no_body_header_or_query(stage: dict[str, Any]) -> None:
    fmt = stage["AccessLogSettings"]["Format"]

    for leak in ("$context.requestBody", "$input", "$request.", "$context.authorizer"):
        assert leak not in fmt


# --- runtime (D2) ----------------------------------------------------------------------------------------


def test_runtime_is_python313_on_arm64_by_default(template: dict[str, Any], function: dict[str, Any]) -> None:
    globals_fn = template["Globals"]["Function"]
    param = template["Parameters"]["Architecture"]

    assert globals_fn["Runtime"] == "python3.13"
    assert function.get("Runtime", globals_fn["Runtime"]) == "python3.13"
    assert param["Default"] == "arm64"
    assert set(param["AllowedValues"]) == {"arm64", "x86_64"}
    assert function.get("Architectures", globals_fn["Architectures"]) == [{"Ref": "Architecture"}]


def test_function_code_and_handler(function: dict[str, Any]) -> None:
    assert function["CodeUri"] == "functions/"
    assert function["Handler"] == "billing.app.lambda_handler"
    assert (ROOT / "functions").is_dir()


def test_timeout_answers_inside_api_gateway_limit(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    default = template["Globals"]["Function"]["Timeout"]
    for name, fn in _of_type(resources, "AWS::Serverless::Function").items():
        timeout = fn["Properties"].get("Timeout", default)
        assert isinstance(timeout, int), name
        assert 0 < timeout < API_GATEWAY_INTEGRATION_LIMIT_S, name


def test_powertools_settings_never_log_the_event(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]

    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert env["POWERTOOLS_SERVICE_NAME"] == "billing"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "PortOneBilling"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert template["Parameters"]["LogLevel"]["Default"] == "INFO"


# --- layer (D3) ------------------------------------------------------------------------------------------


def test_layer_is_built_by_its_makefile_for_the_function(
    resources: dict[str, Any], function: dict[str, Any], template: dict[str, Any]
) -> None:
    layer = resources["DepsLayer"]
    props = layer["Properties"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    assert props["ContentUri"] == "layers/deps/"
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert props["RetentionPolicy"] == "Delete"
    assert {"Ref": "DepsLayer"} in function["Layers"]

    makefile = (ROOT / "layers" / "deps" / "Makefile").read_text()
    assert re.search(r"^build-DepsLayer:", makefile, re.MULTILINE)
    # SAM does not pass the architecture to make: the recipe's default must be the template's.
    default_arch = template["Parameters"]["Architecture"]["Default"]
    assert re.search(rf"^LAYER_ARCH \?= {default_arch}$", makefile, re.MULTILINE)
    assert (ROOT / "layers" / "deps" / "requirements.txt").is_file()


# --- secret (D4) -----------------------------------------------------------------------------------------


def test_secret_reads_are_scoped_to_the_two_secrets(function: dict[str, Any]) -> None:
    reads = _policies(function, "AWSSecretsManagerGetSecretValuePolicy")

    # The PortOne keys (D4) and the HMAC key (D7, D9), each by its own ARN
    assert reads == [{"SecretArn": _secret_arn_expr()}, {"SecretArn": {"Ref": "HmacKeySecret"}}]


def test_policies_are_templates_with_no_wildcard(function: dict[str, Any]) -> None:
    # No managed policy by name (e.g. SecretsManagerReadWrite) and no wildcard resource anywhere.
    assert all(isinstance(p, dict) for p in function["Policies"])
    assert "*" not in [v for v in _walk(function["Policies"]) if isinstance(v, str)]


def test_environment_names_the_secret_and_portone_settings(function: dict[str, Any]) -> None:
    env = function["Environment"]["Variables"]

    assert env["PORTONE_SECRET_ID"] == _secret_arn_expr()
    assert env["PORTONE_BASE_URL"] == {"Ref": "PortOneBaseUrl"}
    assert env["PORTONE_PG"] == {"Ref": "PortOnePg"}
    assert env["PORTONE_CHANNEL_KEY"] == {"Ref": "PortOneChannelKey"}
    assert env["PORTONE_CHECKING_AMOUNT"] == {"Ref": "PortOneCheckingAmount"}


def test_environment_names_the_table_the_hmac_key_and_the_jwt_settings(function: dict[str, Any]) -> None:
    env = function["Environment"]["Variables"]

    assert {name: env.get(name) for name in NEW_ENV_VARS} == NEW_ENV_VARS


@pytest.mark.parametrize("name", [*NEW_ENV_VARS, *LIMIT_ENV_VARS])
def test_new_environment_values_are_plain_strings_or_refs(function: dict[str, Any], name: str) -> None:
    # Local tools (sam local, local/invoke.py) resolve only a literal or a Ref to a parameter or resource.
    value = function["Environment"]["Variables"][name]

    assert isinstance(value, str) or (isinstance(value, dict) and set(value) == {"Ref"}), value


@pytest.mark.parametrize("name", LIMIT_ENV_VARS)
def test_card_testing_limits_are_positive_integers(function: dict[str, Any], name: str) -> None:
    value = function["Environment"]["Variables"][name]

    # A string (Lambda's environment holds strings), of a positive integer
    assert isinstance(value, str)
    assert re.fullmatch(r"[1-9][0-9]*", value), value


# --- table (D7, D8, D9) ----------------------------------------------------------------------------------


def test_the_live_table_keyed_by_pk_with_the_reconcilers_index(
    resources: dict[str, Any], table: dict[str, Any]
) -> None:
    from billing.access import CUSTOMER_INDEX
    from billing.subscription_store import WORK_INDEX

    props = table["Properties"]

    # Live data in one table; the records the law requires in another (D16, PIPA §21③)
    assert list(_of_type(resources, "AWS::DynamoDB::Table")) == ["BillingTable", "RecordsTable"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "work", "AttributeType": "S"},
        {"AttributeName": "next_work_at", "AttributeType": "N"},
        {"AttributeName": "subscription", "AttributeType": "S"},
        {"AttributeName": "period", "AttributeType": "N"},
        {"AttributeName": "customer", "AttributeType": "S"},
        {"AttributeName": "created_at", "AttributeType": "N"},
    ]
    # The reconciler reads what is due by time, never the whole table (a sparse index, keys only)
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": WORK_INDEX,
            "KeySchema": [
                {"AttributeName": "work", "KeyType": "HASH"},
                {"AttributeName": "next_work_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
        {
            "IndexName": "period-ids",
            "KeySchema": [
                {"AttributeName": "subscription", "KeyType": "HASH"},
                {"AttributeName": "period", "KeyType": "RANGE"},
            ],
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": ["customer_uid", "attempt", "amount", "status", "imp_uid"],
            },
        },
        # A signed-in customer's live uids by the token's subject (GET /subscriptions)
        {
            "IndexName": CUSTOMER_INDEX,
            "KeySchema": [
                {"AttributeName": "customer", "KeyType": "HASH"},
                {"AttributeName": "created_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]
    assert "LocalSecondaryIndexes" not in props


def test_table_expires_items_by_expires_at(table: dict[str, Any]) -> None:
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_table_is_encrypted_and_recoverable(table: dict[str, Any]) -> None:
    props = table["Properties"]

    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_table_outlives_the_stack(table: dict[str, Any]) -> None:
    # Ownership records (D8) cannot be rebuilt: neither deleting the stack nor replacing the table drops them.
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_table_access_is_scoped_to_the_table(function: dict[str, Any]) -> None:
    dynamodb = [p for p in function["Policies"] if any(name.startswith("DynamoDB") for name in p)]

    assert dynamodb == []  # no managed CRUD policy: the statement below names each action
    [statement] = [
        s
        for p in function["Policies"]
        if "Statement" in p
        for s in p["Statement"]
        if "dynamodb:GetItem" in s["Action"]
    ]
    assert sorted(statement["Action"]) == [
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    ]
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["BillingTable", "Arn"]},
        {"Fn::Sub": "${BillingTable.Arn}/index/*"},
    ]


def test_the_records_table_is_apart_keyed_by_customer_and_record_and_expires_by_ttl(
    resources: dict[str, Any], function: dict[str, Any]
) -> None:
    # Given the table of records the law requires (records.py)
    records = resources["RecordsTable"]
    props = records["Properties"]

    # Then a customer's records are one partition, each record expires by TTL, and the table outlives
    # the stack, encrypted and recoverable
    assert props["KeySchema"] == [
        {"AttributeName": "customer_uid", "KeyType": "HASH"},
        {"AttributeName": "record_id", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert (records["DeletionPolicy"], records["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # And the function writes them and reads one customer's at a time (to close or move them), never all
    [statement] = [
        s
        for p in function["Policies"]
        for s in p.get("Statement", [])
        if s["Resource"] == {"Fn::GetAtt": ["RecordsTable", "Arn"]}
    ]
    assert sorted(statement["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]


# --- HMAC key (D7, D9) -----------------------------------------------------------------------------------


def test_hmac_key_is_generated_as_a_plain_string(resources: dict[str, Any]) -> None:
    secret = resources["HmacKeySecret"]
    props = secret["Properties"]
    gen = props["GenerateSecretString"]

    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "Condition" not in secret
    assert "SecretString" not in props, "the key is generated, never written in the template"
    assert gen["PasswordLength"] == 64
    assert gen["ExcludePunctuation"] is True
    # No template and key: the secret is the key itself, not JSON
    assert "SecretStringTemplate" not in gen
    assert "GenerateStringKey" not in gen


def test_hmac_key_goes_with_the_stack(resources: dict[str, Any]) -> None:
    # A new key only resets counters and idempotency body checks, which expire anyway.
    secret = resources["HmacKeySecret"]

    assert secret["DeletionPolicy"] == "Delete"
    assert secret["UpdateReplacePolicy"] == "Delete"


def test_created_secret_holds_no_key(template: dict[str, Any]) -> None:
    secret = template["Resources"]["PortOneSecret"]
    gen = secret["Properties"]["GenerateSecretString"]

    assert secret["Condition"] == "CreateSecret"
    assert template["Conditions"]["CreateSecret"] == {"Fn::Equals": [{"Ref": "PortOneSecretArn"}, ""]}
    assert template["Parameters"]["PortOneSecretArn"]["Default"] == ""
    assert "SecretString" not in secret["Properties"]
    assert json.loads(gen["SecretStringTemplate"]) == {"imp_key": "REPLACE_ME"}
    assert gen["GenerateStringKey"] == "imp_secret"


# --- logs (D11) ------------------------------------------------------------------------------------------


def test_function_logs_json_to_its_own_group_with_retention(
    template: dict[str, Any], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    logging_config = function["LoggingConfig"]
    retention = template["Parameters"]["LogRetentionDays"]

    assert logging_config == {
        "LogFormat": "JSON",
        # LogLevel sets Lambda's own filter too: with JSON logs it drops what it does not pass
        "ApplicationLogLevel": {"Fn::FindInMap": ["LambdaLogLevels", {"Ref": "LogLevel"}, "Level"]},
        "LogGroup": {"Ref": "BillingFunctionLogGroup"},
    }
    levels = template["Mappings"]["LambdaLogLevels"]
    assert {name: level["Level"] for name, level in levels.items()} == {
        "DEBUG": "DEBUG",
        "INFO": "INFO",
        "WARNING": "WARN",
        "ERROR": "ERROR",
    }
    assert set(levels) == set(template["Parameters"]["LogLevel"]["AllowedValues"])
    assert resources["BillingFunctionLogGroup"]["Type"] == "AWS::Logs::LogGroup"
    for name, group in _of_type(resources, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert retention["Default"] == 30
    assert retention["Default"] in retention["AllowedValues"]


# --- smoke check (D14) -----------------------------------------------------------------------------------


def test_smoke_check_schedule_uses_the_parameters(template: dict[str, Any], function: dict[str, Any]) -> None:
    event = function["Events"]["SmokeCheck"]
    props = event["Properties"]

    assert event["Type"] == "ScheduleV2"
    assert props["ScheduleExpression"] == {"Ref": "SmokeCheckSchedule"}
    assert props["State"] == {"Fn::If": ["SmokeCheckOn", "ENABLED", "DISABLED"]}
    assert template["Conditions"]["SmokeCheckOn"] == {"Fn::Equals": [{"Ref": "SmokeCheckEnabled"}, "true"]}
    assert template["Parameters"]["SmokeCheckEnabled"]["Default"] == "true"
    assert template["Parameters"]["SmokeCheckSchedule"]["Default"] == "rate(15 minutes)"


def test_smoke_check_event_is_the_fixed_input(function: dict[str, Any]) -> None:
    props = function["Events"]["SmokeCheck"]["Properties"]

    assert json.loads(props["Input"]) == SMOKE_CHECK_EVENT


def test_the_reconciler_runs_on_its_own_schedule_without_retries(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    from billing.app import RECONCILE_EVENT

    event = function["Events"]["Reconcile"]
    props = event["Properties"]

    assert event["Type"] == "ScheduleV2"
    assert json.loads(props["Input"]) == RECONCILE_EVENT
    assert props["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert template["Parameters"]["ReconcileSchedule"]["Default"] == "rate(15 minutes)"
    assert props["RetryPolicy"] == {"MaximumRetryAttempts": 0}  # the next run is the retry
    env, parameters = function["Environment"]["Variables"], template["Parameters"]
    assert env["RENEWAL_OVERDUE_SECONDS"] == {"Ref": "RenewalOverdueSeconds"}
    assert parameters["RenewalOverdueSeconds"]["Default"] == 3600
    assert env["RETRY_DAYS"] == {"Ref": "RenewalRetryDays"}
    assert parameters["RenewalRetryDays"]["Default"] == "1,3,7"
    assert env["SUSPENDED_CANCEL_DAYS"] == {"Ref": "SuspendedCancelDays"}
    assert parameters["SuspendedCancelDays"]["Default"] == 30
    assert env["PRICE_INCREASE_WITHOUT_CONSENT"] == {"Ref": "PriceIncreaseWithoutConsent"}
    assert parameters["PriceIncreaseWithoutConsent"]["Default"] == "keep"


# --- outputs ---------------------------------------------------------------------------------------------


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": ["BillingApi", "ApiEndpoint"]}
    assert outputs["BillingFunctionName"]["Value"] == {"Ref": "BillingFunction"}
    assert outputs["PortOneSecretArn"]["Value"] == _secret_arn_expr()
    assert outputs["HmacKeySecretArn"]["Value"] == {"Ref": "HmacKeySecret"}
    assert outputs["TableName"]["Value"] == {"Ref": "BillingTable"}


def _function_variables(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """The function's environment as the template sets it: the Globals' variables, then its own."""
    return {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **function["Environment"]["Variables"],
    }


def _referenced_resources(value: Any, resources: dict[str, Any]) -> set[str]:
    """The template's resources an expression names: Ref, Fn::GetAtt, or ${X} and ${X.Attr} in Fn::Sub."""
    names: set[str] = set()
    for node in _walk(value):
        if not (isinstance(node, dict) and len(node) == 1):
            continue
        ((function, argument),) = node.items()
        if function == "Ref":
            names.add(argument)
        elif function == "Fn::GetAtt":
            names.add(argument[0] if isinstance(argument, list) else argument.split(".")[0])
        elif function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            names.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
    return names & set(resources)


@pytest.mark.parametrize("env_file", ["env.json", "env.signed_in.json"])
def test_the_env_files_give_every_variable_the_function_sets(
    template: dict[str, Any], function: dict[str, Any], env_file: str
) -> None:
    # `sam local invoke --env-vars` gives a variable the file leaves out the template's value as SAM CLI
    # resolves it: a resource's logical id (TABLE_NAME=BillingTable), a parameter's default, or "". So the
    # env file names every variable of the function, and of the Globals every one that is not a constant.
    env = json.loads((ROOT / "events" / env_file).read_text(encoding="utf-8"))["BillingFunction"]
    declared = _function_variables(template, function)
    constants = {
        name
        for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items()
        if isinstance(value, str)
    }

    assert set(function["Environment"]["Variables"]) | (set(declared) - constants) <= set(env)
    # and nothing the template does not declare: SAM CLI would ignore it, and it would only mislead
    assert set(env) <= set(declared)
    assert all(isinstance(value, str) for value in env.values())


def test_every_variable_naming_a_resource_is_a_stack_output_the_readme_names(
    template: dict[str, Any], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    # So an env file for `sam local invoke` against a deployed stack can be filled from its outputs
    outputs = template["Outputs"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = {
        variable: value
        for variable, value in _function_variables(template, function).items()
        if _referenced_resources(value, resources)
    }

    assert {"PORTONE_SECRET_ID", "HMAC_KEY_SECRET_ID", "TABLE_NAME", "NOTICE_URL"} <= set(named)
    for variable, value in named.items():
        # an output with the very same value, in every stack
        matching = [name for name, o in outputs.items() if o["Value"] == value]
        assert len(matching) == 1, f"{variable}: outputs with its value: {matching}"
        [output] = matching
        assert "Condition" not in outputs[output], output
        assert variable in outputs[output]["Description"], output
        # and the README's table says which output goes into which variable
        assert re.search(rf"^\| `{variable}` \| `{output}` \|", readme, re.MULTILINE), (variable, output)


# --- alarms ----------------------------------------------------------------------------------------------
# (Imports are local to these tests: this section is appended to a file others edit at the top.)

EXPECTED_ALARMS = {
    "SmokeCheckAlarm",
    "SmokeCheckMissingAlarm",
    "Api5xxAlarm",
    "CardRejectionAlarm",
    "LatencyAlarm",
    "SandboxKeyAlarm",
    "RenewalOverdueAlarm",
    "RenewalStoppedAlarm",
    "NoticeIgnoredAlarm",
    "SubscriptionEventsFailedAlarm",
    "FailedInvocationsAlarm",
    "PageChangedAlarm",
    "PageCheckMissingAlarm",
}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}


@pytest.fixture(scope="module")
def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(resources, "AWS::CloudWatch::Alarm")


def _metric_stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's metrics by id: {"Namespace", "MetricName", "Dimensions", "Period", "Stat"}."""
    stats = {}
    for query in alarm["Properties"]["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            stats[query["Id"]] = {**stat["Metric"], "Period": stat["Period"], "Stat": stat["Stat"]}
    return stats


def _expression(alarm: dict[str, Any]) -> str:
    [returned] = [q for q in alarm["Properties"]["Metrics"] if q.get("ReturnData", True)]
    return str(returned["Expression"])


def _metric_math(expression: str, **values: float | None) -> float:
    """Evaluate a CloudWatch metric-math expression of IF, FILL, comparisons and arithmetic on one datapoint.

    None is a missing datapoint. Division by zero gives NaN, as metric math does; IF's branches are both
    evaluated, so a guarded division must not raise.
    """
    import ast
    import math

    class SafeDivision(ast.NodeTransformer):
        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.op, ast.Div):
                return ast.Call(ast.Name("DIV", ast.Load()), [node.left, node.right], [])
            return node

    tree = ast.fix_missing_locations(SafeDivision().visit(ast.parse(expression, mode="eval")))
    functions = {
        "IF": lambda condition, then, otherwise: then if condition else otherwise,
        "FILL": lambda value, default: default if value is None else value,
        "DIV": lambda a, b: a / b if b else math.nan,
    }
    return float(eval(compile(tree, "<metric math>", "eval"), {"__builtins__": {}}, {**functions, **values}))  # noqa: S307


def test_alarm_topic_is_an_optional_sns_arn(template: dict[str, Any]) -> None:
    param = template["Parameters"]["AlarmTopicArn"]
    pattern = param["AllowedPattern"]

    assert param["Type"] == "String"
    assert param["Default"] == ""
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, "arn:aws:sns:ap-northeast-2:123456789012:billing-alarms")
    assert not re.fullmatch(pattern, "arn:aws:sqs:ap-northeast-2:123456789012:billing-alarms")
    assert not re.fullmatch(pattern, "billing-alarms")
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }


def test_the_alarms_are_the_signals_smoke_checks_and_the_go_live_guard(alarms: dict[str, Any]) -> None:
    assert set(alarms) == EXPECTED_ALARMS


def test_every_alarm_notifies_the_topic_only_when_one_is_given(alarms: dict[str, Any]) -> None:
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == ALARM_ACTIONS, name
        assert props["OKActions"] == ALARM_ACTIONS, name
        assert props.get("ActionsEnabled", True) is True, name
        assert "AlarmName" not in props, f"{name}: generated names, so two stacks do not clash"
        assert props["TreatMissingData"] in {"notBreaching", "breaching"}, name


def test_function_metrics_are_read_where_powertools_writes_them(
    template: dict[str, Any], alarms: dict[str, Any]
) -> None:
    # Powertools EMF: the namespace and a `service` dimension from the Globals' environment.
    from billing.app import _OUTCOME_METRICS, _metric_name
    from billing.errors import CardRejected
    from billing.page_check import PAGE_CHANGED_METRIC
    from billing.renewals import OVERDUE_METRIC, STOPPED_METRIC
    from billing.service import SANDBOX_KEY_METRIC

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    emitted = {
        "SmokeCheckFailed",
        "SmokeCheckPassed",
        *_OUTCOME_METRICS.values(),
        _metric_name(CardRejected.code),
        SANDBOX_KEY_METRIC,
        OVERDUE_METRIC,
        STOPPED_METRIC,
        "NoticeIgnored",
        PAGE_CHANGED_METRIC,
    }
    read = []
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        metrics = list(_metric_stats(alarm).values()) if "Metrics" in props else [props]
        for metric in metrics:
            if metric["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]:
                assert metric["Dimensions"] == [
                    {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}
                ], name
                assert metric["MetricName"] in emitted, name
                read.append(metric["MetricName"])
            else:
                assert metric["Namespace"] in {"AWS/Lambda", "AWS/ApiGateway", "AWS/SQS"}, name
    assert set(read) == {
        "SmokeCheckFailed",
        "SmokeCheckPassed",
        "CardRejected",
        "BillingKeyIssued",
        SANDBOX_KEY_METRIC,
        OVERDUE_METRIC,
        STOPPED_METRIC,
        "NoticeIgnored",
        PAGE_CHANGED_METRIC,
    }


def test_smoke_check_alarm_fires_on_one_failure_or_one_failed_invocation(alarms: dict[str, Any]) -> None:
    alarm = alarms["SmokeCheckAlarm"]
    props = alarm["Properties"]
    stats = _metric_stats(alarm)
    expression = _expression(alarm)

    assert stats["failed"]["MetricName"] == "SmokeCheckFailed"
    assert stats["errors"] == {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "BillingFunction"}}],
        "Period": 300,
        "Stat": "Sum",
    }
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        1,
    )
    assert _metric_math(expression, failed=1, errors=None) >= 1
    assert _metric_math(expression, failed=None, errors=1) >= 1
    assert _metric_math(expression, failed=None, errors=None) < 1
    assert _metric_math(expression, failed=0, errors=0) < 1


def test_missing_smoke_checks_alarm_exists_only_with_the_schedule_on(alarms: dict[str, Any]) -> None:
    alarm = alarms["SmokeCheckMissingAlarm"]
    props = alarm["Properties"]

    assert alarm["Condition"] == "SmokeCheckOn"
    assert props["MetricName"] == "SmokeCheckPassed"
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["Threshold"] == 1
    # No datapoint at all is the failure it looks for.
    assert props["TreatMissingData"] == "breaching"
    assert props["Period"] * props["EvaluationPeriods"] >= 3600


def test_5xx_alarm_is_a_rate_of_the_api_with_a_minimum_count(alarms: dict[str, Any]) -> None:
    alarm = alarms["Api5xxAlarm"]
    props = alarm["Properties"]
    stats = _metric_stats(alarm)
    expression = _expression(alarm)
    api = [{"Name": "ApiId", "Value": {"Ref": "BillingApi"}}]

    assert (stats["errors"]["MetricName"], stats["errors"]["Dimensions"]) == ("5xx", api)
    assert (stats["requests"]["MetricName"], stats["requests"]["Dimensions"]) == ("Count", api)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    threshold = props["Threshold"]
    assert _metric_math(expression, errors=3, requests=60) >= threshold  # 5%
    assert _metric_math(expression, errors=3, requests=100) < threshold  # 3%
    assert _metric_math(expression, errors=2, requests=2) < threshold  # too few to judge
    assert _metric_math(expression, errors=None, requests=100) < threshold
    assert _metric_math(expression, errors=None, requests=None) < threshold


def test_card_rejection_alarm_is_a_ratio_over_a_minimum_of_rejections(alarms: dict[str, Any]) -> None:
    alarm = alarms["CardRejectionAlarm"]
    props = alarm["Properties"]
    stats = _metric_stats(alarm)
    expression = _expression(alarm)

    assert stats["rejected"]["MetricName"] == "CardRejected"
    assert stats["issued"]["MetricName"] == "BillingKeyIssued"
    assert stats["rejected"]["Period"] == stats["issued"]["Period"] == 900
    threshold = props["Threshold"]
    assert _metric_math(expression, rejected=5, issued=5) >= threshold  # half rejected
    assert _metric_math(expression, rejected=20, issued=None) >= threshold  # a card tester, nothing issued
    assert _metric_math(expression, rejected=5, issued=45) < threshold  # a busy, normal day
    assert _metric_math(expression, rejected=4, issued=None) < threshold  # too few to judge
    assert _metric_math(expression, rejected=None, issued=None) < threshold


def test_latency_alarm_watches_p99_below_the_function_timeout(
    template: dict[str, Any], alarms: dict[str, Any]
) -> None:
    props = alarms["LatencyAlarm"]["Properties"]
    timeout_ms = template["Globals"]["Function"]["Timeout"] * 1000

    assert (props["Namespace"], props["MetricName"]) == ("AWS/ApiGateway", "Latency")
    assert props["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "BillingApi"}}]
    assert props["ExtendedStatistic"] == "p99"
    assert 0 < props["Threshold"] < timeout_ms
    assert props["EvaluationPeriods"] >= 2, "one slow request must not page anyone"


def test_every_alarm_and_log_group_is_an_output(template: dict[str, Any], alarms: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    by_value = {json.dumps(o["Value"], sort_keys=True): (name, o) for name, o in outputs.items()}

    for name, alarm in alarms.items():
        output_name, output = by_value[json.dumps({"Ref": name})]
        assert output.get("Condition") == alarm.get("Condition"), output_name
    assert outputs["FunctionLogGroupName"]["Value"] == {"Ref": "BillingFunctionLogGroup"}
    assert outputs["ApiAccessLogGroupName"]["Value"] == {"Ref": "BillingApiAccessLogGroup"}


# --- issue 11: what lint and moto do not show -----------------------------------------------------------


def test_scheduled_invocations_are_not_retried_and_failures_land_in_a_queue(
    function: dict[str, Any], resources: dict[str, Any]
) -> None:
    # A failing smoke check runs once per tick, not three times (Lambda's async retries)
    config = function["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 0
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]},
    }
    queue = resources["FailedInvocationsQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    alarm = resources["FailedInvocationsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedInvocationsQueue", "QueueName"]}}
    ]


def test_the_layer_is_named_per_stack(resources: dict[str, Any]) -> None:
    assert resources["DepsLayer"]["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-deps"}


def test_parameters_have_the_bounds_the_settings_enforce(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    # A value the function's settings refuse must not deploy (it would answer 500 to every request)
    import typing

    from billing.settings import Settings

    parameters = template["Parameters"]
    variables = function["Environment"]["Variables"]
    checked = 0
    for variable, value in variables.items():
        name = variable.lower()
        if not (isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters):
            continue
        if name not in Settings.model_fields:
            continue
        parameter, field = parameters[value["Ref"]], Settings.model_fields[name]
        bounds = {
            key: getattr(m, key)
            for m in field.metadata
            for key in ("max_length", "pattern", "ge", "le")
            if getattr(m, key, None) is not None
        }
        if typing.get_origin(field.annotation) is typing.Literal:
            assert set(parameter["AllowedValues"]) == set(typing.get_args(field.annotation)), variable
        if "max_length" in bounds:
            assert parameter["MaxLength"] == bounds["max_length"], variable
        if "pattern" in bounds:
            assert parameter["AllowedPattern"] == bounds["pattern"], variable
        if "ge" in bounds:
            assert parameter["MinValue"] == bounds["ge"], variable
        if "le" in bounds:
            assert parameter["MaxValue"] == bounds["le"], variable
        checked += 1
    assert checked >= 10


def test_the_sample_events_are_what_api_gateway_sends() -> None:
    # content-length in UTF-8 bytes of the body as sent; a form-encoded body arrives base64-encoded
    import base64
    import json

    from local.template import ROOT

    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(event, dict) or event.get("body") is None:
            continue
        encoded = bool(event.get("isBase64Encoded"))
        sent = base64.b64decode(event["body"]) if encoded else event["body"].encode("utf-8")
        assert event["headers"]["content-length"] == str(len(sent)), path.name
        if event["headers"].get("content-type", "").startswith("application/x-www-form-urlencoded"):
            assert encoded, path.name


@pytest.mark.parametrize("value", ["999.1.1.1", "052.78.100.19", "52.78.100.19,", "52.78.100.19/32"])
def test_a_notice_allow_list_the_function_would_refuse_does_not_deploy(
    template: dict[str, Any], value: str
) -> None:
    pattern = template["Parameters"]["NoticeSourceIps"]["AllowedPattern"]
    assert re.fullmatch(pattern, value) is None
    assert re.fullmatch(pattern, "52.78.100.19,52.78.48.223,52.78.5.241")
