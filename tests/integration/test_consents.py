"""Consents (design.md D16): card routes require them, and each is on record before PortOne sees the card."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest

from local.portone_emulator import cards as magic
from local.stack import EmbeddedStack
from tests.integration.support import (
    CARD,
    call,
    consents,
    http_event,
    law_records,
    sample_body,
    schedule,
    with_caller,
)

ISSUE = ("POST", "/subscribe/customers/{customer_uid}")
DAY = 86_400
# What a card leaves in a request: none of it may reach a record.
CARD_VALUES = ["9540490000000001", "9540-4900-0000-0001", "2030-12", "880101", '"12"']


def without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def test_the_terms_are_served_to_anyone(invoke) -> None:
    # An anonymous GET, as the page makes before anyone signs in
    event = http_event(None)
    event["requestContext"]["http"]["method"] = "GET"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/subscriptions/terms"
    response = invoke(event)

    assert response.status == 200
    assert response.body["version"] == consents("card")["version"]
    assert response.body["merchant"]["business_info_url"].startswith("https://www.ftc.go.kr/bizCommPop.do?")
    assert {item["kind"] for item in response.body["items"]} == {"required", "optional", "notice"}


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            lambda body: without(body, "consents"),
            [{"field": "consents", "reason": "required"}],
        ),
        (
            lambda body: {**body, "consents": {**body["consents"], "version": "2020-01-01"}},
            [{"field": "consents.version", "reason": "outdated_terms"}],
        ),
        (
            lambda body: {**body, "consents": {**body["consents"], "items": ["third_party_provision"]}},
            [{"field": "consents.items.electronic_finance_terms", "reason": "required"}],
        ),
        (
            lambda body: {**body, "consents": {"items": []}},
            [{"field": "consents.version", "reason": "required"}],
        ),
    ],
    ids=["none", "other-terms", "a-required-one-missing", "no-version"],
)
def test_a_card_without_its_consents_is_a_400_naming_them_and_never_reaches_portone(
    invoke, stack: EmbeddedStack, change, errors
) -> None:
    response = invoke(http_event(change(sample_body())))

    assert (response.status, response.body["code"]) == (400, "INVALID_REQUEST")
    assert response.body["errors"] == errors
    assert not stack.emulator.calls
    assert law_records(stack, sample_body()["customer_uid"]) == []


def test_a_plan_needs_its_recurring_payment_consent(invoke, stack: EmbeddedStack) -> None:
    response = schedule(invoke, **CARD, consents=consents("card"))

    assert response.status == 400
    assert response.body["errors"] == [{"field": "consents.items.recurring_payment", "reason": "required"}]
    assert not stack.emulator.calls


def test_a_card_change_needs_the_card_consents(invoke, stack: EmbeddedStack) -> None:
    response = call(invoke, "PUT", "/subscriptions/sub_alice/card", {**CARD, "consents": consents("plan")})

    assert response.status == 400
    assert response.body["errors"] == [
        {"field": "consents.items.third_party_provision", "reason": "required"},
        {"field": "consents.items.electronic_finance_terms", "reason": "required"},
    ]
    assert not stack.emulator.calls


@pytest.mark.usefixtures("signed_in")
def test_each_consent_is_recorded_with_who_what_and_when_and_no_card_data(
    invoke, stack: EmbeddedStack
) -> None:
    # Given a signed-in customer who also ticked the optional item
    body = without(sample_body(), "customer_uid")
    body["consents"]["items"].append("benefit_notices")
    began = time.time()

    # When the card is registered
    response = invoke(with_caller(http_event(body), "alice"))

    # Then its consent is on record for the new uid: the terms' version, the items, the purpose, when,
    # and who; kept without expiry while the billing key may be live
    assert response.status == 200
    uid = response.body["customer_uid"]
    [record] = law_records(stack, uid)
    assert sorted(record) == [
        "caller",
        "customer_uid",
        "given_at",
        "items",
        "purposes",
        "record_id",
        "terms_version",
    ]
    assert (record["caller"]["S"], record["terms_version"]["S"]) == ("sub:alice", body["consents"]["version"])
    assert record["purposes"]["SS"] == ["card"]
    assert [item["S"] for item in record["items"]["L"]] == [
        "third_party_provision",
        "electronic_finance_terms",
        "benefit_notices",
    ]
    given_at = datetime.fromisoformat(record["given_at"]["S"])
    assert given_at.isoformat().endswith("+09:00")  # Korea time
    assert began - 1 <= given_at.timestamp() <= time.time()
    assert record["record_id"]["S"].startswith("consent#")
    text = json.dumps(record)
    assert not [value for value in CARD_VALUES if value in text]


def test_a_declined_card_starts_its_consents_five_years(invoke, stack: EmbeddedStack) -> None:
    body = {**sample_body(), "card_number": magic.CARD_WRONG_PASSWORD}
    response = invoke(http_event(body))

    assert response.status == 402
    [record] = law_records(stack, body["customer_uid"])
    kept = int(record["expires_at"]["N"]) - time.time()
    assert 5 * 365 * DAY <= kept <= 5 * 366 * DAY


@pytest.mark.usefixtures("signed_in")
def test_a_plan_on_a_registered_card_records_the_plan_consent(invoke, stack: EmbeddedStack) -> None:
    # Given a card registered by alice
    uid = call(invoke, "POST", "/subscriptions/issue-billing", sample_body()).body["customer_uid"]

    # When she subscribes to a plan on it
    assert schedule(invoke, uid=uid).status == 200

    # Then both consents are on record, the card's and the plan's, neither closed
    records = law_records(stack, uid)
    assert [record["purposes"]["SS"] for record in records] == [["card"], ["plan"]]
    assert [item["S"] for item in records[1]["items"]["L"]] == ["recurring_payment"]
    assert not [record for record in records if "expires_at" in record]


def test_no_card_reaches_portone_when_its_consent_cannot_be_recorded(
    invoke, stack: EmbeddedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the records table cannot be written
    monkeypatch.setenv("RECORDS_TABLE_NAME", "no-such-table")

    # When a card is sent
    response = invoke(http_event(sample_body()))

    # Then nothing reaches PortOne, and the answer is to try again
    assert (response.status, response.body["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert stack.emulator.count(*ISSUE) == 0


def test_a_retry_after_new_terms_replays_the_answer_it_had(
    invoke, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing import terms

    # Given a card registered under today's terms, whose answer the client did not get
    body = sample_body()
    first = invoke(http_event(body, key="issue-before-new-terms"))
    assert first.status == 200

    # When the merchant deploys new terms and the client sends the same request again
    edited = json.loads(terms.TERMS.read_text(encoding="utf-8")) | {"version": "2099-01-01"}
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(terms, "TERMS", path)
    terms.load_terms.cache_clear()
    try:
        again = invoke(http_event(body, key="issue-before-new-terms"))
        fresh = invoke(http_event(body))
    finally:
        terms.load_terms.cache_clear()

    # Then it gets the answer it had; a new request is asked to agree to the new terms
    assert (again.status, again.body) == (200, first.body)
    assert fresh.body["errors"] == [{"field": "consents.version", "reason": "outdated_terms"}]
