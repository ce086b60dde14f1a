"""The public edge (issue 15): with it on, only requests CloudFront sent reach the API's routes, and the
client address the card-testing limits count is the viewer's, believed only with the origin secret.
PortOne's notices arrive either way. CloudFront's part (the secret header, the viewer-address header) is
played here by the test, as template.yaml's distribution and viewer function play it in AWS."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from copy import deepcopy as copy
from typing import Any

import pytest

from billing.edge import ORIGIN_SECRET_HEADER, VIEWER_ADDRESS_HEADER
from billing.errors import ConfigurationUnavailable, NotThroughTheEdge
from local.moto_recorder import MotoRecorder
from tests.integration.support import (
    CARD,
    http_event,
    ignored_notices,
    new_container,
    sample_body,
    schedule,
)

CLOUDFRONT = "130.176.1.10"  # the address API Gateway sees behind CloudFront (one of CloudFront's)
PORTONE = "52.78.100.19"  # one of PortOne's published notice addresses (docs/portone-v1.md §4.6)
CURRENT, PREVIOUS = secrets.token_urlsafe(32), secrets.token_urlsafe(32)


class OriginSecretAtAws:
    """The origin secret in Secrets Manager, of the test's making. Each change starts a new container, which
    reads it afresh (as a warm one does once its cached value is older than SECRET_MAX_AGE_SECONDS)."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self._client, self._monkeypatch = client, monkeypatch
        self.name: str | None = None

    def on(self, current: str = CURRENT, previous: str = "") -> None:
        """Turn the edge on with these values, or rotate them."""
        self.write(json.dumps({"current": current, "previous": previous}))

    def write(self, value: str) -> None:
        if self.name:
            self._client.put_secret_value(SecretId=self.name, SecretString=value)
        else:
            self.name = f"origin-secret-{secrets.token_hex(4)}"
            self._client.create_secret(Name=self.name, SecretString=value)
            self._monkeypatch.setenv("ORIGIN_SECRET_ID", self.name)
        new_container()

    def delete(self) -> None:
        if self.name:
            self._client.delete_secret(SecretId=self.name, ForceDeleteWithoutRecovery=True)
        new_container()


@pytest.fixture
def edge(stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[OriginSecretAtAws]:
    secret = OriginSecretAtAws(stack.client("secretsmanager"), monkeypatch)
    yield secret
    secret.delete()


def via_cloudfront(event: dict[str, Any], viewer: str, secret: str = CURRENT) -> dict[str, Any]:
    """The event as API Gateway passes on a request CloudFront forwarded from `viewer`."""
    event["headers"] |= {ORIGIN_SECRET_HEADER: secret, VIEWER_ADDRESS_HEADER: viewer}
    event["requestContext"]["http"]["sourceIp"] = CLOUDFRONT
    return event


def direct(event: dict[str, Any], address: str, **headers: str) -> dict[str, Any]:
    """The event of a request sent to the execute-api URL from `address`, with `headers` of its choosing."""
    event["headers"] |= headers
    event["requestContext"]["http"]["sourceIp"] = address
    return event


def terms_request() -> dict[str, Any]:
    event = http_event(None)
    event["requestContext"]["http"]["method"] = "GET"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/subscriptions/terms"
    return event


def card_request(n: int) -> dict[str, Any]:
    return http_event({**sample_body(), "customer_uid": f"edge_customer_{n}"})


def test_a_request_around_the_edge_is_refused_and_reaches_nothing(
    invoke, stack, edge: OriginSecretAtAws, aws_calls: MotoRecorder
) -> None:
    edge.on()
    calls = len(stack.emulator.calls)
    aws_calls.start()
    answers = [
        invoke(direct(card_request(1), "203.0.113.7")),
        # a header naming a viewer buys nothing without the secret
        invoke(direct(card_request(2), "203.0.113.7", **{VIEWER_ADDRESS_HEADER: "203.0.113.8"})),
        invoke(direct(terms_request(), "203.0.113.7")),
    ]
    aws_calls.pause()

    assert [(a.status, a.body["code"]) for a in answers] == [(403, "EDGE_REQUIRED")] * 3
    assert answers[0].body["message"] == "Use the site's own address for this request."
    assert len(stack.emulator.calls) == calls
    assert not aws_calls.calls()  # no secret read, no DynamoDB: a stranger's requests cost nothing


def test_a_wrong_secret_is_refused_after_one_secret_read(
    invoke, stack, edge: OriginSecretAtAws, aws_calls: MotoRecorder, logs
) -> None:
    edge.on()
    calls = len(stack.emulator.calls)
    aws_calls.start()
    wrong = [CURRENT[:-1], CURRENT + "x", "x" * len(CURRENT)]
    answers = [invoke(via_cloudfront(card_request(n), "203.0.113.7", secret=w)) for n, w in enumerate(wrong)]
    aws_calls.pause()

    assert [(a.status, a.body["code"]) for a in answers] == [(403, "EDGE_REQUIRED")] * 3
    assert len(stack.emulator.calls) == calls
    assert aws_calls.calls() == {"secretsmanager.GetSecretValue": 1}  # then cached for the container
    assert CURRENT not in logs.getvalue()


def test_through_the_edge_card_requests_are_counted_by_their_viewer(
    invoke, edge: OriginSecretAtAws, monkeypatch
) -> None:
    # Given the edge, and one attempt per caller (an anonymous caller is its address)
    edge.on()
    monkeypatch.setenv("LIMIT_ATTEMPTS_PER_CALLER", "1")

    # When two viewers send a card request each, both through CloudFront's one connection address,
    # and the first viewer sends another
    answers = [
        invoke(via_cloudfront(card_request(n), viewer))
        for n, viewer in enumerate(["203.0.113.1", "203.0.113.2", "203.0.113.1"])
    ]

    # Then each viewer had its own attempt, and the first one's second is over its limit
    assert [a.status for a in answers] == [200, 200, 429]


def test_without_the_secret_a_viewer_address_header_changes_nothing(invoke, monkeypatch) -> None:
    # Given a stack without the edge, where every request is direct and counted by its connection
    monkeypatch.setenv("LIMIT_ATTEMPTS_PER_CALLER", "1")

    # When one address sends two requests, each naming another viewer
    answers = [
        invoke(direct(card_request(n), "203.0.113.9", **{VIEWER_ADDRESS_HEADER: f"198.51.100.{n}"}))
        for n in (1, 2)
    ]

    # Then both are counted as that one address's
    assert [a.status for a in answers] == [200, 429]


def test_a_rotation_accepts_both_values_until_it_ends(invoke, edge: OriginSecretAtAws) -> None:
    new = secrets.token_urlsafe(32)
    edge.on(current=new, previous=CURRENT)
    during = [
        invoke(via_cloudfront(card_request(n), f"203.0.113.{n}", secret=v))
        for n, v in ((1, CURRENT), (2, new))
    ]
    edge.on(current=new)
    after = [
        invoke(via_cloudfront(card_request(n), f"203.0.113.{n}", secret=v))
        for n, v in ((3, CURRENT), (4, new))
    ]
    assert [a.status for a in during + after] == [200, 200, 403, 200]


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"current": "too short"}),
        json.dumps({"previous": CURRENT}),
        json.dumps({"current": CURRENT, "previous": "short"}),
    ],
    ids=["not JSON", "a short current", "no current", "a short previous"],  # the values are random
)
def test_an_unusable_origin_secret_is_the_service_unavailable_not_the_client(
    invoke, edge: OriginSecretAtAws, value: str
) -> None:
    edge.write(value)
    answer = invoke(via_cloudfront(card_request(1), "203.0.113.1"))
    assert (answer.status, answer.body["code"]) == (503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize("viewer", [None, "", "unknown", "203.0.113.1:4431"])
def test_the_secret_without_a_viewer_address_is_a_misconfigured_edge(
    invoke, edge: OriginSecretAtAws, viewer: str | None
) -> None:
    edge.on()
    event = via_cloudfront(card_request(1), "203.0.113.1")
    if viewer is None:
        del event["headers"][VIEWER_ADDRESS_HEADER]
    else:
        event["headers"][VIEWER_ADDRESS_HEADER] = viewer
    answer = invoke(event)
    assert (answer.status, answer.body["code"]) == (503, "SERVICE_UNAVAILABLE")


@pytest.mark.usefixtures("signed_in")
def test_notices_arrive_through_the_edge_and_around_it(
    invoke, stack, edge: OriginSecretAtAws, portone_clock, inbox, monkeypatch, logs
) -> None:
    # Given PortOne's addresses as the only notice sources, and two periods scheduled before the edge was
    # turned on (their notice_url is the API's own URL) that then ran at PortOne
    monkeypatch.setenv("NOTICE_SOURCE_IPS", PORTONE)
    schedule(invoke, uid="sub_alice", **CARD)
    schedule(invoke, uid="sub_bob", **CARD)
    portone_clock.advance(10 * 60)
    stack.emulator.run_due_schedules()
    alices, bobs = inbox.take()
    edge.on()

    # When a notice comes straight from PortOne, one through CloudFront from PortOne, and forgeries of them:
    # a direct one naming PortOne as its viewer, and one through CloudFront from elsewhere
    answers = [
        invoke(direct(copy(alices), "203.0.113.7", **{VIEWER_ADDRESS_HEADER: PORTONE})),
        invoke(via_cloudfront(copy(bobs), "203.0.113.7")),
        invoke(direct(copy(alices), PORTONE)),
        invoke(via_cloudfront(copy(bobs), PORTONE)),
    ]

    # Then PortOne's are processed, both ways, and the forgeries ignored before anything is looked up
    assert [a.body["status"] for a in answers] == ["ignored", "ignored", "processed", "processed"]
    assert ignored_notices(logs) == ["not from an allowed address"] * 2


def test_each_refusal_says_why_in_its_traceback(stack, edge: OriginSecretAtAws) -> None:
    from billing.edge import client_address, get_origin_secret

    edge.on()
    secret = get_origin_secret()
    direct = {"headers": {}, "requestContext": {"http": {"sourceIp": "203.0.113.7"}}}
    with pytest.raises(NotThroughTheEdge) as around:
        client_address(direct, secret, direct_allowed=False)
    assert str(around.value) == "no valid origin secret"
    with pytest.raises(ConfigurationUnavailable) as no_viewer:
        client_address({"headers": {ORIGIN_SECRET_HEADER: CURRENT}}, secret, direct_allowed=False)
    assert str(no_viewer.value) == "CloudFront sent no viewer address (the edge's viewer function)"
    edge.write("not json")
    with pytest.raises(ConfigurationUnavailable) as unusable:
        client_address(
            {"headers": {ORIGIN_SECRET_HEADER: CURRENT}}, get_origin_secret(), direct_allowed=False
        )
    assert str(unusable.value) == "the origin secret is not {current, previous} JSON"
    # An event without a source address (never API Gateway's) is one unknown client, not an error
    assert client_address({}, None, direct_allowed=True) == "unknown"
