"""template.yaml: cfn-lint finds nothing, and the decisions it carries hold (design.md D1-D4, D11, D14).

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

from billing.app import ISSUE_BILLING_PATH, SMOKE_CHECK_EVENT
from local.template import ROOT, TEMPLATE, load_template

# The only routes the API has (D1: explicit routes, no $default or proxy).
EXPECTED_ROUTES = {("POST", ISSUE_BILLING_PATH)}
API_GATEWAY_INTEGRATION_LIMIT_S = 30
# Lambda's python3.13 runtime in the Seoul region and the default one.
LINT_REGIONS = ["ap-northeast-2", "us-east-1"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def function(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["BillingFunction"]["Properties"]


def _of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == type_}


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


# --- cfn-lint ------------------------------------------------------------------------------------------


def test_cfn_lint_finds_nothing() -> None:
    # Given the template, when cfn-lint checks it (errors and warnings, as `cfn-lint template.yaml` does)
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=LINT_REGIONS))

    # Then there is not a single finding
    assert [str(m) for m in matches] == []


def test_sam_validate_lint_passes() -> None:
    # `make test` builds the SAM CLI in its own virtualenv and names it in SAM_CLI.
    sam = os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam"))
    result = subprocess.run(
        [sam, "validate", "--lint", "--template-file", str(TEMPLATE), "--region", "ap-northeast-2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- API (D1) ------------------------------------------------------------------------------------------


def test_api_has_exactly_the_explicit_routes(resources: dict[str, Any]) -> None:
    routes = {(props["Method"].upper(), props["Path"]) for _, props in _events(resources, "HttpApi")}

    assert routes == EXPECTED_ROUTES
    for method, path in routes:
        assert method not in {"ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"}
        assert "$default" not in path
        assert "+}" not in path, "no greedy proxy paths"


def test_every_route_is_on_the_billing_http_api(resources: dict[str, Any]) -> None:
    assert list(_of_type(resources, "AWS::Serverless::HttpApi")) == ["BillingApi"]
    assert not list(_events(resources, "Api")), "REST API events would bypass the HTTP API (D1)"
    for name, props in _events(resources, "HttpApi"):
        assert props.get("ApiId") == {"Ref": "BillingApi"}, name
        assert props.get("PayloadFormatVersion", "2.0") == "2.0", name


def test_cors_origins_come_from_the_parameter_never_star(template: dict[str, Any]) -> None:
    cors = template["Resources"]["BillingApi"]["Properties"]["CorsConfiguration"]
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


def test_cors_allows_the_headers_the_page_sends_and_only_routed_methods(template: dict[str, Any]) -> None:
    cors = template["Resources"]["BillingApi"]["Properties"]["CorsConfiguration"]
    headers = {h.lower() for h in cors["AllowHeaders"]}
    methods = {m.upper() for m in cors["AllowMethods"]}

    assert {"content-type", "authorization", "idempotency-key"} <= headers
    assert "*" not in headers
    assert methods <= {m for m, _ in EXPECTED_ROUTES} | {"OPTIONS"}
    assert isinstance(cors.get("MaxAge"), int)


def test_routes_are_throttled(template: dict[str, Any]) -> None:
    settings = template["Resources"]["BillingApi"]["Properties"]["DefaultRouteSettings"]

    assert 0 < settings["ThrottlingRateLimit"] <= 100
    assert 0 < settings["ThrottlingBurstLimit"] <= 200


def test_access_log_holds_no_body_header_or_query(template: dict[str, Any]) -> None:
    api = template["Resources"]["BillingApi"]["Properties"]
    fmt = api.get("AccessLogSettings", {}).get("Format", "")

    for leak in ("$context.requestBody", "$input", "$request."):
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


def test_secret_read_is_scoped_to_the_one_secret(function: dict[str, Any]) -> None:
    name = "AWSSecretsManagerGetSecretValuePolicy"
    reads = [p[name] for p in function["Policies"] if isinstance(p, dict) and name in p]

    assert reads == [{"SecretArn": _secret_arn_expr()}]
    # No managed policy by name (e.g. SecretsManagerReadWrite) and no wildcard resource anywhere.
    assert all(isinstance(p, dict) for p in function["Policies"])
    assert "*" not in [v for v in _walk(function["Policies"]) if isinstance(v, str)]


def test_environment_names_the_secret_and_portone_settings(function: dict[str, Any]) -> None:
    env = function["Environment"]["Variables"]

    assert env["PORTONE_SECRET_ID"] == _secret_arn_expr()
    assert env["PORTONE_BASE_URL"] == {"Ref": "PortOneBaseUrl"}
    assert env["PORTONE_PG"] == {"Ref": "PortOnePg"}
    assert env["PORTONE_CHANNEL_KEY"] == {"Ref": "PortOneChannelKey"}


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

    assert logging_config == {"LogFormat": "JSON", "LogGroup": {"Ref": "BillingFunctionLogGroup"}}
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


# --- outputs ---------------------------------------------------------------------------------------------


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${BillingApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert outputs["BillingFunctionName"]["Value"] == {"Ref": "BillingFunction"}
    assert outputs["PortOneSecretArn"]["Value"] == _secret_arn_expr()
