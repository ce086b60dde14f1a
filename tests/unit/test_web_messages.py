"""The card page has a Korean message for every error code the API answers (design.md D12)."""

from __future__ import annotations

import re

from billing import errors
from local.template import ROOT


def api_error_codes() -> set[str]:
    found, pending = set(), [errors.ApiError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending += cls.__subclasses__()
    return found


def page_codes() -> set[str]:
    script = (ROOT / "web" / "app.js").read_text(encoding="utf-8")
    block = re.search(r"const CODE_MESSAGES = \{(.*?)\n\};", script, re.S)
    assert block is not None
    return set(re.findall(r"^\s+([A-Z_]+):", block[1], re.M))


def test_every_error_code_has_a_message_on_the_page() -> None:
    assert api_error_codes() - page_codes() == set()
