"""The e2e tier: the stack `make dev` runs (`python -m local.dev`, on free ports), driven through Debian's
Chromium by Playwright.

Chromium is Debian's (`make browser` installs it; never `playwright install`). Each test gets a fresh
browser context; the stack and the browser are shared by the tests of one xdist worker (the e2e modules
are one xdist group). Every test starts with an empty PortOne emulator, and every page's console is
searched for card values when the test ends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from local.template import ROOT

CHROMIUM = "/usr/bin/chromium"
# Headless without a sandbox (root) and without any of Chromium's own network traffic: this machine has no
# network but loopback. Playwright gives each launch a fresh, empty --user-data-dir of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
START_TIMEOUT_S = 60
ISSUE_POST = "POST /subscribe/customers/{customer_uid}"
# What the page says when it cannot show the terms (web/app.js): it then keeps its form from being sent.
TERMS_UNAVAILABLE = "약관을 불러오지 못했습니다. 잠시 후 새로 고침해 주세요."
# Generous limits: the tests here are about the page, not the card-testing limits (tests/integration).
GENEROUS_LIMITS = {
    "LIMIT_ATTEMPTS_PER_CALLER": "1000",
    "LIMIT_FAILURES_PER_ADDRESS": "1000",
    "LIMIT_ATTEMPTS_PER_CARD": "1000",
    "LIMIT_FAILURES_PER_CALLER": "1000",
}
_URL_LINE = re.compile(r"^\s+(page|API|emulator|moto|issuer)\s+(http://\S+?)/?(\s|$)", re.MULTILINE)


@dataclass
class DevStack:
    """A running `python -m local.dev` and the URLs it printed."""

    process: subprocess.Popen[bytes]
    log: Path
    urls: dict[str, str] = field(default_factory=dict)
    edge: bool = False  # `--edge`: the page and the API on one origin

    @property
    def api_base(self) -> str:
        """Where the page sends its API requests: the API's own origin, or behind the edge the page's."""
        return self.urls["page"] if self.edge else self.api_url

    @property
    def page_url(self) -> str:
        return self.urls["page"] + "/"

    @property
    def api_url(self) -> str:
        return self.urls["API"]

    @property
    def emulator_url(self) -> str:
        return self.urls["emulator"]

    def emulator_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = requests.get(f"{self.emulator_url}/__emulator__/stats", timeout=5).json()
        return stats

    def portone_calls(self, route: str) -> int:
        """Calls of `route` PortOne took in (a 401 for a token the emulator's reset forgot does nothing)."""
        counts = self.emulator_stats()["counts"].get(route, {})
        return sum(n for status, n in counts.items() if status != "401")

    def billing_key_posts(self) -> int:
        return self.portone_calls(ISSUE_POST)

    def reset_emulator(self) -> None:
        requests.post(f"{self.emulator_url}/__emulator__/reset", timeout=5).raise_for_status()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"local.dev did not stop on signal {sig}:\n{self.output()[-3000:]}")
        return int(self.process.returncode)


def start_dev(name: str, env_file: Path, *args: str) -> DevStack:
    """`python -m local.dev` on free ports; returns once it printed its URLs (its output goes to a log)."""
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    log = ARTIFACTS / f"dev-{name}-{worker}.log"
    command = [sys.executable, "-m", "local.dev", "--web-port", "0", "--api-port", "0"]
    command += ["--issuer-port", "0", "--env-vars", str(env_file), *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    stack = DevStack(process, log, edge="--edge" in args)
    deadline = time.monotonic() + START_TIMEOUT_S
    while "Ctrl-C to stop." not in stack.output():
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop(signal.SIGKILL)
            pytest.fail(f"local.dev did not start:\n{stack.output()[-3000:]}")
        time.sleep(0.1)
    stack.urls = {m[1]: m[2] for m in _URL_LINE.finditer(stack.output())}
    return stack


@pytest.fixture(scope="session")
def dev_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """events/env.json with limits high enough for a test session."""
    sections = json.loads((ROOT / "events" / "env.json").read_text())
    sections["BillingFunction"] = {**sections.get("BillingFunction", {}), **GENEROUS_LIMITS}
    path = tmp_path_factory.mktemp("dev") / "env.json"
    path.write_text(json.dumps(sections))
    return path


@pytest.fixture(scope="session")
def dev_stack(dev_env_file: Path) -> Iterator[DevStack]:
    stack = start_dev("anonymous", dev_env_file)
    yield stack
    assert stack.stop() == 0, stack.output()[-3000:]


@pytest.fixture(scope="session")
def edge_stack(dev_env_file: Path) -> Iterator[DevStack]:
    """`make dev ARGS=--edge`: the page and the API on one origin, as the public edge serves them."""
    stack = start_dev("edge", dev_env_file, "--edge")
    yield stack
    assert stack.stop() == 0, stack.output()[-3000:]


@contextmanager
def emptied(stack: DevStack) -> Iterator[DevStack]:
    """A shared stack with an empty emulator; what the test made the product send PortOne, and what the
    emulator answered, must keep PortOne's published schema."""
    stack.reset_emulator()
    yield stack
    assert stack.emulator_stats()["contract_violations"] == []


@pytest.fixture
def stack(dev_stack: DevStack) -> Iterator[DevStack]:
    with emptied(dev_stack) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Console:
    """What the page wrote to its console, and the page errors, as text."""

    messages: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        self.messages.append(f"{message.type}: {message.text}")

    def text(self) -> str:
        return "\n".join(self.messages)


# Card values the tests type; none may reach the console (the canary, checked after every test).
CARD_VALUES = [
    "9540490000000001",
    "9540 4900 0000 0001",
    "9540-4900-0000-0001",
    "9540490000112004",
    "9540 4900 0011 2004",
    "9540490000113002",
    "9540 4900 0011 3002",
    "9540490000113101",
    "9540 4900 0011 3101",
    "5272890000000004",
    "4111111111111112",
    "4111 1111 1111 1112",
    "4111 1111 1111 1111",
    "5555 5555 5555 4444",
    "3782 822463 10005",
    "3056 930902 5904",
    "910317",
    "1234567891",
]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh context (no cookies, storage or cache) and page, phone-sized."""
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="ko-KR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("console", console.record)
    page.on("pageerror", lambda error: console.messages.append(f"pageerror: {error}"))
    yield page
    context.close()
    leaked = [value for value in CARD_VALUES if value in console.text()]
    assert leaked == [], "card values in the browser console"
    # The page breaks none of its own policy and throws nothing
    assert [m for m in console.messages if "Content Security Policy" in m or m.startswith("pageerror")] == []


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


class CardForm:
    """The card page, as a person sees it: labelled fields, consents, a button, a status region, and the
    screen that replaces the form once it is answered."""

    FIELDS: ClassVar[dict[str, str]] = {
        "card_number": "카드 번호",
        "expiry": "유효기간",
        "birth": "생년월일 / 사업자등록번호",
        "pwd_2digit": "카드 비밀번호 앞 두 자리",
    }

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    AGREE_ALL = "아래 내용을 모두 확인했으며 전체 동의합니다"

    def open(self) -> CardForm:
        """The page, once its terms are shown (until then its button is disabled)."""
        self.page.goto(self.url)
        expect(self.button).to_be_enabled(timeout=10_000)  # as long as the page waits for them (app.js)
        return self

    def agree_all(self) -> CardForm:
        """Tick 전체 동의: every consent shown for the plan chosen, as a customer who agrees to all does."""
        self.page.get_by_label(self.AGREE_ALL, exact=True).check()
        return self

    def consent(self, item_id: str) -> Any:
        return self.page.locator(f"#consent-{item_id}")

    def field(self, name: str) -> Any:
        return self.page.get_by_label(self.FIELDS[name], exact=True)

    def fill(
        self,
        card_number: str = "9540 4900 0000 0001",
        expiry: str = "12/30",
        birth: str = "880101",
        pwd_2digit: str = "12",  # noqa: S107 (the emulator's test PIN digits)
    ) -> CardForm:
        values = {"card_number": card_number, "expiry": expiry, "birth": birth, "pwd_2digit": pwd_2digit}
        for name, value in values.items():
            self.field(name).fill(value)
        # Done typing: a mistake in the last field is shown now, not under the next click
        self.field("pwd_2digit").blur()
        return self

    @property
    def button(self) -> Any:
        return self.page.locator("#submit")

    @property
    def result(self) -> Any:
        return self.page.get_by_role("status")

    @property
    def outcome(self) -> Any:
        """The screen in the form's place: registered, or not yet confirmed."""
        return self.page.locator("#outcome")

    @property
    def outcome_title(self) -> Any:
        return self.outcome.get_by_role("heading", level=1)

    def error(self, name: str) -> Any:
        return self.page.locator(f"#{name}-error")


@pytest.fixture
def card_form(page: Page, stack: DevStack) -> CardForm:
    return CardForm(page, stack.page_url).open()
