"""The merchant's terms (terms.json) and the consents a card request must carry (design.md D16)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from billing.errors import FieldError, InvalidRequest
from billing.terms import TERMS, Consent, Terms, load_terms

CARD_CONSENTS = ["third_party_provision", "electronic_finance_terms"]


def shipped() -> dict[str, Any]:
    terms: dict[str, Any] = json.loads(TERMS.read_text(encoding="utf-8"))
    return terms


def refusal(version: str, ticked: list[str], *purposes: str) -> list[FieldError]:
    with pytest.raises(InvalidRequest) as caught:
        load_terms().accept(version, ticked, frozenset(purposes))  # type: ignore[arg-type]
    return caught.value.field_errors


def test_the_default_terms_ask_consent_only_where_korean_law_does() -> None:
    # Given the terms the repository ships
    kinds = {item.id: (item.kind, item.applies_to) for item in load_terms().items}

    # Then data a contract needs, and entrusting it, are notices (PIPA §15①4, §26 after the 2023
    # amendment), as is a transfer abroad a contract needs (§28-8①3); providing it to a third party and
    # the PG's and the recurring charge's terms are consents; an optional one shows how optional works
    assert kinds == {
        "privacy_collection": ("notice", ["card"]),
        "third_party_provision": ("required", ["card"]),
        "processing_entrustment": ("notice", ["card"]),
        "overseas_transfer": ("notice", ["card"]),
        "electronic_finance_terms": ("required", ["card"]),
        "recurring_payment": ("required", ["plan"]),
        "benefit_notices": ("optional", ["card"]),
    }


def test_a_card_with_its_required_consents_is_accepted_with_what_was_ticked() -> None:
    terms = load_terms()
    consent = terms.accept(terms.version, [*CARD_CONSENTS, "benefit_notices"], frozenset({"card"}))
    assert consent == Consent(terms.version, (*CARD_CONSENTS, "benefit_notices"), frozenset({"card"}))


def test_consents_to_items_that_do_not_apply_are_not_recorded() -> None:
    terms = load_terms()
    consent = terms.accept(terms.version, [*CARD_CONSENTS, "recurring_payment"], frozenset({"card"}))
    assert consent.items == tuple(CARD_CONSENTS)


def test_each_required_item_missing_is_named() -> None:
    version = load_terms().version
    assert refusal(version, [], "card", "plan") == [
        FieldError("consents.items.third_party_provision", "required"),
        FieldError("consents.items.electronic_finance_terms", "required"),
        FieldError("consents.items.recurring_payment", "required"),
    ]
    # A plan on a card already registered needs only the plan's
    assert refusal(version, CARD_CONSENTS, "plan") == [
        FieldError("consents.items.recurring_payment", "required")
    ]


def test_terms_the_customer_was_not_shown_are_refused() -> None:
    assert refusal("2020-01-01", CARD_CONSENTS, "card") == [FieldError("consents.version", "outdated_terms")]


@pytest.mark.parametrize("item", ["privacy_collection", "no_such_item"], ids=["a-notice", "unknown"])
def test_an_item_that_is_no_consent_of_these_terms_is_refused(item: str) -> None:
    version = load_terms().version
    assert refusal(version, [*CARD_CONSENTS, item], "card") == [FieldError("consents.items", "unknown_item")]


def test_the_merchant_links_to_the_ftc_page_of_its_business_number() -> None:
    merchant = load_terms().merchant
    digits = merchant.business_number.replace("-", "")
    assert merchant.business_info_url == f"https://www.ftc.go.kr/bizCommPop.do?wrkr_no={digits}"
    assert load_terms().model_dump()["merchant"]["business_info_url"] == merchant.business_info_url


@pytest.mark.parametrize(
    "edit",
    [
        {"merchant": {"business_number": "000-00-00001"}},  # fails the check digit
        {"merchant": {"terms_url": "http://example.com/terms"}},  # not HTTPS
        {"items": [{"kind": "maybe"}]},
        {"items": [{"applies_to": []}]},
        {"items": [{"id": "privacy_collection"}, {"id": "privacy_collection"}]},  # ids repeat
        {"version": "2026 11 30"},
    ],
)
def test_a_mistake_in_the_terms_file_stops_it_loading(edit: dict[str, Any]) -> None:
    terms = shipped()
    for section, change in edit.items():
        if section == "merchant":
            terms["merchant"].update(change)
        elif section == "items":
            for index, item_change in enumerate(change):
                terms["items"][index].update(item_change)
        else:
            terms[section] = change
    with pytest.raises(ValidationError):
        Terms.model_validate(terms)
