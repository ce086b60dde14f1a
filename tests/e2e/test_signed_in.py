"""`make dev ARGS=--jwt`: the routes require the dev issuer's tokens, and the page signs in with one."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import CardForm, DevStack, screenshot, start_dev
from tests.integration.support import consents

pytestmark = pytest.mark.xdist_group("e2e")

ISSUE = "/subscriptions/issue-billing"
CARD = {
    "card_number": "9540490000000001",
    "expiry": "2030-12",
    "birth": "880101",
    "pwd_2digit": "12",
    "consents": consents("card"),
}


@pytest.fixture(scope="module")
def signed_stack(dev_env_file: Path) -> Iterator[DevStack]:
    stack = start_dev("jwt", dev_env_file, "--jwt")
    yield stack
    assert stack.stop(signal.SIGINT) == 0, stack.output()[-3000:]


def token_for(stack: DevStack, subject: str, **claims: Any) -> str:
    answer = requests.post(f"{stack.urls['issuer']}/dev/token", json={"sub": subject, **claims}, timeout=5)
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def issue(stack: DevStack, token: str | None, **body: str) -> requests.Response:
    headers = {"Idempotency-Key": f"test-{uuid.uuid4()}", "Origin": stack.page_url.rstrip("/")}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{stack.api_url}{ISSUE}", json={**CARD, **body}, headers=headers, timeout=30)


def test_the_page_signs_in_with_the_dev_issuer(page: Page, signed_stack: DevStack) -> None:
    signed_stack.reset_emulator()
    form = CardForm(page, signed_stack.page_url).open()
    form.fill().agree_all()
    form.button.click()
    expect(form.outcome_title).to_have_text("카드가 등록되었습니다")
    screenshot(page, "signed-in")
    assert signed_stack.billing_key_posts() == 1


def test_without_a_token_or_its_scope_the_api_refuses_before_the_function(signed_stack: DevStack) -> None:
    signed_stack.reset_emulator()
    missing = issue(signed_stack, None)
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    assert missing.headers["access-control-allow-origin"] == signed_stack.page_url.rstrip("/")
    no_scope = issue(signed_stack, token_for(signed_stack, "user-1", scope="profile"))
    assert (no_scope.status_code, no_scope.json()) == (403, {"message": "Forbidden"})
    assert signed_stack.emulator_stats()["calls"] == []


def test_the_verified_subject_owns_the_customer_uid(signed_stack: DevStack) -> None:
    # Given a uid registered by one signed-in user
    signed_stack.reset_emulator()
    uid = f"cu_e2e_{uuid.uuid4().hex[:12]}"
    first = issue(signed_stack, token_for(signed_stack, "alice"), customer_uid=uid)
    assert first.status_code == 200, first.text
    # Then another user cannot touch it, and PortOne never hears of the attempt (design.md D8)
    other = issue(signed_stack, token_for(signed_stack, "mallory"), customer_uid=uid)
    assert other.status_code == 404
    assert other.json()["code"] == "CUSTOMER_NOT_FOUND"
    # While its owner may replace the card
    again = issue(signed_stack, token_for(signed_stack, "alice"), customer_uid=uid)
    assert again.status_code == 200, again.text
    assert signed_stack.billing_key_posts() == 2
