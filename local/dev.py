"""`make dev`: the whole local stack on loopback, for a person with a browser (design.md D13).

    python -m local.dev [--web-port 8080] [--api-port 3000] [--jwt [--issuer-port 3001]]
                        [--env-vars events/env.json] [--allowed-origins URL,URL]

Starts, all on 127.0.0.1:
- the embedded stack of `make invoke` (local/stack.py: moto's server and the PortOne V1 emulator, the
  function's table and secrets created from template.yaml), unless the env file sets PORTONE_BASE_URL;
- the local HTTP API (local/api.py) in front of the real handler, with the template's routes and CORS;
- with `--jwt`, a development OpenID issuer (local/jwt_issuer.py): the routes then require its tokens, as
  the deployed API does when JwtIssuer is set;
- the card page and the account page (web/), served with their Content-Security-Policy header and a
  config.js that points them at this API.

The function's environment is template.yaml's variables valued from the env file, as for `make invoke`.
Ports 0 pick free ones; the URLs printed are the ones in use. Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import logging
import mimetypes
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import boto3

from local.api import (
    API_RESOURCE,
    ApiHandler,
    AppServer,
    HttpResponse,
    JwtAuthorizer,
    LambdaFunction,
    LocalApi,
    LoopbackServer,
    QuietHandler,
    api_definition,
    parameters_from_environment,
    resolve,
)
from local.edge import ADMIN_PATH as EDGE_ADMIN_PATH
from local.edge import EdgeHandler, LocalEdge
from local.invoke import FUNCTION, function_environment
from local.jwt_issuer import DEFAULT_AUDIENCE, TOKEN_PATH, DevIssuer
from local.page import CONTENT_TYPES, SAME_ORIGIN, ship
from local.portone_emulator.cards import CARD_INVALID_NUMBER, TEST_CARD_OK
from local.stack import embedded_stack
from local.template import ROOT, FunctionDefinition, function_definition, load_template

WEB_ROOT = ROOT / "web"
DEFAULT_ENV_FILE = ROOT / "events" / "env.json"
DEFAULT_WEB_PORT = 8080
DEFAULT_API_PORT = 3000
DEFAULT_ISSUER_PORT = 3001
# The local edge's stand-ins for what edge.yaml and the template make in AWS.
LOCAL_WEB_ACL_ARN = (
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/local-edge/00000000-0000-0000-0000-000000000000"
)
LOCAL_ORIGIN_SECRET_ID = "portone/billing/origin-secret/local"  # noqa: S105 (its name)
Server = TypeVar("Server")


# --- the card page ---


@dataclass(frozen=True)
class StaticSite:
    """web/ as a static host serves it, made for this stack (local/page.py: its API, its policy, every
    script pinned by its hash), afresh for each request so an edit to web/ shows at once."""

    root: Path
    api_url: str
    token_url: str = ""

    def handle(self, method: str, target: str) -> HttpResponse:
        page = ship(self.root, self.api_url, self.token_url)
        headers = {
            "content-security-policy": page.policy,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
        }
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, {**headers, "allow": "GET, HEAD"})
        path = unquote(urlsplit(target).path).lstrip("/")
        if path == "" or path.endswith("/"):
            path += "index.html"
        body = page.files.get(path)
        if body is None:
            return HttpResponse(404, {**headers, "content-type": "text/plain; charset=utf-8"}, b"Not Found\n")
        suffix = Path(path).suffix
        content_type = (
            CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        )
        return HttpResponse(200, {**headers, "content-type": content_type}, body)


class SiteHandler(QuietHandler):
    def _handle(self) -> None:
        site = cast(StaticSite, cast(AppServer, self.server).app)
        self.read_body()
        self.send(site.handle(self.command, self.path), head=self.command == "HEAD")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


def page_origins(port: int) -> list[str]:
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]


# --- running it all ---


def endpoint_variables(
    function: FunctionDefinition,
    environment: dict[str, str],
    parameters: dict[str, str],
    addresses: dict[str, str],
) -> dict[str, str]:
    """Variables the template builds from its resources' addresses (NOTICE_URL: the API's webhook, on the
    edge's domain with the edge), valued with the local servers' `addresses` (`{"BillingApi.ApiEndpoint":
    url}`) where the env file leaves them empty, as the deployed stack values them."""
    variables = load_template()["Resources"][function.logical_id]["Properties"]
    variables = variables.get("Environment", {}).get("Variables", {})
    return {
        name: str(resolve(value, parameters, addresses))
        for name, value in variables.items()
        if not environment.get(name) and any("${" + a + "}" in json.dumps(value) for a in addresses)
    }


def _current_origin_secret(client: Any, secret_id: str) -> str:
    """The origin secret's current value, as CloudFront's origin header carries it (AWS's, without the
    embedded stack: the env file names a deployed secret)."""
    client = client or boto3.client("secretsmanager")
    return str(json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])["current"])


def _bind(what: str, flag: str, factory: Callable[[], Server]) -> Server:
    try:
        return factory()
    except OSError as exc:
        raise SystemExit(
            f"local.dev: cannot listen for the {what} ({exc.strerror}); pick another {flag}"
        ) from None


def _pretty_card(number: str) -> str:
    return "-".join(number[i : i + 4] for i in range(0, len(number), 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.dev", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--web-port", type=int, default=DEFAULT_WEB_PORT, help="the card page (0: any free)")
    parser.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="the local HTTP API")
    parser.add_argument("--jwt", action="store_true", help="turn the local JWT issuer and authorizer on")
    parser.add_argument("--issuer-port", type=int, default=DEFAULT_ISSUER_PORT, help="the dev issuer (--jwt)")
    parser.add_argument("--env-vars", type=Path, default=DEFAULT_ENV_FILE, help="as for make invoke")
    parser.add_argument(
        "--edge", action="store_true", help="the public edge: the page and the API on one origin (--web-port)"
    )
    parser.add_argument(
        "--allowed-origins",
        help="the API's CORS origins, comma-separated (default: the page's, on localhost and 127.0.0.1)",
    )
    args = parser.parse_args(argv)
    stop = _stop_on_signals()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("local.api").setLevel(logging.INFO)

    function = function_definition(FUNCTION)
    environment = function_environment(function, args.env_vars)

    with contextlib.ExitStack() as stack:
        front = EdgeHandler if args.edge else SiteHandler
        site = _bind("page", "--web-port", lambda: LoopbackServer(front, args.web_port))
        stack.callback(site.stop)
        api_server = _bind("API", "--api-port", lambda: LoopbackServer(ApiHandler, args.api_port))
        stack.callback(api_server.stop)
        origins = args.allowed_origins.split(",") if args.allowed_origins else page_origins(site.port)
        issuer = None
        if args.jwt:
            audience = (environment.get("JWT_AUDIENCE") or DEFAULT_AUDIENCE).split(",")[0]
            scope = environment.get("JWT_SCOPE") or "billing/write"
            issuer = _bind(
                "dev issuer",
                "--issuer-port",
                lambda: DevIssuer(args.issuer_port, audience=audience, scope=scope, allowed_origins=origins),
            )
            stack.callback(issuer.stop)
            environment |= {"JWT_ISSUER": issuer.url, "JWT_AUDIENCE": audience, "JWT_SCOPE": scope}

        # With the edge, the template's EdgeWebAclArn is set (UseEdge) and the function has an origin secret.
        edge_parameters = {"EdgeWebAclArn": LOCAL_WEB_ACL_ARN} if args.edge else {}
        if args.edge and not environment.get("ORIGIN_SECRET_ID"):
            environment["ORIGIN_SECRET_ID"] = LOCAL_ORIGIN_SECRET_ID
        addresses = {f"{API_RESOURCE}.ApiEndpoint": api_server.url}
        edge_host = urlsplit(site.url).netloc
        if args.edge:
            addresses["Distribution.DomainName"] = edge_host
        found = endpoint_variables(
            function,
            environment,
            parameters_from_environment(function, environment) | edge_parameters,
            addresses,
        )
        # Loopback has no TLS: the local edge is plain HTTP.
        environment |= {
            name: value.replace(f"https://{edge_host}", site.url) for name, value in found.items()
        }
        emulator_url = aws_url = ""
        secretsmanager = None
        if not environment.get("PORTONE_BASE_URL"):
            local = stack.enter_context(embedded_stack(function, environment))
            environment.update(local.environment())
            emulator_url, aws_url = local.emulator.url, local.aws_endpoint_url
            secretsmanager = local.client("secretsmanager")

        parameters = parameters_from_environment(function, environment) | {
            "AllowedOrigins": ",".join(origins)
        }
        definition = api_definition(parameters)
        authorizer = None
        if parameters.get("JwtIssuer"):
            audiences = parameters.get("JwtAudience", "").split(",")
            authorizer = (
                JwtAuthorizer(issuer.url, audiences, issuer.jwks)
                if issuer is not None
                else JwtAuthorizer.from_discovery(parameters["JwtIssuer"], audiences)
            )
        api = LocalApi(definition, LambdaFunction(function, environment), authorizer)

        # Stopped before the embedded stack (ExitStack unwinds last-in first): no request meets a dead moto.
        stack.callback(site.stop)
        stack.callback(api_server.stop)
        if issuer is not None:
            stack.callback(issuer.stop)
            issuer.start()
        api_server.start(api)
        token_url = issuer.url + TOKEN_PATH if issuer is not None else ""
        if args.edge:
            secret = _current_origin_secret(secretsmanager, environment["ORIGIN_SECRET_ID"])
            site.start(
                LocalEdge(StaticSite(WEB_ROOT, SAME_ORIGIN, token_url), api_server.url, lambda: secret)
            )
        else:
            site.start(StaticSite(WEB_ROOT, api_server.url, token_url))

        _print_banner(
            site.url,
            api_server.url,
            emulator_url,
            aws_url,
            issuer,
            definition.routes,
            environment,
            edge=args.edge,
        )
        # A timed wait: a signal delivered to another thread runs its handler only when the main thread
        # next runs Python code, which an untimed wait would never do.
        while not stop.wait(0.25):
            pass
    print("local stack stopped", flush=True)
    return 0


def _print_banner(
    page: str,
    api: str,
    emulator: str,
    aws: str,
    issuer: DevIssuer | None,
    routes: Sequence[object],
    environment: dict[str, str],
    *,
    edge: bool,
) -> None:
    expiry = datetime.date.today().replace(day=1) + datetime.timedelta(days=3 * 366)
    lines = [
        "",
        "Local stack is up:",
        f"  page      {page}/",
        f"  account   {page}/account.html   (a signed-in customer's subscription: run with --jwt)",
        *(
            [
                f"  edge      {page}/subscriptions..., {page}/webhooks/...   (the API on the page's origin, "
                f"as CloudFront serves it; WAF's token switch: POST {page}{EDGE_ADMIN_PATH})"
            ]
            if edge
            else []
        ),
        f"  API       {api}"
        + ("   (its own port refuses what did not come through the edge)" if edge else ""),
        *(f"              {getattr(route, 'key', route)}" for route in routes),
    ]
    if emulator:
        lines.append(f"  emulator  {emulator}   (PortOne V1; calls at /__emulator__/stats)")
        lines.append(f"  moto      {aws}   (DynamoDB, Secrets Manager: the function's table and secrets)")
    else:
        lines.append(
            f"  PortOne   {environment['PORTONE_BASE_URL']} (from the env file; AWS from your environment)"
        )
    if issuer is not None:
        lines.append(f'  issuer    {issuer.url}   (tokens: POST {TOKEN_PATH} {{"sub": "..."}})')
        lines.append(f"  callers   signed in: audience {issuer.audience}, scope {issuer.scope}")
    elif environment.get("JWT_ISSUER"):
        lines.append(f"  callers   signed in with tokens of {environment['JWT_ISSUER']}")
    else:
        lines.append("  callers   anonymous (no JWT authorizer; add --jwt for one)")
    if emulator:
        lines += [
            "",
            f"Test card:  {_pretty_card(TEST_CARD_OK)}, expiry any future month (e.g. {expiry:%m/%y}), "
            "birth 880101, PIN 12",
            f"Declined:   {_pretty_card(CARD_INVALID_NUMBER)} (the issuer refuses it: 402 CARD_REJECTED; "
            "after two in a row a card is not tried again: 403 CARD_DETAILS_EXHAUSTED)",
        ]
    lines.append(
        f"Limits:     every {environment.get('LIMIT_WINDOW_SECONDS')} s, "
        f"{environment.get('LIMIT_ATTEMPTS_PER_CALLER')} attempts and "
        f"{environment.get('LIMIT_FAILURES_PER_CALLER')} declined cards per caller, "
        f"{environment.get('LIMIT_ATTEMPTS_PER_CARD')} attempts per card; "
        "past one: 429 until the window ends"
    )
    lines += ["", "Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


def _stop_on_signals() -> threading.Event:
    """Ctrl-C and SIGTERM set an event instead of raising wherever the main thread is: one that arrives
    while the stack is starting lets it finish starting, then everything is stopped in order."""
    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGINT too: a shell that starts us in the background may have set it to "ignore".
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    return stop


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        # The interpreter's exit runs full collections over the ~250,000 objects boto3, moto and the function
        # leave: seconds on a busy machine, most of what Ctrl-C took. Nothing needs collecting at exit.
        gc.freeze()
