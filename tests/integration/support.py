"""Helpers for the integration tier: sample events, the handler's answer, moto's request recorder."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from local.invoke import function_environment
from local.template import ROOT, function_definition

EVENTS = ROOT / "events"
FUNCTION = function_definition("BillingFunction")
ENVIRONMENT = function_environment(FUNCTION, EVENTS / "env.json")
RECORDS_TABLE = ENVIRONMENT["RECORDS_TABLE_NAME"]
TEST_ISSUER = "https://issuer.local.test/"  # the issuer of the sample events with claims
# Limits high enough that tests about other things never meet them; the limit tests set their own.
GENEROUS_LIMITS = {
    "LIMIT_ATTEMPTS_PER_CALLER": "1000",
    "LIMIT_FAILURES_PER_ADDRESS": "1000",
    "LIMIT_ATTEMPTS_PER_CARD": "1000",
    "LIMIT_FAILURES_PER_CALLER": "1000",
}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def http_event(
    body: Any, *, content_type: str = "application/json", key: str | None = None, **headers: str
) -> dict[str, Any]:
    """The sample API event with another body (a dict is sent as JSON) and a fresh Idempotency-Key."""
    event = load_event("issue_billing")
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["headers"] |= {
        "content-type": content_type,
        "idempotency-key": key or f"test-{uuid.uuid4()}",
        **headers,
    }
    return event


def sample_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event("issue_billing")["body"])
    return body


CARD = {k: v for k, v in sample_body().items() if k in ("card_number", "expiry", "birth", "pwd_2digit")}


def consents(*purposes: str) -> dict[str, Any]:
    """What the page sends with a card request for `purposes`: the terms' version and every required item."""
    from billing.terms import load_terms

    terms = load_terms()
    required = [i.id for i in terms.items if i.kind == "required" and set(purposes) & set(i.applies_to)]
    return {"version": terms.version, "items": required}


def _with_consents(method: str, path: str, body: Any) -> Any:
    """A card route's body with the consents the page would send, unless the test chose its own."""
    if not isinstance(body, dict) or "consents" in body:
        return body
    if (method, path) == ("POST", "/subscriptions/schedule"):
        return {**body, "consents": consents("plan", *(["card"] if "card_number" in body else []))}
    if (method, path) == ("POST", "/subscriptions/issue-billing") or (method, path[-5:]) == ("PUT", "/card"):
        return {**body, "consents": consents("card")}
    return body


def call(
    invoke: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    who: str = "alice",
    key: str | None = None,
    query: dict[str, str] | None = None,
) -> Invocation:
    """`method path?query` with a JSON body (or none), as the signed-in caller `who`. A card route's body
    carries the consents the page sends unless it has its own `consents`."""
    event = http_event(_with_consents(method, path, body), key=key)
    event["requestContext"]["http"]["method"] = method
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    if body is None:
        event.pop("body")
    result: Invocation = invoke(with_caller(event, who))
    return result


def schedule(invoke: Any, uid: str = "sub_alice", plan: str = "basic_monthly", **fields: Any) -> Invocation:
    """`POST /subscriptions/schedule` as alice, for `uid` on `plan`; `fields`: a card, start_at, ..."""
    return call(invoke, "POST", "/subscriptions/schedule", {"customer_uid": uid, "plan_id": plan, **fields})


def with_caller(
    event: dict[str, Any], subject: str, *, issuer: str = TEST_ISSUER, scope: str = "billing/write"
):
    """The event as API Gateway passes it on after its JWT authorizer verified a token for `subject`."""
    claims = {"sub": subject, "iss": issuer, "scope": scope, "aud": "billing-web"}
    event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": scope.split()}}
    return event


def emitted_metrics(text: str) -> dict[str, float]:
    """The metrics in Powertools' EMF lines (the function's stdout), each with its values added up."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if '"_aws"' in line:
            record = json.loads(line)
            for name in (m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]):
                values = record[name] if isinstance(record[name], list) else [record[name]]
                totals[name] = totals.get(name, 0) + sum(values)
    return totals


@dataclass
class Invocation:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def logged_with(logs: io.StringIO, message: str) -> dict[str, Any]:
    """The one line the function logged with `message` (the `logs` fixture's buffer)."""
    [line] = [entry for entry in map(json.loads, logs.getvalue().splitlines()) if entry["message"] == message]
    return line


def ignored_notices(logs: io.StringIO) -> list[str]:
    """Why the function ignored each notice, in order: the reason its warning names for the operator."""
    lines = map(json.loads, logs.getvalue().splitlines())
    return [
        reason
        for line in lines
        if line["message"] == "notice not verified"
        for reason in line["error_fields"]
    ]


def new_container() -> None:
    """Forget what a warm container keeps (settings, clients, cached secrets), as a cold start would."""
    from billing.aws import aws_clients
    from billing.edge import get_origin_secret
    from billing.service import get_service
    from billing.settings import get_settings
    from billing.subscriptions import get_subscription_service

    aws_clients.cache_clear()
    get_origin_secret.cache_clear()
    get_settings.cache_clear()
    get_service.cache_clear()
    get_subscription_service.cache_clear()


def empty_tables(stack: Any) -> None:
    """Delete every item of the function's tables: each test starts with no records and no counters."""
    client = stack.client("dynamodb")
    for table, key in [(ENVIRONMENT["TABLE_NAME"], ["pk"]), (RECORDS_TABLE, ["customer_uid", "record_id"])]:
        projection = ", ".join(key)
        for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression=projection):
            for start in range(0, len(page["Items"]), 25):  # BatchWriteItem's most
                deletes = [{"DeleteRequest": {"Key": item}} for item in page["Items"][start : start + 25]]
                assert not client.batch_write_item(RequestItems={table: deletes})["UnprocessedItems"]


def law_records(stack: Any, customer_uid: str) -> list[dict[str, Any]]:
    """The records the law requires (records.py) of one customer, oldest first, as the table holds them."""
    return list(
        stack.client("dynamodb").query(
            TableName=RECORDS_TABLE,
            KeyConditionExpression="customer_uid = :uid",
            ExpressionAttributeValues={":uid": {"S": customer_uid}},
        )["Items"]
    )


def table_item(stack: Any, pk: str) -> dict[str, str] | None:
    """One item of the function's table, each attribute's value as a string (a set's, sorted and joined)."""
    item = (
        stack.client("dynamodb")
        .get_item(TableName=ENVIRONMENT["TABLE_NAME"], Key={"pk": {"S": pk}})
        .get("Item")
    )
    return flat(item) if item else None


def flat(item: dict[str, Any]) -> dict[str, str]:
    """A table item, each attribute's value as a string (a set's, sorted and joined)."""
    values = {name: next(iter(value.values())) for name, value in item.items()}
    return {name: ",".join(sorted(v)) if isinstance(v, list) else str(v) for name, v in values.items()}


def subscription_item(stack: Any, customer_uid: str) -> dict[str, str] | None:
    """The subscription record of the billing key `customer_uid`, as the table holds it."""
    pointer = table_item(stack, f"customer#{customer_uid}")
    return table_item(stack, f"subscription#{pointer['subscription'] if pointer else customer_uid}")


def runs(
    invoke: Any, stack: Any, clock: ShiftedClock, inbox: NoticeInbox, seconds: float
) -> list[Invocation]:
    """PortOne's clock moves on, due payments run, and their notices reach the webhook: its answers."""
    clock.advance(seconds)
    stack.emulator.run_due_schedules()
    return [invoke(event) for event in inbox.take()]


def retry_of(merchant_uid: str, attempt: int) -> str:
    """The merchant_uid of retry `attempt` of the period whose first merchant_uid is `merchant_uid`."""
    return re.sub(r"A[0-9]+C", f"A{attempt}C", merchant_uid)


def subscription_status(stack: Any, customer_uid: str) -> str | None:
    """The status the table records for the customer's subscription (None: there is none)."""
    item = subscription_item(stack, customer_uid)
    return item["status"] if item else None


def reconcile(timeout_seconds: float = 25.0) -> dict[str, Any]:
    """One scheduled reconciler run, as EventBridge Scheduler invokes the function."""
    from billing.app import lambda_handler
    from local.lambda_context import LocalLambdaContext

    context = LocalLambdaContext(timeout_seconds=timeout_seconds)
    result: dict[str, Any] = lambda_handler(load_event("reconcile"), context)
    return result


def pending_schedules(stack: Any, customer_uid: str = "sub_alice") -> list[str]:
    """The merchant_uids PortOne holds as pending (not yet run, not revoked) for the customer."""
    return sorted(
        uid
        for uid, s in stack.emulator.schedules.items()
        if s["customer_uid"] == customer_uid and s["schedule_status"] == "scheduled"
    )


def portone_token(stack: Any) -> str:
    """An access token straight from the emulator, for calls made at PortOne outside this service."""
    from local.stack import LOCAL_IMP_KEY, LOCAL_IMP_SECRET

    response = requests.post(
        f"{stack.emulator.url}/users/getToken",
        json={"imp_key": LOCAL_IMP_KEY, "imp_secret": LOCAL_IMP_SECRET},
        timeout=5,
    )
    token: str = response.json()["response"]["access_token"]
    return token


class Containers:
    """Lambda containers for concurrent invocations: processes of their own, as in AWS, started once.

    Each invocation starts as a cold container would (`new_container`) with the test's environment, then
    warms up (clients built, keys read, a PortOne token held: on two busy cores, cold starts after the
    barrier would spread the arrivals over seconds) and waits at a barrier, so all requests really arrive
    together.
    """

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.size = size
        self._manager = context.Manager()
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=context)

    def at_once(
        self, events: list[dict[str, Any]], timeout_seconds: float = FUNCTION.timeout
    ) -> list[tuple[int, dict[str, str], float]]:
        """Each event in a container of its own: its status, headers and the seconds it took."""
        assert len(events) <= self.size, "one container per event: a busy one would block the barrier"
        start = self._manager.Barrier(len(events))
        environment = dict(os.environ)
        calls = [
            self._pool.submit(_invoke_in_container, e, environment, start, timeout_seconds) for e in events
        ]
        return [call.result() for call in calls]

    def close(self) -> None:
        self._pool.shutdown()
        self._manager.shutdown()


def _invoke_in_container(
    event: dict[str, Any], environment: dict[str, str], start: Any, timeout_seconds: float
) -> tuple[int, dict[str, str], float]:
    from billing.app import lambda_handler
    from billing.deadline import Deadline
    from billing.service import get_service
    from local.lambda_context import LocalLambdaContext

    os.environ.clear()
    os.environ.update(environment)
    new_container()
    service = get_service()
    service.fingerprints.body({})
    service.portone.refresh_clock(deadline=Deadline.after(10))  # holds a token, as a warm container does
    start.wait()
    began = time.monotonic()
    result = lambda_handler(event, LocalLambdaContext(timeout_seconds=timeout_seconds))
    return result["statusCode"], result.get("headers", {}), time.monotonic() - began


class ShiftedClock:
    """Real time plus an offset: PortOne's clock, which a test can move forward to make payments due."""

    def __init__(self) -> None:
        self.offset = 0.0

    def reset(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class NoticeInbox:
    """Where the emulator POSTs PortOne's notices: keeps each body, as the webhook route would receive it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (content type, body)
        inbox = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                inbox.received.append(
                    (self.headers.get("content-type", ""), self.rfile.read(length).decode())
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/portone"
        # Polled often: closing waits for the next poll, and every test that receives notices closes one.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def take(self) -> list[dict[str, Any]]:
        """The webhook events for the notices received so far (and forget them)."""
        events = []
        for content_type, body in self.received:
            event = load_event("portone_notice")
            event["headers"]["content-type"] = content_type
            event["body"] = body
            events.append(event)
        self.received.clear()
        return events

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def legacy_subscription(invoke: Any, stack: Any, clock: ShiftedClock, *, recorded: bool) -> str:
    """A subscription as the versions before subscription ids left it: keyed by its customer_uid, its first
    period at PortOne as `sub_<digest>_<YYYYMMDD>`, no place in the work index, and (`recorded`) its price,
    its outcomes and that period's record without an id."""
    from billing.plans import load_catalog

    call(invoke, "POST", "/subscriptions/issue-billing", {"customer_uid": "sub_alice", **CARD})
    plan = load_catalog().find("basic_monthly")
    anchor = datetime.fromtimestamp(int(time.time() + clock.offset) + 5 * 60, UTC)
    merchant_uid = plan.merchant_uid("sub_alice", anchor)
    entry = {"merchant_uid": merchant_uid, "schedule_at": int(anchor.timestamp()), "amount": 9900}
    requests.post(
        f"{stack.emulator.url}/subscribe/payments/schedule",
        json={
            "customer_uid": "sub_alice",
            "schedules": [{**entry, "name": plan.name, "notice_url": os.environ["NOTICE_URL"]}],
        },
        headers={"Authorization": f"Bearer {portone_token(stack)}"},
        timeout=5,
    ).raise_for_status()
    dynamodb, table = stack.client("dynamodb"), ENVIRONMENT["TABLE_NAME"]
    item = {
        "plan_id": {"S": plan.id},
        "anchor": {"N": str(int(anchor.timestamp()))},
        "status": {"S": "active"},
    }
    item |= {"scheduled_through": {"N": "0"}, "currency": {"S": "KRW"}}
    if recorded:
        item |= {"settled_through": {"N": "-1"}, "amount": {"N": "9900"}}
        period = {"customer_uid": {"S": "sub_alice"}, "period": {"N": "0"}, "amount": {"N": "9900"}}
        period |= {"currency": {"S": "KRW"}, "schedule_at": {"N": str(entry["schedule_at"])}}
        period |= {"status": {"S": "scheduled"}, "attempt": {"N": "0"}}
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"period#{merchant_uid}"}, **period})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "subscription#sub_alice"}, **item})
    return merchant_uid


@contextmanager
def table_of_its_own(stack: Any, name: str, *keys: str) -> Iterator[Any]:
    """A DynamoDB table for one test in the stack's moto, keyed by `keys` (the hash key, then any range
    key), deleted after it unless the test did; the client that reaches it."""
    client = stack.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": key, "KeyType": kind}
            for key, kind in zip(keys, ("HASH", "RANGE")[: len(keys)], strict=True)
        ],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield client
    finally:  # a failed test's table too: the next one creates it afresh
        with suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=name)
