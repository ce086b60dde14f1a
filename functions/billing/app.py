"""Lambda entry point: routes HTTP API requests and the scheduled smoke check. Wiring only.

Each route parses its body into a model, calls one service method and returns the model as JSON. Errors are
mapped to the one error shape (design.md D12) in one place, `_api_error`; routes hold no try/except.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from billing.aws import aws_clients
from billing.deadline import invocation, invocation_deadline
from billing.edge import client_address, get_origin_secret
from billing.errors import (
    ApiError,
    ConfigurationUnavailable,
    FieldError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from billing.events import publish as publish_events
from billing.idempotency import REPLAYED_HEADER, IdempotentRequest, StoredResponse
from billing.identity import Caller, caller_from_event
from billing.models import (
    CUSTOMER_UID_PATTERN,
    CardChangeRequest,
    Consents,
    IssueBillingKeyRequest,
    Notice,
    PriceChangeOrder,
    PriceConsent,
    parse_model,
    parse_schedule_request,
)
from billing.observability import logger, metrics
from billing.page_check import PAGE_CHANGED_METRIC, check_page, fetch_file, read_inventory
from billing.service import get_service
from billing.settings import get_settings
from billing.subscriptions import get_subscription_service
from billing.terms import Consent, Purpose, load_terms

ISSUE_BILLING_PATH = "/subscriptions/issue-billing"
# What the template's ScheduleV2 events send (template.yaml, SmokeCheck and Reconcile); no route runs them.
SMOKE_CHECK_EVENT = {"action": "smoke-check"}
RECONCILE_EVENT = {"action": "reconcile"}
PAGE_CHECK_EVENT = {"action": "page-check"}
# What an operator sends to move a plan's subscribers to its catalog price (README, "Price changes").
PRICE_CHANGE_ACTION = "change-price"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")  # a UUID or any other opaque token
MAX_BODY_BYTES = 4096  # a card request is about 300 bytes; anything far larger is not one
WEBHOOK_PATH = "/webhooks/portone"
_MERCHANT_UID = re.compile(r"[A-Za-z0-9_]{1,40}")
# One metric per successful outcome of a state-changing route.
_OUTCOME_METRICS = {
    "IssueBillingKeyResponse": "BillingKeyIssued",
    "IssueBillingKeyPending": "BillingKeyPending",
    "ScheduleResponse": "PlanScheduled",
    "SchedulePending": "SchedulePending",
    "RevokeResponse": "PaymentRevoked",
    "CancelResponse": "SubscriptionCancelled",
    "ErasureResponse": "CustomerErased",
    "CardChangeResponse": "CardChanged",
    "CardChangePending": "CardChangePending",
    "PriceConsentResponse": "PriceConsented",
}
_NOTICE_METRICS = {"processed": "NoticeProcessed", "ignored": "NoticeIgnored", "deferred": "NoticeDeferred"}
# Every response: no caching of card results anywhere, no content sniffing.
_SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

app = APIGatewayHttpResolver()


def _through_the_edge(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[str]:
    """Before any route: with the edge on, refuse a request that went around it (only PortOne's notices may,
    edge.py), and keep the client's address for the route."""
    event = resolver.current_event
    direct_allowed = event.path == WEBHOOK_PATH
    address = client_address(event.raw_event, get_origin_secret(), direct_allowed=direct_allowed)
    resolver.context["client_ip"] = address  # cleared by the resolver after each request
    return next_middleware(resolver)


app.use(middlewares=[_through_the_edge])


@app.post(ISSUE_BILLING_PATH)
def issue_billing_key() -> Response[str]:
    caller, key, payload = _caller(), _idempotency_key(), _json_body()
    request = parse_model(IssueBillingKeyRequest, payload)
    attempt, service, deadline = _request(caller, key, payload), get_service(), invocation_deadline()
    return _idempotent(
        attempt,
        lambda: service.issue_billing_key(
            request, _consent(request.consents, "card"), caller, attempt.identity, deadline
        ),
        confirm=lambda pending: service.confirm_pending(pending["customer_uid"], request, deadline),
    )


@app.get("/subscriptions/terms")
def show_terms() -> Response[str]:
    return _ok(load_terms(), "TermsShown")


@app.get("/subscriptions/plans")
def list_plans() -> Response[str]:
    return _ok(get_subscription_service().plans(_caller()), "PlansListed")


@app.post("/subscriptions/schedule")
def schedule_plan() -> Response[str]:
    caller, key, payload = _caller(), _idempotency_key(), _json_body()
    order = parse_schedule_request(payload)
    purposes = ("plan", "card") if order.card else ("plan",)
    attempt, service, deadline = (
        _request(caller, key, payload),
        get_subscription_service(),
        invocation_deadline(),
    )
    return _idempotent(
        attempt,
        lambda: service.schedule(
            order, _consent(order.request.consents, *purposes), caller, attempt.identity, deadline
        ),
        confirm=lambda pending: service.confirm_schedule(pending["customer_uid"], order, deadline),
    )


@app.get("/subscriptions")
def list_keys() -> Response[str]:
    return _ok(get_subscription_service().list_keys(_caller()), "KeysListed")


@app.get("/subscriptions/<customer_uid>")
def view_subscription(customer_uid: str) -> Response[str]:
    caller = _caller()
    return _ok(
        get_subscription_service().view(_path_uid(customer_uid), caller, invocation_deadline()),
        "SubscriptionViewed",
    )


@app.put("/subscriptions/<customer_uid>/card")
def change_card(customer_uid: str) -> Response[str]:
    caller, key, payload = _caller(), _idempotency_key(), _json_body()
    card = parse_model(CardChangeRequest, payload)
    uid, service, deadline = _path_uid(customer_uid), get_subscription_service(), invocation_deadline()
    request = _request(caller, key, payload)
    return _idempotent(
        request,
        lambda: service.change_card(
            uid, card, _consent(card.consents, "card"), caller, request.identity, deadline
        ),
    )


@app.post("/subscriptions/<customer_uid>/price-consent")
def consent_to_price(customer_uid: str) -> Response[str]:
    caller, key, payload = _caller(), _idempotency_key(), _json_body()
    consent = parse_model(PriceConsent, payload)
    uid, service, deadline = _path_uid(customer_uid), get_subscription_service(), invocation_deadline()
    request = _request(caller, key, payload)
    return _idempotent(request, lambda: service.consent_to_price(uid, consent, caller, deadline))


@app.delete("/subscriptions/<customer_uid>/schedules/<merchant_uid>")
def revoke_payment(customer_uid: str, merchant_uid: str) -> Response[str]:
    caller, key = _caller(), _idempotency_key()
    uid, merchant = _path_uid(customer_uid), _path_merchant_uid(merchant_uid)
    service, deadline = get_subscription_service(), invocation_deadline()
    return _idempotent(_request(caller, key, {}), lambda: service.revoke(uid, merchant, caller, deadline))


@app.delete("/subscriptions/<customer_uid>")
def cancel_subscription(customer_uid: str) -> Response[str]:
    caller, key = _caller(), _idempotency_key()
    uid, immediately = _path_uid(customer_uid), _query_flag("immediately")
    service, deadline = get_subscription_service(), invocation_deadline()
    # The query is part of the request: the same key with another `immediately` is another request.
    request = _request(caller, key, {"immediately": immediately})
    return _idempotent(request, lambda: service.cancel(uid, caller, deadline, immediately=immediately))


@app.post("/subscriptions/<customer_uid>/erasure")
def erase_customer(customer_uid: str) -> Response[str]:
    caller, key = _caller(), _idempotency_key()
    uid, service, deadline = _path_uid(customer_uid), get_subscription_service(), invocation_deadline()
    request = _request(caller, key, {"erase": uid})
    return _idempotent(request, lambda: service.erase(uid, caller, deadline))


@app.post(WEBHOOK_PATH)
def portone_notice() -> Response[str]:
    # PortOne cannot send a token or an Idempotency-Key: the notice is verified by looking the payment up.
    notice = parse_model(Notice, _json_or_form_body())
    result = get_subscription_service().handle_notice(notice, _client_ip(), invocation_deadline())
    return _ok(result, _NOTICE_METRICS[result.status])


def _request(caller: Caller, key: str, payload: Any) -> IdempotentRequest:
    """This state-changing request as the idempotency store and the ownership rules know it."""
    event = app.current_event
    return IdempotentRequest(
        scope=f"{caller.subject or 'anonymous'}|{event.request_context.http.method} {event.path}",
        key=key,
        body_hmac=get_service().fingerprints.body(payload),
        anonymous=caller.anonymous,
    )


def _idempotent(
    request: IdempotentRequest,
    operation: Callable[[], BaseModel],
    confirm: Callable[[dict[str, Any]], BaseModel | None] | None = None,
) -> Response[str]:
    """Run a state-changing use case once per caller, route, path and Idempotency-Key (design.md D7). A
    replay of a 202 pending answer asks `confirm` first: the outcome PortOne did not confirm then may be
    known now (the lookup is made again on every such replay; the card is never sent again)."""
    stored = get_service().idempotency.run(
        request, context=app.lambda_context, operation=lambda: _answer(operation)
    )
    if REPLAYED_HEADER not in stored["headers"]:
        return _json_response(stored["status"], stored["body"], stored["headers"])
    metrics.add_metric(name="IdempotentReplay", unit=MetricUnit.Count, value=1)
    confirmed = confirm(stored["body"]) if confirm and stored["status"] == 202 else None
    if confirmed is not None:
        return _json_response(200, confirmed.model_dump(mode="json"), stored["headers"])
    return _json_response(stored["status"], stored["body"], stored["headers"])


def _ok(result: BaseModel, metric: str) -> Response[str]:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return _json_response(200, result.model_dump(mode="json"))


def _answer(operation: Callable[[], BaseModel]) -> StoredResponse:
    """Run a use case and turn its definitive outcome into the response to store and send.

    A success, a pending outcome and a replayable error (the card was rejected) are answers about this
    request; any other error propagates, so the idempotency record is dropped and a retry runs again.
    """
    try:
        result = operation()
    except ApiError as error:
        if not error.replayable:
            raise
        _record_failure(error)
        return _error_payload(error)
    pending = getattr(result, "status", None) == "pending"
    metrics.add_metric(name=_OUTCOME_METRICS[(type(result).__name__)], unit=MetricUnit.Count, value=1)
    return {"status": 202 if pending else 200, "body": result.model_dump(mode="json"), "headers": {}}


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response[str]:
    _record_failure(error)
    payload = _error_payload(error)
    return _json_response(payload["status"], payload["body"], payload["headers"])


def _record_failure(error: ApiError) -> None:
    metrics.add_metric(name=_metric_name(error.code), unit=MetricUnit.Count, value=1)
    log = logger.error if error.status >= 500 else logger.info
    log(
        "request failed",
        extra={
            "route": _route(),
            "outcome": error.code,
            "http_status": error.status,
            "error_fields": [f"{e.field}:{e.reason}" for e in error.field_errors] or None,
        },
    )


def _error_payload(error: ApiError) -> StoredResponse:
    body: dict[str, Any] = {
        "status": "failed",
        "code": error.code,
        "message": error.message,
        "request_id": _request_id(),
    }
    if error.field_errors:
        body["errors"] = [{"field": e.field, "reason": e.reason} for e in error.field_errors]
    body |= error.details
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    return {"status": error.status, "body": body, "headers": headers}


@app.exception_handler(Exception)
def _unexpected_error(error: Exception) -> Response[str]:
    # The traceback goes to the log (our exceptions never carry card data; the PAN filter is the backstop);
    # the client gets the generic 500 shape and a request id to quote.
    logger.exception("unexpected error", extra={"route": _route(), "outcome": "INTERNAL_ERROR"})
    response: Response[str] = _api_error(ApiError(type(error).__name__))
    return response


@app.not_found
def _not_found(_: Exception) -> Response[str]:
    metrics.add_metric(name="NotFound", unit=MetricUnit.Count, value=1)
    body = {"status": "failed", "code": "NOT_FOUND", "message": "No such route.", "request_id": _request_id()}
    return _json_response(404, body)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with invocation(context):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event == SMOKE_CHECK_EVENT:
        return _smoke_check(context)
    if event == RECONCILE_EVENT:
        return _reconcile(context)
    if event == PAGE_CHECK_EVENT:
        return _page_check()
    if event.get("action") == PRICE_CHANGE_ACTION:
        return _change_price(event, context)
    if _from_the_table_stream(event):
        return _publish_events(event)
    try:
        return app.resolve(event, context)
    finally:
        # The resolver keeps the last event (card data in its body) on a class attribute until the next
        # invocation; drop it so nothing of the request outlives the request.
        BaseRouter.current_event = None  # type: ignore[assignment]


def _smoke_check(context: LambdaContext) -> dict[str, Any]:
    try:
        get_service().smoke_check(invocation_deadline())
    except Exception as exc:
        code = exc.code if isinstance(exc, ApiError) else "INTERNAL_ERROR"
        metrics.add_metric(name="SmokeCheckFailed", unit=MetricUnit.Count, value=1)
        logger.error("smoke check failed", extra={"outcome": code})
        raise  # fail the invocation so the Errors metric and its alarm see it
    metrics.add_metric(name="SmokeCheckPassed", unit=MetricUnit.Count, value=1)
    return {"status": "success"}


def _from_the_table_stream(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and all(r.get("eventSource") == "aws:dynamodb" for r in records)


def _publish_events(event: dict[str, Any]) -> dict[str, Any]:
    """The table's stream (filtered to new `event#` items, template.yaml): publish them to EventBridge."""
    settings = get_settings()
    failed = publish_events(
        event["Records"],
        client=aws_clients().events,
        bus=settings.event_bus_name,
        source=settings.event_source,
    )
    published = len(event["Records"]) - len(failed)
    metrics.add_metric(name="SubscriptionEventsPublished", unit=MetricUnit.Count, value=published)
    if failed:
        metrics.add_metric(name="SubscriptionEventsFailed", unit=MetricUnit.Count, value=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


def _reconcile(context: LambdaContext) -> dict[str, Any]:
    """The scheduled reconciler (design.md D19). Fails the invocation only when it could not start (PortOne
    or DynamoDB unreachable); one subscription's failure is logged and left for the next run."""
    try:
        report = get_subscription_service().reconcile(invocation_deadline())
    except ApiError as error:
        logger.error("reconciler failed", extra={"outcome": error.code})
        raise  # fail the invocation so the Errors metric and its alarm see it
    metrics.add_metric(name="SubscriptionsReconciled", unit=MetricUnit.Count, value=report.processed)
    if not report.complete:
        metrics.add_metric(name="ReconcilerIncomplete", unit=MetricUnit.Count, value=1)
    return {"status": "success", "processed": report.processed, "complete": report.complete}


def _page_check() -> dict[str, Any]:
    """The scheduled page check (PCI DSS 11.6.1, page_check.py). A change it finds is the metric PageChanged,
    sent on every run (0 when nothing changed) so that its alarm also sees a check that stopped running; a
    check that could not run fails the invocation."""
    settings = get_settings()
    try:
        if not (settings.page_url and settings.page_bucket):
            raise ConfigurationUnavailable("the stack has no edge: no page to check")
        if not settings.page_manifest_digest:
            raise ConfigurationUnavailable("no page deployed: make deploy EDGE=1 sets PageManifestDigest")
        inventory = read_inventory(aws_clients().s3, settings.page_bucket)
        digest, deadline = settings.page_manifest_digest, invocation_deadline()
        report = check_page(settings.page_url, inventory, digest, deadline, fetch_file)
    except ApiError as error:
        logger.error("page check failed", extra={"outcome": error.code})
        raise  # fail the invocation so the failed-invocations alarm sees it
    metrics.add_metric(name=PAGE_CHANGED_METRIC, unit=MetricUnit.Count, value=len(report.changed))
    return {"status": "success", **report.model_dump()}


def _change_price(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An operator's price change (`aws lambda invoke`): the report, or the error, as the answer."""
    try:
        order = parse_model(PriceChangeOrder, event)
        report = get_subscription_service().change_price(order, invocation_deadline())
    except ApiError as error:
        logger.error("price change failed", extra={"outcome": error.code})
        errors = [{"field": e.field, "reason": e.reason} for e in error.field_errors]
        metrics.add_metric(name="PriceChangeFailed", unit=MetricUnit.Count, value=1)
        return {"status": "failed", "code": error.code, "message": error.message, "errors": errors}
    metrics.add_metric(name="SubscriptionsRepriced", unit=MetricUnit.Count, value=report.moved)
    return report.model_dump(mode="json")


def _caller() -> Caller:
    settings = get_settings()
    return caller_from_event(
        app.current_event.raw_event,
        issuer=settings.jwt_issuer,
        scope=settings.jwt_scope,
        client_ip=_client_ip(),
    )


def _client_ip() -> str:
    """The client's address, as `_through_the_edge` found it for this request."""
    return str(app.context["client_ip"])


def _consent(consents: Consents, *purposes: Purpose) -> Consent:
    """The request's consents checked against the terms, before anything is sent (D16). Checked inside the
    idempotent run: a retry of a request answered already replays its answer, even after new terms."""
    return load_terms().accept(consents.version, consents.items, frozenset(purposes))


def _path_uid(value: str) -> str:
    if not re.fullmatch(CUSTOMER_UID_PATTERN, value):
        raise InvalidRequest([FieldError("customer_uid", "invalid_characters")])
    return value


def _path_merchant_uid(value: str) -> str:
    if not _MERCHANT_UID.fullmatch(value):
        raise InvalidRequest([FieldError("merchant_uid", "invalid_characters")])
    return value


def _query_flag(name: str) -> bool:
    value = (app.current_event.query_string_parameters or {}).get(name, "false")
    if value not in ("true", "false"):
        raise InvalidRequest([FieldError(name, "true_or_false")])
    return value == "true"


def _idempotency_key() -> str:
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        raise InvalidRequest([FieldError(IDEMPOTENCY_HEADER, "required")])
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest([FieldError(IDEMPOTENCY_HEADER, "format_8_to_128_url_safe")])
    return key


def _json_body() -> Any:
    """The request's JSON body, or a 4xx that says what is wrong with it (never what it contained)."""
    if _media_type() != "application/json":
        raise UnsupportedMediaType(f"content type {_media_type() or 'missing'}")
    return _parse_json(_body_text())


def _json_or_form_body() -> Any:
    """PortOne sends notices as JSON or as a form, as set in its console (§4.6)."""
    if _media_type() == "application/x-www-form-urlencoded":
        return dict(parse_qsl(_body_text() or "", keep_blank_values=True))
    return _json_body()


def _media_type() -> str:
    return (app.current_event.headers.get("content-type") or "").split(";")[0].strip().lower()


def _body_text() -> str | None:
    """The body as text, refused before decoding when it is too large (base64 grows a body by a third)."""
    event = app.current_event
    raw = event.body or ""
    # Checked before decoding or parsing anything: base64 grows a body by a third, and its padding is none.
    size = len(raw.rstrip("=")) * 3 // 4 if event.is_base64_encoded else len(raw.encode())
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"{size} bytes")
    try:
        return event.decoded_body
    except ValueError:  # bad base64 or bad UTF-8
        raise InvalidRequest([FieldError("body", "malformed_json")]) from None


def _parse_json(text: str | None) -> Any:
    if not text:
        raise InvalidRequest([FieldError("body", "required")])
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and integers too long to parse.
        raise InvalidRequest([FieldError("body", "malformed_json")]) from None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise InvalidRequest([FieldError("body", "duplicate_key")])
    return dict(pairs)


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers={**_SECURITY_HEADERS, **(headers or {})},
    )


def _request_id() -> str:
    event = app.current_event
    return event.request_context.request_id if event else app.lambda_context.aws_request_id


def _route() -> str:
    """The matched route template (e.g. "POST /subscriptions/issue-billing"), never the raw path."""
    return str(app.current_event.raw_event.get("routeKey", ""))


def _metric_name(code: str) -> str:
    """INVALID_REQUEST -> InvalidRequest: one CloudWatch metric per outcome."""
    return "".join(part.capitalize() for part in code.split("_"))
