"""Keyed fingerprints (HMAC-SHA256): stable identifiers for card numbers and request bodies that reveal
nothing without the key. A plain hash of a card number is brute-forced in minutes (design.md D9)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

# Each use gets its own label, so a fingerprint of one kind can never be mistaken for another.
_CARD, _BODY, _TOKEN = b"card\x00", b"body\x00", b"token\x00"


class Fingerprints:
    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def card(self, card_number: str) -> str:
        return self._digest(_CARD, card_number.encode())

    def body(self, payload: Any) -> str:
        """The same for any two JSON bodies with the same content, whatever their key order or spacing."""
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self._digest(_BODY, canonical.encode())

    def token(self, value: str) -> str:
        return self._digest(_TOKEN, value.encode())

    def _digest(self, label: bytes, message: bytes) -> str:
        # 128 bits: collision-free for this use, and short enough for DynamoDB keys.
        return hmac.new(self._key(), label + message, hashlib.sha256).hexdigest()[:32]
