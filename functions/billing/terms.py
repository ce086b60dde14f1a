"""The merchant's terms and identity, and the consents a card request must carry (design.md D16).

The terms live in `terms.json` beside this module, like the plan catalog: the merchant edits the texts, marks
each item required, optional or a notice, bumps `version`, and deploys. The page shows what
`GET /subscriptions/terms` answers; a card request names the version it was shown and the items the customer
ticked. A request on other terms, or without a required item, is refused before anything else happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from billing.cards import business_number_valid
from billing.errors import FieldError, InvalidRequest

TERMS = Path(__file__).with_name("terms.json")
FTC_BUSINESS_INFO = "https://www.ftc.go.kr/bizCommPop.do?wrkr_no="  # the FTC's 사업자정보 공개페이지
# What a card request is for: registering a card, and subscribing to a plan (a schedule request with a card
# is both). Each item applies to one or both.
Purpose = Literal["card", "plan"]
ITEM_ID_PATTERN = r"^[a-z0-9_]{1,40}$"
VERSION_PATTERN = r"^[0-9A-Za-z._-]{1,40}$"
_Text = Annotated[str, Field(min_length=1, max_length=2000)]
_Url = Annotated[str, Field(pattern=r"^https://\S+$", max_length=500)]


@dataclass(frozen=True)
class Consent:
    """What a customer consented to with one request: recorded before PortOne sees the card."""

    version: str
    items: tuple[str, ...]  # the consent items that apply to the request and were ticked
    purposes: frozenset[Purpose]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Merchant(_Config):
    """What 전자상거래법 §10① and §13① require a shop to show: who it is and where its policies are."""

    name: _Text  # 상호
    representative: _Text  # 대표자 성명
    address: _Text  # 영업소 주소
    complaints_address: _Text  # 소비자 불만을 처리할 수 있는 주소
    phone: _Text
    email: _Text
    business_number: Annotated[str, Field(pattern=r"^[0-9]{3}-[0-9]{2}-[0-9]{5}$")]  # 사업자등록번호
    mail_order_number: _Text  # 통신판매업 신고번호
    mail_order_authority: _Text  # 신고기관
    hosting_provider: _Text  # 호스팅서비스 제공자
    privacy_officer: _Text  # 개인정보 보호책임자
    privacy_officer_contact: _Text
    terms_url: _Url
    privacy_url: _Url
    refund_url: _Url
    how_to_cancel: _Text

    @model_validator(mode="after")
    def _real_business_number(self) -> Merchant:
        if not business_number_valid(self.business_number.replace("-", "")):
            raise ValueError("business_number fails its check digit")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def business_info_url(self) -> str:
        """The FTC page that shows the business's registration, which Korean shops link to."""
        return FTC_BUSINESS_INFO + self.business_number.replace("-", "")


class TermsItem(_Config):
    id: Annotated[str, Field(pattern=ITEM_ID_PATTERN)]
    title: Annotated[str, Field(min_length=1, max_length=60)]
    # required / optional: a consent the customer ticks; notice: shown only (PIPA asks no consent for data a
    # contract needs, or for entrusting its processing, but asks that the customer be told).
    kind: Literal["required", "optional", "notice"]
    applies_to: Annotated[list[Purpose], Field(min_length=1)]
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    url: _Url | None = None  # the full text, when `text` is a summary of it

    @property
    def consent(self) -> bool:
        return self.kind != "notice"


class Terms(_Config):
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    merchant: Merchant
    items: Annotated[list[TermsItem], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Terms:
        ids = [item.id for item in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("item ids must be unique")
        return self

    def accept(self, version: str, ticked: list[str], purposes: frozenset[Purpose]) -> Consent:
        """The consents, of the items that apply to `purposes`, that the customer gave; or InvalidRequest
        naming what is wrong: terms the customer was not shown, an item these terms lack, a required item
        not ticked. Ticked items that do not apply to this request are not consents to it."""
        if version != self.version:
            raise InvalidRequest([FieldError("consents.version", "outdated_terms")])
        consents = {item.id: item for item in self.items if item.consent}
        if any(item_id not in consents for item_id in ticked):
            raise InvalidRequest([FieldError("consents.items", "unknown_item")])
        applying = [item for item in consents.values() if purposes.intersection(item.applies_to)]
        missing = [item.id for item in applying if item.kind == "required" and item.id not in ticked]
        if missing:
            raise InvalidRequest([FieldError(f"consents.items.{item_id}", "required") for item_id in missing])
        return Consent(self.version, tuple(item.id for item in applying if item.id in ticked), purposes)


@lru_cache(maxsize=1)
def load_terms() -> Terms:
    return Terms.model_validate_json(TERMS.read_text(encoding="utf-8"))
