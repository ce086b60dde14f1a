"""PortOne's state and rules: access tokens and billing keys (customers).

Methods return the ``response`` part of a success envelope or raise ``PortOneError``. All state sits in
``PortOneState`` behind one lock, so schedules and payments can join it later. Only what PortOne keeps is
kept: the masked card number, never the number, expiry, birth or password.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from local.portone_emulator import cards

TOKEN_TTL = 30 * 60  # README §2.1
EXTENSION_WINDOW = 60  # a getToken in the last minute ...
EXTENSION = 5 * 60  # ... extends the live token by five minutes
# Card expiry is judged in Korean time: the PGs are Korean (README §6.1).
KST = timezone(timedelta(hours=9))
CUSTOMER_UID_MAX = 80  # README §3.1, §6.3
# README §6.3. Whether PortOne rejects or truncates longer values is not documented; the emulator truncates,
# so its answers stay within the schema, and the contract checker reports the request.
CUSTOMER_FIELD_LIMITS = {
    "customer_name": 20,
    "customer_tel": 20,
    "customer_email": 200,
    "customer_addr": 200,
    "customer_postcode": 8,
}

AUTH_FAILED = "인증에 실패하였습니다. API키와 secret을 확인하세요."  # README §2.1 [inf]
MISSING_KEYS = "imp_key, imp_secret 파라메터가 누락되었습니다."  # README §1.4 [inf]
# No source quotes the 401 body for a bad token (README §9); this is the spec's own 401 description.
UNAUTHORIZED = "인증 Token이 전달되지 않았거나 유효하지 않습니다."
CUSTOMER_NOT_FOUND = "요청하신 customer_uid({})로 등록된 정보를 찾을 수 없습니다."  # README §3.4
NO_CUSTOMERS = "등록된 고객정보가 없습니다."  # README §1.3; its use for multi-GET is [inf]

_EXPIRY = re.compile(r"^(\d{4})-(\d{2})$")
_CARD_SEPARATORS = re.compile(r"[\s.\-]")


class PortOneError(Exception):
    """A PortOne answer with ``code != 0``: the HTTP status, the envelope code and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Token:
    value: str
    imp_key: str
    expired_at: int


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """README §2.2: ``Authorization: Bearer <t>`` or bare ``<t>``, else ``X-ImpTokenHeader``.

    Authorization wins when both are sent, even if its token is the bad one. ``headers`` has lower-case keys.
    """
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else authorization
    return headers.get("x-imptokenheader", "").strip() or None


class PortOneState:
    def __init__(
        self,
        api_keys: Mapping[str, str],
        clock: Callable[[], float],
        unknown_customer_status: int = 404,
    ) -> None:
        if unknown_customer_status not in (200, 404):
            raise ValueError("unknown_customer_status is 404 (the spec) or 200 (the live API of 2017-2021)")
        self._api_keys = dict(api_keys)
        self._clock = clock
        self.unknown_customer_status = unknown_customer_status
        self._lock = threading.RLock()
        self._tokens: dict[str, _Token] = {}  # by imp_key: one live token per key (README §2.1)
        self._customers: dict[str, dict[str, Any]] = {}

    def now(self) -> int:
        return int(self._clock())

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._customers.clear()

    def customers(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {uid: dict(record) for uid, record in self._customers.items()}

    # --- tokens (README §2) ---

    def issue_token(self, imp_key: Any, imp_secret: Any) -> dict[str, Any]:
        if not imp_key or not imp_secret:
            # The code of this answer is not recorded; -1 like the auth failure [inf].
            raise PortOneError(400, -1, MISSING_KEYS)
        if not isinstance(imp_key, str) or self._api_keys.get(imp_key) != imp_secret:
            raise PortOneError(401, -1, AUTH_FAILED)
        with self._lock:
            now = self.now()
            token = self._tokens.get(imp_key)
            if token is None or token.expired_at <= now:
                token = _Token(secrets.token_hex(20), imp_key, now + TOKEN_TTL)
                self._tokens[imp_key] = token
            elif token.expired_at - now <= EXTENSION_WINDOW:
                token.expired_at += EXTENSION
            return {"access_token": token.value, "now": now, "expired_at": token.expired_at}

    def authenticate(self, token: str | None) -> None:
        with self._lock:
            now = self.now()
            if token and any(t.value == token and now < t.expired_at for t in self._tokens.values()):
                return
        raise PortOneError(401, -1, UNAUTHORIZED)

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # --- billing keys (README §3) ---

    def issue_billing_key(self, customer_uid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if len(customer_uid) > CUSTOMER_UID_MAX:
            # What PortOne does with an over-long uid is not documented (README §6.3); a business error here.
            raise PortOneError(200, 1, f"customer_uid는 {CUSTOMER_UID_MAX}자 이하여야 합니다.")
        for name in ("card_number", "expiry"):
            if _text(fields, name) is None:
                # README §3.1 quotes the message only; status and code are [inf]: PortOne rejects the call
                # before asking the PG, a code-1 business error, and those come with HTTP 200 (§1.3, §1.4).
                raise PortOneError(200, 1, f'["{name}"] 파라메터는 필수입니다.')
        digits = _CARD_SEPARATORS.sub("", _text(fields, "card_number") or "")
        if not (digits.isdigit() and len(digits) in (15, 16) and cards.luhn_valid(digits)):
            raise PortOneError(200, -1, cards.INVALID_NUMBER_MESSAGE)
        expiry = _EXPIRY.match(_text(fields, "expiry") or "")
        if expiry is None or not 1 <= int(expiry[2]) <= 12:
            # Only YYYY-MM is documented (README §3.1); the PG rejects anything else.
            raise PortOneError(200, -1, cards.EXPIRY_MESSAGE)
        birth = _text(fields, "birth")
        if birth is not None and not (birth.isdigit() and len(birth) in (6, 10)):
            raise PortOneError(200, -1, cards.BIRTH_FORMAT_MESSAGE)
        password = _text(fields, "pwd_2digit")
        if password is not None and not (password.isdigit() and len(password) == 2):
            raise PortOneError(200, -1, cards.PASSWORD_FORMAT_MESSAGE)

        outcome = cards.MAGIC_CARDS.get(digits, cards.ISSUED_CREDIT)
        if outcome.code != 0:
            raise PortOneError(200, outcome.code, outcome.message or "")
        with self._lock:
            now = self.now()
            today = datetime.fromtimestamp(now, KST)
            if (int(expiry[1]), int(expiry[2])) < (today.year, today.month):
                raise PortOneError(200, -1, cards.EXPIRY_MESSAGE)
            card_code, card_name = cards.issuer(digits)
            previous = self._customers.get(customer_uid)
            record = {
                "customer_uid": customer_uid,
                "customer_id": _text(fields, "customer_id"),
                # One NICE test channel, as in the observed responses (README §3.1). ``pg`` picks among the
                # merchant's PGs; with only this one configured, any value falls back to it (spec text).
                "pg_provider": "nice",
                "pg_id": "nictest04m",
                "card_name": card_name,
                "card_code": card_code,
                "card_number": cards.mask(digits),
                "card_type": outcome.card_type,
                **{name: _text(fields, name, limit) for name, limit in CUSTOMER_FIELD_LIMITS.items()},
                # Re-issuing replaces the key, keeps ``inserted`` and moves ``updated`` (README §3.1).
                "inserted": previous["inserted"] if previous else now,
                "updated": now,
                "sandbox": True,  # issued on a test channel (README §3.1, 2026 spec)
            }
            self._customers[customer_uid] = record
            return dict(record)

    def get_customer(self, customer_uid: str) -> dict[str, Any]:
        with self._lock:
            record = self._customers.get(customer_uid)
            if record is None:
                raise self._not_found(customer_uid)
            return dict(record)

    def delete_customer(self, customer_uid: str) -> dict[str, Any]:
        with self._lock:
            record = self._customers.pop(customer_uid, None)
            if record is None:
                raise self._not_found(customer_uid)
            return record

    def get_customers(self, customer_uids: list[str]) -> tuple[int, list[dict[str, Any]]]:
        """README §3.5: 200 when all resolve, 207 with the found ones when some do, 404 when none do."""
        with self._lock:
            wanted = list(dict.fromkeys(customer_uids))
            found = [dict(self._customers[uid]) for uid in wanted if uid in self._customers]
        if not found:
            raise PortOneError(404, 1, NO_CUSTOMERS)
        return (200 if len(found) == len(wanted) else 207), found

    def _not_found(self, customer_uid: str) -> PortOneError:
        # README §3.4: the spec says 404, the live API said 200; both carry code 1 and this message.
        return PortOneError(self.unknown_customer_status, 1, CUSTOMER_NOT_FOUND.format(customer_uid))


def _text(fields: Mapping[str, Any], name: str, limit: int | None = None) -> str | None:
    """A field as PortOne reads it: absent, null and "" all mean "not given"; numbers count as text."""
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()[:limit]
    return text or None
