"""``PortOneEmulator``: PortOne's routes, faults, counters, contract checks and webhooks behind one server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple, Self

from local.portone_emulator import admin, contract
from local.portone_emulator.bodies import (
    BodyError,
    is_json,
    is_readable,
    parse_body,
    parse_query,
    query_pairs,
)
from local.portone_emulator.faults import Fault, FaultBook
from local.portone_emulator.fields import PortOneError, bad_search, invalid, too_long
from local.portone_emulator.notices import Notice, deliver
from local.portone_emulator.routes import ApiRequest, Reply, Route, error_reply, find_route
from local.portone_emulator.server import (
    RESET,
    EmulatorHTTPServer,
    RawRequest,
    RawResponse,
    Reset,
    serve,
    stop_server,
)
from local.portone_emulator.state import PortOneState, token_from_headers

logger = logging.getLogger("local.portone_emulator")

# The local emulator's well-known key pair; not a PortOne credential.
DEFAULT_API_KEYS = {"imp_local_key": "imp_local_secret"}
# The one channel of the local merchant (a NICE test channel, README §3.1), as the console would show its key
DEFAULT_CHANNEL_KEY = "channel-key-local-nice-test"
DEFAULT_IMP_KEY = "imp_local_key"
DEFAULT_IMP_SECRET = DEFAULT_API_KEYS[DEFAULT_IMP_KEY]
UNKNOWN_ROUTE = "<unknown>"
RESET_STATUS = 0  # recorded for a connection reset: no status reached the client


class Call(NamedTuple):
    """One PortOne call as the client saw it. Bodies are never recorded: they hold card data."""

    method: str
    route: str  # the route template, e.g. "/subscribe/customers/{customer_uid}"
    status: int


class PortOneEmulator:
    """A PortOne V1 REST API on loopback, for tests and local runs.

    ``api_keys`` maps imp_key to imp_secret (default ``imp_local_key``/``imp_local_secret``). ``clock`` gives
    UNIX seconds (a ``FakeClock`` in tests). ``unknown_customer_status`` is 404 (the spec) or 200 (the live
    API as SDK tests saw it, README §3.4). With ``check_contract`` every request and response of an
    implemented operation is checked against PortOne's schema and problems land in ``contract_violations``;
    requests are never rejected for them.

    Scheduled payments run only when asked: ``run_due_schedules()`` (or ``POST /__emulator__/run-due``) runs
    every pending one whose ``schedule_at`` has come and POSTs its webhook to the schedule's ``notice_url``,
    else to ``notice_url`` given here (the console's URL, README §4.6; settable later), else nowhere.

    The emulator is a **test channel** by default: its keys and payments carry ``sandbox: true``, and
    ``GET /payments/{imp_uid}`` answers 404 for them unless the client sends ``include_sandbox=true``, as
    PortOne does since 2026-01-26 (README §5.4). Two named switches change that: ``test_channel=False``
    models a live channel (``sandbox: false``, always shown); ``show_sandbox_payments=True`` is the leniency
    of the lookup before 2026-01-26. Schedule lookups carry no ``sandbox`` and always show test schedules.
    The payment lists (``GET /payments/find/{merchant_uid}[/{payment_status}]``,
    ``GET /subscribe/customers/{uid}/payments``) hide sandbox payments too, and take no ``include_sandbox``:
    whether PortOne's lists leave them out is not documented (README §8 item 8), so the strict reading holds;
    ``list_sandbox_payments=True`` is the named switch that shows them.

    The schedule lists (per customer, its alias, and the merchant-wide ``GET /subscribe/payments/schedule``)
    answer the paged object ``{total, previous, next, list}`` the SDKs read (README §4.4);
    ``schedule_lists_as_array=True`` answers the spec's bare array (that page's schedules) instead.

    Also served: ``POST /subscribe/payments/onetime`` (card rules and magic cards as issuing a key; with
    ``customer_uid`` the card becomes that key), and ``POST
    /subscribe/payments/schedule/{merchant_uid}/retry`` and ``.../reschedule`` for a failed run or a revoked
    schedule (docs §5.5).

    A billing key is issued only with the ``channel_key`` of one of the merchant's channels
    (``channel_keys``, by default ``DEFAULT_CHANNEL_KEY``), which the 2026 schema requires (README §3.1); the
    switch ``legacy_pg=True`` is the leniency of older PortOne: no ``channel_key``, ``pg`` or the default PG.
    ``again`` needs the ``name`` the schema requires; ``again_without_name=True`` serves older clients that
    leave it out. ``unknown_customer_status`` (404 by the schema; 200 as the live API was seen) is one too.

    A value the schema's rules refuse (longer than its ``maxLength``, not of its type, not one of its
    ``enum``) is refused with code 1 before anything happens: HTTP 400 where the operation answers 400 (the
    schema's, or ``contract.UNLISTED_STATUSES``), else 200 as PortOne's business errors (README §1.3); the
    wording is [inf]. What PortOne does with an over-long value is not documented (README §6.3);
    ``truncate_long_fields=True`` cuts text fields to their length instead, as some PGs do, and still
    refuses an over-long ``customer_uid`` or ``merchant_uid``.
    A body is read as JSON or as a form only when its ``Content-Type`` says so: the two the schema lists.
    """

    def __init__(
        self,
        api_keys: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        unknown_customer_status: int = 404,
        check_contract: bool = True,
        notice_url: str | None = None,
        test_channel: bool = True,
        show_sandbox_payments: bool = False,
        channel_keys: Collection[str] = (DEFAULT_CHANNEL_KEY,),
        legacy_pg: bool = False,
        again_without_name: bool = False,
        list_sandbox_payments: bool = False,
        schedule_lists_as_array: bool = False,
        truncate_long_fields: bool = False,
    ) -> None:
        keys = dict(api_keys if api_keys is not None else DEFAULT_API_KEYS)
        self.clock = clock
        self.check_contract = check_contract
        self.notice_url = notice_url
        self._state = PortOneState(keys, clock, unknown_customer_status, channel_keys)
        self._switches: dict[str, Any] = {
            "test_channel": test_channel,
            "show_sandbox_payments": show_sandbox_payments,
            "legacy_pg": legacy_pg,
            "again_without_name": again_without_name,
            "unknown_customer_status": unknown_customer_status,
            "list_sandbox_payments": list_sandbox_payments,
            "schedule_lists_as_array": schedule_lists_as_array,
            "truncate_long_fields": truncate_long_fields,
        }
        self._restore_switches()
        self._faults = FaultBook()
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._violations: list[str] = []
        self._notices: list[Notice] = []
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ---

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a daemon thread; returns the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        self._server, self._thread = serve(self.handle, host, port)
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving, end open connections and free the port; latency faults stop waiting."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        stop_server(self._server, self._thread)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- switches ---

    @property
    def unknown_customer_status(self) -> int:
        return self._state.unknown_customer_status

    @unknown_customer_status.setter
    def unknown_customer_status(self, status: int) -> None:
        if status not in (200, 404):
            raise ValueError("unknown_customer_status is 404 or 200")
        self._state.unknown_customer_status = status

    def add_fault(
        self,
        kind: str,
        route: str = "*",
        *,
        times: int | None = 1,
        seconds: float = 0.0,
        after_effect: bool = True,
    ) -> Fault:
        """Add a fault; see ``local.portone_emulator.faults`` for kinds, routes and ``after_effect``."""
        fault = Fault(kind, route, times, seconds, after_effect)
        self._faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The active faults, each with the hits it has ``remaining``."""
        return self._faults.snapshot()

    @property
    def test_channel(self) -> bool:
        """Keys issued from now on (and their payments) are on a test channel: ``sandbox: true``."""
        return self._state.test_channel

    @test_channel.setter
    def test_channel(self, test: bool) -> None:
        self._state.test_channel = bool(test)

    @property
    def show_sandbox_payments(self) -> bool:
        """Leniency: ``GET /payments/{imp_uid}`` shows sandbox payments without ``include_sandbox=true``."""
        return self._state.show_sandbox_payments

    @show_sandbox_payments.setter
    def show_sandbox_payments(self, show: bool) -> None:
        self._state.show_sandbox_payments = bool(show)

    @property
    def legacy_pg(self) -> bool:
        """Leniency: a billing key is issued without ``channel_key`` (``pg``, or the merchant's default PG),
        as before the 2026 schema made it required (README §3.1, §9)."""
        return self._state.legacy_pg

    @legacy_pg.setter
    def legacy_pg(self, legacy: bool) -> None:
        self._state.legacy_pg = bool(legacy)

    @property
    def again_without_name(self) -> bool:
        """Leniency: `again` pays without the `name` the schema requires, as older clients send it
        (README §5.1)."""
        return self._state.again_without_name

    @again_without_name.setter
    def again_without_name(self, lenient: bool) -> None:
        self._state.again_without_name = bool(lenient)

    @property
    def list_sandbox_payments(self) -> bool:
        """Leniency: the payment lists (``/payments/find...``, a key's payments) show sandbox payments."""
        return self._state.list_sandbox_payments

    @list_sandbox_payments.setter
    def list_sandbox_payments(self, show: bool) -> None:
        self._state.list_sandbox_payments = bool(show)

    @property
    def schedule_lists_as_array(self) -> bool:
        """Leniency: the schedule lists answer the spec's bare array, not the paged object (README §4.4)."""
        return self._state.schedule_lists_as_array

    @schedule_lists_as_array.setter
    def schedule_lists_as_array(self, as_array: bool) -> None:
        self._state.schedule_lists_as_array = bool(as_array)

    @property
    def truncate_long_fields(self) -> bool:
        """Leniency: text longer than the schema's ``maxLength`` is cut to it, not refused (README §6.3);
        ``customer_uid`` and ``merchant_uid`` are refused all the same."""
        return self._state.truncate_long_fields

    @truncate_long_fields.setter
    def truncate_long_fields(self, truncate: bool) -> None:
        self._state.truncate_long_fields = bool(truncate)

    def _restore_switches(self) -> None:
        self.test_channel = self._switches["test_channel"]
        self.show_sandbox_payments = self._switches["show_sandbox_payments"]
        self.legacy_pg = self._switches["legacy_pg"]
        self.again_without_name = self._switches["again_without_name"]
        self.unknown_customer_status = self._switches["unknown_customer_status"]
        self.list_sandbox_payments = self._switches["list_sandbox_payments"]
        self.schedule_lists_as_array = self._switches["schedule_lists_as_array"]
        self.truncate_long_fields = self._switches["truncate_long_fields"]

    def card_declines(self, customer_uid: str, fail_reason: str | None) -> None:
        """From now on every payment with the customer's key is declined with `fail_reason`, or (None)
        approved: the issuer's answer changing, as when a customer tops up an account or a card is reported
        lost. Raises ``KeyError`` for a customer without a key."""
        self._state.card_declines(customer_uid, fail_reason)

    def expire_tokens(self) -> None:
        self._state.expire_tokens()

    def reset(self) -> None:
        """Forget tokens, customers, payments, schedules, notices, calls and violations, and put the channel
        switches back as constructed; faults stay."""
        self._state.reset()
        self._restore_switches()
        with self._lock:
            self._calls.clear()
            self._violations.clear()
            self._notices.clear()

    # --- scheduled runs and webhooks (README §4.6) ---

    def run_due_schedules(self) -> list[dict[str, Any]]:
        """Run every pending schedule with ``schedule_at <= clock()``, then POST each one's webhook.

        Returns the schedules that ran (``ScheduleResultAnnotation``, now ``executed``), oldest first.
        Webhooks go out one by one after all have run, each recorded in ``notices``.
        """
        ran = self._state.run_due()
        for _, notice_url, body in ran:
            self._notify(notice_url, body)
        return [schedule for schedule, _, _ in ran]

    def charge_again(
        self, customer_uid: str, merchant_uid: str, amount: float, **fields: Any
    ) -> dict[str, Any]:
        """Pay with the key now, as ``POST /subscribe/payments/again`` would, but from Python (not counted).

        For payments made at PortOne by someone else. Returns the payment, paid or failed (README §5.3);
        raises ``PortOneError`` where again answers code != 0 (unknown customer, reused merchant_uid, ...).
        """
        body = {"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": amount, **fields}
        return self._state.pay_again(body)

    def deliver_notice(self, merchant_uid: str) -> Notice:
        """Send the webhook of an executed schedule again, as PortOne may deliver one twice.

        Raises ``ValueError`` when no schedule with this merchant_uid has run, or no URL is known.
        """
        notice_url, body = self._state.executed_notice(merchant_uid)
        notice = self._notify(notice_url, body)
        if notice is None:
            raise ValueError("no notice_url: neither the schedule nor the emulator has one")
        return notice

    def _notify(self, notice_url: str | None, body: dict[str, Any]) -> Notice | None:
        url = notice_url or self.notice_url
        if not url:
            return None  # PortOne sends nothing when no URL is set anywhere
        notice = deliver(url, body)
        logger.info("notice %s %s", body["status"], notice.status or notice.error)
        with self._lock:
            self._notices.append(notice)
        return notice

    # --- observations ---

    @property
    def customers(self) -> Mapping[str, Mapping[str, Any]]:
        """Stored billing keys by customer_uid, as PortOne keeps them (masked card number)."""
        return MappingProxyType({uid: MappingProxyType(r) for uid, r in self._state.customers().items()})

    @property
    def schedules(self) -> Mapping[str, Mapping[str, Any]]:
        """Schedules by merchant_uid, as ``GET /subscribe/payments/schedule/{merchant_uid}`` shows them."""
        return MappingProxyType({uid: MappingProxyType(s) for uid, s in self._state.schedules().items()})

    @property
    def payments(self) -> Mapping[str, Mapping[str, Any]]:
        """Payments (paid and failed) by imp_uid, as ``GET /payments/{imp_uid}`` shows them."""
        return MappingProxyType({uid: MappingProxyType(p) for uid, p in self._state.payments().items()})

    @property
    def notices(self) -> tuple[Notice, ...]:
        """Every webhook delivery so far, in order: url, body, the receiver's status or the error."""
        with self._lock:
            return tuple(self._notices)

    @property
    def calls(self) -> tuple[Call, ...]:
        with self._lock:
            return tuple(self._calls)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since ``start()``: a client that keeps its connection open makes few."""
        return self._server.accepted if self._server is not None else 0

    def count(self, method: str, route: str, status: int | None = None) -> int:
        """How many calls of ``method`` ``route`` (a template) were answered, with ``status`` if given."""
        return sum(
            1 for c in self.calls if (c.method, c.route) == (method, route) and status in (None, c.status)
        )

    @property
    def contract_violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def take_contract_violations(self) -> list[str]:
        """The violations so far, forgetting them: for tests that break the contract on purpose."""
        with self._lock:
            taken, self._violations = self._violations, []
            return taken

    # --- serving ---

    def handle(self, request: RawRequest) -> RawResponse | Reset:
        """Answer one HTTP request; called on the server's threads."""
        started = time.monotonic()
        result: RawResponse | Reset
        if request.path.startswith(admin.PREFIX):
            template = request.path
            result = admin.handle(self, request)
        else:
            found = find_route(request.method, request.path)
            template = found[0].template if found else UNKNOWN_ROUTE
            try:
                fault = self._faults.take(request.method, request.path)
                result = self._answer(request, template, fault, self._receive(request, found))
            except Exception:
                logger.exception("emulator error on %s %s", request.method, template)
                result = self._record(request, template, _json(Reply(500, _failure(-1, "emulator error"))))
        status = result.status if isinstance(result, RawResponse) else RESET_STATUS
        logger.info("%s %s %s %.1fms", request.method, template, status, (time.monotonic() - started) * 1000)
        return result

    def _answer(
        self, request: RawRequest, template: str, fault: Fault | None, process: Callable[[], Reply]
    ) -> RawResponse | Reset:
        if fault is not None and fault.kind == "expire_tokens":
            self._state.expire_tokens()
            fault = None
        if fault is None:
            return self._record(request, template, _json(process()))
        if fault.kind == "latency":
            # after_effect: handled now, answered late; otherwise the request itself arrives late.
            if not fault.after_effect:
                self._stopping.wait(fault.seconds)
            response = self._record(request, template, _json(process()))
            if fault.after_effect:
                self._stopping.wait(fault.seconds)
            return response
        reply = process() if fault.after_effect else None
        if fault.kind == "reset":
            self._record_call(Call(request.method, template, RESET_STATUS))
            return RESET
        if fault.kind == "malformed":
            whole = _json(reply).body if reply else b'{"code":0,"message":null,"response":{}}'
            return self._record(request, template, RawResponse(200, whole[: len(whole) // 2]))
        status = fault.status or 500
        body = _failure(-1, f"emulated HTTP {status} (fault)")
        return self._record(request, template, _json(Reply(status, body)))

    def _receive(
        self, request: RawRequest, found: tuple[Route, dict[str, str]] | None
    ) -> Callable[[], Reply]:
        """Read and contract-check the request now; the returned step applies it (faults may skip that)."""
        if found is None:
            reply = Reply(404, _failure(1, f"the emulator has no route {request.method} {request.path}"))
            return lambda: reply
        route, path_params = found
        content_type = request.headers.get("content-type", "")
        try:
            query = parse_query(request.query)
            body = parse_body(content_type, request.body)
        except BodyError as exc:
            if self.check_contract:
                self._add_violations([f"request {request.method} {route.template}: {exc}"])
            reply = Reply(400, _failure(1, str(exc)))
            return lambda: reply
        pairs = query_pairs(request.query)
        violations = contract.request_violations(
            request.method,
            route.contract_template,
            path_params=path_params,
            query=pairs,
            body=body,
            form=not is_json(content_type),
            allowed=contract.LEGACY_PG if self.legacy_pg else frozenset(),
        )
        if self.check_contract:
            self._add_violations([str(v) for v in violations])
            if request.body.strip() and not is_readable(content_type):
                self._add_violations(
                    [f"request {request.method} {route.template}: body is neither JSON nor a form"]
                )
        refused = self._refused(route, violations)

        def apply() -> Reply:
            try:
                if route.needs_token:
                    self._state.authenticate(token_from_headers(request.headers))
                if refused is not None:
                    raise refused
                request_fields = ApiRequest(path_params, query, body, request.headers, tuple(pairs))
                reply = route.handler(self._state, request_fields)
            except PortOneError as error:
                reply = error_reply(error)
            if self.check_contract:
                self._add_violations(
                    contract.response_violations(
                        request.method,
                        route.contract_template,
                        reply.status,
                        reply.body,
                        spec_arrays=self._state.schedule_lists_as_array,
                    )
                )
            return reply

        return apply

    def _refused(self, route: Route, violations: list[contract.Violation]) -> PortOneError | None:
        """The answer to the first value the schema refuses, if any (see the class docstring)."""
        for violation in violations:
            if violation.rule == "maxLength" and self.truncate_long_fields:
                continue
            if violation.malformed:
                status = 400 if contract.answers(route.method, route.contract_template, 400) else 200
                if violation.place == "query" and status == 400:
                    return bad_search(violation.field)  # the lists' answer to a bad search parameter
                if violation.limit is not None:
                    return too_long(violation.field, violation.limit, status)
                return invalid(violation.field, status)
        return None

    def _record(self, request: RawRequest, template: str, response: RawResponse) -> RawResponse:
        self._record_call(Call(request.method, template, response.status))
        return response

    def _record_call(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _add_violations(self, violations: list[str]) -> None:
        if violations:
            with self._lock:
                self._violations.extend(violations)


def _failure(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "response": None}


def _json(reply: Reply) -> RawResponse:
    return RawResponse(reply.status, json.dumps(reply.body, ensure_ascii=False).encode("utf-8"))
