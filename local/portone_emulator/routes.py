"""The route table: which PortOne operations the emulator answers, and the thin handler of each.

To add an operation (schedules, payments), write a handler that reads ``ApiRequest`` and calls one
``PortOneState`` method, then add a ``Route`` to ``ROUTES``; its template must be the spec's path so the
contract checker finds the operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from local.portone_emulator.state import PortOneError, PortOneState


@dataclass(frozen=True)
class ApiRequest:
    path_params: Mapping[str, str]
    query: Mapping[str, Any]
    body: Mapping[str, Any]


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
    # ``customer_uid[]=a&customer_uid[]=b`` parses to a list (README §3.5); ``customer_uid=a`` counts too.
    uids = request.query.get("customer_uid", [])
    uids = [uids] if isinstance(uids, str) else uids
    status, found = state.get_customers([u for u in uids if isinstance(u, str)])
    return envelope(found, status)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/users/getToken", get_token, needs_token=False),
    Route("POST", "/subscribe/customers/{customer_uid}", issue_billing_key),
    Route("GET", "/subscribe/customers/{customer_uid}", get_customer),
    Route("DELETE", "/subscribe/customers/{customer_uid}", delete_customer),
    Route("GET", "/subscribe/customers", get_customers),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None
