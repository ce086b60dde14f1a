"""The card page through the local edge (`make dev ARGS=--edge`): the page and the API on one origin, as
CloudFront serves them, and the page's answer to AWS WAF's challenge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, Request, expect

from local.page import integrity
from tests.e2e.conftest import CardForm, Console, DevStack, emptied, screenshot

pytestmark = pytest.mark.xdist_group("e2e")

WAF_CHECK = "보안 확인이 필요합니다. 페이지를 새로 고친 뒤 다시 시도해 주세요. 요청은 처리되지 않았습니다."


@pytest.fixture
def edge(edge_stack: DevStack) -> Iterator[DevStack]:
    """The edge with an empty emulator; browsers hold WAF tokens unless the test says otherwise."""
    with emptied(edge_stack) as running:
        yield running
        tokens(running, held=True)


def tokens(stack: DevStack, *, held: bool) -> None:
    """WAF's view of browsers' tokens: without one, a card request gets WAF's challenge (local/edge.py)."""
    requests.post(f"{stack.urls['page']}/__edge__/waf", json={"tokens": held}, timeout=5).raise_for_status()


def requests_sent(page: Page) -> list[Request]:
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    return sent


def test_a_card_is_registered_on_the_pages_own_origin_without_cors(page: Page, edge: DevStack) -> None:
    sent = requests_sent(page)
    card_form = CardForm(page, edge.page_url).open()
    card_form.fill().agree_all()
    card_form.button.click()

    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert edge.billing_key_posts() == 1
    # Every request went to the page's origin, and none needed a preflight
    assert {r.url.split("/")[2] for r in sent} == {edge.urls["page"].split("/")[2]}
    assert [r.method for r in sent if r.method == "OPTIONS"] == []
    assert [r.url.removeprefix(edge.urls["page"]) for r in sent if r.method == "POST"] == [
        "/subscriptions/issue-billing"
    ]


def test_the_page_may_talk_to_its_own_origin_only(page: Page, edge: DevStack) -> None:
    answer = page.goto(edge.page_url)
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "connect-src 'self';" in policy
    meta = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "connect-src 'self';" in meta


def test_wafs_challenge_is_explained_and_nothing_is_registered(page: Page, edge: DevStack) -> None:
    # Given a browser whose WAF token is missing or expired
    card_form = CardForm(page, edge.page_url).open()
    tokens(edge, held=False)

    # When the customer submits a card
    card_form.fill().agree_all()
    card_form.button.click()

    # Then the page says what happened and what to do, and the card reached nothing
    expect(card_form.result).to_contain_text(WAF_CHECK)
    expect(card_form.outcome).to_be_hidden()
    assert edge.billing_key_posts() == 0
    screenshot(page, "waf-challenge")

    # And after a reload (which earns a token) the card goes through
    tokens(edge, held=True)
    card_form.open().fill().agree_all()
    card_form.button.click()
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")


def test_every_script_the_page_runs_is_pinned_by_its_hash(page: Page, edge: DevStack) -> None:
    loaded: list[str] = []
    page.on(
        "request", lambda r: loaded.append(r.url) if r.resource_type in ("script", "stylesheet") else None
    )
    CardForm(page, edge.page_url).open()
    pinned = dict(
        page.evaluate(
            """[...document.querySelectorAll("script[src], link[rel=modulepreload], link[rel=stylesheet]")]
               .map((e) => [new URL(e.getAttribute("src") || e.getAttribute("href"), location.href).href,
                            e.integrity])"""
        )
    )
    # The inventory (PCI DSS 6.4.3): every script and stylesheet loaded, each with the hash of what was served
    assert loaded
    assert set(loaded) <= set(pinned)
    for url in loaded:
        assert pinned[url] == integrity(requests.get(url, timeout=10).content), url


def test_a_script_changed_after_it_was_pinned_is_not_run(
    page: Page, edge: DevStack, console: Console
) -> None:
    # Given a module changed on its way to the browser (a compromised host, a tampering proxy)
    page.route("**/format.js", lambda route: route.fulfill(body=route.fetch().body() + b"\n// changed\n"))

    # When the page loads, then the browser refuses it, and the form never comes to life
    page.goto(edge.page_url)
    expect(page.locator("#submit")).to_be_disabled()
    page.wait_for_timeout(500)
    assert "integrity" in console.text()
    console.messages.clear()  # the refusal is what this test expects


def test_the_apis_own_address_refuses_what_did_not_come_through_the_edge(edge: DevStack) -> None:
    answer = requests.get(f"{edge.api_url}/subscriptions/terms", timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (403, "EDGE_REQUIRED")
    # A header naming a viewer, or the wrong origin secret, changes nothing
    forged = {"x-viewer-address": "198.51.100.1", "x-origin-verify": "x" * 64}
    answer = requests.get(f"{edge.api_url}/subscriptions/terms", headers=forged, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (403, "EDGE_REQUIRED")
    # Through the edge, it is served
    assert requests.get(f"{edge.urls['page']}/subscriptions/terms", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("status", "headers", "body", "by_waf"),
    [
        (202, {"x-amzn-waf-action": "challenge"}, None, True),
        (405, {"x-amzn-waf-action": "captcha"}, None, True),
        (202, {}, None, True),  # a browser that does not show the page WAF's header
        (202, {}, {"status": "pending", "customer_uid": "cu_1"}, False),  # the API's own pending answer
        (200, {}, {"status": "success"}, False),
        (403, {}, {"status": "failed", "code": "EDGE_REQUIRED"}, False),
    ],
)
def test_wafs_answers_are_told_from_the_apis(
    page: Page,
    edge: DevStack,
    status: int,
    headers: dict[str, str],
    body: dict[str, str] | None,
    by_waf: bool,
) -> None:
    page.goto(edge.page_url)
    told = page.evaluate(
        """async ([status, headers, body]) => {
            const { answeredByWaf } = await import("./api.js");
            return answeredByWaf(new Response(body && JSON.stringify(body), { status, headers }), body || {});
        }""",
        [status, headers, body],
    )
    assert told is by_waf
