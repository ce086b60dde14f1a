"""Card data never leaks: every flow runs with distinctive card values, then everything is searched.

Searched: the function's log stream, stdout/stderr (metrics), pytest's log capture, every response (headers
and body), the text and traceback of every exception, and every string still alive in the process once the
requests are over (module state, caches, the resolver). The PortOne secret and access token are searched
for in all of these except the live objects, where the container's caches legitimately hold them.
"""

from __future__ import annotations

import gc
import json
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from billing import cards
from local.portone_emulator import cards as magic
from local.stack import LOCAL_IMP_KEY, LOCAL_IMP_SECRET, EmbeddedStack
from tests.integration.support import Invocation, http_event

# Card values are built on demand, never kept as module constants, so the live-object search below finds
# only copies that the code under test kept.


def canary_pan() -> str:
    payload = "".join(map(str, (9, 5, 4, 0, 4, 9, 1, 7, 3, 5, 5, 5, 8, 8, 3)))
    return next(payload + d for d in "0123456789" if cards.luhn_valid(payload + d))


def canary_values() -> dict[str, str]:
    return {"expiry": "-".join(("2031", "07")), "birth": "".join(("73", "11", "29")), "pwd_2digit": "4" + "7"}


def card_body(number: str, **changes: Any) -> dict[str, Any]:
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return {"customer_uid": "canary_uid", "card_number": spaced, **canary_values(), **changes}


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


def flows(stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch) -> Iterable[tuple[str, Callable[[], Any]]]:
    """(name, run) for every outcome the API has; each run returns what a client would see."""

    def post(body: Any, **event_changes: Any) -> Callable[[], Any]:
        def run() -> Any:
            event = http_event(body)
            event.update(event_changes)
            return event

        return run

    pan = canary_pan
    yield "success", post(card_body(pan()))
    yield "declined", post(card_body(magic.CARD_WRONG_PASSWORD))
    yield "no pg", post(card_body(magic.CARD_NO_PG))
    yield "luhn", post(card_body(pan()[:-1] + str((int(pan()[-1]) + 1) % 10)))
    yield "expired", post(card_body(pan(), expiry="20" + "19-03"))
    yield "bad birth", post(card_body(pan(), birth="7311" + "99"))
    yield "bad pin", post(card_body(pan(), pwd_2digit="4" + "x"))
    yield "number as int", post(card_body(pan(), card_number=int(pan())))
    yield "card number as a key", post({**card_body(pan()), pan(): "x"})
    yield "form body", lambda: {**http_event("card_number=" + pan(), content_type="text/plain")}
    yield "duplicate key", post(json.dumps(card_body(pan()))[:-1] + f', "card_number": "{pan()}"}}')
    for kind in ("latency", "reset", "http_500", "malformed"):

        def fault(kind: str = kind) -> Any:
            stack.emulator.add_fault(
                kind, "POST /subscribe/customers", seconds=4.0 if kind == "latency" else 0
            )
            return http_event(card_body(pan()))

        yield f"fault {kind}", fault

    def expired_token() -> Any:
        stack.emulator.expire_tokens()
        return http_event(card_body(pan()))

    yield "expired token", expired_token

    def portone_down() -> Any:
        monkeypatch.setenv("PORTONE_BASE_URL", "http://127.0.0.1:9")
        return http_event(card_body(pan()))

    yield "portone down", portone_down


def test_no_flow_leaks_card_data_secrets_or_tokens(
    stack: EmbeddedStack, invoke, logs, capsys, caplog, monkeypatch
) -> None:
    from billing.service import get_service
    from billing.settings import get_settings

    seen: list[str] = []
    for name, make_event in flows(stack, monkeypatch):
        get_settings.cache_clear()
        get_service.cache_clear()
        stack.emulator.clear_faults()
        try:
            response: Invocation = invoke(make_event(), timeout_seconds=3.0)
            seen.append(
                f"{name}: {response.status} {json.dumps(response.headers)} {json.dumps(response.body)}"
            )
        except Exception as exc:
            seen.append(f"{name}: {''.join(traceback.format_exception(exc))}")
        monkeypatch.setenv("PORTONE_BASE_URL", stack.emulator.url)

    token = requests.post(
        f"{stack.emulator.url}/users/getToken",
        json={"imp_key": LOCAL_IMP_KEY, "imp_secret": LOCAL_IMP_SECRET},
        timeout=5,
    ).json()["response"]["access_token"]
    captured = capsys.readouterr()
    everything = "\n".join([*seen, logs.getvalue(), captured.out, captured.err, caplog.text])

    assert len(seen) == 17
    assert "canary_uid" in everything  # the search covers what the flows produced
    for needle in [*needles(), *magic_card_needles(), LOCAL_IMP_SECRET, token]:
        assert needle not in everything, f"{needle[:4]}... leaked"
    assert live_strings_holding(needles()) == []


def live_strings_holding(found: list[str]) -> list[str]:
    """Types of live containers that still hold a string with any needle, after a full collection."""
    gc.collect()
    encoded = [n.encode() for n in found]
    hits = []
    for obj in gc.get_objects():
        if obj is found or obj is encoded:
            continue
        if isinstance(obj, dict):
            items: Iterable[Any] = [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            items = obj
        else:
            continue
        for item in items:
            if (isinstance(item, str) and any(n in item for n in found)) or (
                isinstance(item, bytes | bytearray) and any(n in item for n in encoded)
            ):
                hits.append(type(obj).__name__)
    return hits
