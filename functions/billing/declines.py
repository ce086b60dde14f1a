"""Which declined renewals a retry can cure.

PortOne V1 reports a declined payment only as the PG's text in `fail_reason` (docs/portone-v1.md §5.3), with
no code, so this is a short list of words. A card that is lost, stolen, closed, suspended or invalid will
not pay however often it is asked, and asking again only adds declines to the customer's card history;
insufficient funds or a reached limit may pass a few days later.
"""

from __future__ import annotations

# The PG texts of final declines (Korean PGs, and the English some of them send).
_FINAL = ("분실", "도난", "해지", "정지", "유효하지", "유효기간", "lost", "stolen", "closed", "invalid")


def retryable(fail_reason: str | None) -> bool:
    """Whether a payment declined with `fail_reason` may succeed on a later attempt."""
    reason = (fail_reason or "").lower()
    return not any(word in reason for word in _FINAL)
