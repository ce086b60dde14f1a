"""Which declined renewals a retry can cure.

PortOne V1 reports a declined payment only as the PG's text in `fail_reason` (docs/portone-v1.md §5.3), with
no code, so this is a short list of words. A card that is lost, stolen, closed, suspended or invalid will
not pay however often it is asked, and asking again only adds declines to the customer's card history;
insufficient funds or a reached limit may pass a few days later.
"""

from __future__ import annotations

# Phrases of final declines in Korean PGs' texts, and in the English some of them send. Whole phrases, so a
# merchant-side error ("유효하지 않은 가맹점", "일시정지") is never taken for the card's.
_FINAL = (
    "분실",
    "도난",
    "해지카드",
    "해지된 카드",
    "거래정지",
    "사용정지",
    "유효하지않은 카드",
    "유효하지 않은 카드",
    "유효기간",
    "lost",
    "stolen",
    "closed card",
    "invalid card",
)


def retryable(fail_reason: str | None) -> bool:
    """Whether a payment declined with `fail_reason` may succeed on a later attempt."""
    if not fail_reason:
        return True
    reason = fail_reason.lower()
    return not any(word in reason for word in _FINAL)
