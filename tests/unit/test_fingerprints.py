"""Keyed fingerprints (fingerprints.py): what the idempotency records and the card-testing limits store."""

from __future__ import annotations

from billing.fingerprints import Fingerprints

KEY = b"k" * 32
PAN = "9540490000000001"


def fingerprints(key: bytes = KEY) -> Fingerprints:
    return Fingerprints(lambda: key)


def test_a_body_has_one_fingerprint_whatever_its_key_order_or_spacing() -> None:
    first = fingerprints().body({"plan_id": "basic", "card": {"b": 1, "a": "가"}})
    again = fingerprints().body({"card": {"a": "가", "b": 1}, "plan_id": "basic"})
    assert first == again
    assert fingerprints().body({"plan_id": "basic", "card": {"b": 1, "a": "나"}}) != first


def test_fingerprints_already_stored_stay_valid_across_deployments() -> None:
    # Stored in idempotency records and limit counters, so the canonical form and labels may never change:
    # these values are HMAC-SHA256 (first 128 bits) of label + message, a body as compact, sorted, unescaped
    # JSON, computed once with Python's hmac module
    assert fingerprints().body({"b": [1, 2], "a": "가"}) == "7f7505fee71a71baf2b030f5ef166958"
    assert fingerprints().card(PAN) == "ff2205d51d12e6576be5fb60902242e7"
    assert fingerprints().token("anon request") == "7c1e418eb5f9f4355f5582f38b2ce450"


def test_each_kind_and_each_key_gives_its_own_fingerprint() -> None:
    kinds = {fingerprints().card("x"), fingerprints().token("x"), fingerprints().body("x")}
    assert len(kinds) == 3
    assert fingerprints(b"other key").card(PAN) != fingerprints().card(PAN)
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in kinds)
