"""The page check (PCI DSS 11.6.1): what the public edge serves is what `make deploy` deployed.

Scheduled with the edge (template.yaml, `PageCheck`). It reads the inventory `make deploy` wrote beside the
page in its private bucket (local/page.py: every file's SHA-384, and the policy the pages are served with),
fetches each file through the edge as a browser would, and compares: a file whose bytes differ, one that is
missing, or a page served under another Content-Security-Policy is a change nobody deployed. Each is logged
by its path (never its content) and counted in the metric PageChanged, which has an alarm.

The inventory is read from the bucket, not through the edge, and the stack keeps its hash apart from the
bucket (PAGE_MANIFEST_DIGEST, from `make deploy`): whoever could change the page's files could change the
inventory beside them too, so an inventory of another hash is itself reported changed, and nothing is
compared with it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, ValidationError

from billing.deadline import Deadline
from billing.errors import ConfigurationUnavailable
from billing.observability import logger

MANIFEST_KEY = "page-manifest.json"  # local/page.py MANIFEST
PAGE_CHANGED_METRIC = "PageChanged"  # files served otherwise than deployed, sent on every run (its alarms)
_FETCH_SECONDS = 5.0
_HTML = ".html"


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: dict[str, str]  # path -> "sha384-<base64>"
    content_security_policy: str


class PageReport(BaseModel):
    checked: int
    changed: list[str]  # the paths served otherwise than deployed


Fetch = Callable[[str, float], requests.Response]


def check_page(page_url: str, inventory: bytes, digest: str, deadline: Deadline, fetch: Fetch) -> PageReport:
    """Fetch each deployed file from `page_url` and compare it with the inventory, whose hash is `digest`."""
    if _sha384(inventory) != digest:
        _changed(MANIFEST_KEY, ["content"])
        return PageReport(checked=1, changed=[MANIFEST_KEY])
    try:
        manifest = Manifest.model_validate_json(inventory)
    except ValidationError:
        raise ConfigurationUnavailable("the page's manifest is not local/page.py's") from None
    changed = []
    for path, expected in sorted(manifest.files.items()):
        try:
            answer = fetch(f"{page_url}/{path}", min(_FETCH_SECONDS, max(deadline.remaining(), 0.1)))
        except requests.RequestException as exc:
            raise ConfigurationUnavailable(f"the edge did not answer ({type(exc).__name__})") from None
        reasons = []
        if answer.status_code != 200:
            reasons.append(f"status {answer.status_code}")
        elif _sha384(answer.content) != expected:
            reasons.append("content")
        policy = answer.headers.get("content-security-policy")
        if path.endswith(_HTML) and policy != manifest.content_security_policy:
            reasons.append("content-security-policy")
        if reasons:
            changed.append(path)
            _changed(path, reasons)
    return PageReport(checked=len(manifest.files), changed=changed)


def _changed(path: str, reasons: list[str]) -> None:
    logger.error("page changed", extra={"outcome": "PAGE_CHANGED", "path": path, "error_fields": reasons})


def _sha384(content: bytes) -> str:
    """As local/page.py writes hashes: Subresource Integrity's `sha384-<base64>`."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def read_inventory(s3: Any, bucket: str) -> bytes:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()
    except Exception as exc:  # botocore's errors: no manifest (never deployed), no access
        raise ConfigurationUnavailable(f"cannot read the page's manifest ({type(exc).__name__})") from None
    return body


def fetch_file(url: str, timeout: float) -> requests.Response:
    # requests asks for `*/*`, not text/html: WAF challenges a page load that accepts HTML (edge.yaml), and
    # this is no browser. A redirect is an answer of its own: a file the edge sends elsewhere has changed.
    return requests.get(url, timeout=timeout, allow_redirects=False)
