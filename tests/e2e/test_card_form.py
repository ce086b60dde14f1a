"""The card page in a real browser against the local stack: what a customer sees and what reaches PortOne."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, Request, Route, expect

from local.api import LoopbackServer
from local.dev import WEB_ROOT, SiteHandler, StaticSite
from tests.e2e.conftest import (
    CARD_VALUES,
    TERMS_UNAVAILABLE,
    CardForm,
    Console,
    DevStack,
    emptied,
    screenshot,
)

pytestmark = pytest.mark.xdist_group("e2e")


@pytest.fixture(params=["api-origin", "edge"])
def stack(request: pytest.FixtureRequest) -> Iterator[DevStack]:
    """Each test of the card form twice: the page calling the API on its own origin (make dev), and behind
    the local edge, on the page's origin (make dev ARGS=--edge)."""
    shared = request.getfixturevalue("dev_stack" if request.param == "api-origin" else "edge_stack")
    with emptied(shared) as running:
        yield running


DECLINED_CARD = "9540 4900 0011 2004"  # the emulator's [F112] card
WRONG_PIN_CARD = "9540 4900 0011 3002"  # the emulator's F113 card: wrong PIN digits
LOCKED_PIN_CARD = "9540 4900 0011 3101"  # F113 too: too many wrong PINs (each declined card is used once)


def api_requests(page: Page, stack: DevStack) -> list[Request]:
    """Every request the page sends to the API from now on (preflights included)."""
    sent: list[Request] = []
    api = f"{stack.api_base}/subscriptions"
    page.on("request", lambda r: sent.append(r) if r.url.startswith(api) else None)
    return sent


def test_the_test_card_is_registered_and_shown_on_a_screen_of_its_own(
    card_form: CardForm, stack: DevStack
) -> None:
    page = card_form.page
    sent = api_requests(page, stack)
    # Given the page, which asks for no identifier of any kind, with the emulator's test card typed in and the
    # terms agreed to
    expect(page.get_by_label(re.compile("식별자"))).to_have_count(0)
    expect(page.locator("#card-form input[type=text], #card-form input[type=password]")).to_have_count(4)
    card_form.fill().agree_all()
    # When the customer submits
    card_form.button.click()
    # Then a screen in the form's place says so, with the masked card and its type, focused on its heading
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    expect(card_form.outcome_title).to_be_focused()
    expect(card_form.outcome).to_contain_text("BC카드 **** 0001")
    expect(card_form.outcome).to_contain_text("신용카드")
    expect(page.locator("#form-screen")).to_be_hidden()
    # The server minted a customer_uid, which the page neither sent nor shows
    posts = [r for r in sent if r.method == "POST"]
    assert len(posts) == 1
    assert "customer_uid" not in posts[0].post_data_json
    expect(page.locator("body")).not_to_contain_text(re.compile(r"cu_|고객 식별자"))
    assert stack.emulator_stats()["customers"] == 1
    assert stack.billing_key_posts() == 1
    # One next step, and the card is gone from the page
    expect(card_form.outcome.get_by_role("button")).to_have_count(1)
    for name in CardForm.FIELDS:
        expect(card_form.field(name)).to_have_value("")
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(page, "success-screen")

    # When the customer registers another card, the form is back, empty, nothing agreed to yet
    card_form.outcome.get_by_role("button", name="다른 카드 등록").click()
    expect(card_form.outcome).to_be_hidden()
    expect(card_form.field("card_number")).to_be_visible()
    for name in CardForm.FIELDS:
        expect(card_form.field(name)).to_have_value("")
    for box in page.locator("#consents input[type=checkbox]").all():
        expect(box).not_to_be_checked()
    expect(page.locator("#result")).to_be_empty()
    expect(page.locator("#controls input").first).to_be_focused()


def test_each_rule_is_explained_next_to_its_field_and_nothing_is_sent(
    card_form: CardForm, stack: DevStack
) -> None:
    sent = api_requests(card_form.page, stack)
    # Given a card number failing Luhn, a past expiry, a date that does not exist and one PIN digit
    card_form.fill(
        card_number="9540 4900 0000 0002", expiry="01/24", birth="880231", pwd_2digit="1"
    ).agree_all()
    # Then the full-length card number is flagged while typing, before any submission
    expect(card_form.error("card_number")).to_have_text(
        "카드 번호가 올바르지 않습니다. 번호를 다시 확인해 주세요."
    )
    # When the customer submits
    card_form.button.click()
    # Then each field says what is wrong, is marked invalid and points at its message; focus goes to the first
    expected = {
        "card_number": "카드 번호가 올바르지 않습니다. 번호를 다시 확인해 주세요.",
        "expiry": "유효기간이 지난 카드입니다.",
        "birth": "생년월일 6자리를 다시 확인해 주세요. (예: 880101)",
        "pwd_2digit": "카드 비밀번호 앞 두 자리를 숫자로 입력해 주세요.",
    }
    for name, message in expected.items():
        expect(card_form.error(name)).to_have_text(message)
        expect(card_form.field(name)).to_have_attribute("aria-invalid", "true")
        described_by = card_form.field(name).get_attribute("aria-describedby") or ""
        assert f"{name}-error" in described_by.split()
    expect(card_form.field("card_number")).to_be_focused()
    expect(card_form.result).to_have_text("입력 내용을 확인해 주세요. (4개 항목)")
    screenshot(card_form.page, "validation")
    # And nothing left the page for the API, so nothing reached PortOne
    assert [r for r in sent if r.method == "POST"] == []
    assert stack.emulator_stats()["calls"] == []

    # When the customer fixes one field, its message goes as they type
    card_form.field("expiry").fill("12/30")
    expect(card_form.error("expiry")).to_be_empty()
    expect(card_form.field("expiry")).not_to_have_attribute("aria-invalid", "true")


def test_a_business_number_card_needs_no_pin(card_form: CardForm, stack: DevStack) -> None:
    # 123-45-67891 has a valid check digit; corporate cards may omit the PIN digits (models.py)
    card_form.fill(birth="123-45-67891", pwd_2digit="").agree_all()
    card_form.field("birth").press("Tab")
    card_form.button.click()
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert stack.billing_key_posts() == 1


def test_a_declined_card_gets_a_korean_explanation(card_form: CardForm, stack: DevStack) -> None:
    card_form.fill(card_number=DECLINED_CARD).agree_all()
    card_form.button.click()
    expect(card_form.result).to_contain_text("카드사에서 카드 정보가 일치하지 않는다고 알려 왔습니다.")
    # PortOne's own PG message ([F112]...) never reaches the page
    expect(card_form.result).not_to_contain_text("F112")
    assert stack.billing_key_posts() == 1
    assert stack.emulator_stats()["customers"] == 0
    expect(card_form.button).to_be_enabled()
    screenshot(card_form.page, "declined")


def test_wrong_pin_digits_warn_before_the_card_could_be_locked(card_form: CardForm, stack: DevStack) -> None:
    # Given a card whose PIN digits the customer types wrong (the emulator's F113 card)
    card_form.fill(card_number=WRONG_PIN_CARD).agree_all()

    # Then the first answer says what to check and warns that one more may lock the card
    card_form.button.click()
    expect(card_form.result).to_contain_text("한 번 더 일치하지 않으면")
    screenshot(card_form.page, "declined-details-mismatch")

    # The second says the card is not tried again, and a third is refused before PortOne
    card_form.button.click()
    expect(card_form.result).to_contain_text("두 번 연속 일치하지 않는다고 알려 왔습니다")
    card_form.button.click()
    expect(card_form.result).to_contain_text("두 번 연속 일치하지 않아")
    screenshot(card_form.page, "card-details-exhausted")
    assert stack.billing_key_posts() == 2


def test_a_double_click_reaches_portone_once(card_form: CardForm, stack: DevStack) -> None:
    sent = api_requests(card_form.page, stack)
    card_form.fill().agree_all()
    card_form.button.dblclick()
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert len([r for r in sent if r.method == "POST"]) == 1
    assert stack.billing_key_posts() == 1
    assert stack.emulator_stats()["customers"] == 1


def test_the_button_is_disabled_while_a_request_is_in_flight(card_form: CardForm, stack: DevStack) -> None:
    # Given PortOne answers slowly
    requests.post(
        f"{stack.emulator_url}/__emulator__/faults",
        json={"kind": "latency", "route": "POST /subscribe/customers", "seconds": 1.5},
        timeout=5,
    ).raise_for_status()
    try:
        card_form.fill().agree_all()
        card_form.button.click()
        # Then the button says it is working and cannot be pressed again
        expect(card_form.button).to_be_disabled()
        expect(card_form.button).to_have_text("등록 중…")
        expect(card_form.page.locator("#card-form")).to_have_attribute("aria-busy", "true")
        screenshot(card_form.page, "in-flight")
        expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    finally:
        requests.delete(f"{stack.emulator_url}/__emulator__/faults", timeout=5)
    assert stack.billing_key_posts() == 1


# Cross-origin only: behind the edge the page is on the API's origin.
@pytest.mark.parametrize("stack", ["api-origin"], indirect=True)
def test_a_page_on_an_origin_that_is_not_allowed_is_blocked_by_the_browser(
    page: Page, stack: DevStack
) -> None:
    # Given the same page served from an origin the API does not allow (127.0.0.1 on another port)
    with LoopbackServer(SiteHandler, 0, public_host="127.0.0.1") as other:
        other.start(StaticSite(WEB_ROOT, stack.api_url))
        sent = api_requests(page, stack)
        page.goto(other.url + "/")
        form = CardForm(page, other.url + "/")
        # Then the browser refuses the cross-origin call for the terms (no CORS headers on the answer), so
        # the page says it cannot show them and the form cannot be sent
        expect(page.locator("#terms-status")).to_have_text(TERMS_UNAVAILABLE)
        expect(form.button).to_be_disabled()
        form.fill()
        form.field("pwd_2digit").press("Enter")
        screenshot(page, "origin-not-allowed")
    # And no card left the page, so nothing reached PortOne
    assert [r for r in sent if r.method == "POST"] == []
    assert stack.emulator_stats()["calls"] == []


def test_keyboard_only(card_form: CardForm, stack: DevStack) -> None:
    page = card_form.page
    keyboard = page.keyboard
    # Tab from the top of the page goes through the plan choice (when the API has plans: "card only" is
    # chosen) and then the fields in reading order
    page.wait_for_load_state("networkidle")
    page.locator("body").focus()
    if page.locator("#plan-group").is_visible():
        keyboard.press("Tab")
        expect(page.get_by_role("radio", name="카드만 등록")).to_be_focused()
    # Then the card number; each field typed to its end, complete and valid, hands focus to the next
    keyboard.press("Tab")
    values = {"card_number": "9540490000000001", "expiry": "1230", "birth": "880101", "pwd_2digit": "12"}
    for name, value in values.items():
        expect(card_form.field(name)).to_be_focused()
        keyboard.type(value)
    expect(card_form.field("pwd_2digit")).to_be_focused()
    # Typing formats as on the card
    expect(card_form.field("card_number")).to_have_value("9540 4900 0000 0001")
    expect(card_form.field("expiry")).to_have_value("12/30")
    # Then come the consents: 전체 동의 first, ticked with the space bar, then each item's box and 보기
    keyboard.press("Tab")
    expect(page.get_by_label(CardForm.AGREE_ALL, exact=True)).to_be_focused()
    keyboard.press("Space")
    visited = []
    for _ in range(20):
        keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "submit":
            break
        visited.append(page.evaluate("() => document.activeElement.closest('#consents') !== null"))
    expect(card_form.button).to_be_focused()
    assert visited
    assert all(visited)
    # Enter submits; the answer's screen takes focus on its heading, and Tab reaches its one next step
    keyboard.press("Enter")
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    expect(card_form.outcome_title).to_be_focused()
    screenshot(page, "keyboard")
    assert stack.billing_key_posts() == 1
    keyboard.press("Tab")
    expect(card_form.outcome.get_by_role("button", name="다른 카드 등록")).to_be_focused()
    keyboard.press("Enter")

    # Enter in a field with a mistake moves focus to it instead of sending anything
    card_form.field("card_number").focus()
    keyboard.type("9540490000000001")
    keyboard.type("0120")
    keyboard.press("Enter")
    expect(card_form.field("expiry")).to_be_focused()
    expect(card_form.error("expiry")).to_have_text("유효기간이 지난 카드입니다.")
    assert stack.billing_key_posts() == 1


def test_a_503_is_retried_with_the_same_idempotency_key(card_form: CardForm, stack: DevStack) -> None:
    # Given the API answers the first attempt 503 with Retry-After (as for PORTONE unavailable)
    seen: list[dict[str, str]] = []
    page_origin = card_form.url.rstrip("/")

    def first_unavailable(route: Route, request: Request) -> None:
        seen.append(request.headers)
        if len(seen) == 1:
            route.fulfill(
                status=503,
                headers={
                    "access-control-allow-origin": page_origin,
                    "access-control-expose-headers": "retry-after",
                    "retry-after": "1",
                    "content-type": "application/json",
                },
                body=json.dumps({"status": "failed", "code": "PAYMENT_PROVIDER_UNAVAILABLE"}),
            )
        else:
            route.fallback()

    card_form.page.route(f"{stack.api_base}/subscriptions/issue-billing", first_unavailable)
    card_form.fill().agree_all()
    card_form.button.click()
    # Then the page tried again by itself, with the same key, and the card was issued once
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다", timeout=15_000)
    keys = [h.get("idempotency-key") for h in seen if "idempotency-key" in h]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert stack.billing_key_posts() == 1


def test_a_plan_is_scheduled_on_the_local_stack(card_form: CardForm, stack: DevStack) -> None:
    # Given the API's own plans (GET /subscriptions/plans on the local stack)
    page = card_form.page
    plans = page.locator("#plan-options input[type=radio]")
    expect(plans.nth(1)).to_be_visible()
    # When the customer picks the first plan and registers the card
    plans.nth(1).check()
    card_form.fill().agree_all()
    card_form.button.click()
    # Then the card is shown masked with the schedule the server made, and PortOne has one schedule
    expect(card_form.outcome_title).to_have_text("구독이 시작되었습니다")
    expect(card_form.outcome).to_contain_text("BC카드 **** 0001")
    expect(card_form.outcome.locator(".charges li")).not_to_have_count(0)
    assert stack.portone_calls("POST /subscribe/payments/schedule") == 1
    screenshot(page, "scheduled-local")
    page.set_viewport_size({"width": 320, "height": 640})
    screenshot(page, "success-screen-phone")


CHARGE_TIMES = {"first_charge_at": "2026-11-30T18:45:00+09:00", "next_charge_at": "2026-12-30T18:45:00+09:00"}
PLANS = [
    {
        "id": "basic-monthly",
        "name": "베이직",
        "amount": 9900,
        "currency": "KRW",
        "interval": "month",
        **CHARGE_TIMES,
    },
    {
        "id": "pro-yearly",
        "name": "프로",
        "amount": 99000,
        "currency": "KRW",
        "interval": "year",
        **CHARGE_TIMES,
    },
]


def test_plans_light_up_when_the_api_has_them(card_form: CardForm, stack: DevStack) -> None:
    # Given an API with the scheduling routes (answered here, as the later change will)
    page = card_form.page
    cors = {"access-control-allow-origin": card_form.url.rstrip("/"), "content-type": "application/json"}
    scheduled: list[dict[str, Any]] = []

    def plans(route: Route) -> None:
        route.fulfill(status=200, headers=cors, body=json.dumps({"plans": PLANS}))

    def schedule(route: Route, request: Request) -> None:
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers={**cors, "access-control-allow-headers": "*"})
            return
        scheduled.append({"body": request.post_data_json, "key": request.headers.get("idempotency-key")})
        body = {
            "status": "success",
            "customer_uid": "cu_scheduled_customer",
            "plan_id": "basic-monthly",
            "card": {"name": "BC카드", "code": "361", "last4": "0001", "type": "credit"},
            "schedules": [
                {
                    "merchant_uid": "sch_1",
                    "schedule_at": 1798761600,
                    "amount": 9900,
                    "currency": "KRW",
                    "status": "scheduled",
                }
            ],
        }
        route.fulfill(status=200, headers=cors, body=json.dumps(body))

    page.route(f"{stack.api_base}/subscriptions/plans", plans)
    page.route(f"{stack.api_base}/subscriptions/schedule", schedule)
    card_form.open()
    # Then the page offers the plans, with "card only" first and chosen
    expect(page.get_by_role("radio", name="카드만 등록")).to_be_checked()
    page.get_by_role("radio", name=re.compile("베이직")).check()
    expect(card_form.button).to_have_text("매월 9,900원 결제에 동의하고 구독 시작")
    card_form.fill().agree_all()
    screenshot(page, "plans")
    card_form.button.click()
    expect(card_form.outcome_title).to_have_text("구독이 시작되었습니다")
    expect(card_form.outcome.locator(".charges li")).to_have_text(["2027년 1월 1일 (금) 오전 9:00 · 9,900원"])
    screenshot(page, "scheduled")
    # And the schedule request named the plan, carried the card and a key, and nothing else chose amounts
    assert len(scheduled) == 1
    sent = scheduled[0]["body"]
    assert sent["plan_id"] == "basic-monthly"
    assert sent["card_number"] == "9540490000000001"
    assert set(sent) == {"card_number", "expiry", "birth", "pwd_2digit", "plan_id", "consents"}
    assert re.fullmatch(r"[0-9a-f-]{36}", scheduled[0]["key"])
    assert stack.billing_key_posts() == 0


@pytest.mark.parametrize("answer", ["404", "403", "unreachable"])
def test_without_plans_the_page_is_the_card_form(page: Page, stack: DevStack, answer: str) -> None:
    # Given an API without the plans route (API Gateway's own 404), one refusing it, or none reachable
    def plans(route: Route) -> None:
        if answer == "unreachable":
            route.abort("connectionrefused")
            return
        status = int(answer)
        message = {404: "Not Found", 403: "Forbidden"}[status]
        headers = {
            "access-control-allow-origin": stack.page_url.rstrip("/"),
            "content-type": "application/json",
        }
        route.fulfill(status=status, headers=headers, body=json.dumps({"message": message}))

    page.route(f"{stack.api_base}/subscriptions/plans", plans)
    form = CardForm(page, stack.page_url).open()
    page.wait_for_load_state("networkidle")
    # Then the page offers the card form only, which still works
    expect(page.locator("#plan-group")).to_be_hidden()
    expect(form.button).to_have_text("동의하고 카드 등록")
    if answer == "404":
        screenshot(page, "form")
    if answer == "403":
        page.set_viewport_size({"width": 1280, "height": 900})
        screenshot(page, "form-desktop")
    form.fill().agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("카드가 등록되었습니다")


def test_no_card_value_reaches_the_console_the_url_or_storage(
    card_form: CardForm, stack: DevStack, console: Console
) -> None:
    page = card_form.page
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    # Every kind of answer: rejected by the page, declined by the card issuer, issued
    card_form.fill(card_number="4111 1111 1111 1112", birth="910317", pwd_2digit="4").agree_all()
    card_form.button.click()
    card_form.fill(card_number=LOCKED_PIN_CARD, birth="910317")
    card_form.button.click()
    expect(card_form.result).to_contain_text("카드사에서")
    card_form.fill(card_number="5272 8900 0000 0004", birth="1234567891")
    card_form.button.click()
    expect(card_form.outcome).to_contain_text("체크카드")
    storage = page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert storage == [0, 0, ""]
    assert [u for u in urls if any(v in u for v in CARD_VALUES)] == []
    assert [v for v in CARD_VALUES if v in page.url] == []
    # The console itself is searched by the page fixture after every test, this one included
    assert not [v for v in CARD_VALUES if v in console.text()]


def test_the_page_may_talk_to_the_api_only(card_form: CardForm, stack: DevStack, console: Console) -> None:
    # The Content-Security-Policy's connect-src names the API's origin and nothing else
    page = card_form.page
    outcome = page.evaluate(
        "url => fetch(url).then(() => 'sent', () => 'blocked')", f"{stack.emulator_url}/__emulator__/stats"
    )
    assert outcome == "blocked"
    assert any("Content Security Policy" in m and "connect-src" in m for m in console.messages)
    console.messages.clear()  # the violation above was provoked on purpose


def cors(stack: DevStack) -> dict[str, str]:
    return {"access-control-allow-origin": stack.page_url.rstrip("/"), "content-type": "application/json"}


def test_every_control_is_locked_while_the_card_is_sent(card_form: CardForm, stack: DevStack) -> None:
    # Given an API that holds the card's POST until the test answers it
    page = card_form.page
    held: list[Route] = []

    def hold(route: Route, request: Request) -> None:
        if request.method == "OPTIONS":
            route.fallback()
        else:
            held.append(route)

    page.route(f"{stack.api_base}/subscriptions/issue-billing", hold)
    card_form.fill().agree_all()
    card_form.button.click()
    # Then every field, box, choice and button is locked, and focus is on the status message
    expect(card_form.result).to_have_text("카드를 등록하고 있습니다…")
    expect(card_form.result).to_be_focused()
    controls = page.locator("#card-form input, #card-form button")
    assert controls.count() > 5
    for control in controls.all():
        expect(control).to_be_disabled()
    screenshot(page, "submitting-locked")
    for _ in range(100):  # the route handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    # When the answer comes (a decline, answered here), everything is unlocked, the message focused
    body = {"status": "failed", "code": "CARD_REJECTED", "message": "The card was declined."}
    held[0].fulfill(status=402, headers=cors(stack), body=json.dumps(body))
    expect(card_form.result).to_contain_text("카드사에서 카드를 승인하지 않았습니다.")
    expect(card_form.result).to_be_focused()
    for control in controls.all():
        expect(control).to_be_enabled()
    expect(card_form.field("card_number")).to_have_value("9540 4900 0000 0001")
    assert stack.billing_key_posts() == 0


def test_a_pending_answer_has_its_own_screen_and_checks_again_with_the_same_submission(
    card_form: CardForm, stack: DevStack
) -> None:
    # Given an API whose first answer is 202 pending (PortOne could not confirm the key)
    page = card_form.page
    posts: list[tuple[str | None, str | None]] = []

    def issue(route: Route, request: Request) -> None:
        if request.method == "OPTIONS":
            route.fallback()
            return
        posts.append((request.post_data, request.headers.get("idempotency-key")))
        if len(posts) > 1:
            route.fallback()  # the real stack, which has not seen the key: it issues the card
            return
        body = {
            "status": "pending",
            "customer_uid": "cu_x",
            "message": "The payment provider did not confirm.",
        }
        route.fulfill(status=202, headers=cors(stack), body=json.dumps(body))

    page.route(f"{stack.api_base}/subscriptions/issue-billing", issue)
    card_form.fill().agree_all()
    card_form.button.click()
    # Then a screen in the form's place says what happened and offers one next step, focused on its heading
    expect(card_form.outcome_title).to_have_text("카드 등록 여부를 아직 확인하지 못했습니다")
    expect(card_form.outcome_title).to_be_focused()
    expect(card_form.outcome).to_contain_text("카드가 두 번 등록되지 않습니다.")
    expect(page.locator("#form-screen")).to_be_hidden()
    expect(page.locator("body")).not_to_contain_text("cu_x")
    expect(card_form.outcome.get_by_role("button")).to_have_count(1)
    screenshot(page, "pending-screen")
    # When the customer checks again, the same submission is sent again, with the same key
    card_form.outcome.get_by_role("button", name="다시 확인").click()
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert len(posts) == 2
    assert posts[0] == posts[1]
    assert stack.billing_key_posts() == 1


# Blocks of Korean text, on the form and on the answer's screen
KOREAN_BLOCKS = (
    ".lead, .hint, .error, .consent-title, .consent-text p, .charge dd, #merchant dt, #merchant dd, h1, p"
)
WORD_BREAKS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.getClientRects().length)
  .map((e) => [e.className || e.tagName, getComputedStyle(e).wordBreak, getComputedStyle(e).overflowWrap])"""


def assert_words_kept_whole(page: Page, selector: str) -> None:
    blocks = page.evaluate(WORD_BREAKS, selector)
    assert blocks
    assert [b for b in blocks if b[1] != "keep-all" or b[2] not in ("break-word", "anywhere")] == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320  # nothing wider than the phone


def test_korean_text_breaks_between_words_on_a_320_px_phone(page: Page, stack: DevStack) -> None:
    page.set_viewport_size({"width": 320, "height": 640})
    form = CardForm(page, stack.page_url).open()
    # The form with a plan's charge box, its consents' texts open, and every field's message shown
    page.locator("#plan-options input[type=radio]").nth(1).check()
    for toggle in page.locator(".consent-toggle:visible").all():
        toggle.click()
    form.button.click()
    expect(form.error("card_number")).not_to_be_empty()
    assert_words_kept_whole(page, KOREAN_BLOCKS)
    screenshot(page, "form-320")
    # And the answer's screen
    form.fill().agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("구독이 시작되었습니다")
    assert_words_kept_whole(page, "#outcome h1, #outcome p, #outcome dt, #outcome dd, #merchant dd")
