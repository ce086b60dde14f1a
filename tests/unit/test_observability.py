"""The logging backstops: the allow-list and the PAN filter."""

import ast
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger
from hypothesis import given
from hypothesis import strategies as st

from billing import cards
from billing.observability import LOG_KEYS, AllowListFormatter, redact_pans


@pytest.mark.parametrize(
    "text",
    ["card 4242424242424242 end", "4242-4242-4242-4242", "4242 4242 4242 4242", "x378282246310005y"],
)
def test_a_luhn_valid_run_becomes_pan(text: str) -> None:
    assert "[PAN]" in redact_pans(text)
    assert "4242424242424242" not in redact_pans(text).replace("-", "").replace(" ", "")


@pytest.mark.parametrize("text", ["order 424242424242", "amount 1000", "2026-11-27", "ts 1795748400001"])
def test_other_numbers_stay(text: str) -> None:
    assert redact_pans(text) == text


@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.text(), st.text())
def test_no_luhn_valid_card_survives(payload: str, before: str, after: str) -> None:
    number = next(payload + d for d in "0123456789" if cards.luhn_valid(payload + d))
    assert number not in redact_pans(f"{before} {number} {after}")


@pytest.fixture
def logged() -> Iterator[tuple[Logger, io.StringIO]]:
    """A Powertools logger with the function's formatter, writing to a buffer; a new one each time (Powertools
    sets a logger of a name up once, so one reused in a later test would write nowhere)."""
    name = f"observability-test-{uuid.uuid4().hex}"
    stream = io.StringIO()
    yield Logger(service=name, logger_formatter=AllowListFormatter(), stream=stream, name=name), stream
    logging.getLogger(name).handlers.clear()


def test_keys_off_the_allow_list_are_dropped(logged: tuple[Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("hello", extra={"customer_uid": "c1", "card_number": "secret", "body": "{...}"})
    line = json.loads(stream.getvalue())
    assert line["customer_uid"] == "c1"
    assert "card_number" not in line
    assert "body" not in line


def test_values_are_filtered_but_aws_generated_ids_are_not(logged: tuple[Logger, io.StringIO]) -> None:
    logger, stream = logged
    request_id = "0cd42424-2424-2424-2424-bb7e6c3ef73e"  # a UUID whose digit groups pass Luhn
    logger.append_keys(function_request_id=request_id)
    logger.info("x", extra={"error_fields": ["4242424242424242"], "retries": 4242424242424242})
    line = json.loads(stream.getvalue())
    assert line["function_request_id"] == request_id
    assert line["error_fields"] == ["[PAN]"]
    assert line["retries"] == "[PAN]"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (("card 9540-4900-0000-0001 declined by the issuer",), "card [PAN] declined by the issuer"),
        (("card %s declined by the issuer", "9540490000000001"), "card [PAN] declined by the issuer"),
    ],
    ids=["in the text", "as an argument"],
)
def test_a_card_number_in_the_free_text_message_is_redacted(
    logged: tuple[Logger, io.StringIO], call: tuple[str, ...], expected: str
) -> None:
    # The message is not an allow-listed business key but Powertools' own: the filter must reach it too
    logger, stream = logged
    logger.info(*call)
    line = json.loads(stream.getvalue())
    assert line["message"] == expected
    assert "9540" not in stream.getvalue()


@pytest.mark.parametrize(
    "number",
    ["4222222222222", "6011000990139424", "6250941006528599", "4000000000000000006", "12 4242424242424242 1"],
    ids=["13 digits", "16 digits", "UnionPay", "19 digits", "a card inside a longer run"],
)
def test_every_card_length_is_redacted(number: str) -> None:
    assert cards.luhn_valid(number) or " " in number
    assert redact_pans(f"n={number};") == "n=[PAN];"


def test_a_twenty_digit_run_without_a_valid_window_stays() -> None:
    run = "1" * 20  # no 13-19 digit window of it passes Luhn
    assert not any(cards.luhn_valid(run[:length]) for length in range(13, 20))
    assert redact_pans(run) == run


def test_nested_values_are_filtered_and_other_values_kept_as_they_are() -> None:
    line = json.loads(
        AllowListFormatter().serialize(
            {
                "error_fields": {"pan": ["4242424242424242", ("x", 4242424242424242)], "ok": [7, True, None]},
                "retries": 3,
                "latency_ms": 12.5,
            }
        )
    )
    assert line == {
        "error_fields": {"pan": ["[PAN]", ["x", "[PAN]"]], "ok": [7, True, None]},
        "retries": 3,
        "latency_ms": 12.5,
    }


def test_a_line_is_compact_json_with_korean_text_as_it_is() -> None:
    from datetime import date

    line = AllowListFormatter().serialize({"message": "카드 등록", "outcome": date(2026, 12, 1)})
    assert line == '{"message":"카드 등록","outcome":"2026-12-01"}'


def test_every_key_the_code_logs_is_on_the_allow_list() -> None:
    # The formatter drops any other key in silence: a line would lose what the operator needs from it.
    logged = set()
    for source in Path("functions/billing").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "extra" and isinstance(node.value, ast.Dict):
                logged |= {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
    assert logged
    assert logged - LOG_KEYS == set()
