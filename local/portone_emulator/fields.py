"""PortOne's errors and how it reads request fields: text, numbers and UNIX timestamps.

JSON bodies carry real types; forms and query strings carry text (README §1.1). PortOne reads both, so
each reader takes either and says ``None`` when the value cannot be read as asked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_INTEGER = re.compile(r"\A[-+]?[0-9]+\Z")

# README §3.1 quotes this missing-parameter message; its code and status are [inf]: PortOne rejects the call
# before asking the PG, a code-1 business error, and those come with HTTP 200 (§1.3, §1.4).
MISSING_PARAMETER = '["{}"] 파라메터는 필수입니다.'
# A value the schema's rules refuse (too long, wrong type, not one of its values). PortOne's wording is not
# documented (README §6.3, §9) [inf]; its code and status are as the missing parameter's, or the operation's
# documented 400.
TOO_LONG = "{}는 {}자 이하여야 합니다."
INVALID_VALUE = "{} 파라메터의 값이 올바르지 않습니다."
# README §4.4: the lists' 400 for a bad search parameter; the text is the spec's [inf].
BAD_SEARCH = "검색 파라메터가 유효하지 않습니다. ({})"


class PortOneError(Exception):
    """A PortOne answer with ``code != 0``: the HTTP status, the envelope code and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def missing(name: str, status: int = 200) -> PortOneError:
    return PortOneError(status, 1, MISSING_PARAMETER.format(name))


def too_long(name: str, limit: int, status: int = 200) -> PortOneError:
    return PortOneError(status, 1, TOO_LONG.format(name, limit))


def invalid(name: str, status: int = 200) -> PortOneError:
    return PortOneError(status, 1, INVALID_VALUE.format(name))


def bad_search(what: str) -> PortOneError:
    return PortOneError(400, 1, BAD_SEARCH.format(what))


def text(fields: Mapping[str, Any], name: str, limit: int | None = None) -> str | None:
    """A field as PortOne reads it: absent, null and "" all mean "not given"; numbers count as text."""
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    result = str(value).strip()[:limit]
    return result or None


def given(fields: Mapping[str, Any], name: str) -> bool:
    """Whether a field was sent with a value (absent, null and "" are not)."""
    value = fields.get(name)
    return value is not None and value != ""


def number(value: Any) -> int | float | None:
    """A finite number from JSON or text; integral values come back as ``int`` (8900, not 8900.0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else value


def integer(value: Any) -> int | None:
    """An integer from JSON (an integral float too) or from integer text; a UNIX timestamp, a page."""
    if isinstance(value, str):
        return int(value.strip()) if _INTEGER.match(value.strip()) else None
    found = number(value)
    return found if isinstance(found, int) else None


def free_text(value: Any) -> str | None:
    """``custom_data``: text as given; an object or array from a JSON body is kept as its JSON text [inf]."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value) or None
