"""PortOne V1 failures, translated at the client's edge into one tree.

`PortOneError` carries the HTTP status, PortOne's `code` and its message. The message is PortOne's free text
(often the PG's, in Korean): keep it for diagnosis, but log `pg_code` and never show it to a browser.
No error here holds request data: the client raises them `from None` where a `requests` exception (which
carries the prepared request, card body included) would otherwise ride along as `__cause__`.
"""

from __future__ import annotations

import re

_PG_CODE = re.compile(r"\[([A-Za-z0-9]+)\]|code:\s*([A-Za-z0-9]+)")
# PG codes that say the details typed do not match the card (docs/portone-v1.md §3.1): F112 a card number
# the issuer does not know [obs S16]; F113 is NICE's catch-all for card authentication: a wrong expiry, wrong
# PIN digits, too many wrong PINs or a wrong card number [obs S17b], and once, on a test channel, a KB card
# refused there under an expiry error [obs S17a]. Each asks the customer to check what was typed, so both
# count as mismatches. No other code has evidence yet: every other decline is "other".
DETAILS_MISMATCH_CODES = frozenset({"F112", "F113"})


class PortOneError(Exception):
    def __init__(self, detail: str, *, http_status: int | None = None, code: int | None = None) -> None:
        super().__init__(detail)
        self.http_status = http_status
        self.code = code
        self.detail = detail

    @property
    def pg_code(self) -> str | None:
        """The PG's short code inside PortOne's message (e.g. F112), which is safe to log; else None."""
        codes = [a or b for a, b in _PG_CODE.findall(self.detail)]
        # NICE wraps its real code: "[400]Error From NICEPAY. (message: ..., code:F113)"
        return next((c for c in reversed(codes) if not c.isdigit()), codes[0] if codes else None)


class PortOneAuthFailed(PortOneError):
    """getToken refused imp_key/imp_secret (HTTP 401)."""


class PortOneCardRejected(PortOneError):
    """The PG or card issuer rejected the card (code -1)."""

    @property
    def details_mismatch(self) -> bool:
        """The card's details as typed do not match it (expiry, PIN digits, birth date, number)."""
        return self.pg_code in DETAILS_MISMATCH_CODES


class PortOneBusinessError(PortOneError):
    """Any other non-zero code: PortOne understood the request and refused it."""


class PortOneNotFound(PortOneBusinessError):
    """The customer_uid (or other id) is unknown: HTTP 404, or HTTP 200 with code 1 (both seen, §3.4)."""


class PortOneUnavailable(PortOneError):
    """The request never reached PortOne (connection refused, connect timeout, no time left to try)."""


class PortOneOutcomeUnknown(PortOneError):
    """A state-changing request may have reached PortOne, but its answer was lost or unreadable."""


class PortOneProtocolError(PortOneError):
    """A safe request got an answer that breaks PortOne's contract (not JSON, wrong envelope, 5xx)."""
