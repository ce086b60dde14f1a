"""PortOne's state and rules: access tokens, billing keys (customers), payments and schedules.

Methods return the ``response`` part of a success envelope or raise ``PortOneError``. All state sits in
``PortOneState`` behind one lock. Only what PortOne keeps is kept: the masked card number, never the
number, expiry, birth or password; what the PG would answer for the card is kept as ``_declines``.
The rules of payments and schedules live in ``payments.py`` and ``schedules.py``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.portone_emulator import cards, payments, schedules
from local.portone_emulator.clock import KST
from local.portone_emulator.fields import PortOneError as PortOneError
from local.portone_emulator.fields import free_text, given, missing, number, too_long
from local.portone_emulator.fields import text as _text

TOKEN_TTL = 30 * 60  # README §2.1
EXTENSION_WINDOW = 60  # a getToken in the last minute ...
EXTENSION = 5 * 60  # ... extends the live token by five minutes
CUSTOMER_UID_MAX = 80  # README §3.1, §6.3
# README §6.3. Whether PortOne rejects or truncates longer values is not documented: the emulator refuses them
# (its schema check), and on the `truncate_long_fields` switch cuts them here, so answers stay in the schema.
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
UNKNOWN_CHANNEL_KEY = "채널 정보를 찾을 수 없습니다. channel_key를 확인해 주세요."
CHECK_NAME = "카드정상결제여부 체크"  # the checking payment's name and cancel reason [inf]
CARD_FIELDS = ("card_number", "expiry", "birth", "pwd_2digit", "cvc")
ONETIME_CARD = "onetime"  # the uid a onetime card without customer_uid is checked under, never kept

_EXPIRY = re.compile(r"^(\d{4})-(\d{2})$")
_CARD_SEPARATORS = re.compile(r"[\s.\-]")


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
        channel_keys: Collection[str] = (),
    ) -> None:
        if unknown_customer_status not in (200, 404):
            raise ValueError("unknown_customer_status is 404 (the spec) or 200 (the live API of 2017-2021)")
        self._api_keys = dict(api_keys)
        self._channel_keys = frozenset(channel_keys)  # the merchant's channels in PortOne's console
        self._clock = clock
        self.unknown_customer_status = unknown_customer_status
        self._lock = threading.RLock()
        self._tokens: dict[str, _Token] = {}  # by imp_key: one live token per key (README §2.1)
        self._customers: dict[str, dict[str, Any]] = {}
        self._declines: dict[str, str] = {}  # customer_uid -> fail_reason of every payment with that key
        self._payments: dict[str, dict[str, Any]] = {}  # by imp_uid
        self._schedules: dict[str, dict[str, Any]] = {}  # by merchant_uid
        self._seq = itertools.count()
        # The channel keys are issued on: a test channel by default, so every key and payment is `sandbox`.
        self.test_channel = True
        # README §5.4: since 2026-01-26 `GET /payments/{imp_uid}` leaves sandbox payments out unless the
        # client sends ?include_sandbox=true. Showing them anyway is the leniency of clients written before.
        self.show_sandbox_payments = False
        # The 2026 schema requires `channel_key` to issue a key (README §3.1); before it, `pg` (or nothing:
        # the merchant's default PG) chose the channel. Accepting a key request without one is that leniency.
        self.legacy_pg = False
        # The schema requires `name` on `again` (README §5.1); older clients leave it out, and serving them is
        # that leniency (a schedule's missing `name` is the documented exception, README §4.1, §8 item 8).
        self.again_without_name = False
        # The payment lists (/payments/find..., a key's payments) leave sandbox payments out too: whether
        # PortOne's do is not documented (README §8 item 8), so the strict reading. True shows them.
        self.list_sandbox_payments = False
        # The schedule lists answer the paged object (README §4.4); True answers the spec's bare array.
        self.schedule_lists_as_array = False
        # README §6.3: whether PortOne refuses or cuts an over-long value is not documented; the emulator
        # refuses it (the schema's maxLength) before a handler runs, and True cuts text fields instead.
        self.truncate_long_fields = False

    def now(self) -> int:
        return int(self._clock())

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._customers.clear()
            self._declines.clear()
            self._payments.clear()
            self._schedules.clear()

    def customers(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {uid: dict(record) for uid, record in self._customers.items()}

    def payments(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {imp_uid: dict(payment) for imp_uid, payment in self._payments.items()}

    def schedules(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {uid: schedules.annotation(record) for uid, record in self._schedules.items()}

    # --- tokens (README §2) ---

    def issue_token(self, imp_key: Any, imp_secret: Any) -> dict[str, Any]:
        if not imp_key or not imp_secret:
            # The code of this answer is not recorded; -1 like the auth failure [inf].
            raise PortOneError(400, -1, MISSING_KEYS)
        if self._api_keys.get(imp_key) != imp_secret:
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

    def issue_billing_key(
        self, customer_uid: str, fields: Mapping[str, Any], *, channel_required: bool = True
    ) -> dict[str, Any]:
        """A key for `customer_uid`. `channel_key` is required on POST /subscribe/customers/{uid}, optional
        on a schedule that brings card fields, and not a parameter of onetime (the schema of each)."""
        if len(customer_uid) > CUSTOMER_UID_MAX:
            # Refused even where `truncate_long_fields` cuts other text: a cut uid names another customer.
            raise too_long("customer_uid", CUSTOMER_UID_MAX)
        channel_key = _text(fields, "channel_key")
        if channel_key is None and channel_required and not self.legacy_pg:
            # Required by the current schema (README §3.1, §9). How PortOne words its answer to a missing
            # parameter is not documented beyond the one quoted message: its code and status are [inf].
            raise missing("channel_key")
        if channel_key is not None and channel_key not in self._channel_keys:
            raise PortOneError(200, 1, UNKNOWN_CHANNEL_KEY)  # PortOne's wording is not documented: [inf]
        for name in ("card_number", "expiry"):
            if _text(fields, name) is None:
                raise missing(name)  # README §3.1; code 1 and HTTP 200 are [inf], see fields.py
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
                "sandbox": self.test_channel,  # README §3.1, 2026 spec
            }
            self._customers[customer_uid] = record
            # The new card decides how payments go; a re-issue with another card replaces the old answer.
            self._declines.pop(customer_uid, None)
            if outcome.decline is not None:
                self._declines[customer_uid] = outcome.decline
            return dict(record)

    def card_declines(self, customer_uid: str, fail_reason: str | None) -> None:
        with self._lock:
            if customer_uid not in self._customers:
                raise KeyError(customer_uid)
            self._declines.pop(customer_uid, None)
            if fail_reason is not None:
                self._declines[customer_uid] = fail_reason

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
            # Schedules stay: whether PortOne revokes them is unknown (README §3.3); they fail when run.
            self._declines.pop(customer_uid, None)
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

    # --- payments with a billing key (README §5) ---

    def pay_again(self, fields: Mapping[str, Any], user_agent: str | None = None) -> dict[str, Any]:
        """README §5.1: pay now with the key; a decline is a ``failed`` payment with code 0 (§5.3)."""
        customer_uid = _text(fields, "customer_uid")
        if customer_uid is None:
            raise missing("customer_uid")
        if len(customer_uid) > CUSTOMER_UID_MAX:
            raise too_long("customer_uid", CUSTOMER_UID_MAX)  # never cut, as on issue (truncate_long_fields)
        if _text(fields, "name") is None and not self.again_without_name:
            raise missing("name")  # required by the schema (README §5.1); code 1 and HTTP 200 are [inf]
        order = _payment_order(fields)
        with self._lock:
            if customer_uid not in self._customers:
                raise PortOneError(200, 1, payments.UNKNOWN_BUYER)
            if self._merchant_uid_taken(order["merchant_uid"]):
                raise PortOneError(200, 1, payments.ALREADY_ORDERED)
            return dict(self._charge(customer_uid, order, "payment", user_agent))

    def get_payment(self, imp_uid: str, include_sandbox: bool = False) -> dict[str, Any]:
        with self._lock:
            payment = self._payments.get(imp_uid)
            hidden = payment is not None and payment["sandbox"] and not include_sandbox
            if payment is None or (hidden and not self.show_sandbox_payments):
                # README §1.4: 404, this message (S14); the code 1 is [inf].
                raise PortOneError(404, 1, payments.PAYMENT_NOT_FOUND)
            return dict(payment)

    def pay_onetime(self, fields: Mapping[str, Any], user_agent: str | None = None) -> dict[str, Any]:
        """README §5.2: pay with card fields now; with ``customer_uid`` the card is kept as its key too.

        The card is checked exactly as issuing a key checks it, and rejected with the same answers (code -1
        or 1, HTTP 200; whether onetime words them alike is [inf], §5.3). A decline is a failed payment.
        With ``customer_uid`` the key is issued first, ``buyer_*`` becoming its ``customer_*`` (spec), and
        stays when the payment is declined [inf], as issuing only checks the card exists (§3.1).
        """
        order = _payment_order(fields)
        customer_uid = _text(fields, "customer_uid")
        with self._lock:
            if self._merchant_uid_taken(order["merchant_uid"]):
                raise PortOneError(200, 1, payments.ALREADY_ORDERED)  # README §5.2
            if customer_uid is None:
                card, decline = self._card_only(fields)
                payment = self._record_payment(order, None, card, decline, None, user_agent, card["sandbox"])
                return dict(payment)
            as_customer = {customer: fields.get(buyer) for buyer, customer in payments.BUYER_DEFAULTS.items()}
            # onetime takes `pg`, not `channel_key` (its schema): the card is issued on the default channel
            self.issue_billing_key(customer_uid, {**fields, **as_customer}, channel_required=False)
            return dict(self._charge(customer_uid, order, "issue", user_agent))

    def _card_only(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The card as a key would record it and the decline of its payments, checked by the rules of issuing
        a key (on a scratch state, so nothing is kept)."""
        scratch = PortOneState({}, self._clock)
        scratch.test_channel = self.test_channel
        card = scratch.issue_billing_key(ONETIME_CARD, fields, channel_required=False)
        return card, scratch._declines.get(ONETIME_CARD)

    def customer_payments(self, customer_uid: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """The payments made with a key (spec), paged by 20; an unknown or deleted key is 404 (§3.4)."""
        # The spec lists no 400 here; the schedule lists' answer for a bad search parameter [inf].
        page = schedules.read_page(query)
        with self._lock:
            if customer_uid not in self._customers:
                raise self._not_found(customer_uid)
            found = [
                p for p in self._payments.values() if p["customer_uid"] == customer_uid and self._listed(p)
            ]
            return payments.page_of(found, page)

    def find_payment(self, merchant_uid: str, status: str | None, sorting: str | None) -> dict[str, Any]:
        """Spec ``/payments/find/{merchant_uid}[/{payment_status}]``: the first by ``sorting`` (newest started
        by default) of the payments with this merchant_uid (a retried schedule has several), in ``status``.

        404 when none; a status outside the spec's four finds none, as the spec lists no 400 here [inf].
        """
        with self._lock:
            found = [
                p
                for p in self._payments.values()
                if p["merchant_uid"] == merchant_uid and status in (None, p["status"]) and self._listed(p)
            ]
            if not found:
                raise PortOneError(404, 1, payments.PAYMENT_NOT_FOUND)  # the text of §1.4 [inf]
            return dict(payments.sorted_payments(found, sorting or "-started")[0])

    def _listed(self, payment: Mapping[str, Any]) -> bool:
        return not payment["sandbox"] or self.list_sandbox_payments

    def _charge(
        self, customer_uid: str, order: Mapping[str, Any], usage: str, user_agent: str | None
    ) -> dict[str, Any]:
        customer = self._customers.get(customer_uid)
        # A schedule whose key was deleted runs like `again` with an unknown customer (README §3.3, §4.6):
        # it fails with again's text for that case [inf].
        decline = self._declines.get(customer_uid) if customer else payments.UNKNOWN_BUYER
        sandbox = customer["sandbox"] if customer else self.test_channel
        return self._record_payment(order, customer_uid, customer, decline, usage, user_agent, sandbox)

    def _record_payment(
        self,
        order: Mapping[str, Any],
        customer_uid: str | None,
        customer: Mapping[str, Any] | None,
        decline: str | None,
        usage: str | None,
        user_agent: str | None,
        sandbox: bool,
    ) -> dict[str, Any]:
        """A payment of `order` (see payments.payment), kept under a new imp_uid."""
        payment = payments.payment(
            imp_uid=payments.new_imp_uid(self._payments),
            order=order,
            customer_uid=customer_uid,
            customer=customer,
            decline=decline,
            usage=usage,
            user_agent=user_agent,
            now=self.now(),
            sandbox=sandbox,
        )
        self._payments[payment["imp_uid"]] = payment
        return payment

    def _check_card(self, customer_uid: str, amount: int) -> None:
        """`checking_amount` (README §4.1, spec): a payment of `amount` on the key, cancelled right after
        ("자동으로 취소"). A card that declines payments fails the schedule; PortOne's answer to that is not
        documented: code -1 with the PG's reason here, as a declined card's key is refused [inf]."""
        order = {"merchant_uid": f"checking_{secrets.token_hex(8)}", "amount": amount, "name": CHECK_NAME}
        payment = self._charge(customer_uid, order, "payment", None)
        if payment["status"] != "paid":
            raise PortOneError(200, -1, payment["fail_reason"] or "")
        payment.update(
            status="cancelled", cancel_amount=amount, cancelled_at=self.now(), cancel_reason=CHECK_NAME
        )

    def _merchant_uid_taken(self, merchant_uid: str) -> bool:
        """Used by any schedule (pending, run or revoked) or payment (paid or failed) of any customer."""
        return merchant_uid in self._schedules or any(
            p["merchant_uid"] == merchant_uid for p in self._payments.values()
        )

    # --- scheduled payments (README §4) ---

    def schedule(self, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """README §4.1: all of ``schedules[]`` or none; a keyless customer_uid with card fields gets one."""
        customer_uid = _text(fields, "customer_uid")
        if customer_uid is None:
            raise missing("customer_uid")
        if len(customer_uid) > CUSTOMER_UID_MAX:
            raise too_long("customer_uid", CUSTOMER_UID_MAX)
        with self._lock:
            has_key = customer_uid in self._customers
            if not has_key and not any(given(fields, name) for name in CARD_FIELDS):
                raise PortOneError(200, 1, schedules.NO_CUSTOMER)
            orders = schedules.read_orders(fields.get("schedules"), self.now())
            for order in orders:
                if self._merchant_uid_taken(order["merchant_uid"]):
                    raise PortOneError(200, 1, schedules.DUPLICATE.format(order["merchant_uid"]))
            if not has_key:
                # Exactly as POST /subscribe/customers/{uid}: same rules, same -1 rejections (README §4.1).
                self.issue_billing_key(customer_uid, fields, channel_required=False)
            # Card fields sent for a uid that has a key are ignored (README §4.1).
            customer = self._customers[customer_uid]
            checking = number(fields.get("checking_amount"))
            if isinstance(checking, int) and checking > 0:
                self._check_card(customer_uid, checking)
            created = [
                schedules.record(
                    order,
                    customer_uid=customer_uid,
                    customer=customer,
                    customer_id=_text(fields, "customer_id"),
                    seq=next(self._seq),
                )
                for order in orders
            ]
            self._schedules.update((s["merchant_uid"], s) for s in created)
            return [schedules.annotation(s) for s in created]

    def unschedule(self, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
        """README §4.2: revoke the pending ones among those named; code 1 when there is none."""
        customer_uid = _text(fields, "customer_uid")
        wanted = schedules.merchant_uids(fields.get("merchant_uid"))
        with self._lock:
            if wanted is None:
                candidates = list(self._schedules.values()) if customer_uid else []
            else:
                candidates = [self._schedules[uid] for uid in dict.fromkeys(wanted) if uid in self._schedules]
            revoked = [
                s
                for s in candidates
                if s["schedule_status"] == "scheduled" and customer_uid in (None, s["customer_uid"])
            ]
            if not revoked:
                raise PortOneError(200, 1, schedules.NOTHING_TO_REVOKE)
            now = self.now()
            for s in revoked:
                s.update(schedule_status="revoked", revoked_at=now)
            return [schedules.annotation(s) for s in revoked]

    def get_schedule(self, merchant_uid: str) -> dict[str, Any]:
        with self._lock:
            return schedules.annotation(self._schedule(merchant_uid))

    def update_schedule(self, merchant_uid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """README §4.5: move a pending schedule; 400 when not pending or in the past, 404 when unknown."""
        with self._lock:
            record = self._schedule(merchant_uid)
            schedule_at = schedules.read_schedule_at(fields, self.now(), status=400)
            if record["schedule_status"] != "scheduled":
                raise PortOneError(400, 1, schedules.NOT_PENDING)
            record["schedule_at"] = schedule_at
            return schedules.annotation(record)

    def list_schedules(
        self, customer_uid: str, query: Mapping[str, Any]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """README §4.4: ``from <= schedule_at < to``, optionally one status; an unknown customer has none."""
        wanted = schedules.read_list_query(query)
        with self._lock:
            found = [
                s
                for s in self._schedules.values()
                if s["customer_uid"] == customer_uid and schedules.matches(s, wanted)
            ]
            return schedules.page_of(found, wanted, as_array=self.schedule_lists_as_array)

    def list_all_schedules(self, query: Mapping[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """The merchant-wide list (spec ``GET /subscribe/payments/schedule``): every customer's schedules."""
        wanted = schedules.read_range_query(query)
        with self._lock:
            found = [s for s in self._schedules.values() if schedules.matches(s, wanted)]
            return schedules.page_of(found, wanted, as_array=self.schedule_lists_as_array)

    def retry_schedule(self, merchant_uid: str) -> dict[str, Any]:
        """Spec: pay a failed run or a revoked schedule now, as its run would; the payment, paid or failed.

        400 for one pending or paid, 404 for an unknown schedule or a deleted key (spec). The schedule
        records the new run. No webhook is sent: the spec says nothing of one for a retry [inf].
        """
        with self._lock:
            record = self._schedule(merchant_uid)
            if not schedules.retryable(record):
                raise PortOneError(400, 1, schedules.NOT_RETRYABLE)
            if record["customer_uid"] not in self._customers:
                raise PortOneError(404, 1, schedules.NO_BILLING_KEY)
            payment = self._charge(record["customer_uid"], record, "payment.scheduled", None)
            schedules.executed(record, payment, self.now())
            return dict(payment)

    def reschedule(self, merchant_uid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Spec: schedule a failed run or a revoked schedule again at ``schedule_at``; 400 for one pending or
        paid, a missing or past time; 404 when unknown. A deleted key is not checked: the run fails (§3.3)."""
        with self._lock:
            record = self._schedule(merchant_uid)
            schedule_at = schedules.read_schedule_at(fields, self.now(), status=400)
            if not schedules.retryable(record):
                raise PortOneError(400, 1, schedules.NOT_RETRYABLE)
            schedules.pending_again(record, schedule_at)
            return schedules.annotation(record)

    def run_due(self) -> list[tuple[dict[str, Any], str | None, dict[str, Any]]]:
        """Run every pending schedule whose time has come, oldest first, like ``again`` (README §4.6).

        Returns, per run, the schedule's annotation, its own ``notice_url`` and the webhook body; the caller
        delivers the webhooks, outside the lock.
        """
        with self._lock:
            now = self.now()
            due = sorted(
                (s for s in self._schedules.values() if s["schedule_status"] == "scheduled"),
                key=lambda s: (s["schedule_at"], s["seq"]),
            )
            ran = []
            for record in (s for s in due if s["schedule_at"] <= now):
                payment = self._charge(record["customer_uid"], record, "payment.scheduled", None)
                schedules.executed(record, payment, now)
                ran.append(
                    (schedules.annotation(record), record["notice_url"], payments.notice_body(payment))
                )
            return ran

    def executed_notice(self, merchant_uid: str) -> tuple[str | None, dict[str, Any]]:
        """The ``notice_url`` and webhook body of a schedule that ran, to send once more."""
        with self._lock:
            record = self._schedules.get(merchant_uid)
            if record is None or record["schedule_status"] != "executed":
                raise ValueError(f"no executed schedule with merchant_uid {merchant_uid!r}")
            return record["notice_url"], payments.notice_body(self._payments[record["imp_uid"]])

    def _schedule(self, merchant_uid: str) -> dict[str, Any]:
        record = self._schedules.get(merchant_uid)
        if record is None:
            raise PortOneError(404, 1, schedules.NOT_FOUND)
        return record


def _payment_order(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The order fields of again and onetime (README §5.1, §5.2): merchant_uid and amount required."""
    merchant_uid = _text(fields, "merchant_uid")
    if merchant_uid is None:
        raise missing("merchant_uid")
    if len(merchant_uid) > payments.MERCHANT_UID_MAX:
        raise too_long("merchant_uid", payments.MERCHANT_UID_MAX)
    if not given(fields, "amount"):
        raise missing("amount")
    amount = number(fields["amount"])
    if amount is None or amount <= 0:
        raise PortOneError(200, 1, payments.INVALID_AMOUNT)
    card_quota = number(fields.get("card_quota"))
    return {
        "merchant_uid": merchant_uid,
        "amount": amount,
        "currency": _text(fields, "currency") or "KRW",
        "name": _text(fields, "name", payments.NAME_MAX),
        # Only schedules default buyer_* from the key (README §4.1); again takes what it is given [inf].
        **payments.buyer(fields, None),
        "custom_data": free_text(fields.get("custom_data")),
        "card_quota": card_quota if isinstance(card_quota, int) else 0,
    }
