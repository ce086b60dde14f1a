"""What a Korean merchant must show before a card is registered: the terms and the consents they ask for, the
seller's identity, and, for a plan, what it charges and when. In a real browser against the local stack."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, Route, expect

from local.template import ROOT
from tests.e2e.conftest import ARTIFACTS, TERMS_UNAVAILABLE, CardForm, DevStack, screenshot

pytestmark = pytest.mark.xdist_group("e2e")

KST = timezone(timedelta(hours=9))
WEEKDAYS = "월화수목금토일"  # Monday first, as datetime.weekday() counts
CYCLES = {"week": "매주", "month": "매월", "year": "매년"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TERMS_PATH = "/subscriptions/terms"
PLANS_PATH = "/subscriptions/plans"
ISSUE_PATH = "/subscriptions/issue-billing"
TERMS_CHANGED = "약관이 변경되었습니다. 변경된 내용을 확인하고 다시 동의해 주세요."


def api_terms(stack: DevStack) -> dict[str, Any]:
    """The terms as the API serves them to the page's origin."""
    answer = requests.get(
        stack.api_url + TERMS_PATH, headers={"Origin": stack.page_url.rstrip("/")}, timeout=10
    )
    answer.raise_for_status()
    terms: dict[str, Any] = answer.json()
    return terms


def items(terms: dict[str, Any], kind: str | None = None, applies_to: str = "card") -> list[dict[str, Any]]:
    return [
        item
        for item in terms["items"]
        if applies_to in item["applies_to"] and (kind is None or item["kind"] == kind)
    ]


def kst(text: str) -> str:
    """An instant as the page should write it: "2026년 11월 30일 (월) 오후 6:45" in Korea's time."""
    at = datetime.fromisoformat(text).astimezone(KST)
    period = "오전" if at.hour < 12 else "오후"
    day = f"{at.year}년 {at.month}월 {at.day}일 ({WEEKDAYS[at.weekday()]})"
    return f"{day} {period} {at.hour % 12 or 12}:{at.minute:02d}"


def won(amount: int) -> str:
    return f"{amount:,}원"


def api_posts(page: Page, stack: DevStack) -> list[Request]:
    """The requests with a body the page sends to the API from now on."""
    sent: list[Request] = []
    page.on(
        "request",
        lambda r: sent.append(r) if r.url.startswith(stack.api_url) and r.method == "POST" else None,
    )
    return sent


def cors(stack: DevStack) -> dict[str, str]:
    return {"access-control-allow-origin": stack.page_url.rstrip("/"), "content-type": "application/json"}


def open_disclosures(page: Page) -> None:
    for toggle in page.locator(".consent-toggle").all():
        if toggle.is_visible():
            toggle.click()


def charge_detail(page: Page, term: str) -> Any:
    """What the charge box says against `term` (결제 금액, 첫 결제, ...)."""
    return page.locator("#charge dl > div").filter(has=page.locator("dt", has_text=term)).locator("dd")


def choose_first_plan(form: CardForm) -> dict[str, Any]:
    """Picks the first plan the page offers; returns it as the page got it (its charge times are "now")."""
    page = form.page
    with page.expect_response(lambda r: r.url.endswith(PLANS_PATH) and r.request.method == "GET") as answer:
        form.open()
    plan: dict[str, Any] = answer.value.json()["plans"][0]
    page.locator("#plan-options input[type=radio]").nth(1).check()
    return plan


def test_the_terms_are_shown_with_their_texts_and_one_box_agrees_to_all(
    card_form: CardForm, stack: DevStack
) -> None:
    terms = api_terms(stack)
    page = card_form.page
    # Each item applying to every card is listed: boxes marked (필수)/(선택), notices as 안내 without a box
    for item in items(terms):
        row = page.locator(".consent-item", has_text=item["title"])
        expect(row).to_be_visible()
        if item["kind"] == "notice":
            expect(row).to_contain_text("안내")
            expect(row.get_by_role("checkbox")).to_have_count(0)
        else:
            mark = {"required": "(필수)", "optional": "(선택)"}[item["kind"]]
            expect(page.get_by_role("checkbox", name=f"{mark} {item['title']}")).not_to_be_checked()
        # Its 보기 button opens its text (and the link to the full text, when it has one)
        toggle = page.get_by_role("button", name=f"{item['title']} 보기")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        text = page.locator(f"#{toggle.get_attribute('aria-controls')}")
        expect(text).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(text).to_contain_text(item["text"].splitlines()[0])
        if item.get("url"):
            expect(text.get_by_role("link", name="전문 보기")).to_have_attribute("href", item["url"])
    # Items for a plan only are not shown while no plan is chosen
    for item in items(terms, applies_to="plan"):
        if "card" not in item["applies_to"]:
            expect(page.locator(".consent-item", has_text=item["title"])).to_be_hidden()

    # 전체 동의 ticks every box, is unticked by unticking one, and ticked again once all are
    boxes = page.locator(".consent-item:visible input[type=checkbox]")
    agree_all = page.get_by_label(CardForm.AGREE_ALL, exact=True)
    card_form.agree_all()
    for index in range(boxes.count()):
        expect(boxes.nth(index)).to_be_checked()
    boxes.first.uncheck()
    expect(agree_all).not_to_be_checked()
    boxes.first.check()
    expect(agree_all).to_be_checked()
    agree_all.uncheck()
    for index in range(boxes.count()):
        expect(boxes.nth(index)).not_to_be_checked()

    page.set_viewport_size(DESKTOP)
    screenshot(page, "consents-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "consents-phone")


def test_without_a_required_consent_nothing_is_sent_and_the_page_says_what_is_missing(
    card_form: CardForm, stack: DevStack
) -> None:
    terms = api_terms(stack)
    required = items(terms, "required")
    page = card_form.page
    sent = api_posts(page, stack)
    # Given a valid card and only the optional consents ticked
    card_form.fill()
    for item in items(terms, "optional"):
        card_form.consent(item["id"]).check()
    # When the customer submits
    card_form.button.click()
    # Then nothing is sent, the missing consents are named next to them, and focus is on the first
    error = page.locator("#consents-error")
    for item in required:
        expect(error).to_contain_text(item["title"])
        box = card_form.consent(item["id"])
        expect(box).to_have_attribute("aria-invalid", "true")
        assert "consents-error" in (box.get_attribute("aria-describedby") or "").split()
    expect(card_form.consent(required[0]["id"])).to_be_focused()
    expect(card_form.result).to_contain_text("입력 내용을 확인해 주세요.")
    screenshot(page, "consent-missing")
    assert sent == []
    assert stack.emulator_stats()["calls"] == []

    # When the customer ticks them, the message goes
    for item in required:
        card_form.consent(item["id"]).check()
    expect(error).to_be_empty()
    expect(card_form.consent(required[0]["id"])).not_to_have_attribute("aria-invalid", "true")


def test_the_request_carries_the_version_and_the_consents_ticked(
    card_form: CardForm, stack: DevStack
) -> None:
    terms = api_terms(stack)
    page = card_form.page
    sent = api_posts(page, stack)
    # Given every consent ticked but the optional ones
    card_form.fill().agree_all()
    for item in items(terms, "optional"):
        card_form.consent(item["id"]).uncheck()
    # When the customer submits, the card is registered with the consents given
    card_form.button.click()
    expect(card_form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert len(sent) == 1
    body = sent[0].post_data_json
    assert body["consents"] == {
        "version": terms["version"],
        "items": [i["id"] for i in items(terms, "required")],
    }
    assert stack.billing_key_posts() == 1
    # And the next registration asks again
    card_form.outcome.get_by_role("button", name="다른 카드 등록").click()
    expect(page.get_by_label(CardForm.AGREE_ALL, exact=True)).not_to_be_checked()


def test_a_plan_says_what_it_charges_and_when_above_the_button(page: Page, stack: DevStack) -> None:
    terms = api_terms(stack)
    page.set_viewport_size(PHONE)
    form = CardForm(page, stack.page_url)
    plan = choose_first_plan(form)
    # Then the plan's own consents appear
    for item in items(terms, applies_to="plan"):
        expect(page.locator(".consent-item", has_text=item["title"])).to_be_visible()
    # And a box gives the amount in 원, the cycle, the first and next charge in KST, and how to cancel
    charge = page.locator("#charge")
    cycle = CYCLES[plan["interval"]]
    expect(charge_detail(page, "결제 금액")).to_have_text(won(plan["amount"]))
    expect(charge_detail(page, "결제 주기")).to_contain_text(f"{cycle} 자동 결제")
    expect(charge_detail(page, "첫 결제")).to_have_text(kst(plan["first_charge_at"]))
    expect(charge_detail(page, "다음 결제")).to_have_text(kst(plan["next_charge_at"]))
    expect(charge_detail(page, "해지 방법")).to_have_text(terms["merchant"]["how_to_cancel"])
    expect(form.button).to_have_text(f"{cycle} {won(plan['amount'])} 결제에 동의하고 구독 시작")
    # Above the consents and the button on a phone: in the document's order and on the screen
    follows = page.evaluate(
        "() => Boolean(document.getElementById('charge').compareDocumentPosition("
        "document.getElementById('submit')) & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    assert follows
    charge_box, consents_box, button_box = (
        page.locator(selector).bounding_box() for selector in ("#charge", "#consents", "#submit")
    )
    assert charge_box
    assert consents_box
    assert button_box
    assert charge_box["y"] + charge_box["height"] <= consents_box["y"]
    assert consents_box["y"] + consents_box["height"] <= button_box["y"]
    charge.scroll_into_view_if_needed()
    screenshot(page, "plan-disclosure-phone")

    # When the customer subscribes, the plan's consents go with the card
    sent = api_posts(page, stack)
    form.fill().agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("구독이 시작되었습니다")
    expect(form.outcome.locator(".charges li").first).to_contain_text(won(plan["amount"]))
    ticked = set(sent[0].post_data_json["consents"]["items"])
    assert {i["id"] for i in items(terms, applies_to="plan") if i["kind"] != "notice"} <= ticked

    # And the next registration starts on "card only": the plan's consents and the charge box are gone
    form.outcome.get_by_role("button", name="다른 카드 등록").click()
    expect(page.get_by_role("radio", name="카드만 등록")).to_be_checked()
    expect(page.locator("#charge")).to_be_hidden()
    for item in items(terms, applies_to="plan"):
        if "card" not in item["applies_to"]:
            expect(page.locator(".consent-item", has_text=item["title"])).to_be_hidden()


def test_the_charge_times_stay_true_while_the_page_is_open(page: Page, stack: DevStack) -> None:
    # Given an API whose plans charge from "now", a minute later on each call
    first = datetime(2026, 11, 30, 18, 45, tzinfo=KST)
    calls: list[int] = []

    def plans(route: Route) -> None:
        at = first + timedelta(minutes=len(calls))
        calls.append(1)
        plan = {
            "id": "basic_monthly",
            "name": "베이직",
            "amount": 9900,
            "currency": "KRW",
            "interval": "month",
            "first_charge_at": at.isoformat(),
            "next_charge_at": (at + timedelta(days=30)).isoformat(),
        }
        route.fulfill(status=200, headers=cors(stack), body=json.dumps({"plans": [plan]}))

    page.clock.install()
    page.route(stack.api_url + PLANS_PATH, plans)
    form = CardForm(page, stack.page_url).open()
    page.locator("#plan-options input[type=radio]").nth(1).check()
    expect(charge_detail(page, "첫 결제")).to_have_text("2026년 11월 30일 (월) 오후 6:45")
    # When a minute passes, the page asks again and shows the new times, the plan still chosen
    page.clock.run_for(61_000)
    expect(charge_detail(page, "첫 결제")).to_have_text("2026년 11월 30일 (월) 오후 6:46")
    expect(charge_detail(page, "다음 결제")).to_have_text("2026년 12월 30일 (수) 오후 6:46")
    expect(page.locator("#plan-options input[type=radio]").nth(1)).to_be_checked()
    expect(form.button).to_have_text("매월 9,900원 결제에 동의하고 구독 시작")


def test_the_footer_names_the_seller(card_form: CardForm, stack: DevStack) -> None:
    merchant = api_terms(stack)["merchant"]
    page = card_form.page
    footer = page.get_by_role("contentinfo")
    for key in (
        "name",
        "representative",
        "address",
        "phone",
        "email",
        "business_number",
        "mail_order_number",
        "mail_order_authority",
        "hosting_provider",
        "privacy_officer",
    ):
        expect(footer).to_contain_text(merchant[key])
    expect(footer).to_contain_text(merchant["complaints_address"])
    expect(footer).to_contain_text("소비자 불만 처리")
    # The FTC's page about the business, beside the page (the card typed so far stays)
    ftc = footer.get_by_role("link", name="사업자정보확인")
    expect(ftc).to_have_attribute("href", merchant["business_info_url"])
    expect(ftc).to_have_attribute("target", "_blank")
    assert set((ftc.get_attribute("rel") or "").split()) >= {"noopener", "noreferrer"}
    # The policies, the privacy policy set apart in bold
    for name, key in (
        ("이용약관", "terms_url"),
        ("개인정보처리방침", "privacy_url"),
        ("환불 정책", "refund_url"),
    ):
        expect(footer.get_by_role("link", name=name)).to_have_attribute("href", merchant[key])
    privacy = footer.get_by_role("link", name="개인정보처리방침")
    assert int(privacy.evaluate("link => getComputedStyle(link).fontWeight")) >= 700
    footer.scroll_into_view_if_needed()
    screenshot(page, "merchant-footer")


def test_outdated_terms_are_fetched_again_and_agreed_to_again(page: Page, stack: DevStack) -> None:
    # Given terms that change between the page's load and its submission
    old_terms = api_terms(stack)
    new_version = "2099-01-01"
    terms_fetches: list[str] = []
    posts: list[dict[str, Any]] = []

    def terms(route: Route) -> None:
        terms_fetches.append(route.request.url)
        if len(terms_fetches) == 1:
            route.fallback()
            return
        new_terms = {**old_terms, "version": new_version}
        route.fulfill(status=200, headers=cors(stack), body=json.dumps(new_terms))

    def issue(route: Route, request: Request) -> None:
        if request.method == "OPTIONS":
            route.fallback()
            return
        posts.append(request.post_data_json)
        if len(posts) == 1:
            errors = [{"field": "consents.version", "reason": "outdated_terms"}]
            body = {"status": "failed", "code": "INVALID_REQUEST", "errors": errors}
            route.fulfill(status=400, headers=cors(stack), body=json.dumps(body))
            return
        card = {"name": "BC카드", "code": "361", "last4": "0001", "type": "credit"}
        body = {"status": "success", "customer_uid": "cu_after_new_terms", "card": card}
        route.fulfill(status=200, headers=cors(stack), body=json.dumps(body))

    page.route(stack.api_url + TERMS_PATH, terms)
    page.route(stack.api_url + ISSUE_PATH, issue)
    form = CardForm(page, stack.page_url).open()
    # When the customer agrees and submits, and the server answers that the terms changed
    form.fill().agree_all()
    form.button.click()
    # Then the page fetches the terms again, unticks every box and asks for a review before another try
    expect(form.result).to_contain_text("약관이 변경되어 카드를 등록하지 않았습니다.")
    expect(page.locator("#consents-error")).to_have_text(TERMS_CHANGED)
    assert len(terms_fetches) == 2
    for box in page.locator("#consents input[type=checkbox]").all():
        expect(box).not_to_be_checked()
    expect(page.get_by_label(CardForm.AGREE_ALL, exact=True)).to_be_focused()
    expect(form.field("card_number")).to_have_value("9540 4900 0000 0001")  # the card is kept to send again
    screenshot(page, "terms-outdated")
    # And agreeing again sends the new version
    form.agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("카드가 등록되었습니다")
    assert [p["consents"]["version"] for p in posts] == [old_terms["version"], new_version]
    assert stack.billing_key_posts() == 0


def test_the_servers_consent_errors_are_shown_next_to_the_consents(page: Page, stack: DevStack) -> None:
    terms = api_terms(stack)
    required = items(terms, "required")[0]

    def issue(route: Route, request: Request) -> None:
        if request.method == "OPTIONS":
            route.fallback()
            return
        errors = [{"field": f"consents.items.{required['id']}", "reason": "required"}]
        body = {"status": "failed", "code": "INVALID_REQUEST", "errors": errors}
        route.fulfill(status=400, headers=cors(stack), body=json.dumps(body))

    page.route(stack.api_url + ISSUE_PATH, issue)
    form = CardForm(page, stack.page_url).open()
    form.fill().agree_all()
    form.button.click()
    expect(page.locator("#consents-error")).to_contain_text(required["title"])
    expect(form.consent(required["id"])).to_have_attribute("aria-invalid", "true")
    expect(form.consent(required["id"])).to_be_focused()
    expect(form.result).to_have_text("입력 내용을 확인해 주세요.")


def test_without_the_terms_the_form_cannot_be_sent(page: Page, stack: DevStack) -> None:
    # Given an API that cannot serve the terms
    page.route(
        stack.api_url + TERMS_PATH,
        lambda route: route.fulfill(
            status=503, headers=cors(stack), body=json.dumps({"code": "SERVICE_UNAVAILABLE"})
        ),
    )
    sent = api_posts(page, stack)
    page.goto(stack.page_url)
    form = CardForm(page, stack.page_url)
    # Then the page says so where the terms would be, and its button stays disabled
    expect(page.locator("#terms-status")).to_have_text(TERMS_UNAVAILABLE)
    expect(form.button).to_be_disabled()
    expect(page.get_by_role("checkbox")).to_have_count(0)
    # And a card typed in is not sent, not even by Enter
    form.fill()
    form.field("pwd_2digit").press("Enter")
    expect(form.button).to_be_disabled()
    screenshot(page, "terms-unavailable")
    assert sent == []


def test_amounts_and_dates_are_written_as_korean_shops_write_them(page: Page, dev_stack: DevStack) -> None:
    page.goto(dev_stack.page_url)
    instants = [
        "2026-11-30T18:45:00+09:00",
        "2026-11-30T15:00:00Z",  # midnight in Korea, the next day
        "2026-12-01T03:05:00Z",  # noon in Korea
        "2027-01-01T00:00:00+09:00",
    ]
    got = page.evaluate(
        """async (instants) => {
          const m = await import("/format.js");
          return {
            dates: instants.map((t) => m.kstDateTime(t)),
            seconds: m.kstDateTime(1798761600),
            money: [m.money(9900, "KRW"), m.money(1290000, "KRW"), m.money(0, "KRW"), m.money(10, "USD")],
            cycles: ["week", "month", "year", "MONTHLY"].map(m.cycle),
          };
        }""",
        instants,
    )
    assert got["dates"] == [kst(t.replace("Z", "+00:00")) for t in instants]
    assert got["dates"][1:3] == ["2026년 12월 1일 (화) 오전 12:00", "2026년 12월 1일 (화) 오후 12:05"]
    assert got["seconds"] == "2027년 1월 1일 (금) 오전 9:00"
    assert got["money"] == ["9,900원", "1,290,000원", "0원", "10 USD"]
    assert got["cycles"] == ["매주", "매월", "매년", "매월"]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_nothing_serious(browser: Browser, stack: DevStack, size: str) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser` (npm ci)")
    # axe goes in as an inline script, which the page's own policy refuses (script-src 'self', and Trusted
    # Types for script text): this context alone bypasses the policy so the scanner can run; every other test
    # runs under it and fails on any violation.
    context = browser.new_context(
        viewport=DESKTOP if size == "desktop" else PHONE, locale="ko-KR", bypass_csp=True
    )
    try:
        page = context.new_page()
        form = CardForm(page, stack.page_url)
        # The idle form with a plan chosen (charge box, the plan's consents) and every text open
        choose_first_plan(form)
        open_disclosures(page)
        page.add_script_tag(path=str(AXE))
        scans = {"form": page.evaluate("() => axe.run()")}
        # And the screen that replaces the form once the plan is subscribed to
        form.fill().agree_all()
        form.button.click()
        expect(form.outcome_title).to_be_focused()
        scans["success"] = page.evaluate("() => axe.run()")
    finally:
        context.close()
    # The figures, for the record (test-artifacts/axe-<size>.json)
    summary = {
        screen: {
            "axe": results["testEngine"]["version"],
            "violations_by_impact": Counter(v["impact"] for v in results["violations"]),
            "rules_passed": len(results["passes"]),
            "violations": results["violations"],
        }
        for screen, results in scans.items()
    }
    (ARTIFACTS / f"axe-{size}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    serious = {
        screen: [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        for screen, results in scans.items()
    }
    assert serious == {"form": [], "success": []}, json.dumps(serious, ensure_ascii=False, indent=2)
