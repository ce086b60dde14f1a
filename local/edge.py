"""The public edge on loopback (`make dev ARGS=--edge`): the page and the API on one origin, as CloudFront
serves them in front of AWS WAF (template.yaml `Distribution`, edge.yaml `WebAcl`).

Its path rules are the distribution's own: a request whose path matches a cache behavior's PathPattern goes
to the API, with the origin secret and the viewer's address added over anything the client sent (as
CloudFront's origin header and the viewer function add them); any other path is the page. The API's own
port stays open, as the execute-api URL does, and refuses what did not come through here (403 EDGE_REQUIRED).

Of WAF, one answer is modelled: a card request without a valid token (a browser that did not load the page
through the edge, or whose token expired) gets WAF's challenge answer, 202 with `x-amzn-waf-action`, when a
test turns the switch on (`POST /__edge__/waf {"tokens": false}`); the page must tell the customer what to do.
Which requests need the token is edge.yaml's own rule, evaluated here. Loopback has no TLS: the edge is plain
HTTP, which browsers treat as a secure context on localhost.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cfnlint.decode import cfn_yaml

from local.api import HttpRequest, HttpResponse, QuietHandler
from local.template import ROOT, load_template

EDGE_TEMPLATE = ROOT / "edge.yaml"
ADMIN_PATH = "/__edge__/waf"
# WAF's answer to what its Challenge rule stops (docs/edge-evidence.md §7): 202, no body, the action.
WAF_ACTION_HEADER = "x-amzn-waf-action"
TOKEN_RULE = "CardRequestsNeedToken"  # noqa: S105 (a rule's name)
# Not passed on: hop-by-hop headers, and Host (the API's origin request policy forwards all others).
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


def _distribution() -> dict[str, Any]:
    return dict(load_template()["Resources"]["Distribution"]["Properties"]["DistributionConfig"])


def api_path_patterns() -> tuple[str, ...]:
    """The distribution's behaviors that go to the API, by PathPattern."""
    return tuple(b["PathPattern"] for b in _distribution()["CacheBehaviors"] if b["TargetOriginId"] == "api")


def origin_secret_header() -> str:
    """The header the distribution adds to what it sends the API's origin."""
    [api] = [o for o in _distribution()["Origins"] if o["Id"] == "api"]
    [header] = api["OriginCustomHeaders"]
    return str(header["HeaderName"]).lower()


def viewer_address_header() -> str:
    """The header the viewer function writes the viewer's address into (its code, template.yaml)."""
    code = load_template()["Resources"]["ViewerAddressFunction"]["Properties"]["FunctionCode"]
    [name] = re.findall(r"request\.headers\['([a-z0-9-]+)'\] = \{ value: event\.viewer\.ip \}", code)
    return str(name)


def waf_rule(name: str) -> dict[str, Any]:
    """A rule of edge.yaml's web ACL."""
    edge = cfn_yaml.load(str(EDGE_TEMPLATE))
    [rule] = [r for r in edge["Resources"]["WebAcl"]["Properties"]["Rules"] if r["Name"] == name]
    return dict(rule)


def waf_matches(
    statement: Mapping[str, Any], method: str, path: str, in_ip_set: Callable[[str], bool]
) -> bool:
    """Whether a WAF statement of the kinds edge.yaml uses matches a request; `in_ip_set(arn_expression)`
    answers IP set references."""
    ((kind, spec),) = statement.items()
    if kind == "AndStatement":
        return all(waf_matches(s, method, path, in_ip_set) for s in spec["Statements"])
    if kind == "OrStatement":
        return any(waf_matches(s, method, path, in_ip_set) for s in spec["Statements"])
    if kind == "NotStatement":
        return not waf_matches(spec["Statement"], method, path, in_ip_set)
    if kind == "IPSetReferenceStatement":
        return in_ip_set(json.dumps(spec["Arn"]))
    if kind != "ByteMatchStatement" or spec["TextTransformations"] != [{"Priority": 0, "Type": "NONE"}]:
        raise ValueError(f"not modelled: {kind} {spec}")
    [where] = spec["FieldToMatch"]
    value = {"UriPath": path, "Method": method}[where]
    needle = spec["SearchString"]
    return bool(
        {
            "EXACTLY": value == needle,
            "STARTS_WITH": value.startswith(needle),
            "ENDS_WITH": value.endswith(needle),
            "CONTAINS": needle in value,
        }[spec["PositionalConstraint"]]
    )


@dataclass
class LocalEdge:
    """CloudFront and WAF's answers for one origin: `site` serves the page, `api_url` is the API's port."""

    site: Any  # local.dev.StaticSite: handle(method, target) -> HttpResponse
    api_url: str
    origin_secret: Callable[[], str]  # the secret's current value, as CloudFront's origin header carries it
    patterns: tuple[str, ...] = field(default_factory=api_path_patterns)
    secret_header: str = field(default_factory=origin_secret_header)
    viewer_header: str = field(default_factory=viewer_address_header)
    token_rule: dict[str, Any] = field(default_factory=lambda: waf_rule(TOKEN_RULE))
    tokens: bool = True  # browsers hold a valid WAF token; False: WAF challenges what the token rule covers

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = urlsplit(request.target).path
        if path == ADMIN_PATH:
            return self._admin(request)
        if not any(fnmatch.fnmatchcase(path, pattern) for pattern in self.patterns):
            return self.site.handle(request.method, request.target)  # type: ignore[no-any-return]
        if not self.tokens and waf_matches(
            self.token_rule["Statement"], request.method, path, lambda _: False
        ):
            return HttpResponse(202, {WAF_ACTION_HEADER: "challenge", "cache-control": "no-store"})
        return self._forward(request)

    def _forward(self, request: HttpRequest) -> HttpResponse:
        # CloudFront's origin header and the viewer function's are written over the client's own.
        dropped = _NOT_FORWARDED | {self.secret_header, self.viewer_header}
        headers = {k: v for k, v in request.headers if k.lower() not in dropped}
        headers |= {self.secret_header: self.origin_secret(), self.viewer_header: request.source_ip}
        origin = urlsplit(self.api_url)
        connection = http.client.HTTPConnection(origin.hostname or "127.0.0.1", origin.port, timeout=60)
        try:
            connection.request(request.method, request.target, body=request.body or None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            # The edge's own server and date, not the origin's (its handler writes them).
            dropped = _NOT_FORWARDED | {"server", "date"}
            kept = {k.lower(): v for k, v in answer.getheaders() if k.lower() not in dropped}
            return HttpResponse(answer.status, kept, body)
        finally:
            connection.close()

    def _admin(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            self.tokens = bool(json.loads(request.body or b"{}").get("tokens", True))
        body = json.dumps({"tokens": self.tokens}).encode()
        return HttpResponse(200, {"content-type": "application/json"}, body)


class EdgeHandler(QuietHandler):
    def _handle(self) -> None:
        edge: LocalEdge = self.server.app  # type: ignore[attr-defined]
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.read_body(),
            source_ip=self.client_address[0],
        )
        self.send(edge.handle(request), head=self.command == "HEAD")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle
