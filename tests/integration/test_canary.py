"""Card data never leaks: every flow runs with distinctive card values, then everything is searched.

Searched: the function's log stream, stdout/stderr (metrics), pytest's log capture, every response (headers
and body), the text and traceback of every exception, and every string still alive in the process once the
requests are over (module state, caches, the resolver). The PortOne secret and access token are searched
for in all of these except the live objects, where the container's caches legitimately hold them.
"""

from __future__ import annotations

import gc
import json
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from billing import cards
from local.portone_emulator import cards as magic
from local.stack import LOCAL_IMP_SECRET, EmbeddedStack
from tests.integration.support import (
    ENVIRONMENT,
    TEST_ISSUER,
    Invocation,
    consents,
    http_event,
    new_container,
    portone_token,
    with_caller,
)

# Card values are built on demand, never kept as module constants, so the live-object search below finds
# only copies that the code under test kept.


def canary_pan() -> str:
    payload = "".join(map(str, (9, 5, 4, 0, 4, 9, 1, 7, 3, 5, 5, 5, 8, 8, 3)))
    return next(payload + d for d in "0123456789" if cards.luhn_valid(payload + d))


def canary_values() -> dict[str, str]:
    return {"expiry": "-".join(("2031", "07")), "birth": "".join(("73", "11", "29")), "pwd_2digit": "4" + "7"}


def card_body(number: str, uid: str = "canary_uid", **changes: Any) -> dict[str, Any]:
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    body = {"customer_uid": uid, "card_number": spaced, **canary_values(), "consents": consents("card")}
    return {**body, **changes}


def needles() -> list[str]:
    """Every form in which the canary values could show up."""
    pan = canary_pan()
    values = canary_values()
    found = [pan, " ".join(pan[i : i + 4] for i in range(0, 16, 4)), pan[:12]]
    return [
        *found,
        values["expiry"],
        values["birth"],
        f'"{values["pwd_2digit"]}"',
        values["expiry"][:4] + "07",
    ]


def magic_card_needles() -> list[str]:
    """The emulator's magic cards are module constants there, so they are searched for in output only."""
    return [magic.CARD_WRONG_PASSWORD[:12], magic.CARD_NO_PG[:12]]


Flow = tuple[str, int, Callable[[], dict[str, Any]]]


def flows(stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch) -> Iterable[Flow]:
    """(name, expected status, make_event) for each outcome the API has, in an order that builds on itself."""
    pan = canary_pan

    def post(
        body: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
        method: str = "POST",
        path: str = "/subscriptions/issue-billing",
    ) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            event = http_event(body, key=key)
            event["requestContext"]["http"]["method"] = method
            event["rawPath"] = event["requestContext"]["http"]["path"] = path
            return with_caller(event, subject) if subject else event

        return make

    def scheduled(uid: str, number: str, **changes: Any) -> dict[str, Any]:
        return {
            **card_body(number, uid, **changes),
            "plan_id": "basic_monthly",
            "consents": consents("plan", "card"),
        }

    def after(setup: Callable[[], Any], make: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            setup()
            return make()

        return run

    yield "success", 200, post(card_body(pan(), "canary_ok"), key="canary-success-key")
    yield "replayed", 200, post(card_body(pan(), "canary_ok"), key="canary-success-key")
    yield (  # anonymous: another body under the key is another request, refused for the claimed uid
        "key reused",
        404,
        post(card_body(pan(), "canary_ok", birth="7311" + "28"), key="canary-success-key"),
    )
    yield "uid taken", 404, post(card_body(pan(), "canary_ok"))
    yield (
        "anonymous plan on a claimed uid",
        404,
        post(scheduled("canary_ok", pan()), key="canary-success-key", path="/subscriptions/schedule"),
    )
    yield "declined", 402, post(card_body(magic.CARD_WRONG_PASSWORD, "canary_declined"))
    yield "no pg", 422, post(card_body(magic.CARD_NO_PG, "canary_no_pg"))
    yield "luhn", 400, post(card_body(pan()[:-1] + str((int(pan()[-1]) + 1) % 10)))
    yield "expired", 400, post(card_body(pan(), expiry="20" + "19-03"))
    yield "bad birth", 400, post(card_body(pan(), birth="7311" + "99"))
    yield "bad pin", 400, post(card_body(pan(), pwd_2digit="4" + "x"))
    yield "number as int", 400, post(card_body(pan(), card_number=int(pan())))
    yield "card number as a key", 400, post({**card_body(pan()), pan(): "x"})
    yield "form body", 415, lambda: http_event("card_number=" + pan(), content_type="text/plain")
    yield "duplicate key", 400, post(json.dumps(card_body(pan()))[:-1] + f', "card_number": "{pan()}"}}')
    yield "too large", 413, post(json.dumps({**card_body(pan()), "pad": "x" * 5000}))
    for kind, after_effect, status in [
        ("reset", True, 200),
        ("reset", False, 202),
        ("http_500", False, 202),
        ("malformed", True, 200),
        ("latency", True, 202),
    ]:

        def fault(kind: str = kind, after_effect: bool = after_effect) -> None:
            seconds = 8.0 if kind == "latency" else 0.0
            stack.emulator.add_fault(
                kind, "POST /subscribe/customers", seconds=seconds, after_effect=after_effect
            )

        yield (
            f"{kind} {after_effect}",
            status,
            after(fault, post(card_body(pan(), f"canary_{kind}_{after_effect}"))),
        )
    yield "expired token", 200, after(stack.emulator.expire_tokens, post(card_body(pan(), "canary_token")))
    down = "http://127.0.0.1:9"
    yield (
        "portone down",
        503,
        after(lambda: monkeypatch.setenv("PORTONE_BASE_URL", down), post(card_body(pan()))),
    )
    yield (
        "signed in",
        200,
        after(
            lambda: monkeypatch.setenv("JWT_ISSUER", TEST_ISSUER),
            post(card_body(pan(), "canary_jwt"), subject="alice"),
        ),
    )
    yield "not the owner", 404, post(card_body(pan(), "canary_jwt"), subject="mallory")
    schedule = "/subscriptions/schedule"
    yield "plan with card", 200, post(scheduled("canary_plan", pan()), subject="alice", path=schedule)
    yield (
        "plan declined",
        402,
        post(scheduled("canary_plan_no", magic.CARD_WRONG_PASSWORD), subject="alice", path=schedule),
    )
    yield (  # the card's third details mismatch in a row is not sent (issuers lock a card after three)
        "details exhausted",
        403,
        post(card_body(magic.CARD_WRONG_PASSWORD, "canary_exhausted"), subject="alice"),
    )
    yield (
        "plan bad expiry",
        400,
        post(scheduled("canary_plan", pan(), expiry="20" + "19-03"), subject="alice", path=schedule),
    )
    card = "/subscriptions/canary_plan/card"

    def card_only(number: str, **changes: Any) -> dict[str, Any]:
        return {k: v for k, v in card_body(number, **changes).items() if k != "customer_uid"}

    yield (
        "card change declined",
        402,
        post(card_only(magic.CARD_EXPIRY_MISMATCH), subject="alice", method="PUT", path=card),
    )
    yield (
        "card change bad expiry",
        400,
        post(card_only(pan(), expiry="20" + "19-03"), subject="alice", method="PUT", path=card),
    )
    yield "card changed", 200, post(card_only(pan()), subject="alice", method="PUT", path=card)
    yield "old card's uid", 409, post(card_only(pan()), subject="alice", method="PUT", path=card)
    view = "/subscriptions/canary_plan"
    yield "replaced key viewed", 409, post(None, subject="alice", method="GET", path=view)
    yield "replaced key cancelled", 409, post(None, subject="alice", method="DELETE", path=view)
    yield "no claims", 401, post(card_body(pan(), "canary_jwt"))
    yield (
        "test channel on a live stack",
        503,
        after(
            lambda: monkeypatch.setenv("PORTONE_CHANNEL", "live"),
            post(scheduled("canary_live", pan()), subject="alice", path=schedule),
        ),
    )

    def one_attempt_per_card() -> None:
        monkeypatch.setenv("LIMIT_ATTEMPTS_PER_CARD", "1")

    yield (
        "throttled",
        429,
        after(one_attempt_per_card, post(card_body(pan(), "canary_limited"), subject="alice")),
    )


@pytest.fixture(params=["INFO", "DEBUG"])
def log_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """The function's log level (the template's LogLevel): the search runs at the level production uses and
    at the most talkative one."""
    from billing.observability import logger

    previous = logger.log_level
    logger.setLevel(request.param)
    yield request.param
    logger.setLevel(previous)


def test_no_flow_leaks_card_data_secrets_or_tokens(
    stack: EmbeddedStack, invoke, logs, capsys, caplog, monkeypatch, log_level
) -> None:
    caplog.set_level(log_level)
    seen: list[str] = []
    statuses: dict[str, tuple[int, int]] = {}
    for name, expected, make_event in flows(stack, monkeypatch):
        new_container()
        stack.emulator.clear_faults()
        try:
            response: Invocation = invoke(make_event(), timeout_seconds=6.0)
            statuses[name] = (expected, response.status)
            seen.append(f"{name}: {response.status} {response.headers} {json.dumps(response.body)}")
        except Exception as exc:
            seen.append(f"{name}: {''.join(traceback.format_exception(exc))}")
        monkeypatch.setenv("PORTONE_BASE_URL", stack.emulator.url)
    table = stack.client("dynamodb").scan(TableName=ENVIRONMENT["TABLE_NAME"])["Items"]

    token = portone_token(stack)
    captured = capsys.readouterr()
    everything = "\n".join([*seen, logs.getvalue(), captured.out, captured.err, caplog.text, str(table)])

    # Every flow ended as intended, so the search covers each outcome
    assert {name: got for name, (_, got) in statuses.items()} == {
        name: want for name, (want, _) in statuses.items()
    }
    assert len(statuses) == 38
    # At DEBUG the search really covered DEBUG records (the libraries under the function write some)
    assert any(r.levelno == logging.DEBUG for r in caplog.records) == (log_level == "DEBUG")
    assert "canary_ok" in everything
    assert "limits#card#" in everything  # the table's items are part of the search
    for needle in [*needles(), *magic_card_needles(), LOCAL_IMP_SECRET, token]:
        assert needle not in everything, f"{needle[:4]}... leaked"
    del make_event  # the test's own last request body, not the function's
    assert live_strings_holding(needles()) == []


def live_strings_holding(found: list[str]) -> list[str]:
    """Types of live containers that still hold a string with any needle, after a full collection.

    The collector does not track a dict or tuple that holds only strings and numbers, so such a container
    is searched through the tracked one holding it (a module's namespace, an object's attributes)."""
    gc.collect()
    encoded = [n.encode() for n in found]
    hits = []
    for obj in gc.get_objects():
        if obj is found or obj is encoded:
            continue
        items = _contents(obj)
        nested = [inner for item in items if not gc.is_tracked(item) for inner in _contents(item)]
        for item in [*items, *nested]:
            if (isinstance(item, str) and any(n in item for n in found)) or (
                isinstance(item, bytes | bytearray) and any(n in item for n in encoded)
            ):
                hits.append(type(obj).__name__)
    return hits


def _contents(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    return []
