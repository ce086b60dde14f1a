"""Hostile input, generated: whatever arrives, the answer is a 2xx or a 4xx that echoes nothing back."""

from __future__ import annotations

import base64
import json
import re
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import IssueBillingKeyRequest
from tests.integration.support import http_event, load_event

CARD_FIELDS = ["customer_uid", "card_number", "expiry", "birth", "pwd_2digit", "customer_name"]
SECRET_FIELDS = ("card_number", "expiry", "birth", "pwd_2digit", "cvc")
UNKNOWN_KEYS = ["cvc", "4111111111111111", "pg", "amount"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
    | st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２３ -", max_size=24),  # ASCII, Arabic-Indic, full-width
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(
    st.sampled_from([*CARD_FIELDS, "cvc", "4111111111111111", "pg", "amount"]), json_values
)
header_names = st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
) | st.from_regex(r"[0-9]{8,19}", fullmatch=True)

# Each example is a real invocation against moto and the emulator: keep the count modest.
fuzz = settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])


def echoes(response_text: str, payload: Any) -> list[str]:
    """Submitted strings that come back in the response: unknown key names, and card field values."""
    found = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            # Unknown keys are named back only when they cannot hold digits (letters and underscores).
            unknown = key not in IssueBillingKeyRequest.model_fields and not re.fullmatch(r"[a-z_]+", key)
            if unknown and len(key) >= 6 and key in response_text:
                found.append(key)
            secret = key in SECRET_FIELDS and isinstance(value, str) and len(value) >= 4
            if secret and value in response_text:
                found.append(value)
    return found


@fuzz
@given(payload=payloads)
def test_any_json_object_gets_a_clean_answer(invoke, payload: dict[str, Any]) -> None:
    response = invoke(http_event(payload))
    text = json.dumps(response.body, ensure_ascii=False)
    assert response.status < 500, text
    assert echoes(text, payload) == []


@fuzz
@given(body=st.one_of(st.text(max_size=200), json_values.map(json.dumps)))
def test_any_body_text_gets_a_4xx_or_a_success(invoke, body: str) -> None:
    response = invoke(http_event(body))
    assert response.status < 500


@fuzz
@given(raw=st.binary(max_size=300), declared_base64=st.booleans())
def test_any_bytes_get_a_4xx(invoke, raw: bytes, declared_base64: bool) -> None:
    event = http_event(None)
    event["body"] = base64.b64encode(raw).decode() if declared_base64 else raw.decode("latin-1")
    event["isBase64Encoded"] = declared_base64
    assert 400 <= invoke(event).status < 500


@fuzz
@given(headers=st.dictionaries(header_names, header_values, max_size=6))
def test_any_headers_get_a_clean_answer(invoke, headers: dict[str, str]) -> None:
    event = load_event("issue_billing")
    event["headers"] |= headers
    response = invoke(event)
    assert response.status < 500
    for value in headers.values():
        # Only a long digit run could be card data; a word like "succes" may occur in "success" by chance.
        if re.search(r"[0-9]{8,}", value) and value != event["headers"].get("idempotency-key"):
            assert value not in json.dumps(response.body)
