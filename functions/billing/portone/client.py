"""The only code that speaks HTTP to PortOne's V1 REST API (design.md D5, D6).

- One `requests.Session` per container: keep-alive saves a TLS handshake per call.
- Every call is bounded by the invocation's Deadline as well as by its own connect/read timeouts.
- The access token is cached until shortly before it expires, measured with PortOne's own `now` so a skewed
  local clock does not matter; a 401 forces one refresh and one retry; a 401 from getToken re-reads the
  secret once, in case the keys were rotated.
- Retries happen here only, and only when they are safe: getToken and GETs, and any request that provably
  never left (connection refused, connect timeout). A POST that may have arrived is never repeated: it
  raises PortOneOutcomeUnknown for the caller to reconcile.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import requests
import urllib3.exceptions
from pydantic import BaseModel, SecretStr, ValidationError

from billing.deadline import Deadline
from billing.observability import logger
from billing.portone.errors import (
    PortOneAuthFailed,
    PortOneBusinessError,
    PortOneCardRejected,
    PortOneError,
    PortOneNotFound,
    PortOneOutcomeUnknown,
    PortOneProtocolError,
    PortOneUnavailable,
)
from billing.portone.models import (
    AccessToken,
    BillingKeyCard,
    Credentials,
    Customer,
    Envelope,
    Payment,
    ScheduleList,
    SchedulePage,
    ScheduleResult,
)

DEFAULT_BASE_URL = "https://api.iamport.kr"
TOKEN_REFRESH_MARGIN = 60.0  # seconds; asking in the last minute also gets PortOne's 5-minute extension
_MIN_ATTEMPT_SECONDS = 0.5  # below this an attempt cannot finish: fail before sending anything
_RETRY_PAUSE = (0.05, 0.2)  # seconds, jittered, between the two attempts of a safe request
_CODE_CARD_REJECTED = -1
_CODE_BUSINESS = 1
_DAY = 86_400
_LIST_SPAN = 89 * _DAY  # a schedule list spans at most 3 months (§4.4): 89 days fit under every reading
# How far ahead a pending payment may be: a yearly period after a first charge up to 90 days out (plans.py)
_LOOKAHEAD = 6 * _LIST_SPAN

_M = TypeVar("_M", bound=BaseModel)


class CredentialSource(Protocol):
    def __call__(self, *, refresh: bool) -> Credentials: ...


@dataclass(frozen=True)
class _CachedToken:
    value: SecretStr
    refresh_at: float  # monotonic


class PortOneClient:
    def __init__(
        self,
        credentials: CredentialSource,
        *,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session = session or _new_session()
        self._monotonic = monotonic
        self._token: _CachedToken | None = None
        self._clock_offset = 0.0  # PortOne's clock minus ours, learnt from each token response

    # --- operations -------------------------------------------------------------------------------------

    def issue_billing_key(
        self,
        customer_uid: str,
        card: BillingKeyCard,
        *,
        extra: Mapping[str, str],
        deadline: Deadline,
    ) -> Customer:
        """`POST /subscribe/customers/{customer_uid}`: issue (or replace) the customer's billing key."""
        body = {**extra, **card.wire()}
        response = self._call(
            "POST",
            "/subscribe/customers/{customer_uid}",
            {"customer_uid": customer_uid},
            json=body,
            deadline=deadline,
            state_changing=True,
        )
        return _parse(Customer, response, state_changing=True)

    def get_customer(self, customer_uid: str, *, deadline: Deadline) -> Customer:
        """`GET /subscribe/customers/{customer_uid}`; PortOneNotFound for an unknown uid."""
        return self._lookup(
            Customer, "/subscribe/customers/{customer_uid}", customer_uid=customer_uid, deadline=deadline
        )

    def _lookup(
        self,
        model: type[_M],
        template: str,
        *,
        deadline: Deadline,
        params: Mapping[str, str] | None = None,
        **path_params: str,
    ) -> _M:
        """A GET of one object; PortOneNotFound whether PortOne says 404 or 200 and code 1 (§3.4)."""
        response = self._expect_found(
            lambda: self._call(
                "GET", template, path_params, params=params, deadline=deadline, state_changing=False
            )
        )
        return _parse(model, response, state_changing=False)

    @staticmethod
    def _expect_found(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except PortOneBusinessError as exc:
            if exc.code == _CODE_BUSINESS and not isinstance(exc, PortOneNotFound):
                raise PortOneNotFound(exc.detail, http_status=exc.http_status, code=exc.code) from None
            raise

    def delete_customer(self, customer_uid: str, *, deadline: Deadline) -> None:
        """`DELETE /subscribe/customers/{customer_uid}`; PortOneNotFound if there is no key (any more).

        Repeating it is harmless (the second finds nothing), so it is retried like a read.
        """
        self._expect_found(
            lambda: self._call(
                "DELETE",
                "/subscribe/customers/{customer_uid}",
                {"customer_uid": customer_uid},
                deadline=deadline,
                state_changing=False,
            )
        )

    def schedule(
        self,
        customer_uid: str,
        schedules: list[dict[str, Any]],
        *,
        deadline: Deadline,
        checking_amount: int = 0,
    ) -> list[ScheduleResult]:
        """`POST /subscribe/payments/schedule` on the customer's billing key (§4.1). `checking_amount`:
        PortOne first authorises that much on the card and cancels it at once, so a card that cannot pay is
        refused now, not at its first renewal (0: no check).

        Never with card fields: PortOne would issue the key in the same call, but its answer does not say on
        which channel (`sandbox`), and card fields for a uid that has a key are silently ignored.
        """
        body: dict[str, Any] = {"customer_uid": customer_uid, "schedules": schedules}
        if checking_amount:
            body["checking_amount"] = checking_amount
        response = self._call(
            "POST", "/subscribe/payments/schedule", {}, json=body, deadline=deadline, state_changing=True
        )
        return _parse(ScheduleList, response, state_changing=True).root

    def get_schedule(self, merchant_uid: str, *, deadline: Deadline) -> ScheduleResult:
        """`GET /subscribe/payments/schedule/{merchant_uid}`; PortOneNotFound when PortOne has none."""
        return self._lookup(
            ScheduleResult,
            "/subscribe/payments/schedule/{merchant_uid}",
            merchant_uid=merchant_uid,
            deadline=deadline,
        )

    def list_schedules(
        self, customer_uid: str, *, start: int, end: int, deadline: Deadline
    ) -> list[ScheduleResult]:
        """The customer's schedules due in [start, end) (UNIX s, at most 3 months apart, §4.4), every page.

        PortOne's SDKs read a paged object and the schema says a bare array (§4.4, §9): both are read. A bare
        array says nothing of further pages, so the next is asked for until one is empty or brings nothing
        new (a server that ignores `page` answers the same list again)."""
        found: dict[str, ScheduleResult] = {}
        page = 1
        while page:
            response = self._call(
                "GET",
                "/subscribe/payments/schedule/customers/{customer_uid}",
                {"customer_uid": customer_uid},
                params={"from": start, "to": end, "page": page},
                deadline=deadline,
                state_changing=False,
            )
            if isinstance(response, list):
                schedules = _parse(ScheduleList, response, state_changing=False).root
                new = {s.merchant_uid: s for s in schedules if s.merchant_uid not in found}
                page = page + 1 if new else 0
            else:
                listing = _parse(SchedulePage, response, state_changing=False)
                new = {s.merchant_uid: s for s in listing.list}
                page = listing.next if listing.next > page else 0
            found |= new
        return list(found.values())

    def unschedule(
        self, customer_uid: str, merchant_uids: list[str] | None, *, deadline: Deadline
    ) -> list[ScheduleResult]:
        """`POST /subscribe/payments/unschedule`: revoke the given pending payments, or all of them (None).

        Nothing left to revoke is not an error: the answer is an empty list. PortOne says so with code 1
        (§4.2), which it also answers to other refusals, so what it holds decides, never its message: each
        named merchant_uid revoked, executed or unknown to it (`GET .../schedule/{merchant_uid}`), or, for
        all of them, none of the customer's scheduled from a day ago on, as far as a yearly period reaches.
        Otherwise, or when the follow-up itself fails, the refusal stands.
        Revoking twice changes nothing, so it is retried like a read.
        """
        body: dict[str, Any] = {"customer_uid": customer_uid}
        if merchant_uids is not None:
            body["merchant_uid"] = merchant_uids
        try:
            response = self._call(
                "POST",
                "/subscribe/payments/unschedule",
                {},
                json=body,
                deadline=deadline,
                state_changing=False,
            )
        except PortOneBusinessError as exc:
            if exc.code != _CODE_BUSINESS or exc.http_status != 200:
                raise
            if self._still_scheduled(customer_uid, merchant_uids, deadline):
                raise
            return []
        return _parse(ScheduleList, response, state_changing=False).root

    def _still_scheduled(
        self, customer_uid: str, merchant_uids: list[str] | None, deadline: Deadline
    ) -> bool:
        """Whether PortOne still holds a pending schedule among `merchant_uids` (None: the customer's)."""
        if merchant_uids is None:
            start = int(self.portone_time(deadline=deadline)) - _DAY
            for window in range(start, start + _LOOKAHEAD, _LIST_SPAN):
                try:
                    found = self.list_schedules(
                        customer_uid, start=window, end=window + _LIST_SPAN, deadline=deadline
                    )
                except PortOneNotFound:
                    return False  # no such key: nothing of it is scheduled
                if any(s.schedule_status == "scheduled" for s in found):
                    return True
            return False
        for merchant_uid in merchant_uids:
            try:
                if self.get_schedule(merchant_uid, deadline=deadline).schedule_status == "scheduled":
                    return True
            except PortOneNotFound:
                continue
        return False

    def get_payment(self, imp_uid: str, *, deadline: Deadline) -> Payment:
        """`GET /payments/{imp_uid}` (§5.4); PortOneNotFound for an unknown imp_uid.

        Always with `include_sandbox=true`: since 2026-01-26 PortOne hides test-channel payments from a
        lookup without it, and a stack on a test channel would never see its own renewals paid. Whether a
        sandbox payment counts is the service's decision (`Payment.sandbox`), not the lookup's.
        """
        return self._lookup(
            Payment,
            "/payments/{imp_uid}",
            imp_uid=imp_uid,
            params={"include_sandbox": "true"},
            deadline=deadline,
        )

    def portone_time(self, *, deadline: Deadline) -> float:
        """Now on PortOne's clock (UNIX seconds), for comparing with the times PortOne reports. The clock is
        learnt from a token's `now`: a container holding no token yet gets one first (its next call needs
        one anyway), so its first request is timed on PortOne's clock too."""
        self._access_token(deadline)
        return self._now()

    def refresh_clock(self, *, deadline: Deadline) -> float:
        """PortOne's clock now (UNIX seconds), read from a fresh token: for deciding what PortOne has run."""
        self._access_token(deadline, force=True)
        return self._now()

    def _now(self) -> float:
        return time.time() + self._clock_offset

    def check_credentials(self, *, deadline: Deadline) -> None:
        """Ask PortOne for a token now, not from the cache: proves the keys work (the smoke check)."""
        self._fetch_token(deadline)

    # --- token ------------------------------------------------------------------------------------------

    def _access_token(self, deadline: Deadline, *, force: bool = False) -> SecretStr:
        if not force and self._token is not None and self._monotonic() < self._token.refresh_at:
            return self._token.value
        asked_at = self._monotonic()
        token = self._fetch_token(deadline)
        # expired_at - now is the lifetime by PortOne's clock; counted from when we asked, it errs early.
        lifetime = token.expired_at - token.now
        self._token = _CachedToken(token.access_token, asked_at + lifetime - TOKEN_REFRESH_MARGIN)
        return token.access_token

    def _fetch_token(self, deadline: Deadline) -> AccessToken:
        try:
            token = self._request_token(self._credentials(refresh=False), deadline)
        except PortOneAuthFailed:
            # The keys may have been rotated since we cached them: read the secret again, once.
            token = self._request_token(self._credentials(refresh=True), deadline)
        self._clock_offset = token.now - time.time()
        return token

    def _request_token(self, credentials: Credentials, deadline: Deadline) -> AccessToken:
        body = {"imp_key": credentials.imp_key, "imp_secret": credentials.imp_secret.get_secret_value()}
        response = self._send(
            "POST",
            "/users/getToken",
            "/users/getToken",
            {},
            json=body,
            deadline=deadline,
            state_changing=False,
        )
        if response.status_code == 401:
            raise PortOneAuthFailed("getToken refused imp_key/imp_secret", http_status=401)
        return _parse(AccessToken, _unwrap(response, state_changing=False), state_changing=False)

    # --- HTTP -------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        template: str,
        path_params: Mapping[str, str],
        *,
        deadline: Deadline,
        state_changing: bool,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        path = template.format(**{k: quote(v, safe="") for k, v in path_params.items()})
        # A 401 means PortOne rejected the token before doing anything, so one retry with a new token is safe.
        for refresh in (False, True):
            token = self._access_token(deadline, force=refresh)
            headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
            response = self._send(
                method,
                template,
                path,
                headers,
                json=json,
                params=params,
                deadline=deadline,
                state_changing=state_changing,
            )
            if response.status_code != 401:
                return _unwrap(response, state_changing=state_changing)
        raise PortOneAuthFailed("PortOne refused a freshly issued token", http_status=401)

    def _send(
        self,
        method: str,
        template: str,
        path: str,
        headers: Mapping[str, str],
        *,
        deadline: Deadline,
        state_changing: bool,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        route = f"{method} {template}"
        for attempt in (1, 2):
            budget = deadline.remaining()
            if budget < _MIN_ATTEMPT_SECONDS:
                raise PortOneUnavailable(f"{route}: no time left to call PortOne")
            started = self._monotonic()
            try:
                response = self._session.request(
                    method,
                    self._base_url + path,
                    headers=headers,
                    json=json,
                    params=params,
                    timeout=(min(self._connect_timeout, budget), min(self._read_timeout, budget)),
                )
            except requests.RequestException as exc:
                failure = _classify(exc, route, state_changing)
                # `from None`: a requests exception holds the prepared request, card or secret body included.
                if attempt == 2 or isinstance(failure, PortOneOutcomeUnknown):
                    raise failure from None
                logger.warning("PortOne call failed, retrying", extra={"route": route, "retries": attempt})
                time.sleep(random.uniform(*_RETRY_PAUSE))  # noqa: S311 (jitter, not security)
                continue
            latency_ms = round((self._monotonic() - started) * 1000, 1)
            logger.info(
                "PortOne call",
                extra={"route": route, "http_status": response.status_code, "latency_ms": latency_ms},
            )
            if response.status_code < 500:
                return response
            if state_changing:
                raise PortOneOutcomeUnknown(
                    f"{route}: HTTP {response.status_code}", http_status=response.status_code
                )
            if attempt == 2:
                raise PortOneUnavailable(
                    f"{route}: HTTP {response.status_code}", http_status=response.status_code
                )
            time.sleep(random.uniform(*_RETRY_PAUSE))  # noqa: S311
        raise AssertionError("unreachable")


def _new_session() -> requests.Session:
    session = requests.Session()
    session.headers.update({"Accept": "application/json", "User-Agent": "portone-billing-lambda/1"})
    return session


def _classify(exc: requests.RequestException, route: str, state_changing: bool) -> PortOneError:
    kind = type(exc).__name__
    if _never_sent(exc) or not state_changing:
        return PortOneUnavailable(f"{route}: {kind}")
    return PortOneOutcomeUnknown(f"{route}: {kind}; the request may have reached PortOne")


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the connection was never established, so PortOne cannot have seen the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


def _unwrap(response: requests.Response, *, state_changing: bool) -> Any:
    """The envelope's `response` when code == 0; otherwise the typed error for its code and status."""
    try:
        envelope = Envelope.model_validate_json(response.content)
    except ValidationError:
        detail = f"HTTP {response.status_code} with a body that is not a PortOne envelope"
        error = PortOneOutcomeUnknown if state_changing else PortOneProtocolError
        raise error(detail, http_status=response.status_code) from None
    if response.status_code == 200 and envelope.code == 0:
        return envelope.response
    detail = envelope.message or f"HTTP {response.status_code}, code {envelope.code}"
    kwargs = {"http_status": response.status_code, "code": envelope.code}
    if response.status_code == 404:
        raise PortOneNotFound(detail, **kwargs)
    if envelope.code == _CODE_CARD_REJECTED:
        raise PortOneCardRejected(detail, **kwargs)
    raise PortOneBusinessError(detail, **kwargs)


def _parse(model: type[_M], payload: Any, *, state_changing: bool) -> _M:
    try:
        return model.model_validate(payload)
    except ValidationError:
        detail = f"PortOne's response does not match {model.__name__}"
        error = PortOneOutcomeUnknown if state_changing else PortOneProtocolError
        raise error(detail) from None
