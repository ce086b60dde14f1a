"""One Logger and one Metrics for the function, and the rules that keep card data out of both (design.md D11).

Three layers of defence, outermost last:
1. Code logs only short constant messages and allow-listed keys (`LOG_KEYS`); it never logs events,
   request models or bodies.
2. The formatter drops every extra key that is not on the allow-list, so a careless `extra=` cannot leak.
3. The formatter replaces any digit run holding a Luhn-valid 13-19 digit number with `[PAN]`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from billing.cards import luhn_valid

# Keys Powertools itself writes, plus the business keys this service is allowed to log.
_POWERTOOLS_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "sampling_rate",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "exception",
        "exception_name",
        "exception_notes",
    }
)
# Ids that AWS generates (no caller can choose them); a UUID's digit groups can look like a card number.
_AWS_GENERATED_KEYS = frozenset({"function_request_id", "correlation_id", "xray_trace_id", "function_arn"})
LOG_KEYS = frozenset(
    {
        "route",
        "path",  # a file of the card page (the page check), never a request's
        "outcome",
        "http_status",
        "portone_code",
        "pg_code",
        "customer_uid",
        "merchant_uid",
        "subscription_id",  # the service's own random id (secrets.token_hex), no card data
        "card_last4",
        "card_code",
        "latency_ms",
        "retries",
        "error_fields",
    }
)

# A run of 13 or more digits, optionally split by single spaces or dashes, not glued to other digits.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")


def redact_pans(text: str) -> str:
    """Replace every digit run that holds a Luhn-valid 13-19 digit card number with `[PAN]`.

    Every window is checked, not just the whole run: "4242424242424242 1" hides a card in a 17-digit run.
    """

    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        for length in range(13, min(19, len(digits)) + 1):
            if any(luhn_valid(digits[i : i + length]) for i in range(len(digits) - length + 1)):
                return "[PAN]"
        return match.group()

    return _DIGIT_RUN.sub(replace, text)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_pans(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return "[PAN]" if redact_pans(str(value)) != str(value) else value
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class AllowListFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with the allow-list and the PAN filter applied to every line."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        kept = {
            key: value if key in _AWS_GENERATED_KEYS else _redacted(value)
            for key, value in log.items()
            if key in _POWERTOOLS_KEYS or key in LOG_KEYS
        }
        return json.dumps(kept, default=str, ensure_ascii=False, separators=(",", ":"))


logger = Logger(logger_formatter=AllowListFormatter())
metrics = Metrics()

# Library loggers can print URLs and connection details at DEBUG; nothing of theirs is needed at INFO.
for _noisy in ("botocore", "boto3", "urllib3", "requests"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)
