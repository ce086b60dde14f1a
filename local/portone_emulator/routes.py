"""The route table: which PortOne operations the emulator answers, and the thin handler of each.

To add an operation, write a handler that reads ``ApiRequest`` and calls one ``PortOneState`` method, then
add a ``Route`` to ``ROUTES``; its template must be the spec's path so the contract checker finds the
operation, or name that path as ``spec_template`` (a form the spec folds into another path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from local.portone_emulator.fields import PortOneError, missing
from local.portone_emulator.state import PortOneState


@dataclass(frozen=True)
class ApiRequest:
    path_params: Mapping[str, str]
    query: Mapping[str, Any]
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query_pairs: tuple[tuple[str, str], ...] = ()  # the query as sent, before bracket names nest


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


def envelope(response: Any, status: int = 200) -> Reply:
    return Reply(status, {"code": 0, "message": None, "response": response})  # README §1.2


def error_reply(error: PortOneError) -> Reply:
    return Reply(error.status, {"code": error.code, "message": error.message, "response": None})


Handler = Callable[[PortOneState, ApiRequest], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    needs_token: bool = True
    # The spec's path when ``template`` is not one: the bare /payments/find/{merchant_uid}, which the spec
    # writes as /payments/find/{merchant_uid}/{payment_status} with payment_status not required.
    spec_template: str | None = None

    @property
    def contract_template(self) -> str:
        return self.spec_template or self.template

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves the request; each segment is URL-decoded on its own."""
        if method != self.method:
            return None
        wanted, given = self.template.split("/"), path.split("/")
        if len(wanted) != len(given):
            return None
        params: dict[str, str] = {}
        for pattern, raw in zip(wanted, given, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not raw:
                    return None
                params[pattern[1:-1]] = unquote(raw)
            elif pattern != raw:
                return None
        return params


def get_token(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.issue_token(request.body.get("imp_key"), request.body.get("imp_secret")))


def issue_billing_key(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.issue_billing_key(request.path_params["customer_uid"], request.body))


def get_customer(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.get_customer(request.path_params["customer_uid"]))


def delete_customer(state: PortOneState, request: ApiRequest) -> Reply:
    # ``reason`` and ``extra[requester]`` are accepted and change nothing here (README §3.3).
    return envelope(state.delete_customer(request.path_params["customer_uid"]))


def get_customers(state: PortOneState, request: ApiRequest) -> Reply:
    # ``customer_uid[]=a&customer_uid[]=b`` (README §3.5), the schema's only form: ``customer_uid=a`` or
    # ``customer_uid[0]=a`` is another parameter, so this one is missing.
    uids = [value for name, value in request.query_pairs if name == "customer_uid[]" and value]
    if not uids:
        raise missing("customer_uid[]")
    status, found = state.get_customers(uids)
    return envelope(found, status)


def schedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.schedule(request.body))


def unschedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.unschedule(request.body))


def get_schedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.get_schedule(request.path_params["merchant_uid"]))


def update_schedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.update_schedule(request.path_params["merchant_uid"], request.body))


def list_schedules(state: PortOneState, request: ApiRequest) -> Reply:
    # The paged object, not the spec's array (README §4.4), unless switched; contract.py knows.
    return envelope(state.list_schedules(request.path_params["customer_uid"], request.query))


def list_all_schedules(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.list_all_schedules(request.query))


def retry_schedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.retry_schedule(request.path_params["merchant_uid"]))


def reschedule(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.reschedule(request.path_params["merchant_uid"], request.body))


def pay_again(state: PortOneState, request: ApiRequest) -> Reply:
    # The caller's User-Agent lands in the payment, as in the README §5.3 sample ("Go-http-client/1.1").
    return envelope(state.pay_again(request.body, request.headers.get("user-agent")))


def pay_onetime(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.pay_onetime(request.body, request.headers.get("user-agent")))


def customer_payments(state: PortOneState, request: ApiRequest) -> Reply:
    return envelope(state.customer_payments(request.path_params["customer_uid"], request.query))


def find_payment(state: PortOneState, request: ApiRequest) -> Reply:
    sorting = request.query.get("sorting")
    return envelope(
        state.find_payment(
            request.path_params["merchant_uid"],
            request.path_params.get("payment_status"),
            sorting if isinstance(sorting, str) else None,
        )
    )


def get_payment(state: PortOneState, request: ApiRequest) -> Reply:
    include_sandbox = request.query.get("include_sandbox") == "true"  # README §5.4
    return envelope(state.get_payment(request.path_params["imp_uid"], include_sandbox))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/users/getToken", get_token, needs_token=False),
    Route("POST", "/subscribe/customers/{customer_uid}", issue_billing_key),
    Route("GET", "/subscribe/customers/{customer_uid}", get_customer),
    Route("DELETE", "/subscribe/customers/{customer_uid}", delete_customer),
    Route("GET", "/subscribe/customers", get_customers),
    Route("POST", "/subscribe/payments/schedule", schedule),
    Route("POST", "/subscribe/payments/unschedule", unschedule),
    Route("GET", "/subscribe/payments/schedule/{merchant_uid}", get_schedule),
    Route("PUT", "/subscribe/payments/schedule/{merchant_uid}", update_schedule),
    Route("GET", "/subscribe/payments/schedule/customers/{customer_uid}", list_schedules),
    Route("GET", "/subscribe/customers/{customer_uid}/schedules", list_schedules),  # the alias (§4.4)
    Route("GET", "/subscribe/payments/schedule", list_all_schedules),
    Route("POST", "/subscribe/payments/schedule/{merchant_uid}/retry", retry_schedule),
    Route("POST", "/subscribe/payments/schedule/{merchant_uid}/reschedule", reschedule),
    Route("POST", "/subscribe/payments/again", pay_again),
    Route("POST", "/subscribe/payments/onetime", pay_onetime),
    Route("GET", "/subscribe/customers/{customer_uid}/payments", customer_payments),
    Route("GET", "/payments/{imp_uid}", get_payment),
    Route("GET", "/payments/find/{merchant_uid}/{payment_status}", find_payment),
    # What clients call (the official Python client's find_by_merchant_uid, README §7.1); the spec's
    # payment_status is "not required", "지정하지 않으면 모든 상태를 대상으로 조회" (docs §5.5).
    Route(
        "GET",
        "/payments/find/{merchant_uid}",
        find_payment,
        spec_template="/payments/find/{merchant_uid}/{payment_status}",
    ),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None
