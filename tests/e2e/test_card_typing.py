"""Typing a card: the brand the first digits name, digits grouped as the brand prints them, nothing on the
page moving while it happens, and focus handed to the next field once a field is complete and valid."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import CardForm, DevStack, screenshot

pytestmark = pytest.mark.xdist_group("e2e")

# Typed, never sent: (digits, brand shown, the field's value, screenshot)
BRANDS = [
    ("4111111111111111", "VISA", "4111 1111 1111 1111", "brand-visa"),
    ("5555555555554444", "Mastercard", "5555 5555 5555 4444", None),
    ("378282246310005", "AMEX", "3782 822463 10005", "brand-amex"),
    ("30569309025904", "Diners", "3056 930902 5904", None),
    ("9540490000000001", "국내전용", "9540 4900 0000 0001", "brand-domestic"),
]
# Where every part of the form is, as [what, x, y, width, height]
BOXES = """() => [...document.querySelectorAll(
  "#card-form label, #card-form input, #card-form .hint, #card_number-brand, #consents, #submit")]
  .map((e) => {
    const r = e.getBoundingClientRect();
    return [e.id || e.className, r.x, r.y, r.width, r.height];
  })"""


def boxes(page: Page) -> list[Any]:
    found: list[Any] = page.evaluate(BOXES)
    return found


def test_the_brand_shows_while_typing_and_nothing_moves(card_form: CardForm, stack: DevStack) -> None:
    page = card_form.page
    number = card_form.field("card_number")
    brand = page.locator("#card_number-brand")
    # The field describes itself by its brand: read when asked, not announced on every digit
    assert "card_number-brand" in (number.get_attribute("aria-describedby") or "").split()
    expect(brand).not_to_have_attribute("aria-live", "polite")
    for digits, name, shown, picture in BRANDS:
        card_form.open()  # a fresh form: the customer typing their card for the first time
        expect(brand).to_be_empty()
        number.focus()
        before = boxes(page)
        for digit in digits:
            page.keyboard.type(digit)
            assert boxes(page) == before, f"the form moved while typing {name}"
        expect(number).to_have_value(shown)
        expect(brand).to_have_text(name)
        if picture:
            screenshot(page, picture)
    assert stack.emulator_stats()["calls"] == []


def test_the_brand_follows_the_iin_ranges(page: Page, dev_stack: DevStack) -> None:
    page.goto(dev_stack.page_url)
    prefixes = {
        "4": "VISA",
        "5": "",
        "51": "Mastercard",
        "55": "Mastercard",
        "56": "",
        "2221": "Mastercard",
        "2720": "Mastercard",
        "2721": "",
        "34": "AMEX",
        "37": "AMEX",
        "3528": "JCB",
        "3589": "JCB",
        "3590": "",
        "62": "UnionPay",
        "300": "Diners",
        "305": "Diners",
        "306": "",
        "36": "Diners",
        "38": "",
        "94": "국내전용",
        "9540": "국내전용",
    }
    got = page.evaluate(
        """async (prefixes) => {
          const m = await import("/cards.js");
          return Object.fromEntries(prefixes.map((p) => [p, m.cardBrand(p).label]));
        }""",
        list(prefixes),
    )
    assert got == prefixes


def test_focus_moves_on_once_a_field_is_complete_and_valid(card_form: CardForm, stack: DevStack) -> None:
    page = card_form.page
    keyboard = page.keyboard
    number, expiry, birth, pin = (
        card_form.field(n) for n in ("card_number", "expiry", "birth", "pwd_2digit")
    )

    # A full number that fails its check stays, with its message
    number.focus()
    keyboard.type("9540490000000002")
    expect(number).to_be_focused()
    expect(card_form.error("card_number")).not_to_be_empty()
    # A pasted number completed in the middle stays: the customer is still editing it
    number.fill("9540 4900 0000 001")
    for _ in range(3):
        keyboard.press("ArrowLeft")
    keyboard.type("0")
    expect(number).to_have_value("9540 4900 0000 0001")
    expect(number).to_be_focused()
    # Typed to its end, it moves on
    number.fill("")
    keyboard.type("9540490000000001")
    expect(expiry).to_be_focused()

    # An expired card stays; a valid MM/YY moves on
    keyboard.type("0124")
    expect(expiry).to_be_focused()
    expect(card_form.error("expiry")).to_have_text("유효기간이 지난 카드입니다.")
    expiry.fill("")
    keyboard.type("1230")
    expect(birth).to_be_focused()

    # A date that does not exist stays; so do six digits that may begin a corporation's business number
    # (220-81-…: 22 Aug 2011 too)
    keyboard.type("880231")
    expect(birth).to_be_focused()
    birth.fill("")
    keyboard.type("220811")
    expect(birth).to_be_focused()
    birth.fill("")
    keyboard.type("880101")
    expect(pin).to_be_focused()
    # A valid business number moves on too
    birth.fill("")
    keyboard.type("1234567891")
    expect(pin).to_be_focused()
    assert stack.emulator_stats()["calls"] == []
