"""`sam local start-api` reads every route of template.yaml, with and without the JWT authorizer (issue 11).

`sam local start-api` needs Docker only to run the function; reading the API is SAM CLI's own code. These
tests run that code, the classes `sam local start-api` builds before it starts a container
(SamLocalStackProvider, ApiProvider, LocalApigwService), in the SAM CLI's virtualenv (SAM_CLI names its
`sam`; the interpreter next to it has samcli), and compare what it read with the template's routes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.template import ROOT, TEMPLATE, load_template

# A stack with the authorizer (UseJwt) and one without; the audience is required with an issuer.
CONFIGURATIONS = {
    "with_jwt": {"JwtIssuer": "https://issuer.example.com/", "JwtAudience": "billing-web"},
    "without_jwt": {},
}
FUNCTION = "BillingFunction"

# Runs in the SAM CLI's interpreter: argv[1] the template, argv[2] {name: parameter overrides}.
# Prints {name: {"read": [...], "served": [...], "mounted": [...]}} as JSON on its last line.
_READ_ROUTES = r"""
import json
import sys

from samcli.lib.providers.api_collector import ApiCollector
from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.apigw.local_apigw_service import LocalApigwService


class NoRunner:
    # start-api's Lambda runner; only asked whether a debugger is attached until a request arrives.
    def is_debugging(self):
        return False


template, configurations = sys.argv[1], json.loads(sys.argv[2])
results = {}
for name, overrides in configurations.items():
    stacks, _ = SamLocalStackProvider.get_stacks(template, parameter_overrides=overrides)
    # Each route as the provider reads it from its resource, with the authorizer that resource names.
    collector = ApiCollector()
    provider = ApiProvider.find_api_provider(stacks)
    provider.extract_resources(stacks, collector, cwd=".")
    read = [
        {
            "api": api_id,
            "methods": route.methods,
            "path": route.path,
            "function": route.function_name,
            "payload": route.payload_format_version,
            "authorizer": route.authorizer_name,
        }
        for api_id, routes in collector
        for route in routes
    ]
    # What `sam local start-api` serves: LocalApiService builds this provider, then mounts its routes.
    api = ApiProvider(stacks, cwd=".").api
    served = [
        {"methods": route.methods, "path": route.path, "function": route.function_name,
         "authorizer": route.authorizer_name}
        for route in api.routes
    ]
    service = LocalApigwService(api=api, lambda_runner=NoRunner())
    service.create()
    mounted = [
        {"methods": sorted(rule.methods or ()), "rule": rule.rule}
        for rule in service._app.url_map.iter_rules()
        if rule.endpoint != "static"
    ]
    results[name] = {"provider": type(provider).__name__, "read": read, "served": served, "mounted": mounted}
print(json.dumps(results))
"""


def _sam_python() -> Path:
    """The SAM CLI's interpreter: next to `sam` in its virtualenv, else the one its shebang names."""
    sam_cli = os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam"))
    sam = Path(shutil.which(sam_cli) or sam_cli)
    for name in ("python", "python3"):
        if (sam.parent / name).exists():
            return sam.parent / name
    shebang = sam.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    assert shebang.startswith("#!"), f"{sam}: no interpreter found"
    return Path(shebang[2:].split()[0])


@pytest.fixture(scope="module")
def sam_routes() -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [str(_sam_python()), "-c", _READ_ROUTES, str(TEMPLATE), json.dumps(CONFIGURATIONS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    routes: dict[str, dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return routes


def _expected(use_jwt: bool) -> set[tuple[str, str, str | None]]:
    """(method, path, authorizer's logical id or None) of every route of the template, as deployed."""
    expected = set()
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        if set(props) == {"Fn::If"}:
            condition, with_jwt, without_jwt = props["Fn::If"]
            assert condition == "UseJwt"
            props = with_jwt if use_jwt else without_jwt
        method, path = props["RouteKey"].split(" ", 1)
        authorizer = props.get("AuthorizerId")
        expected.add((method, path, authorizer["Ref"] if authorizer else None))
    return expected


@pytest.mark.parametrize(("configuration", "use_jwt"), [("with_jwt", True), ("without_jwt", False)])
def test_sam_cli_reads_every_route_with_its_method_path_and_authorizer(
    sam_routes: dict[str, dict[str, Any]], configuration: str, use_jwt: bool
) -> None:
    # Given the routes SAM CLI's provider read from the route resources
    found = sam_routes[configuration]
    read = found["read"]

    # Then it read the AWS::ApiGatewayV2 resources, each route once, on the one API and function
    assert found["provider"] == "CfnApiProvider"
    assert all(len(route["methods"]) == 1 for route in read)
    got = [(route["methods"][0], route["path"], route["authorizer"]) for route in read]
    assert sorted(got, key=str) == sorted(_expected(use_jwt), key=str)
    assert len(set(got)) == len(got)
    assert {(r["api"], r["function"], r["payload"]) for r in read} == {("BillingApi", FUNCTION, "2.0")}
    # and the authorizer is on every route but PortOne's notice and the terms with UseJwt, on none without it
    guarded = {(m, p) for m, p, authorizer in got if authorizer == "JwtAuthorizer"}
    assert len(guarded) == (len(got) - 2 if use_jwt else 0)


@pytest.mark.parametrize(("configuration", "use_jwt"), [("with_jwt", True), ("without_jwt", False)])
def test_sam_local_start_api_serves_exactly_those_routes(
    sam_routes: dict[str, dict[str, Any]], configuration: str, use_jwt: bool
) -> None:
    # Given what `sam local start-api` serves: the provider's API, and the rules it mounts in Flask
    found = sam_routes[configuration]
    expected = {(method, path) for method, path, _ in _expected(use_jwt)}

    # Then each route is served by the function under its method and path. SAM CLI adds OPTIONS to every
    # path because the API has CORS (API Gateway answers preflight itself), and Flask adds HEAD to GET.
    served = {(m, r["path"]) for r in found["served"] for m in r["methods"] if m != "OPTIONS"}
    assert served == expected
    assert {r["function"] for r in found["served"]} == {FUNCTION}
    added = {"OPTIONS", "HEAD"}
    mounted = {(m, rule["rule"]) for rule in found["mounted"] for m in rule["methods"] if m not in added}
    assert mounted == {(m, re.sub(r"\{(\w+)\}", r"<\1>", p)) for m, p in expected}
    # SAM CLI emulates Lambda authorizers only: a JWT route is served without a token check (with a warning)
    assert {r["authorizer"] for r in found["served"]} == {None}
