"""The page's card rules (web/cards.js) give the server's reason codes (functions/billing/cards.py).

Both run on the same inputs: the JavaScript in the browser, the Python here. A difference would let the page
pass what the server refuses, or refuse what it takes.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from playwright.sync_api import Page

from billing import cards
from tests.e2e.conftest import DevStack

pytestmark = pytest.mark.xdist_group("e2e")

TODAY = date(2026, 11, 27)


def luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if cards.luhn_valid(prefix + d))


def inputs() -> dict[str, list[str]]:
    rng = random.Random(20261127)
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    numbers = [luhn_complete(digits(n - 1)) for n in (13, 14, 15, 16, 17) for _ in range(40)]
    numbers += [digits(n) for n in range(12, 20) for _ in range(20)]
    numbers += ["9540-4900-0000-0001", "9540 4900 0000 0001", "9540 4900 0000 000a", "٩٥٤٠٤٩٠٠٠٠٠٠٠٠٠١"]
    births = [digits(6) for _ in range(300)] + [digits(10) for _ in range(300)]
    births += [
        "000229",
        "010229",
        "020229",
        "991231",
        "880231",
        "123-45-67891",
        "1234567890",
        "12345",
        "88010a",
        " 880101 ",
    ]
    expiries = [f"{rng.randint(2020, 2050)}-{rng.randint(0, 13):02d}" for _ in range(300)]
    expiries += ["2026-11", "2026-10", "2046-12", "2047-01", "26-11", "2026/11", "2026-1"]
    pins = ["12", "00", "1", "123", "ab", "1a", "٣٤"]
    return {"card": numbers, "birth": births, "expiry": expiries, "pin": pins}


def server_reasons(cases: dict[str, list[str]]) -> dict[str, list[Any]]:
    return {
        "card": [cards.card_number_problem(cards.CARD_SEPARATORS.sub("", v)) for v in cases["card"]],
        "birth": [cards.birth_problem(v.strip().replace("-", "")) for v in cases["birth"]],
        "expiry": [cards.expiry_problem(v, TODAY) for v in cases["expiry"]],
        "pin": [cards.pin_problem(v) for v in cases["pin"]],
    }


PAGE_REASONS = """async ([cases, today]) => {
  const m = await import("/cards.js");
  return {
    card: cases.card.map((v) => m.cardNumberProblem(v)),
    birth: cases.birth.map((v) => m.birthProblem(v)),
    expiry: cases.expiry.map((v) => m.expiryProblem(v, today)),
    pin: cases.pin.map((v) => m.pinProblem(v, "880101")),
  };
}"""


def test_the_page_and_the_server_give_the_same_reasons(page: Page, dev_stack: DevStack) -> None:
    page.goto(dev_stack.page_url)
    cases = inputs()
    today = {"year": TODAY.year, "month": TODAY.month, "day": TODAY.day}
    got = page.evaluate(PAGE_REASONS, [cases, today])
    want = server_reasons(cases)
    for rule, values in cases.items():
        differences = [(v, g, w) for v, g, w in zip(values, got[rule], want[rule], strict=True) if g != w]
        assert differences == [], rule


def test_the_page_and_the_server_agree_on_what_day_it_is_in_korea(page: Page, dev_stack: DevStack) -> None:
    page.goto(dev_stack.page_url)
    instants = [datetime(2026, 11, 30, h, 30, tzinfo=UTC) for h in (0, 14, 15, 23)]
    instants += [datetime(2026, 12, 31, 15, 0, tzinfo=UTC), datetime(2027, 2, 28, 14, 59, tzinfo=UTC)]
    got = page.evaluate(
        """async (ms) => {
          const m = await import("/cards.js");
          return ms.map((t) => { const d = m.todayInKorea(new Date(t)); return [d.year, d.month, d.day]; });
        }""",
        [int(i.timestamp() * 1000) for i in instants],
    )
    want = [list(cards.today_in_korea(i).timetuple()[:3]) for i in instants]
    assert got == want


def test_personal_cards_need_the_pin_and_corporate_cards_may_omit_it(page: Page, dev_stack: DevStack) -> None:
    page.goto(dev_stack.page_url)
    got = page.evaluate(
        """async () => {
          const m = await import("/cards.js");
          const personal = "880101";
          const corporate = "123-45-67891";
          return [m.pinProblem("", personal), m.pinProblem("", corporate), m.pinProblem("1", corporate)];
        }"""
    )
    assert got == ["required", None, "two_digits"]
