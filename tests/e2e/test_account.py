"""The account page (web/account.html): a signed-in customer sees the subscription and skips a payment,
changes the card, cancels, asks for erasure or consents to a higher price, each confirmed first. Against
`make dev ARGS=--jwt`."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.e2e.conftest import ARTIFACTS, CardForm, DevStack, screenshot, start_dev
from tests.e2e.test_consents import AXE, DESKTOP, KST, PHONE, kst, won
from tests.integration.support import consents

pytestmark = pytest.mark.xdist_group("e2e")

DEV_SUBJECT = "dev-user"  # whom the pages' dev sign-in is for (app.js, account.js)
CARD_CHANGE_MS = 30_000  # the page waits up to 35 s for the API (REQUEST_TIMEOUT_MS in account.js)
PLAN = {"id": "basic_monthly", "name": "베이직 월간 이용권", "amount": 9900, "cycle": "매월"}
CARD = {"card_number": "9540490000000001", "expiry": "2030-12", "birth": "880101", "pwd_2digit": "12"}


@pytest.fixture(scope="module")
def account_stack(dev_env_file: Path) -> Iterator[DevStack]:
    stack = start_dev("account", dev_env_file, "--jwt")
    yield stack
    assert stack.stop(signal.SIGINT) == 0, stack.output()[-3000:]


def api(stack: DevStack, method: str, path: str, body: Any = None) -> requests.Response:
    """A request as the pages' signed-in dev user; a change carries a new Idempotency-Key."""
    answer = requests.post(f"{stack.urls['issuer']}/dev/token", json={"sub": DEV_SUBJECT}, timeout=5)
    answer.raise_for_status()
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    if method != "GET":
        headers["Idempotency-Key"] = f"test-{uuid.uuid4()}"
    return requests.request(method, stack.api_url + path, json=body, headers=headers, timeout=30)


def subscribe(stack: DevStack) -> str:
    """A new subscription to the plan with the test card, as the dev user; its customer_uid."""
    body = {**CARD, "plan_id": PLAN["id"], "consents": consents("card", "plan")}
    answer = api(stack, "POST", "/subscriptions/schedule", body)
    assert answer.status_code == 200, answer.text
    uid: str = answer.json()["customer_uid"]
    return uid


def view(stack: DevStack, uid: str) -> dict[str, Any]:
    answer = api(stack, "GET", f"/subscriptions/{uid}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def billing_keys(stack: DevStack) -> list[str]:
    """The dev user's billing keys as the server maps them to the user (GET /subscriptions), newest first."""
    answer = api(stack, "GET", "/subscriptions")
    assert answer.status_code == 200, answer.text
    return [key["customer_uid"] for key in answer.json()["billing_keys"]]


@pytest.fixture(autouse=True)
def fresh_account(account_stack: DevStack) -> Iterator[None]:
    """Each test starts from a dev user with nothing: whatever earlier tests registered is erased. Each ends
    with what the product sent PortOne, and what the emulator answered, within PortOne's schema."""
    for uid in billing_keys(account_stack):
        erased = api(account_stack, "POST", f"/subscriptions/{uid}/erasure")
        assert erased.status_code == 200, erased.text
    yield
    assert account_stack.emulator_stats()["contract_violations"] == []


def open_account(page: Page, stack: DevStack) -> None:
    """The account page of the signed-in dev user: the server says which subscription is theirs."""
    page.goto(stack.page_url + "account.html")
    expect(page.locator("#account-status")).not_to_have_text("구독 정보를 불러오는 중…")


def fill_new_card(page: Page, number: str, pin: str) -> None:
    """The open card-change form: another card (expiry 12/30, birth 880101) and the card's consents."""
    page.get_by_label("카드 번호", exact=True).fill(number)
    page.get_by_label("유효기간", exact=True).fill("12/30")
    page.get_by_label("생년월일 / 사업자등록번호", exact=True).fill("880101")
    page.get_by_label("카드 비밀번호 앞 두 자리", exact=True).fill(pin)
    for item in consents("card")["items"]:
        page.locator(f"#consent-{item}").check()


def detail(page: Page, term: str) -> Any:
    """What the summary says against `term` (요금제, 결제 카드, ...)."""
    return page.locator("#summary > div").filter(has=page.get_by_text(term, exact=True)).locator("dd")


def iso(moment: datetime) -> str:
    """An instant as the API writes it (pydantic's ISO 8601), in Korea's time, to the second."""
    return moment.astimezone(KST).replace(microsecond=0).isoformat()


def price_change(**fields: Any) -> dict[str, Any]:
    """A view's `price_change` (PriceChangeView); by default a higher price awaiting consent, window open."""
    period = datetime.now(KST) + timedelta(days=10)
    change = {
        "previous_amount": PLAN["amount"],
        "amount": 12900,
        "period_at": iso(period),
        "consent_required": True,
        "consent_from": iso(period - timedelta(days=30)),
        "consent_until": iso(period - timedelta(hours=1)),
        "consented_at": None,
        "without_consent": "keep",
        "lapsed": False,
    }
    return {**change, **fields}


def serve_view(page: Page, stack: DevStack, uid: str, **fields: Any) -> dict[str, Any]:
    """`GET /subscriptions/{uid}` as the stack answers it, with `fields` (a price change, a state) laid over
    the view: what the stack cannot easily produce. The returned dict is read at each load: a test may change
    it."""

    def answer(route: Route, request: Request) -> None:
        if request.method != "GET":
            route.fallback()
            return
        response = route.fetch()
        found = response.json()
        assert "price_change" in found  # the real view carries the field (null without a change)
        # The body changes length; the rest of the stack's answer (CORS included) stays
        dropped = ("content-length", "content-encoding")
        headers = {k: v for k, v in response.headers.items() if k not in dropped}
        route.fulfill(status=response.status, headers=headers, json={**found, **fields})

    page.route(f"{stack.api_url}/subscriptions/{uid}", answer)
    return fields


def answer_consent(page: Page, stack: DevStack, uid: str, status: int, body: dict[str, Any]) -> list[Request]:
    """`POST /subscriptions/{uid}/price-consent` answered as the API documents; the requests the page sent."""
    sent: list[Request] = []

    def consent(route: Route, request: Request) -> None:
        if request.method != "POST":
            route.fallback()
            return
        sent.append(request)
        origin = stack.page_url.rstrip("/")
        headers = {"access-control-allow-origin": origin, "content-type": "application/json"}
        route.fulfill(status=status, headers=headers, body=json.dumps(body))

    page.route(f"{stack.api_url}/subscriptions/{uid}/price-consent", consent)
    return sent


def fits_the_screen(page: Page) -> bool:
    """Nothing wider than the viewport: no sideways scrolling on a phone."""
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_subscription_started_on_the_card_page_is_shown(page: Page, account_stack: DevStack) -> None:
    # Given a customer who subscribed on the card page, signed in
    account_stack.reset_emulator()
    form = CardForm(page, account_stack.page_url).open()
    page.get_by_role("radio", name=f"{PLAN['name']} · {won(PLAN['amount'])} / {PLAN['cycle']}").check()
    form.fill().agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("구독이 시작되었습니다")
    [uid] = billing_keys(account_stack)  # the server maps the signed-in customer to the new uid
    subscription = view(account_stack, uid)
    next_charge = subscription["schedules"][0]
    # When the customer opens the account page
    page.goto(account_stack.page_url + "account.html")
    # Then it shows the plan, the price per cycle, the card, the state and the next charge in KST
    expect(detail(page, "요금제")).to_have_text(PLAN["name"])
    expect(detail(page, "요금")).to_have_text(f"{won(PLAN['amount'])} / {PLAN['cycle']}")
    card = subscription["card"]
    expect(detail(page, "결제 카드")).to_have_text(f"{card['name']} **** {card['last4']}")
    expect(detail(page, "상태")).to_have_text("이용 중")
    charge = f"{kst(next_charge['schedule_at'])} · {won(PLAN['amount'])}"
    expect(detail(page, "다음 결제")).to_have_text(charge)
    expect(page.locator("#schedule-list li").first).to_contain_text("예약됨")
    # And the customer never sees the uid
    expect(page.locator("body")).not_to_contain_text(uid)
    for name in ("다음 결제 건너뛰기", "결제 카드 변경", "구독 해지", "내 정보 삭제 요청"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    page.set_viewport_size(DESKTOP)
    screenshot(page, "account-overview")
    page.set_viewport_size(PHONE)
    screenshot(page, "account-overview-phone")


def test_the_next_payment_is_skipped_after_a_confirmation(page: Page, account_stack: DevStack) -> None:
    uid = subscribe(account_stack)
    next_charge = view(account_stack, uid)["schedules"][0]
    open_account(page, account_stack)
    # When the customer asks to skip, the dialog names the payment's date and amount
    page.get_by_role("button", name="다음 결제 건너뛰기").click()
    dialog = page.get_by_role("dialog", name="다음 결제 건너뛰기")
    charge = f"{kst(next_charge['schedule_at'])} · {won(PLAN['amount'])}"
    expect(dialog).to_contain_text(f"{charge} 결제를 건너뜁니다.")
    expect(dialog.get_by_role("button", name="닫기")).to_be_focused()  # Enter alone skips nothing
    screenshot(page, "account-skip-confirm")
    dialog.get_by_role("button", name="건너뛰기").click()
    # Then that payment is revoked and shown as such, and the next period is announced
    result = page.get_by_role("status")
    expect(result).to_contain_text(f"{kst(next_charge['schedule_at'])} 결제를 건너뛰었습니다.")
    expect(result).to_be_focused()
    skipped = page.locator("#schedule-list li").filter(has_text=kst(next_charge["schedule_at"]))
    expect(skipped).to_contain_text("취소됨")
    expect(detail(page, "다음 결제")).to_contain_text("그다음 결제는 다음 주기에 예약됩니다.")
    assert [s["status"] for s in view(account_stack, uid)["schedules"]] == ["revoked"]


def test_the_card_is_changed_with_the_cards_consents(page: Page, account_stack: DevStack) -> None:
    uid = subscribe(account_stack)
    open_account(page, account_stack)
    # When the customer opens the card form, types another card and agrees to the card's consents
    toggle = page.get_by_role("button", name="결제 카드 변경")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("카드 번호", exact=True)).to_be_focused()
    fill_new_card(page, "5272 8900 0000 0004", "12")
    # Plan-only consents are not asked again
    expect(page.locator("#consent-recurring_payment")).to_have_count(0)
    page.get_by_role("button", name="전자금융거래 이용약관 동의 보기").click()
    screenshot(page, "account-card-change")
    page.get_by_role("button", name="동의하고 카드 변경").click()
    # Then the new card is shown, and the subscription is known under its new uid from now on
    # A card change is several PortOne calls (issue, revoke, confirm, register): on a loaded machine, seconds
    expect(page.get_by_role("status")).to_contain_text("결제 카드가 변경되었습니다.", timeout=CARD_CHANGE_MS)
    expect(detail(page, "결제 카드")).to_contain_text("**** 0004")
    expect(page.locator("#card-change")).to_be_hidden()
    [new_uid] = billing_keys(account_stack)
    assert new_uid != uid
    assert view(account_stack, new_uid)["card"]["last4"] == "0004"


def test_a_new_card_whose_details_do_not_match_is_explained_and_nothing_changes(
    page: Page, account_stack: DevStack
) -> None:
    subscribe(account_stack)
    open_account(page, account_stack)
    page.get_by_role("button", name="결제 카드 변경").click()
    fill_new_card(page, "9540 4900 0011 3002", "99")  # the emulator's wrong PIN digits
    page.get_by_role("button", name="동의하고 카드 변경").click()
    # Then the customer learns what to check, that one more mismatch stops the card here, and that the
    # subscription's card did not change
    result = page.locator("#result")
    expect(result).to_contain_text("결제 카드는 바뀌지 않았습니다.")
    expect(result).to_contain_text("카드 번호, 유효기간, 비밀번호 앞 두 자리, 생년월일")
    expect(result).to_contain_text("한 번 더 일치하지 않으면")
    expect(detail(page, "결제 카드")).to_contain_text("**** 0001")
    screenshot(page, "account-card-change-details-mismatch")


def test_a_card_change_portone_could_not_confirm_changed_nothing_and_is_offered_again(
    page: Page, account_stack: DevStack
) -> None:
    subscribe(account_stack)
    open_account(page, account_stack)
    sent: list[str | None] = []

    def change(route: Route, request: Request) -> None:
        if request.method != "PUT":
            route.fallback()
            return
        sent.append(request.headers.get("idempotency-key"))
        if len(sent) > 1:
            route.fallback()  # the real stack: the card changes
            return
        # What the API answers when the new key could not be confirmed (and was withdrawn)
        body = {"status": "pending", "customer_uid": "cu_new", "previous_customer_uid": "cu_old"}
        origin = account_stack.page_url.rstrip("/")
        headers = {"access-control-allow-origin": origin, "content-type": "application/json"}
        route.fulfill(status=202, headers=headers, body=json.dumps(body))

    page.route(f"{account_stack.api_url}/subscriptions/*/card", change)
    page.get_by_role("button", name="결제 카드 변경").click()
    fill_new_card(page, "5272 8900 0000 0004", "12")
    page.get_by_role("button", name="동의하고 카드 변경").click()
    # Then the page says nothing changed (the card stays in the form), and the old card is still shown
    result = page.locator("#result")
    expect(result).to_contain_text("결제 카드를 변경하지 못했습니다.")
    expect(result).to_contain_text("다음 결제도 지금 카드로 진행됩니다.")
    expect(detail(page, "결제 카드")).to_contain_text("**** 0001")
    expect(page.get_by_label("카드 번호", exact=True)).not_to_have_value("")
    screenshot(page, "account-card-change-unconfirmed")
    # And trying again is a new request (its own key), which the stack answers
    page.get_by_role("button", name="동의하고 카드 변경").click()
    expect(result).to_contain_text("결제 카드가 변경되었습니다.", timeout=CARD_CHANGE_MS)
    assert len(sent) == 2
    assert sent[0] != sent[1]


def test_the_subscription_is_cancelled_in_two_clicks(page: Page, account_stack: DevStack) -> None:
    uid = subscribe(account_stack)
    next_at = kst(view(account_stack, uid)["schedules"][0]["schedule_at"])
    open_account(page, account_stack)
    cancels: list[Any] = []
    page.on("request", lambda r: cancels.append(r) if r.method == "DELETE" else None)
    # Click 1: the confirmation says what stops and when
    page.get_by_role("button", name="구독 해지").click()
    dialog = page.get_by_role("dialog", name="구독을 해지할까요?")
    expect(dialog).to_contain_text(
        f"다음 결제일({next_at})부터 청구되지 않으며, {next_at}까지 이용할 수 있습니다."
    )
    screenshot(page, "account-cancel-confirm")
    # Click 2: cancelled at the end of the paid period, with one request and its own Idempotency-Key
    dialog.get_by_role("button", name="해지하기").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("구독이 해지되었습니다.")
    cancelled = view(account_stack, uid)
    assert cancelled["subscription_status"] == "cancelled"
    ends_at = kst(cancelled["ends_at"])
    assert ends_at == next_at
    expect(result).to_contain_text(f"{ends_at}까지 이용할 수 있으며, 더 이상 결제되지 않습니다.")
    expect(detail(page, "상태")).to_have_text(f"해지됨 ({ends_at}까지 이용)")
    expect(page.get_by_role("button", name="구독 해지")).to_be_hidden()
    assert len(cancels) == 1
    assert cancels[0].headers.get("idempotency-key")
    screenshot(page, "account-cancelled")


def test_erasure_is_confirmed_and_says_what_the_law_keeps(page: Page, account_stack: DevStack) -> None:
    subscribe(account_stack)
    open_account(page, account_stack)
    # The confirmation: the end now, no refund (the merchant's, by customer service), the card, 5 years
    page.get_by_role("button", name="내 정보 삭제 요청").click()
    dialog = page.get_by_role("dialog", name="내 정보를 삭제할까요?")
    expect(dialog).to_contain_text("구독이 지금 바로 종료되며, 이미 결제된 이용 기간도 함께 끝납니다.")
    expect(dialog).to_contain_text("결제된 금액은 환불되지 않습니다. 환불은 판매자 고객센터")
    expect(dialog).to_contain_text("**** 0001)가 삭제됩니다.")
    expect(dialog).to_contain_text("5년간 보관")
    screenshot(page, "account-erase-confirm")
    with page.expect_response(lambda r: r.url.endswith("/erasure")) as answered:
        dialog.get_by_role("button", name="삭제 요청").click()
    answer = answered.value.json()
    # Then the page says what was deleted and which records are kept, until when
    result = page.get_by_role("status")
    expect(result).to_contain_text("내 정보를 삭제했습니다.")
    for kept in answer["kept"]:
        expect(result).to_contain_text(f"{kept['count']}건: {kst(kept['until'])}까지 보관")
    expect(page.locator("#overview")).to_be_hidden()
    assert billing_keys(account_stack) == []
    screenshot(page, "account-erased")


def test_without_a_subscription_the_page_links_to_the_card_page(page: Page, account_stack: DevStack) -> None:
    open_account(page, account_stack)
    status = page.locator("#account-status")
    expect(status).to_contain_text("표시할 구독이 없습니다.")
    expect(status.get_by_role("link", name="정기결제 카드 등록 페이지")).to_have_attribute("href", "./")
    expect(page.locator("#overview")).to_be_hidden()
    expect(page.get_by_role("button", name="구독 해지")).to_be_hidden()
    screenshot(page, "account-empty")


def test_a_higher_price_is_consented_to_in_its_window(page: Page, account_stack: DevStack) -> None:
    # Given a higher price awaiting the customer's consent, its window open
    uid = subscribe(account_stack)
    card = view(account_stack, uid)["card"]
    offer = price_change()
    served = serve_view(page, account_stack, uid, price_change=offer)
    consented_at = iso(datetime.now(KST))
    reply = {
        "status": "success",
        "customer_uid": uid,
        "amount": offer["amount"],
        "period_at": offer["period_at"],
        "consented_at": consented_at,
    }
    sent = answer_consent(page, account_stack, uid, 200, reply)
    open_account(page, account_stack)
    # Then the notice names the first payment at the new price, both prices, the card, what happens without
    # consent, and the window
    when = kst(offer["period_at"])
    old, new = won(PLAN["amount"]), won(12900)
    card_text = f"{card['name']} **** {card['last4']}"
    notice = page.get_by_role("region", name="가격 변경 안내")
    expect(notice).to_contain_text(f"{when} 결제부터 요금이 {old}에서 {new}으로 오릅니다.")
    expect(notice).to_contain_text(f"새 요금은 지금 등록된 결제 카드({card_text})로 결제됩니다.")
    keep = f"동의하지 않으시면 요금은 지금처럼 {old}으로 유지되며, 구독도 그대로 이어집니다."
    expect(notice).to_contain_text(keep)
    window = f"{kst(offer['consent_from'])}부터 {kst(offer['consent_until'])}까지"
    expect(notice).to_contain_text(f"가격 변경 동의는 {window} 할 수 있습니다.")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "account-price-change")
    page.set_viewport_size(PHONE)
    assert fits_the_screen(page)
    screenshot(page, "account-price-change-phone")
    page.set_viewport_size(DESKTOP)
    # When the customer asks to consent, the dialog says exactly what is agreed to, and 닫기 has the focus
    button = notice.get_by_role("button", name="가격 변경에 동의")
    button.click()
    dialog = page.get_by_role("dialog", name="가격 변경에 동의할까요?")
    expect(dialog).to_contain_text(f"구독 요금이 {old}에서 {new}으로 오르는 데 동의합니다.")
    expect(dialog).to_contain_text(f"{when} 결제부터 {new}이 결제 카드({card_text})로 청구됩니다.")
    expect(dialog).to_contain_text(f"동의하지 않으시면 요금은 지금처럼 {old}으로 유지되며")
    expect(dialog.get_by_role("button", name="닫기")).to_be_focused()  # Enter alone agrees to nothing
    screenshot(page, "account-price-consent-confirm")
    # Closing it agrees to nothing
    dialog.get_by_role("button", name="닫기").click()
    expect(dialog).to_be_hidden()
    button.click()
    served["price_change"] = {**offer, "consented_at": consented_at}  # what the view says once consented
    dialog.get_by_role("button", name="동의하기").click()
    # Then the answer is shown in the status area, and the reloaded notice says when it was agreed to
    result = page.get_by_role("status")
    expect(result).to_contain_text("가격 변경에 동의했습니다.")
    expect(result).to_contain_text(f"{when} 결제부터 {new}이 결제 카드({card_text})로 청구됩니다.")
    expect(result).to_contain_text(f"동의 일시: {kst(consented_at)}")
    expect(result).to_be_focused()
    expect(notice).to_contain_text(f"{kst(consented_at)}에 가격 변경에 동의하셨습니다.")
    expect(notice.get_by_role("button", name="가격 변경에 동의")).to_have_count(0)
    screenshot(page, "account-price-consented")
    # And one request was sent, echoing the terms exactly as offered, with a new Idempotency-Key
    [request] = sent
    assert request.post_data_json == {
        "previous_amount": PLAN["amount"],
        "amount": 12900,
        "period_at": offer["period_at"],
        "card_last4": card["last4"],
        "agree": True,
    }
    key = request.headers.get("idempotency-key")
    assert key is not None
    assert str(uuid.UUID(key)) == key


def test_before_its_window_a_higher_price_says_from_when_consent_is_possible(
    page: Page, account_stack: DevStack
) -> None:
    uid = subscribe(account_stack)
    period = datetime.now(KST) + timedelta(days=45)
    offer = price_change(
        period_at=iso(period),
        consent_from=iso(period - timedelta(days=30)),
        consent_until=iso(period - timedelta(hours=1)),
        without_consent="end",
    )
    serve_view(page, account_stack, uid, price_change=offer)
    open_account(page, account_stack)
    notice = page.get_by_role("region", name="가격 변경 안내")
    when, opens, old = kst(offer["period_at"]), kst(offer["consent_from"]), won(PLAN["amount"])
    expect(notice).to_contain_text(f"{when} 결제부터 요금이 {old}에서 {won(12900)}으로 오릅니다.")
    expect(notice).to_contain_text(f"동의하지 않으시면 구독은 {when}에 종료됩니다.")
    expect(notice).to_contain_text(f"{opens}부터 이 페이지에서 동의할 수 있습니다.")
    expect(page.get_by_role("button", name="가격 변경에 동의")).to_have_count(0)
    screenshot(page, "account-price-change-not-open")


@pytest.mark.parametrize("case", ["lower", "consented", "lapsed_keep", "lapsed_end"])
def test_a_price_change_without_anything_to_do_is_only_announced(
    page: Page, account_stack: DevStack, case: str
) -> None:
    uid = subscribe(account_stack)
    consented_at = iso(datetime.now(KST) - timedelta(days=2))
    offer = {
        "lower": price_change(amount=7900, consent_required=False),
        "consented": price_change(consented_at=consented_at),
        "lapsed_keep": price_change(lapsed=True),
        "lapsed_end": price_change(lapsed=True, without_consent="end"),
    }[case]
    serve_view(page, account_stack, uid, price_change=offer)
    open_account(page, account_stack)
    when, old = kst(offer["period_at"]), won(PLAN["amount"])
    expected = {
        "lower": [
            f"{when} 결제부터 요금이 {old}에서 {won(7900)}으로 내려갑니다.",
            "따로 하실 일은 없습니다.",
        ],
        "consented": [
            f"{when} 결제부터 요금이 {old}에서 {won(12900)}으로 오릅니다.",
            f"{kst(consented_at)}에 가격 변경에 동의하셨습니다.",
        ],
        "lapsed_keep": [
            "동의 기한까지 동의하지 않으셔서 가격은 바뀌지 않았습니다.",
            f"요금은 지금처럼 {old}이며, {when} 결제도 {old}으로 청구됩니다.",
        ],
        "lapsed_end": [f"안내한 대로 구독이 {when}에 종료됩니다.", "그 뒤로는 결제되지 않습니다."],
    }[case]
    notice = page.get_by_role("region", name="가격 변경 안내")
    for text in expected:
        expect(notice).to_contain_text(text)
    expect(page.get_by_role("button", name="가격 변경에 동의")).to_have_count(0)
    screenshot(page, f"account-price-change-{case.replace('_', '-')}")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            409,
            {"status": "failed", "code": "PRICE_CHANGE_NOT_OPEN", "message": "Not open"},
            "지금은 가격 변경에 동의할 수 없습니다. 구독 정보를 새로 불러왔으니",
        ),
        (
            400,
            {
                "status": "failed",
                "code": "INVALID_REQUEST",
                "message": "The request is not valid. See errors for each field and rule.",
                "errors": [{"field": "amount", "reason": "not_the_offered_terms"}],
            },
            "안내된 가격 변경 내용이 바뀌었습니다.",
        ),
    ],
)
def test_a_consent_the_server_refuses_is_explained(
    page: Page, account_stack: DevStack, status: int, body: dict[str, Any], message: str
) -> None:
    uid = subscribe(account_stack)
    serve_view(page, account_stack, uid, price_change=price_change())
    sent = answer_consent(page, account_stack, uid, status, body)
    open_account(page, account_stack)
    page.get_by_role("button", name="가격 변경에 동의").click()
    page.get_by_role("dialog").get_by_role("button", name="동의하기").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text(message)
    assert len(sent) == 1


def test_a_suspended_subscription_says_when_it_is_cancelled(page: Page, account_stack: DevStack) -> None:
    # A suspension (renewals failed past their retries) takes long on the dev stack: the view says it
    uid = subscribe(account_stack)
    ends_at = iso(datetime.now(KST) + timedelta(days=14))
    serve_view(page, account_stack, uid, subscription_status="suspended", ends_at=ends_at)
    open_account(page, account_stack)
    expect(detail(page, "상태")).to_have_text(f"이용 정지 ({kst(ends_at)}에 해지 예정)")
    expect(page.get_by_role("button", name="구독 해지")).to_be_visible()
    expect(page.get_by_role("button", name="결제 카드 변경")).to_be_hidden()
    screenshot(page, "account-suspended")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_nothing_serious_on_the_account_page(
    browser: Browser, account_stack: DevStack, size: str
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser` (npm ci)")
    uid = subscribe(account_stack)
    # As in test_consents: only this context bypasses the page's policy, so axe's inline script can run.
    context = browser.new_context(
        viewport=DESKTOP if size == "desktop" else PHONE, locale="ko-KR", bypass_csp=True
    )
    try:
        page = context.new_page()
        serve_view(page, account_stack, uid, price_change=price_change())  # the price notice open
        open_account(page, account_stack)
        # The overview with the price notice, the card form and every consent's text open, then the cancel
        # and the price consent confirmations
        page.get_by_role("button", name="결제 카드 변경").click()
        for toggle in page.locator(".consent-toggle").all():
            toggle.click()
        page.add_script_tag(path=str(AXE))
        scans = [page.evaluate("() => axe.run()")]
        page.get_by_role("button", name="구독 해지").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        scans.append(page.evaluate("() => axe.run()"))
        page.get_by_role("dialog").get_by_role("button", name="닫기").click()
        page.get_by_role("button", name="가격 변경에 동의").click()
        expect(page.get_by_role("dialog", name="가격 변경에 동의할까요?")).to_be_visible()
        scans.append(page.evaluate("() => axe.run()"))
        if size == "phone":
            assert fits_the_screen(page)
    finally:
        context.close()
    violations = [v for scan in scans for v in scan["violations"]]
    summary = {
        "axe": scans[0]["testEngine"]["version"],
        "violations_by_impact": Counter(v["impact"] for v in violations),
        "rules_passed": [len(scan["passes"]) for scan in scans],
        "violations": violations,
    }
    (ARTIFACTS / f"axe-account-{size}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(violations, ensure_ascii=False, indent=2)
