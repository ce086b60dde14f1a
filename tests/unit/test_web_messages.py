"""The pages' Korean copy: the card page has a message for every error code the API answers (design.md
D12), and the account page's card fields are the card page's."""

from __future__ import annotations

import re

from billing import errors
from local.template import ROOT

WEB = ROOT / "web"


def api_error_codes() -> set[str]:
    found, pending = set(), [errors.ApiError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending += cls.__subclasses__()
    return found


def code_block(file: str, declaration: str) -> str:
    script = (WEB / file).read_text(encoding="utf-8")
    block = re.search(rf"^{re.escape(declaration)} = \{{(.*?)\n\}};", script, re.S | re.M)
    assert block is not None
    return block[1]


def codes(block: str) -> set[str]:
    return set(re.findall(r"^\s+([A-Z_]+):", block, re.M))


def page_codes() -> set[str]:
    """The card page's own messages (app.js) over the ones both pages share (messages.js)."""
    own = code_block("app.js", "const CODE_MESSAGES")
    assert "...messages.CODE_MESSAGES," in own
    return codes(own) | codes(code_block("messages.js", "export const CODE_MESSAGES"))


def test_every_error_code_has_a_message_on_the_page() -> None:
    assert api_error_codes() - page_codes() == set()


def card_fields(file: str) -> str:
    """The card fields' markup, from the card number's label to the PIN digits' error, spaces collapsed."""
    page = (WEB / file).read_text(encoding="utf-8")
    fields = re.search(r'<label for="card_number">.*?<p class="error" id="pwd_2digit-error"></p>', page, re.S)
    assert fields is not None
    return re.sub(r"\s+", " ", fields[0])


def test_the_account_pages_card_fields_are_the_card_pages() -> None:
    assert card_fields("account.html") == card_fields("index.html")


def test_the_account_page_explains_a_refused_price_consent() -> None:
    """409 PRICE_CHANGE_NOT_OPEN has the account page's own message (it reloads the view), layered over the
    shared ones, and 400 `not_the_offered_terms` is told apart from other invalid requests."""
    own = code_block("account.js", "const CODE_MESSAGES")
    assert "...messages.CODE_MESSAGES," in own
    assert "PRICE_CHANGE_NOT_OPEN" in codes(own)
    assert '"not_the_offered_terms"' in (WEB / "account.js").read_text(encoding="utf-8")
